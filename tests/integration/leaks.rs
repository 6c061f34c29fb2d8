//! The secret never leaks through an interface: not in an error message or hint, a `Debug`
//! output, a notice, `status` (text or `--json`), nor in the argv of a process the tool
//! starts. Only `get` prints it, on stdout; `run` hands it to the command in its
//! environment, which is the contract.
//!
//! Every CLI command runs in success and failure modes with known secrets in the vault, in
//! `CONTINUUM_JWT_SECRET` and in a `CONTINUUM_JWT_SECRET_FILE` file; each run's stderr must
//! hold none of them, and its stdout none either, except `get`'s, which is exactly the
//! current secret. Exit codes are asserted too, so that each run reaches the path it is
//! meant to (a usage error would prove nothing).

use std::path::{Path, PathBuf};

use continuum_vault::secrecy::{ExposeSecret, SecretString};

use crate::memory::random_secret;
use crate::support::age;
use crate::support::env::{Run, TestEnv, vault_holding};
use crate::support::library::library_vault;

/// The runs of one scenario and the secrets none of them may show.
struct Leaks {
    secrets: Vec<String>,
    runs: usize,
}

impl Leaks {
    fn new(secrets: &[&str]) -> Self {
        Self {
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            runs: 0,
        }
    }

    fn know(&mut self, secret: &str) {
        if !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
        }
    }

    /// Checks one run: exit code `code`, no secret on stderr, none on stdout.
    #[track_caller]
    fn check(&mut self, what: &str, run: &Run, code: i32) -> String {
        self.check_printing(what, run, code, None)
    }

    /// Like [`check`](Self::check), but stdout must be exactly `printed` and a newline.
    #[track_caller]
    fn check_printing(
        &mut self,
        what: &str,
        run: &Run,
        code: i32,
        printed: Option<&str>,
    ) -> String {
        self.runs += 1;
        assert_eq!(
            run.code(),
            code,
            "{what}: exit code\nstdout: {}\nstderr: {}",
            run.stdout(),
            run.stderr()
        );
        let (out, err) = (run.stdout(), run.stderr());
        for s in &self.secrets {
            assert!(
                !err.contains(s.as_str()),
                "{what}: a secret on stderr:\n{err}"
            );
            if !printed.is_some_and(|p| p.contains(s.as_str())) {
                assert!(
                    !out.contains(s.as_str()),
                    "{what}: a secret on stdout:\n{out}"
                );
            }
        }
        if let Some(p) = printed {
            assert_eq!(out, format!("{p}\n"), "{what}: stdout");
        }
        out
    }
}

/// An `age-keygen` identity file in `dir`, and its recipient.
fn age_identity(env: &TestEnv, dir: &Path, name: &str) -> (PathBuf, String) {
    let file = dir.join(name);
    let recipient = age::keygen(env, &file);
    (file, recipient)
}

#[test]
fn no_command_shows_a_vault_secret_except_get() {
    let env = TestEnv::new();
    let secret = random_secret(64);
    let other = random_secret(64);
    let mut leaks = Leaks::new(&[&secret, &other]);
    let run = env.run_with_input(&["--key-source", "file", "set"], secret.as_bytes());
    leaks.check("set (first)", &run, 0);
    everyday_commands(&env, &mut leaks, &secret, &other);
    let recipient = backups_and_restores(&env, &mut leaks);
    keys_and_rotation(&env, &mut leaks, &other);
    refused_files(&env, &mut leaks, &secret, &recipient);
    eprintln!(
        "leaks[vault]: {} runs, {} secrets, 0 leaks",
        leaks.runs,
        leaks.secrets.len()
    );
}

