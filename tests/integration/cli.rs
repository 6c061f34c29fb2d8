//! The real binary, with the file key source or no keyring at all: the drop-in contract,
//! files on disk, refusals, exit codes.

use std::os::unix::fs::PermissionsExt;

use crate::support::age;
use crate::support::env::{Run, TestEnv, is_token_urlsafe_32, made_vault, mode};
use crate::support::nobody::{NOBODY, Nobody};
use crate::support::refusal::assert_refused;
use crate::support::tree::{replace_with_node, snapshot};

#[test]
fn first_run_creates_an_armored_0600_file_in_a_0700_dir_and_get_is_stable() {
    let env = TestEnv::new();
    let first = env.run(&["get"]);
    first
        .assert_code(0)
        .assert_stderr_has("Generated new JWT secret")
        .assert_stderr_has("NOT a backup")
        .assert_stderr_has("CONTINUUM_JWT_SECRET_FILE");
    let secret = first.stdout_line();
    assert!(is_token_urlsafe_32(&secret), "{secret:?}");
    assert!(
        !first.stderr().contains(&secret),
        "the secret leaked to stderr"
    );
    assert_eq!(env.get(), secret);

    let bytes = std::fs::read(env.secret_path()).unwrap();
    assert!(bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----\n"));
    assert!(!String::from_utf8_lossy(&bytes).contains(&secret));
    assert_eq!(mode(&env.secret_path()), 0o600);
    assert_eq!(mode(&env.vault_dir()), 0o700);
}

#[test]
fn auto_without_a_session_bus_falls_back_to_a_key_file_loudly_and_records_it() {
    let env = TestEnv::new();
    let run = env.run(&["get"]);
    run.assert_code(0)
        .assert_stderr_has("WARNING: the OS keyring is not usable")
        .assert_stderr_has("set CONTINUUM_VAULT_KEY_SOURCE to keyring or systemd-creds");
    let meta = std::fs::read_to_string(env.vault_dir().join(".continuum-vault.json")).unwrap();
    assert!(meta.contains("\"key_source\": \"file\""), "{meta}");
    let keys: Vec<_> = std::fs::read_dir(env.key_dir()).unwrap().collect();
    assert_eq!(keys.len(), 1);
    // Later runs follow the record, quietly.
    let again = env.run(&["get"]);
    again.assert_code(0);
    assert_eq!(again.stderr(), "");
}

#[test]
fn keyring_key_source_without_a_session_bus_fails_fast_and_writes_nothing() {
    let env = TestEnv::new();
    let run = env.run(&["get", "--key-source", "keyring"]);
    run.assert_code(6)
        .assert_stderr_has("keyring")
        .assert_stderr_has("hint:");
    assert!(!env.secret_path().exists());
    assert!(!env.vault_dir().join(".continuum-vault.json").exists());
}

#[test]
fn go_age_decrypts_a_vault_file_made_with_the_file_key_source() {
    let (env, secret) = made_vault();
    let key = env.key_file();
    assert_eq!(mode(&key), 0o600);
    assert_eq!(
        String::from_utf8(age::decrypt(&env, &key, &env.secret_path())).unwrap(),
        secret,
        "the payload is exactly the secret"
    );
}

#[test]
fn a_vault_file_made_by_go_age_is_read() {
    let (env, _) = made_vault();
    let meta = std::fs::read_to_string(env.vault_dir().join(".continuum-vault.json")).unwrap();
    let recipient = meta
        .split('"')
        .skip_while(|s| *s != "recipient")
        .nth(2)
        .unwrap()
        .to_owned();
    std::fs::remove_file(env.secret_path()).unwrap();
    age::encrypt_armored(&env, &recipient, &env.secret_path(), b"made-by-go-age\n");
    assert_eq!(env.get(), "made-by-go-age");
}

#[test]
fn env_var_wins_as_given_and_the_file_variable_is_stripped() {
    let mut env = TestEnv::new();
    env.set("CONTINUUM_JWT_SECRET", "  spaced  ");
    assert_eq!(env.run(&["get"]).assert_code(0).stdout(), "  spaced  \n");
    assert!(
        !env.vault_dir().exists(),
        "nothing written when the env var wins"
    );

    let mounted = env.home().join("mounted");
    std::fs::write(&mounted, "\n  from-file \n").unwrap();
    env.set("CONTINUUM_JWT_SECRET_FILE", mounted.to_str().unwrap());
    env.run(&["get"])
        .assert_code(7)
        .assert_stderr_has("unset one of");
    env.set("CONTINUUM_JWT_SECRET", "");
    assert_eq!(env.get(), "from-file");
    std::fs::write(&mounted, "  \n").unwrap();
    env.run(&["get"])
        .assert_code(2)
        .assert_stderr_has("is empty");
    // Set but empty: a mistake, never a request to fall through to the vault.
    env.set("CONTINUUM_JWT_SECRET_FILE", "");
    env.run(&["get"])
        .assert_code(2)
        .assert_stderr_has("set but empty");
    assert!(!env.vault_dir().exists());
    env.set(
        "CONTINUUM_JWT_SECRET_FILE",
        env.home().join("nope").to_str().unwrap(),
    );
    env.run(&["get"]).assert_code(3);
    assert!(
        !env.vault_dir().exists(),
        "a broken _FILE never falls through"
    );
}

#[test]
fn a_legacy_plaintext_file_is_used_as_is_until_migrate_encrypts_it() {
    let env = TestEnv::new();
    env.write_legacy_secret("legacy-plaintext-secret", 0o600);
    // The lock file a refused write takes is not a change of the vault.
    let unlocked = |env: &TestEnv| {
        let mut files = snapshot(env.home());
        files.retain(|(path, _)| !path.ends_with(".continuum-vault.lock"));
        files
    };
    let before = unlocked(&env);
    for args in [
        &["get"][..],
        &["get", "--no-create"],
        &["run", "--", "true"],
    ] {
        let run = env.run(args);
        run.assert_code(0)
            .assert_stderr_has(
                "holds the secret in plaintext; it was used as it is and left unchanged",
            )
            .assert_stderr_has("continuum-vault migrate jwt_secret");
        assert_eq!(unlocked(&env), before, "{args:?} wrote something");
    }
    assert_eq!(env.get(), "legacy-plaintext-secret");
    env.run(&["status"])
        .assert_code(4)
        .assert_stderr_or_stdout_has("plaintext at rest");
    env.run_with_input(&["set", "--force"], b"other\n")
        .assert_code(7)
        .assert_stderr_has("continuum-vault migrate jwt_secret");
    assert_eq!(unlocked(&env), before, "a refused set wrote something");

    let run = env.run(&["--key-source", "file", "migrate"]);
    run.assert_code(0)
        .assert_stderr_has("now gets ciphertext")
        .assert_stderr_has("NOT a backup")
        .assert_stderr_has("continuum-vault backup jwt_secret");
    assert!(
        std::fs::read(env.secret_path())
            .unwrap()
            .starts_with(b"-----BEGIN AGE")
    );
    assert_eq!(mode(&env.secret_path()), 0o600);
    assert_eq!(env.get(), "legacy-plaintext-secret");
    env.run(&["status"]).assert_code(0);
    env.run(&["migrate"])
        .assert_code(0)
        .assert_stderr_has("already encrypted");
}

/// A bad vault, and how the commands must refuse it.
struct Refusal {
    what: &'static str,
    /// Spoils a vault made by a first run.
    prepare: fn(&TestEnv),
    /// The exit code of `get`, `get --no-create` and `status`, which say `needle`.
    code: i32,
    needle: &'static str,
    /// The exit code of `set` without `--force`, which says `set_needle`.
    set_code: i32,
    set_needle: &'static str,
}

const REFUSALS: &[Refusal] = &[
    Refusal {
        what: "plaintext readable by others",
        prepare: |e| {
            std::fs::write(e.secret_path(), "old\n").unwrap();
            std::fs::set_permissions(e.secret_path(), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        },
        code: 4,
        needle: "chmod 600",
        // An exposed plaintext value is refused by writes too: it is never kept as the
        // previous secret.
        set_code: 4,
        set_needle: "chmod 600",
    },
    Refusal {
        what: "symlink at the secret path",
        prepare: |e| {
            let target = e.home().join("elsewhere");
            std::fs::write(&target, "x\n").unwrap();
            std::fs::remove_file(e.secret_path()).unwrap();
            std::os::unix::fs::symlink(&target, e.secret_path()).unwrap();
        },
        code: 4,
        needle: "_FILE",
        set_code: 4,
        set_needle: "_FILE",
    },
    Refusal {
        what: "truncated ciphertext",
        prepare: |e| {
            let bytes = std::fs::read(e.secret_path()).unwrap();
            std::fs::write(e.secret_path(), &bytes[..bytes.len() / 2]).unwrap();
        },
        code: 5,
        needle: "restore",
        set_code: 7,
        set_needle: "--force",
    },
    Refusal {
        what: "corrupt armor",
        prepare: |e| {
            std::fs::write(
                e.secret_path(),
                "-----BEGIN AGE ENCRYPTED FILE-----\n!!!!\n",
            )
            .unwrap();
        },
        code: 5,
        needle: "restore",
        set_code: 7,
        set_needle: "--force",
    },
    Refusal {
        what: "binary garbage",
        prepare: |e| {
            std::fs::write(e.secret_path(), [0u8, 159, 146, 150]).unwrap();
        },
        code: 5,
        needle: "restore",
        set_code: 7,
        set_needle: "--force",
    },
    Refusal {
        what: "key file deleted",
        prepare: |e| {
            std::fs::remove_dir_all(e.key_dir()).unwrap();
        },
        code: 5,
        needle: "restore",
        set_code: 7,
        set_needle: "--force",
    },
    Refusal {
        what: "metadata deleted",
        prepare: |e| {
            std::fs::remove_file(e.vault_dir().join(".continuum-vault.json")).unwrap();
        },
        code: 5,
        needle: "metadata",
        set_code: 7,
        set_needle: "--force",
    },
    Refusal {
        what: "group-writable vault dir",
        prepare: |e| {
            std::fs::set_permissions(e.vault_dir(), std::fs::Permissions::from_mode(0o770))
                .unwrap();
        },
        code: 4,
        needle: "chmod 700",
        set_code: 4,
        set_needle: "chmod 700",
    },
    Refusal {
        what: "key file readable by others",
        prepare: |e| {
            let key = e.key_file();
            std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
        },
        code: 4,
        needle: "chmod 600",
        set_code: 4,
        set_needle: "chmod 600",
    },
    Refusal {
        what: "FIFO at the secret path",
        prepare: |e| {
            replace_with_node(&e.secret_path(), rustix::fs::FileType::Fifo, 0);
        },
        code: 4,
        needle: "move",
        set_code: 4,
        set_needle: "move",
    },
    Refusal {
        what: "huge file",
        prepare: |e| {
            std::fs::write(e.secret_path(), vec![b'a'; 1 << 20]).unwrap();
        },
        code: 4,
        needle: "move it away",
        set_code: 7,
        set_needle: "--force",
    },
];

/// Each case spoils a vault; every command must refuse it with its exit code, say what is
/// wrong with a hint, and leave every file byte-for-byte as it was.
#[test]
fn refusals_leave_files_byte_for_byte_unchanged() {
    for case in REFUSALS {
        let (env, _) = made_vault();
        (case.prepare)(&env);
        assert_refused(
            case.what,
            &env,
            &[&["get"], &["get", "--no-create"], &["status"]],
            case.code,
            case.needle,
        );
        // `set` without --force never replaces what it cannot vouch for either.
        assert_refused(case.what, &env, &[&["set"]], case.set_code, case.set_needle);
    }
}

#[test]
fn set_stores_stdin_stripped_and_refuses_to_clobber() {
    let env = TestEnv::new();
    env.run_with_input(&["--key-source", "file", "set"], b"  first-value \n")
        .assert_code(0);
    assert_eq!(env.get(), "first-value");
    env.run_with_input(&["set"], b"first-value")
        .assert_code(0)
        .assert_stderr_has("unchanged");
    env.run_with_input(&["set"], b"second")
        .assert_code(7)
        .assert_stderr_has("--force");
    assert_eq!(env.get(), "first-value");
    env.run_with_input(&["set", "--force"], b"second")
        .assert_code(0);
    assert_eq!(env.get(), "second");
    env.run_with_input(&["set", "--force"], b" \n\t")
        .assert_code(2);
    assert_eq!(env.get(), "second");
}

#[test]
fn no_create_exits_3_and_creates_nothing() {
    let env = TestEnv::new();
    env.run(&["get", "--no-create"])
        .assert_code(3)
        .assert_stderr_has("does not exist yet");
    assert!(!env.vault_dir().exists());
    env.run(&["status"]).assert_code(3);
    assert!(!env.vault_dir().exists(), "status writes nothing");
}

#[test]
fn run_gives_the_child_the_file_value_in_the_variable_and_not_the_file_variable() {
    let mut env = TestEnv::new();
    let mounted = env.home().join("mounted");
    std::fs::write(&mounted, "\n  from-the-mounted-file \n").unwrap();
    env.set("CONTINUUM_JWT_SECRET_FILE", mounted.to_str().unwrap());
    // Empty counts as unset, so the `_FILE` variable is the source and `run` reaches exec.
    env.set("CONTINUUM_JWT_SECRET", "");
    let run = env
        .run_sh("printf '%s|%s' \"$CONTINUUM_JWT_SECRET\" \"${CONTINUUM_JWT_SECRET_FILE-unset}\"");
    run.assert_code(0);
    assert_eq!(
        run.stdout(),
        "from-the-mounted-file|unset",
        "the child sees the stripped value in the variable, and no `_FILE` variable"
    );
    assert!(!env.vault_dir().exists(), "a `_FILE` source writes nothing");
}

#[test]
fn run_execs_the_command_with_the_secret_in_its_variable() {
    let env = TestEnv::new();
    let secret = env.get();
    let mut env2 = TestEnv::new();
    let secret2 = env2.get();
    env2.set("OTHER", "kept");
    let run = env2.run_sh("printf '%s|%s' \"$CONTINUUM_JWT_SECRET\" \"$OTHER\"");
    run.assert_code(0);
    assert_eq!(run.stdout(), format!("{secret2}|kept"));
    assert_ne!(secret, secret2, "two HOMEs, two secrets");
    env2.run(&["run", "--", "/nonexistent/cmd"])
        .assert_code(127);
    env2.run(&["run", "--", env2.home().to_str().unwrap()])
        .assert_code(126);
    let run = env2.run_names_sh(&["api_key"], "printf %s \"$CONTINUUM_API_KEY\"");
    run.assert_code(0);
    assert!(is_token_urlsafe_32(&run.stdout()));
}

#[test]
fn status_json_reports_without_the_secret() {
    let (env, secret) = made_vault();
    let run = env.run(&["status", "--json"]);
    run.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(json["healthy"], true);
    assert_eq!(json["content"], "encrypted");
    assert_eq!(json["key_source"], "file");
    assert_eq!(json["mode"], "0600");
    assert!(!run.stdout().contains(&secret));
    assert!(!env.run(&["status"]).stdout().contains(&secret));
}

#[test]
fn usage_errors_exit_2_and_names_are_checked() {
    let env = TestEnv::new();
    env.run(&["frobnicate"]).assert_code(2);
    env.run(&["get", "Bad-Name"])
        .assert_code(2)
        .assert_stderr_has("lowercase");
    env.run(&["get", "jwt_secret_previous"])
        .assert_code(2)
        .assert_stderr_has("reserved");
    let mut env = TestEnv::new();
    env.set("CONTINUUM_VAULT_KEY_SOURCE", "tpm");
    env.run(&["get"])
        .assert_code(2)
        .assert_stderr_has("auto, keyring, file or systemd-creds");
}

#[test]
fn a_flag_contradicting_the_record_exits_7() {
    let env = TestEnv::new();
    env.run(&["get", "--key-source", "file"]).assert_code(0);
    env.run(&["get", "--key-source", "keyring"])
        .assert_code(7)
        .assert_stderr_has("key file");
    let mut env2 = TestEnv::new();
    env2.run(&["get", "--key-source", "file"]).assert_code(0);
    env2.set("CONTINUUM_VAULT_KEY_SOURCE", "keyring");
    env2.run(&["get"]).assert_code(7);
}

#[test]
fn the_cli_is_not_dumpable_but_what_run_execs_is() {
    // The kernel hands a non-dumpable process's /proc files to root; a dumpable one's to
    // its own uid. So run the binary as `nobody` and look at the owner of its /proc entry.
    if !crate::support::env::root_or_skip("the_cli_is_not_dumpable_but_what_run_execs_is") {
        return;
    }
    let nobody = Nobody::new();
    let mut child = nobody
        .cmd(&["set"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let proc_dir = format!("/proc/{}", child.id());
    let owner_when_blocked = wait_for_read_block(&proc_dir);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        owner_when_blocked, 0,
        "continuum-vault must be non-dumpable (its /proc entry owned by root)"
    );

    // `run` execs: the child program gets the default (dumpable) back.
    let run = Run(nobody
        .cmd(&["run", "--", "sh", "-c", "stat -c %u /proc/$$/status"])
        .env("CONTINUUM_JWT_SECRET", "given")
        .output()
        .unwrap());
    assert_eq!(run.assert_code(0).stdout(), format!("{NOBODY}\n"));
}

/// Waits until the process is asleep (blocked reading stdin) and returns its /proc owner.
fn wait_for_read_block(proc_dir: &str) -> u32 {
    use std::os::unix::fs::MetadataExt;
    for _ in 0..500 {
        let stat = std::fs::read_to_string(format!("{proc_dir}/stat")).unwrap_or_default();
        let exe = std::fs::read_link(format!("{proc_dir}/exe")).unwrap_or_default();
        // After setpriv has exec'd the vault binary, and once it sleeps in read().
        if stat.contains(") S ") && exe.ends_with("continuum-vault") {
            return std::fs::metadata(format!("{proc_dir}/status"))
                .unwrap()
                .uid();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the child never blocked reading stdin");
}

#[test]
fn files_and_dirs_owned_by_another_user_are_refused() {
    if !crate::support::env::root_or_skip("files_and_dirs_owned_by_another_user_are_refused") {
        return;
    }
    let nobody = || {
        (
            Some(rustix::fs::Uid::from_raw(65534)),
            Some(rustix::fs::Gid::from_raw(65534)),
        )
    };
    let (env, _) = made_vault();
    let before = std::fs::read(env.secret_path()).unwrap();
    let (u, g) = nobody();
    rustix::fs::chown(env.secret_path(), u, g).unwrap();
    env.run(&["get"])
        .assert_code(4)
        .assert_stderr_has("owned by uid 65534");
    assert_eq!(std::fs::read(env.secret_path()).unwrap(), before);

    let (env, _) = made_vault();
    rustix::fs::chown(env.vault_dir(), u, g).unwrap();
    env.run(&["get"]).assert_code(4).assert_stderr_has("chown");
}

#[test]
fn list_names_the_secrets_and_their_sources_never_their_values() {
    let mut env = TestEnv::new();
    env.run(&["list"])
        .assert_code(0)
        .assert_stderr_or_stdout_has("no secrets in");
    let jwt = env.run(&["--key-source", "file", "get"]).stdout_line();
    env.run_with_input(&["set", "db_password"], b"hunter2-but-longer\n")
        .assert_code(0);
    env.run(&["rotate", "--grace", "1h"]).assert_code(0);
    env.set("CONTINUUM_DB_PASSWORD", "from-the-environment");
    let run = env.run(&["list"]);
    run.assert_code(0);
    let lines: Vec<String> = run.stdout().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0],
        format!("{:<24} {:<11} {:<14} PREVIOUS", "NAME", "SOURCE", "KEY")
    );
    assert_eq!(
        lines[1],
        format!("{:<24} {:<11} {:<14} -", "db_password", "env", "file")
    );
    assert!(
        lines[2].starts_with(&format!(
            "{:<24} {:<11} {:<14} valid until ",
            "jwt_secret", "vault", "file"
        )),
        "{lines:?}"
    );
    let json = env.run(&["list", "--json"]);
    json.assert_code(0);
    let text = json.stdout();
    for value in [jwt.as_str(), "hunter2-but-longer", "from-the-environment"] {
        assert!(!text.contains(value), "list shows a value");
    }
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["command"], "list");
    assert_eq!(parsed["secrets"][1]["name"], "jwt_secret");
}

/// A value typed at a terminal is not echoed: `set` reads it from the terminal with echo
/// off, as it does a passphrase. The terminal is a real pty (`script`); the value is typed
/// only once the prompt is there, so the terminal's own echo would show it if it were on.
#[test]
fn set_at_a_terminal_does_not_echo_the_value() {
    use std::io::{Read, Write};
    let env = TestEnv::new();
    let command = format!("{} --key-source file set", crate::support::env::BIN);
    let Ok(mut child) = env
        .program("script", ["-qfec", command.as_str(), "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("SKIPPED set_at_a_terminal_does_not_echo_the_value: no `script` (util-linux)");
        return;
    };
    let mut stdout = child.stdout.take().unwrap();
    // Read until the prompt, then type.
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("(not shown): ") {
        let n = stdout.read(&mut byte).unwrap();
        assert_eq!(n, 1, "the terminal closed before the prompt: {seen:?}");
        seen.push(byte[0]);
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"typed-at-the-terminal\n").unwrap();
    drop(stdin);
    stdout.read_to_end(&mut seen).unwrap();
    assert!(child.wait().unwrap().success());
    let screen = String::from_utf8_lossy(&seen);
    assert!(screen.contains("stored"), "{screen}");
    assert!(
        !screen.contains("typed-at-the-terminal"),
        "the value was echoed: {screen}"
    );
    assert_eq!(env.get(), "typed-at-the-terminal");
}
