//! The CLI's whole output, pinned: for each situation, the commands a user would type, their
//! exact exit codes, and every line they print (`tests/transcripts/<test>.txt`, temp paths
//! and generated values redacted). All with the file key source and no session bus.
//!
//! After a message changes on purpose, regenerate them all and review the diff:
//!
//! ```sh
//! CONTINUUM_TRANSCRIPTS=overwrite cargo test --test integration transcripts::
//! git diff tests/transcripts/
//! ```

use crate::support::env::{TestEnv, chmod, made_vault};
use crate::support::transcript::Transcript;

#[test]
fn status_of_a_fresh_home() {
    let env = TestEnv::new();
    let mut t = Transcript::new("status_of_a_fresh_home");
    t.run(&env, &["--key-source", "file", "status"]);
    t.run(&env, &["--key-source", "file", "status", "--json"]);
    t.check();
    assert!(!env.vault_dir().exists(), "status writes nothing");
}

#[test]
fn no_secret_with_no_create() {
    let env = TestEnv::new();
    let mut t = Transcript::new("no_secret_with_no_create");
    t.run(&env, &["--key-source", "file", "get", "--no-create"]);
    t.run(&env, &["--key-source", "file", "rotate"]);
    t.check();
    assert!(!env.vault_dir().exists());
}

#[test]
fn first_run_and_a_healthy_status() {
    let env = TestEnv::new();
    let mut t = Transcript::new("first_run_and_a_healthy_status");
    t.run(&env, &["--key-source", "file", "get"]);
    t.run(&env, &["--key-source", "file", "get"]);
    t.run(&env, &["--key-source", "file", "status"]);
    t.run(&env, &["--key-source", "file", "status", "--json"]);
    t.check();
}

#[test]
fn unsafe_permissions() {
    let (env, _) = made_vault();
    let mut t = Transcript::new("unsafe_permissions");
    // A ciphertext others could read is tightened (it is useless without the key)...
    chmod(&env.secret_path(), 0o644);
    t.run(&env, &["--key-source", "file", "get"]);
    // ...a plaintext one is refused (others may have read it already).
    let sealed = std::fs::read(env.secret_path()).unwrap();
    std::fs::write(env.secret_path(), "legacy-plaintext\n").unwrap();
    chmod(&env.secret_path(), 0o644);
    t.run(&env, &["--key-source", "file", "get"]);
    t.run(&env, &["--key-source", "file", "status"]);
    std::fs::write(env.secret_path(), sealed).unwrap();
    chmod(&env.secret_path(), 0o600);
    chmod(&env.vault_dir(), 0o770);
    t.run(&env, &["--key-source", "file", "get"]);
    chmod(&env.vault_dir(), 0o700);
    let key = env.key_file();
    chmod(&key, 0o644);
    t.run(&env, &["--key-source", "file", "get"]);
    t.check();
}

#[test]
fn symlink_at_the_secret_path() {
    let (env, _) = made_vault();
    let target = env.home().join("elsewhere");
    std::fs::rename(env.secret_path(), &target).unwrap();
    std::os::unix::fs::symlink(&target, env.secret_path()).unwrap();
    let mut t = Transcript::new("symlink_at_the_secret_path");
    t.run(&env, &["--key-source", "file", "get"]);
    t.run(&env, &["--key-source", "file", "status"]);
    t.run_with_input(&env, &["--key-source", "file", "set", "--force"], b"new\n");
    t.check();
}

#[test]
fn corrupt_file() {
    let (env, _) = made_vault();
    std::fs::write(
        env.secret_path(),
        "-----BEGIN AGE ENCRYPTED FILE-----\n!!!!\n",
    )
    .unwrap();
    let mut t = Transcript::new("corrupt_file");
    t.run(&env, &["--key-source", "file", "get"]);
    t.run(&env, &["--key-source", "file", "status"]);
    t.run_with_input(&env, &["--key-source", "file", "set"], b"new\n");
    t.run_with_input(&env, &["--key-source", "file", "set", "--force"], b"new\n");
    t.run(&env, &["--key-source", "file", "get"]);
    t.check();
}

#[test]
fn conflicting_set() {
    let env = TestEnv::new();
    let mut t = Transcript::new("conflicting_set");
    t.run_with_input(&env, &["--key-source", "file", "set"], b"first-value\n");
    t.run_with_input(&env, &["--key-source", "file", "set"], b"first-value\n");
    t.run_with_input(&env, &["--key-source", "file", "set"], b"second-value\n");
    t.run_with_input(&env, &["--key-source", "file", "set", "--force"], b" \n");
    t.run_with_input(
        &env,
        &["--key-source", "file", "set", "--force"],
        b"second-value\n",
    );
    t.check();
}

#[test]
fn ambiguous_env() {
    let env = TestEnv::new();
    let mounted = env.home().join("mounted");
    std::fs::write(&mounted, "from-file\n").unwrap();
    let both = [
        ("CONTINUUM_JWT_SECRET", "from-env"),
        ("CONTINUUM_JWT_SECRET_FILE", mounted.to_str().unwrap()),
    ];
    let mut t = Transcript::new("ambiguous_env");
    t.run_with_vars(&env, &both, &["--key-source", "file", "get"]);
    t.run_with_vars(&env, &both, &["--key-source", "file", "status"]);
    t.run_with_vars(&env, &both, &["--key-source", "file", "run", "--", "true"]);
    t.check();
    assert!(!env.vault_dir().exists());
}

#[test]
fn file_variable_problems() {
    let env = TestEnv::new();
    let empty = env.home().join("empty");
    std::fs::write(&empty, " \n").unwrap();
    let missing = env.home().join("missing");
    let mut t = Transcript::new("file_variable_problems");
    for file in [&empty, &missing, &env.home().to_owned()] {
        t.run_with_vars(
            &env,
            &[("CONTINUUM_JWT_SECRET_FILE", file.to_str().unwrap())],
            &["--key-source", "file", "get"],
        );
    }
    t.check();
    assert!(!env.vault_dir().exists());
}

#[test]
fn invalid_name() {
    let env = TestEnv::new();
    let mut t = Transcript::new("invalid_name");
    t.run(&env, &["--key-source", "file", "get", "Bad-Name"]);
    t.run(
        &env,
        &["--key-source", "file", "get", "jwt_secret_previous"],
    );
    t.run(&env, &["--key-source", "file", "status", "../escape"]);
    t.run_with_input(&env, &["--key-source", "file", "set", ""], b"value\n");
    t.run_with_vars(
        &env,
        &[("CONTINUUM_VAULT_KEY_SOURCE", "tpm")],
        &["get", "--no-create"],
    );
    t.check();
    assert!(!env.vault_dir().exists());
}