/// `get`, `status`, `pubkey`, `recipients`, `set`, `run`, in success and failure.
fn everyday_commands(env: &TestEnv, leaks: &mut Leaks, secret: &str, other: &str) {
    let l = leaks;
    l.check_printing("get", &env.run(&["get"]), 0, Some(secret));
    let run = env.run(&["get", "--no-create"]);
    l.check_printing("get --no-create", &run, 0, Some(secret));
    l.check("get missing", &env.run(&["get", "other", "--no-create"]), 3);
    l.check("get bad name", &env.run(&["get", "Bad-Name"]), 2);
    l.check("status", &env.run(&["status"]), 0);
    l.check("status --json", &env.run(&["status", "--json"]), 0);
    l.check("status missing", &env.run(&["status", "other"]), 3);
    let run = env.run(&["status", "--json", "other"]);
    l.check("status --json missing", &run, 3);
    l.check("pubkey", &env.run(&["pubkey"]), 0);
    l.check("recipients list", &env.run(&["recipients", "list"]), 0);
    let run = env.run(&["recipients", "add", "age1nope"]);
    l.check("recipients add bad", &run, 2);
    let run = env.run_with_input(&["set"], secret.as_bytes());
    l.check("set same", &run, 0);
    let run = env.run_with_input(&["set"], other.as_bytes());
    l.check("set other without --force", &run, 7);
    let run = env.run_with_input(&["set"], b"\xff\xfe");
    l.check("set non-UTF-8", &run, 2);
    l.check("run", &env.run_sh("exit 0"), 0);
    let run = env.run_sh("exit 3");
    l.check("run exit 3", &run, 3);
    let run = env.run(&["run", "--", "/nonexistent/cmd"]);
    l.check("run missing cmd", &run, 127);
}

/// Backups to a recipient and to a passphrase, and restores with right and wrong keys.
/// Returns the backup recipient.
fn backups_and_restores(env: &TestEnv, leaks: &mut Leaks) -> String {
    let l = leaks;
    let home = env.home().to_owned();
    let path = |name: &str| home.join(name).to_str().expect("UTF-8").to_owned();
    let (key, recipient) = age_identity(env, &home, "backup.key");
    let (other_key, _) = age_identity(env, &home, "other.key");
    let (key, other_key) = (
        key.to_str().expect("UTF-8").to_owned(),
        other_key.to_str().expect("UTF-8").to_owned(),
    );
    let (to_key, to_pass) = (path("b1.age"), path("b3.age"));
    std::fs::write(path("pass"), "correct horse battery staple\n").expect("passphrase file");
    std::fs::write(path("wrong"), "wrong\n").expect("passphrase file");
    let (pass, wrong) = (path("pass"), path("wrong"));

    let run = env.run(&["backup", "--out", &to_key, "--recipient", &recipient]);
    l.check("backup to a recipient", &run, 0);
    let run = env.run(&["backup", "--out", &to_key, "--recipient", &recipient]);
    l.check("backup over a file", &run, 7);
    let run = env.run(&["backup", "--out", &path("b2.age")]);
    l.check("backup without terminal", &run, 2);
    let run = env.run(&["backup", "--out", &to_pass, "--passphrase-file", &pass]);
    l.check("backup to a passphrase", &run, 0);
    let run = env.run(&["restore", "--in", &to_key, "--identity", &key]);
    l.check("restore", &run, 0);
    let run = env.run(&["restore", "--in", &to_key, "--identity", &other_key]);
    l.check("restore with another key", &run, 5);
    let run = env.run(&["restore", "--in", &to_pass, "--passphrase-file", &wrong]);
    l.check("restore with a wrong passphrase", &run, 5);
    let run = env.run(&["restore", "--in", &to_pass, "--passphrase-file", &pass]);
    l.check("restore with the passphrase", &run, 0);
    recipient
}

