//! The Go `age` CLI as the reference peer: it makes identities, and it must open what the
//! vault writes and be opened by it (`apt install age`).

use std::path::{Path, PathBuf};

use super::env::{Run, TestEnv, feed};

/// Makes an age identity file at `path` with `age-keygen`; returns its recipient.
pub(crate) fn keygen(env: &TestEnv, path: &Path) -> String {
    Run(env
        .program("age-keygen", ["-o", path.to_str().expect("UTF-8 path")])
        .output()
        .expect("age-keygen is installed (apt install age)"))
    .assert_code(0);
    std::fs::read_to_string(path)
        .expect("identity file")
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key line")
        .to_owned()
}

/// Makes an age identity file `file` in HOME with `age-keygen`; returns its path and its
/// recipient.
pub(crate) fn keygen_in_home(env: &TestEnv, file: &str) -> (PathBuf, String) {
    let path = env.home().join(file);
    let recipient = keygen(env, &path);
    (path, recipient)
}

/// Decrypts `file` with `age -d -i identity`, asserting success; returns the plaintext.
pub(crate) fn decrypt(env: &TestEnv, identity: &Path, file: &Path) -> Vec<u8> {
    let run = Run(env
        .program(
            "age",
            [
                "-d",
                "-i",
                identity.to_str().expect("UTF-8 path"),
                file.to_str().expect("UTF-8 path"),
            ],
        )
        .output()
        .expect("the Go age CLI is installed (apt install age)"));
    run.assert_code(0);
    run.0.stdout
}

/// Encrypts `plaintext` to `recipient` with `age -a` into a new file `out`.
pub(crate) fn encrypt_armored(env: &TestEnv, recipient: &str, out: &Path, plaintext: &[u8]) {
    feed(
        env.program(
            "age",
            [
                "-a",
                "-r",
                recipient,
                "-o",
                out.to_str().expect("UTF-8 path"),
            ],
        ),
        plaintext,
    )
    .assert_code(0);
}