/// `rekey`, `rotate` (whose new secret joins the watched ones), `set --force`.
fn keys_and_rotation(env: &TestEnv, leaks: &mut Leaks, other: &str) {
    let l = leaks;
    l.check("rekey to the same", &env.run(&["rekey", "--to", "file"]), 0);
    let run = env.run(&["rekey", "--to", "keyring"]);
    l.check("rekey to an absent keyring", &run, 6);
    l.check("rotate", &env.run(&["rotate"]), 0);
    let rotated = env.run(&["get"]).stdout_line();
    l.know(&rotated);
    l.check_printing("get after rotate", &env.run(&["get"]), 0, Some(&rotated));
    let run = env.run_with_input(&["set", "--force"], other.as_bytes());
    l.check("set --force", &run, 0);
    l.check_printing("get after set", &env.run(&["get"]), 0, Some(other));
    l.check("status after set", &env.run(&["status", "--json"]), 0);
}

/// Files the vault refuses: corrupt ciphertext, plaintext others can read, NUL.
fn refused_files(env: &TestEnv, leaks: &mut Leaks, secret: &str, recipient: &str) {
    use std::os::unix::fs::PermissionsExt;
    let l = leaks;
    let path = env.secret_path();
    let good = std::fs::read(&path).expect("vault file");
    std::fs::write(&path, &good[..good.len() / 2]).expect("truncate");
    l.check("get corrupt", &env.run(&["get"]), 5);
    l.check("status corrupt", &env.run(&["status", "--json"]), 5);
    let run = env.run_sh("exit 0");
    l.check("run corrupt", &run, 5);
    let run = env.run_with_input(&["set"], secret.as_bytes());
    l.check("set over corrupt", &run, 7);
    let out = env.home().join("b4.age");
    let out = out.to_str().expect("UTF-8");
    let run = env.run(&["backup", "--out", out, "--recipient", recipient]);
    l.check("backup corrupt", &run, 5);
    std::fs::write(&path, format!("{secret}\n")).expect("plaintext");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    l.check("get loose plaintext", &env.run(&["get"]), 4);
    l.check("status loose plaintext", &env.run(&["status"]), 4);
    let run = env.run(&["status", "--json"]);
    l.check("status --json loose plaintext", &run, 4);
    std::fs::write(&path, format!("{secret}\0")).expect("NUL");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    l.check("get NUL", &env.run(&["get"]), 5);
    l.check("status NUL", &env.run(&["status"]), 5);
}

#[test]
fn no_command_shows_a_secret_from_the_environment_except_get() {
    let secret = random_secret(64);
    let other = random_secret(64);
    let mut leaks = Leaks::new(&[&secret, &other]);

    let mut env = TestEnv::new();
    env.set("CONTINUUM_JWT_SECRET", &secret);
    leaks.check_printing("get env", &env.run(&["get"]), 0, Some(&secret));
    leaks.check("status env", &env.run(&["status"]), 0);
    leaks.check("status --json env", &env.run(&["status", "--json"]), 0);
    leaks.check("run env", &env.run_sh("exit 0"), 0);
    let run = env.run_with_input(&["--key-source", "file", "set"], other.as_bytes());
    // Writes that the variable would override are refused (7), naming the variable only.
    leaks.check("set with env", &run, 7);
    leaks.check_printing("get env over vault", &env.run(&["get"]), 0, Some(&secret));
    leaks.check("rotate with env", &env.run(&["rotate"]), 7);
    leaks.check(
        "backup with env (of the vault)",
        &env.run(&[
            "backup",
            "--out",
            "/nonexistent/dir/b.age",
            "--recipient",
            "age1nope",
        ]),
        2,
    );

    let file = env.home().join("mounted");
    std::fs::write(&file, format!("  {secret}\n")).expect("mounted secret");
    env.set("CONTINUUM_JWT_SECRET_FILE", file.to_str().expect("UTF-8"));
    leaks.check("get both", &env.run(&["get"]), 7);
    leaks.check("status both", &env.run(&["status"]), 7);
    leaks.check("run both", &env.run_sh("exit 0"), 7);

    env.set("CONTINUUM_JWT_SECRET", "");
    leaks.check_printing("get file", &env.run(&["get"]), 0, Some(&secret));
    leaks.check("status file", &env.run(&["status", "--json"]), 0);
    leaks.check("run file", &env.run_sh("exit 0"), 0);
    std::fs::write(&file, [secret.as_bytes(), b"\xff"].concat()).expect("non-UTF-8");
    leaks.check("get file non-UTF-8", &env.run(&["get"]), 5);
    leaks.check("status file non-UTF-8", &env.run(&["status"]), 5);
    // A NUL in a mounted secret: no environment variable could hold it, so it is refused
    // as not text (5), by `get` and `run` alike, and the refusal does not show the value.
    std::fs::write(&file, format!("{secret}\0")).expect("NUL");
    leaks.check("get file with NUL", &env.run(&["get"]), 5);
    leaks.check("run file with NUL", &env.run_sh("exit 0"), 5);
    let dir = env.home().to_str().expect("UTF-8").to_owned();
    env.set("CONTINUUM_JWT_SECRET_FILE", &dir);
    let run = env.run(&["get"]);
    leaks.check("get file is a dir", &run, 4);
    eprintln!(
        "leaks[env]: {} runs, {} secrets, 0 leaks",
        leaks.runs,
        leaks.secrets.len()
    );
}

/// The `execve` calls of a trace (`strace -f -v -s 65536 -e trace=execve`): path, argv,
/// envp, parsed from strace's quoting so that the environment is never read as argv.
fn execves(trace: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    trace
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find("execve(")? + "execve(".len()..];
            let (path, rest) = quoted(rest)?;
            let (argv, rest) = array(rest.strip_prefix(", ")?)?;
            let (envp, _) = array(rest.strip_prefix(", ")?)?;
            Some((path, argv, envp))
        })
        .collect()
}

/// A strace string (`"..."`, with `\"` and `\\` escapes) and what follows it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => {
                let rest = &s[i + 2..];
                // A string cut by `-s` ends in `"...`.
                return Some((out, rest.strip_prefix("...").unwrap_or(rest)));
            }
            c => out.push(c),
        }
    }
    None
}

/// A strace array of strings (`["a", "b"]`) and what follows it.
fn array(s: &str) -> Option<(Vec<String>, &str)> {
    let mut rest = s.strip_prefix('[')?;
    let mut out = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(']') {
            return Some((out, after));
        }
        let (item, after) = quoted(rest)?;
        out.push(item);
        rest = after.strip_prefix(", ").unwrap_or(after);
    }
}

#[test]
fn no_argv_of_a_started_process_holds_the_secret() {
    let s = random_secret(64);
    let env = vault_holding(&s);
    let mut env_file = TestEnv::new();
    let mounted = env_file.home().join("mounted");
    std::fs::write(&mounted, format!("{s}\n")).expect("mounted secret");
    env_file.set(
        "CONTINUUM_JWT_SECRET_FILE",
        mounted.to_str().expect("UTF-8"),
    );

    for (what, env) in [("vault", &env), ("_FILE", &env_file)] {
        let trace = env.strace(
            &["-v", "-s", "65536", "-e", "trace=execve"],
            &["run", "--", "sleep", "0"],
        );
        let calls = execves(&trace);
        assert!(
            calls.len() >= 2,
            "{what}: expected the vault and sleep:\n{trace}"
        );
        for (path, argv, _) in &calls {
            assert!(
                !argv.iter().any(|a| a.contains(&s)),
                "{what}: the secret is in the argv of {path}: {argv:?}"
            );
            assert!(
                !path.contains(&s),
                "{what}: the secret is in an exec'd path"
            );
        }
        // The parser read the environment apart from argv: sleep got the secret there.
        let sleep = calls
            .iter()
            .find(|(path, argv, _)| path.ends_with("/sleep") && argv == &["sleep", "0"])
            .unwrap_or_else(|| panic!("{what}: no execve of sleep:\n{trace}"));
        assert!(
            sleep.2.contains(&format!("CONTINUUM_JWT_SECRET={s}")),
            "{what}: sleep did not get the secret in its environment"
        );
        assert!(
            !sleep
                .2
                .iter()
                .any(|v| v.starts_with("CONTINUUM_JWT_SECRET_FILE=")),
            "{what}: the _FILE variable reached the command"
        );
        eprintln!(
            "leaks[argv {what}]: {} execve calls, 0 with the secret in argv",
            calls.len()
        );
    }
}

#[test]
fn debug_display_and_json_of_library_values_never_show_the_secret() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let home = tmp.path();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let s = random_secret(64);
    let t = random_secret(64);
    let mut shown: Vec<String> = Vec::new();

    let vault = library_vault(home, &[]);
    let (outcome, notices) = vault
        .set("jwt_secret", &SecretString::from(s.as_str()), false)
        .expect("set");
    shown.push(format!("{outcome:?} {notices:?} {vault:?}"));
    let loaded = vault.load("jwt_secret").expect("load");
    assert_eq!(loaded.secret().expose_secret(), s);
    shown.push(format!(
        "{loaded:?} {:?} {}",
        loaded.source(),
        loaded.source()
    ));
    let keys = vault.load_key_set("jwt_secret").expect("key set");
    shown.push(format!("{keys:?}"));
    let status = vault.status("jwt_secret").expect("status");
    shown.push(format!(
        "{status:?} {}",
        serde_json::to_string(&status).expect("JSON")
    ));
    let err = vault
        .set("jwt_secret", &SecretString::from(t.as_str()), false)
        .expect_err("a different value without force");
    shown.push(describe(&err));
    vault
        .set("jwt_secret", &SecretString::from(t.as_str()), true)
        .expect("set --force");
    let keys = vault
        .load_key_set("jwt_secret")
        .expect("key set with previous");
    assert!(keys.previous().is_some(), "the replaced secret is kept");
    shown.push(format!("{keys:?}"));

    // Refusals of files holding the secret.
    let path = home.join(".continuum/jwt_secret");
    std::fs::write(&path, format!("{s}\n")).expect("plaintext");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    shown.push(describe(
        &vault.load("jwt_secret").expect_err("loose plaintext"),
    ));
    let status = vault.status("jwt_secret").expect("status");
    shown.push(format!(
        "{status:?} {}",
        serde_json::to_string(&status).expect("JSON")
    ));
    std::fs::write(&path, format!("{s}\0")).expect("NUL");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    shown.push(describe(&vault.load("jwt_secret").expect_err("NUL")));

    // From the environment.
    let mounted = home.join("mounted");
    std::fs::write(&mounted, format!("{s}\u{0}")).expect("mounted");
    let m = mounted.to_str().expect("UTF-8");
    let env_vault = library_vault(home, &[("CONTINUUM_JWT_SECRET", &s)]);
    let loaded = env_vault.load("jwt_secret").expect("env");
    shown.push(format!("{loaded:?} {env_vault:?}"));
    let both = library_vault(
        home,
        &[
            ("CONTINUUM_JWT_SECRET", &s),
            ("CONTINUUM_JWT_SECRET_FILE", m),
        ],
    );
    shown.push(describe(&both.load("jwt_secret").expect_err("both")));
    std::fs::write(&mounted, [s.as_bytes(), b"\xff"].concat()).expect("non-UTF-8");
    let file_vault = library_vault(home, &[("CONTINUUM_JWT_SECRET_FILE", m)]);
    shown.push(describe(
        &file_vault.load("jwt_secret").expect_err("non-UTF-8"),
    ));

    for text in &shown {
        assert!(
            !text.contains(&s) && !text.contains(&t),
            "a secret shown: {text}"
        );
    }
    eprintln!("leaks[library]: {} values formatted, 0 leaks", shown.len());
}

/// Everything an error shows: `Display`, `Debug`, the hint and the CLI's chain.
fn describe(e: &continuum_vault::Error) -> String {
    format!(
        "{e} | {e:?} | {:?} | {}",
        e.hint(),
        continuum_vault::error_chain(e)
    )
}
