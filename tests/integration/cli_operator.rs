//! The operator's command line: help that teaches, exit codes from one table, completions and
//! the man page, several secrets in one `run`, `--json`, `--quiet` and `--verbose`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::support::backup::{Key, backup, passphrase_file, restore};
use crate::support::env::{Run, TestEnv, is_token_urlsafe_32, made_vault};

/// The rows of README.md's "Exit codes" table, as (codes, meaning).
fn readme_exit_codes() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README.md has an \"## Exit codes\" section")
        .to_owned();
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 2, "two columns: {line}");
            (cells[0].trim().to_owned(), cells[1].trim().to_owned())
        })
        .collect()
}

/// The "Exit codes:" section of the top-level help, as it must read given the README table.
fn exit_codes_help_from_readme() -> String {
    let rows = readme_exit_codes();
    let width = rows.iter().map(|(c, _)| c.len()).max().unwrap();
    let mut text = String::from("Exit codes:\n");
    for (codes, meaning) in rows {
        writeln!(text, "  {codes:>width$}  {meaning}").unwrap();
    }
    text.push_str(
        "\nEvery error a user can fix prints a second line, `hint: ...`, with the fix.\n",
    );
    text
}

#[test]
fn top_level_help_lists_the_readme_exit_codes() {
    let env = TestEnv::new();
    let expected = exit_codes_help_from_readme();
    assert!(expected.contains("\n  126, 127  `run`: CMD"), "{expected}");
    for flag in ["--help", "-h"] {
        let run = env.run(&[flag]);
        run.assert_code(0);
        let out = run.stdout();
        let section = &out[out.find("Exit codes:\n").expect("an exit codes section")..];
        assert_eq!(section, expected, "{flag}");
        assert_eq!(run.stderr(), "");
    }
    // `help` with no command is the same page as `--help`.
    assert_eq!(
        env.run(&["help"]).assert_code(0).stdout(),
        env.run(&["--help"]).stdout()
    );
}

/// Every command that opens the vault, with the variables its long help must name.
const COMMANDS: &[(&[&str], &[&str])] = &[
    (&["get"], &["CONTINUUM_<NAME>", "CONTINUUM_<NAME>_FILE"]),
    (
        &["run"],
        &[
            "CONTINUUM_<NAME>",
            "CONTINUUM_<NAME>_FILE",
            "CONTINUUM_<NAME>_PREVIOUS",
        ],
    ),
    (&["set"], &[]),
    (&["backup"], &[]),
    (&["restore"], &[]),
    (&["rotate"], &[]),
    (&["migrate"], &[]),
    (&["pubkey"], &[]),
    (&["recipients"], &[]),
    (&["rekey"], &[]),
    (&["status"], &["CONTINUUM_<NAME>", "CONTINUUM_<NAME>_FILE"]),
];

#[test]
fn every_command_s_long_help_has_examples_and_the_variables_it_reads() {
    let env = TestEnv::new();
    for (command, vars) in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let run = env.run(&args);
        run.assert_code(0);
        let out = run.stdout();
        let examples = out
            .find("\nExamples:\n")
            .unwrap_or_else(|| panic!("{command:?}: {out}"));
        let example_lines = out[examples..]
            .lines()
            .filter(|l| l.starts_with("  continuum-vault ") || l.contains("| continuum-vault "))
            .count();
        assert!(example_lines >= 1, "{command:?} has no example: {out}");
        let variables = &out[out
            .find("\nVariables:\n")
            .unwrap_or_else(|| panic!("{command:?}"))..];
        for var in vars.iter().chain(&[
            "CONTINUUM_VAULT_DIR",
            "CONTINUUM_VAULT_KEY_SOURCE",
            "CONTINUUM_VAULT_KEYRING_TIMEOUT_MS",
            "XDG_CONFIG_HOME",
        ]) {
            assert!(
                variables.contains(var),
                "{command:?} lacks {var}: {variables}"
            );
        }
        // The short help stays short.
        let short = env.run(&[command[0], "-h"]);
        assert!(
            !short.assert_code(0).stdout().contains("Examples:"),
            "{command:?}"
        );
        // `help CMD` is `CMD --help`.
        assert_eq!(env.run(&["help", command[0]]).assert_code(0).stdout(), out);
    }
}

#[test]
fn get_long_help_reads_in_full() {
    let run = TestEnv::new().run(&["get", "--help"]);
    assert_eq!(
        run.assert_quiet_success().stdout(),
        "\
Print the secret (creating it if absent, like the server does)

Usage: continuum-vault get [OPTIONS] [NAME]

Arguments:
  [NAME]
          The secret's name
          
          [default: jwt_secret]

Options:
      --dir <DIR>
          The vault directory [env: CONTINUUM_VAULT_DIR] [default: ~/.continuum]

      --no-create
          Fail with exit code 3 instead of generating a missing secret

      --key-source <SOURCE>
          Where the vault key lives [env: CONTINUUM_VAULT_KEY_SOURCE] [default: auto]

          Possible values:
          - auto:          The OS keyring when it answers, else a key file (with a loud warning)
          - keyring:       The OS keyring only
          - file:          A key file, in $XDG_CONFIG_HOME/continuum-vault unless the key dir is set
          - systemd-creds: A systemd credential sealed to this host (root only)

      --store <STORE>
          Where the secrets are kept [env: CONTINUUM_VAULT_STORE] [default: local]

          Possible values:
          - local:   The vault directory on this host
          - openbao: An OpenBao (or Vault) KV v2 engine shared by several hosts

  -q, --quiet
          Print no notices, only warnings and errors

  -v, --verbose
          Print every cause of an error on its own line, and the error's class

  -h, --help
          Print help (see a summary with '-h')

Examples:
  # Print jwt_secret, creating it on first use (as the server does)
  continuum-vault get
  # Fail with exit code 3 instead of generating a secret that is not there
  continuum-vault get db_password --no-create

Variables:
  CONTINUUM_<NAME>                    the secret itself, used as given (NAME in capitals)
  CONTINUUM_<NAME>_FILE               a file holding the secret (e.g. a mounted secret),
                                      stripped; setting both is an error
  CREDENTIALS_DIRECTORY               set by systemd: $CREDENTIALS_DIRECTORY/<name> is
                                      the secret itself, delivered to the unit
  CONTINUUM_VAULT_DIR                 the vault directory (--dir) [default: ~/.continuum]
  CONTINUUM_VAULT_KEY_SOURCE          auto, keyring, file or systemd-creds (--key-source)
                                      [default: auto]
  CONTINUUM_VAULT_KEYRING_TIMEOUT_MS  how long to wait for the keyring, systemd-creds or
                                      the vault lock [default: 5000]
  CONTINUUM_VAULT_KEY_DIR             where new key files go
                                      [default: $XDG_CONFIG_HOME/continuum-vault]
  CONTINUUM_VAULT_CREDSTORE           where a systemd-creds key goes
                                      [default: /etc/credstore.encrypted]
  CONTINUUM_VAULT_STORE               local or openbao (--store) [default: local]; openbao
                                      reads BAO_ADDR, BAO_TOKEN (or BAO_ROLE_ID and
                                      BAO_SECRET_ID_FILE), BAO_CACERT; CONTINUUM_VAULT_CACHE=off
                                      keeps no local copy
  XDG_CONFIG_HOME                     [default: ~/.config]
  HOME                                the default vault directory's parent
"
    );
}

#[test]
fn run_usage_shows_the_double_dash_and_help_has_its_own_help() {
    let env = TestEnv::new();
    let run = env.run(&["run", "-h"]);
    assert!(
        run.assert_code(0)
            .stdout()
            .contains("\nUsage: continuum-vault run [OPTIONS] [--name NAME]... -- CMD [ARGS]...\n"),
        "{}",
        run.stdout()
    );
    // Without CMD, the usage error shows it too.
    let bare = env.run(&["run"]);
    bare.assert_code(2).assert_stderr_has("-- CMD [ARGS]...");

    let help = env.run(&["help", "--help"]);
    help.assert_code(0);
    assert!(
        help.stdout().starts_with(
            "Print this message or the help of the given subcommand(s)\n\n\
             Usage: continuum-vault help [OPTIONS] [COMMAND]...\n"
        ),
        "{}",
        help.stdout()
    );
    assert_eq!(
        env.run(&["help", "recipients", "add"])
            .assert_code(0)
            .stdout(),
        env.run(&["recipients", "add", "--help"]).stdout()
    );
    let unknown = env.run(&["help", "nope"]);
    unknown.assert_code(2);
    assert_eq!(unknown.stdout(), "");
    assert_eq!(
        unknown.stderr(),
        "error: no such command: continuum-vault nope\n\
         hint: one of: get, run, set, backup, restore, rotate, migrate, pubkey, recipients, rekey, list, \
         status, completions, man, help\n"
    );
}

/// Sources the bash completion script and completes `words` (the last one being completed);
/// returns COMPREPLY.
fn bash_complete(env: &TestEnv, script: &std::path::Path, words: &[&str]) -> BTreeSet<String> {
    let program = r#"
        set -u
        source "$1"
        shift
        spec=$(complete -p continuum-vault) || { echo "no completion registered" >&2; exit 9; }
        fn=${spec#*-F }
        fn=${fn%% *}
        COMP_WORDS=("$@")
        COMP_CWORD=$(( $# - 1 ))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        prev=""
        (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD - 1]}
        "$fn" continuum-vault "${COMP_WORDS[COMP_CWORD]}" "$prev"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let mut args = vec![
        "--norc",
        "--noprofile",
        "-c",
        program,
        "bash",
        script.to_str().unwrap(),
    ];
    args.extend_from_slice(words);
    let out = env.program("bash", &args).output().expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_their_options_and_values() {
    let env = TestEnv::new();
    let run = env.run(&["completions", "bash"]);
    run.assert_quiet_success();
    let script = env.home().join("continuum-vault.bash");
    std::fs::write(&script, run.0.stdout).unwrap();

    let top = bash_complete(&env, &script, &["continuum-vault", ""]);
    for sub in [
        "get",
        "run",
        "set",
        "backup",
        "restore",
        "rotate",
        "pubkey",
        "recipients",
        "rekey",
        "status",
        "completions",
        "man",
        "help",
    ] {
        assert!(top.contains(sub), "{sub} missing from {top:?}");
    }
    let started = bash_complete(&env, &script, &["continuum-vault", "st"]);
    assert_eq!(started, BTreeSet::from(["status".to_owned()]));
    // After a subcommand: its own options and subcommands (clap-rs/clap#6421 broke these).
    let recipients = bash_complete(&env, &script, &["continuum-vault", "recipients", ""]);
    for word in ["add", "remove", "list", "--json"] {
        assert!(
            recipients.contains(word),
            "{word} missing from {recipients:?}"
        );
    }
    let get = bash_complete(&env, &script, &["continuum-vault", "get", "--no"]);
    assert_eq!(get, BTreeSet::from(["--no-create".to_owned()]));
    let to = bash_complete(&env, &script, &["continuum-vault", "rekey", "--to", ""]);
    assert_eq!(
        to,
        BTreeSet::from([
            "file".to_owned(),
            "keyring".to_owned(),
            "systemd-creds".to_owned()
        ])
    );
}

#[test]
fn completions_for_every_shell_name_the_commands() {
    let env = TestEnv::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef continuum-vault"),
        ("fish", "complete -c continuum-vault"),
        ("elvish", "edit:completion:arg-completer[continuum-vault]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = env.run(&["completions", shell]);
        run.assert_code(0);
        let script = run.stdout();
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for sub in ["rotate", "recipients", "status"] {
            assert!(script.contains(sub), "{shell}: no {sub}");
        }
    }
    let bad = env.run(&["completions", "tcsh"]);
    bad.assert_code(2)
        .assert_stderr_has("[possible values: bash, elvish, fish, powershell, zsh]");
}

#[test]
fn man_renders_with_every_command_and_the_exit_codes() {
    let env = TestEnv::new();
    let page = env.run(&["man"]);
    page.assert_code(0);
    assert_eq!(page.stderr(), "");
    assert!(page.stdout().starts_with(".ie \\n(.g .ds Aq"), "roff");
    let mut man = env
        .program("man", ["--warnings", "-l", "-"])
        .env("MANWIDTH", "200")
        .env("MAN_KEEP_FORMATTING", "")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("man (apt-get install man-db)");
    std::io::Write::write_all(&mut man.stdin.take().unwrap(), &page.0.stdout).unwrap();
    let rendered = Run(man.wait_with_output().unwrap());
    rendered.assert_code(0);
    assert_eq!(rendered.stderr(), "", "groff warnings");
    // `man` may embolden with backspaces when it thinks it writes to a terminal; not here.
    let text = rendered.stdout();
    assert!(!text.contains('\u{8}'), "{text}");
    for needle in [
        "NAME\n       continuum-vault - Keeps a server's secrets age-encrypted at rest",
        "\nCOMMANDS\n",
        "\n   continuum-vault get\n",
        "\n   continuum-vault recipients add\n",
        "continuum-vault run [OPTIONS] [--name NAME]... -- CMD [ARGS]...",
        "CONTINUUM_VAULT_KEYRING_TIMEOUT_MS",
        "\nEXIT STATUS\n",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    for (codes, meaning) in readme_exit_codes() {
        assert!(
            text.contains(&format!("\n       {codes}")) && text.contains(&meaning),
            "{codes}: {meaning}"
        );
    }
}

/// `sh -c` printing each variable (or `-` when unset) on its own line.
fn print_vars(vars: &[&str]) -> String {
    let mut script = String::new();
    for v in vars {
        writeln!(script, "printf '%s\\n' \"${{{v}-unset}}\";").unwrap();
    }
    script
}

#[test]
fn run_exports_every_name_with_its_previous_secret() {
    let env = TestEnv::new();
    env.run_with_input(&["--key-source", "file", "set", "db_password"], b"db-old\n")
        .assert_code(0);
    env.run(&["rotate", "db_password"]).assert_code(0);
    let db_new = env.run(&["get", "db_password"]).stdout_line();
    let script = print_vars(&[
        "CONTINUUM_JWT_SECRET",
        "CONTINUUM_JWT_SECRET_PREVIOUS",
        "CONTINUUM_DB_PASSWORD",
        "CONTINUUM_DB_PASSWORD_PREVIOUS",
    ]);
    let run = env.run_names_sh(&["jwt_secret", "db_password"], &script);
    run.assert_code(0);
    let lines: Vec<String> = run.stdout().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(is_token_urlsafe_32(&lines[0]), "generated on first use");
    assert_eq!(lines[1], "unset");
    assert_eq!(lines[2], db_new);
    assert_eq!(lines[3], "db-old");
    assert_eq!(env.get(), lines[0]);
    // The default is jwt_secret alone.
    let default = env.run(&["run", "--", "sh", "-c", &script]);
    assert_eq!(
        default.assert_code(0).stdout(),
        format!("{}\nunset\nunset\nunset\n", lines[0])
    );
}

#[test]
fn run_execs_nothing_when_any_name_fails() {
    let (env, _) = made_vault();
    let marker = env.home().join("ran");
    let touch = format!("touch {}", marker.display());
    // A name given twice: a usage error, before anything is read.
    let twice = env.run_names_sh(&["jwt_secret", "db_password", "jwt_secret"], &touch);
    twice.assert_code(2);
    assert_eq!(twice.stdout(), "");
    assert_eq!(
        twice.stderr(),
        "error: --name jwt_secret is given twice\nhint: give each secret once\n"
    );
    assert!(!env.vault_dir().join("db_password").exists());
    // An invalid name after a good one.
    env.run_names_sh(&["jwt_secret", "Bad"], &touch)
        .assert_code(2)
        .assert_stderr_has("invalid secret name \"Bad\"");
    // A damaged second secret: exit 5, and its file is left as it was.
    let damaged = env.vault_dir().join("db_password");
    std::fs::write(&damaged, "-----BEGIN AGE ENCRYPTED FILE-----\ngarbage\n").unwrap();
    std::fs::set_permissions(
        &damaged,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let before = std::fs::read(&damaged).unwrap();
    env.run_names_sh(&["jwt_secret", "db_password"], &touch)
        .assert_code(5)
        .assert_stderr_has("hint:");
    assert_eq!(std::fs::read(&damaged).unwrap(), before);
    assert!(!marker.exists(), "CMD ran although a secret failed");
    // With every name good, CMD runs.
    env.run_names_sh(&["jwt_secret"], &touch).assert_code(0);
    assert!(marker.exists());
}

fn parse_json(run: &Run, command: &str) -> serde_json::Value {
    let out = run.stdout();
    let value: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{command}: {e}: {out:?}"));
    assert!(value.is_object(), "{command}: {out}");
    assert_eq!(value["version"], 1, "{command}: {out}");
    assert_eq!(value["command"], command, "{command}: {out}");
    value
}

#[test]
fn every_report_has_json_with_a_version_and_never_a_secret() {
    let env = TestEnv::new();
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut keep =
        |what: &str, run: &Run| outputs.push((what.to_owned(), run.stdout() + &run.stderr()));

    let set = env.run_with_input(
        &["--key-source", "file", "set", "--json"],
        b"first-value-1234\n",
    );
    set.assert_code(0);
    assert_eq!(
        set.stdout(),
        "{\n  \"version\": 1,\n  \"command\": \"set\",\n  \"name\": \"jwt_secret\",\n  \"outcome\": \"created\"\n}\n"
    );
    keep("set", &set);
    let again = env.run_with_input(&["set", "--json"], b"first-value-1234");
    assert_eq!(parse_json(&again, "set")["outcome"], "unchanged");
    keep("set again", &again);

    let rotate = env.run(&["rotate", "--grace", "1h", "--json"]);
    rotate.assert_code(0);
    let json = parse_json(&rotate, "rotate");
    assert_eq!(json["name"], "jwt_secret");
    let expires = json["previous_expires"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.len() == 20, "{expires}");
    assert!(json["previous_expires_unix"].as_u64().unwrap() > 1_700_000_000);
    keep("rotate", &rotate);
    let secret = env.get();

    let pubkey = env.run(&["pubkey", "--json"]);
    let recipient = parse_json(&pubkey, "pubkey")["recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(recipient, env.run(&["pubkey"]).stdout_line());
    assert!(recipient.starts_with("age1"));
    keep("pubkey", &pubkey);

    let other_recipient = recipients_reports(&env, &mut keep);
    backup_reports(&env, &other_recipient, &mut keep);

    let listed = env.run(&["list", "--json"]);
    assert_eq!(
        parse_json(&listed, "list")["secrets"][0]["name"],
        "jwt_secret"
    );
    keep("list", &listed);

    let rekey = env.run(&["rekey", "--to", "file", "--json"]);
    let json = parse_json(&rekey, "rekey");
    assert_eq!(json["key_source"], "file");
    assert_eq!(json["changed"], false);
    assert_eq!(json["removed_key"], serde_json::Value::Null);
    keep("rekey", &rekey);

    let status = env.run(&["status", "--json"]);
    status.assert_code(0);
    let json = parse_json(&status, "status");
    assert_eq!(json["healthy"], true);
    keep("status", &status);

    // An error under --json: nothing on stdout, the error and its hint on stderr, the code.
    let refused = env.run_with_input(&["set", "--json"], b"another-value");
    refused.assert_code(7);
    assert_eq!(refused.stdout(), "");
    assert!(
        refused.stderr().starts_with("error: ") && refused.stderr().contains("\nhint: "),
        "{}",
        refused.stderr()
    );
    keep("refused set", &refused);

    let old = "first-value-1234";
    for (what, text) in &outputs {
        assert!(!text.contains(&secret), "{what} leaked the secret: {text}");
        assert!(
            !text.contains(old),
            "{what} leaked the previous secret: {text}"
        );
    }
}

#[test]
fn migrate_reports_json_without_the_secret() {
    let env = TestEnv::new();
    env.write_legacy_secret("legacy-plaintext-secret", 0o600);
    let run = env.run(&["--key-source", "file", "migrate", "--json"]);
    run.assert_code(0);
    let json = parse_json(&run, "migrate");
    assert_eq!(json["name"], "jwt_secret");
    assert_eq!(json["changed"], true);
    assert_eq!(json["path"], env.secret_path().to_str().unwrap());
    let again = env.run(&["migrate", "--json"]);
    assert_eq!(parse_json(&again, "migrate")["changed"], false);
    for text in [run.stdout(), run.stderr(), again.stdout(), again.stderr()] {
        assert!(!text.contains("legacy-plaintext-secret"), "{text}");
    }
    assert_eq!(env.get(), "legacy-plaintext-secret");
}

#[test]
fn quiet_silences_notices_but_not_warnings() {
    // The file key source: the first `get` only has the "generated" notice.
    let env = TestEnv::new();
    let run = env.run(&["--key-source", "file", "get", "--quiet"]);
    assert!(is_token_urlsafe_32(
        &run.assert_quiet_success().stdout_line()
    ));
    env.run_with_input(&["-q", "set", "db_password"], b"value-1")
        .assert_quiet_success();

    // Without a session bus, `auto` falls back to a key file with a warning: still printed,
    // while the notice that a secret was generated is not.
    let loud = TestEnv::new().run(&["get"]);
    loud.assert_code(0)
        .assert_stderr_has("WARNING: the OS keyring is not usable")
        .assert_stderr_has("Generated new JWT secret");
    let quiet = TestEnv::new().run(&["get", "--quiet"]);
    quiet.assert_code(0);
    let stderr = quiet.stderr();
    assert!(
        stderr.starts_with("WARNING: the OS keyring is not usable"),
        "{stderr}"
    );
    assert!(
        stderr.lines().all(|l| l.starts_with("WARNING: ")),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        loud.stderr()
            .lines()
            .filter(|l| l.starts_with("WARNING: "))
            .count()
    );
}

#[test]
fn verbose_adds_each_cause_and_the_class_to_an_error() {
    let mut env = TestEnv::new();
    let missing = env.home().join("missing");
    env.set("CONTINUUM_JWT_SECRET_FILE", missing.to_str().unwrap());
    let plain = env.run(&["get"]);
    plain.assert_code(3);
    let first = format!(
        "error: cannot read CONTINUUM_JWT_SECRET_FILE file {}: No such file or directory (os error 2)\n",
        missing.display()
    );
    assert!(plain.stderr().starts_with(&first), "{}", plain.stderr());
    assert_eq!(plain.stderr().lines().count(), 2, "{}", plain.stderr());
    assert!(plain.stderr().lines().nth(1).unwrap().starts_with("hint: "));

    let verbose = env.run(&["get", "--verbose"]);
    verbose.assert_code(3);
    assert_eq!(
        verbose.stderr(),
        format!(
            "{}caused by: No such file or directory (os error 2)\nclass: not_found (exit code 3)\n",
            plain.stderr()
        )
    );
    assert_eq!(verbose.stdout(), "");
}

#[test]
fn cli_errors_map_to_the_documented_codes() {
    let env = TestEnv::new();
    // Empty standard input is a usage error (2).
    env.run_with_input(&["--key-source", "file", "set"], b"")
        .assert_code(2)
        .assert_stderr_has("hint: ");
    // CMD not found: 127; found but not executable: 126.
    env.run(&["--key-source", "file", "run", "--", "/nonexistent/cmd"])
        .assert_code(127);
    let script = env.home().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    env.run(&["run", "--", script.to_str().unwrap()])
        .assert_code(126)
        .assert_stderr_has("hint: check the command name");
}

/// `recipients add|list|remove --json` (to another vault's recipient), for the walk above.
fn recipients_reports(env: &TestEnv, keep: &mut dyn FnMut(&str, &Run)) -> String {
    let other_dir = env.home().join("other");
    let other_dir = other_dir.to_str().unwrap();
    env.run(&["--dir", other_dir, "--key-source", "file", "get"])
        .assert_code(0);
    let other = env.run(&["--dir", other_dir, "pubkey"]);
    let other_recipient = other.assert_code(0).stdout_line();
    let add = env.run(&["recipients", "add", &other_recipient, "--json"]);
    let json = parse_json(&add, "recipients add");
    assert_eq!(json["recipient"], other_recipient.as_str());
    assert_eq!(
        json["files_reencrypted"], 2,
        "the secret and its previous one"
    );
    keep("recipients add", &add);
    let list = env.run(&["recipients", "--json", "list"]);
    assert_eq!(
        parse_json(&list, "recipients list")["recipients"],
        serde_json::json!([other_recipient])
    );
    keep("recipients list", &list);
    let remove = env.run(&["recipients", "remove", &other_recipient, "--json"]);
    assert_eq!(
        parse_json(&remove, "recipients remove")["files_reencrypted"],
        2
    );
    keep("recipients remove", &remove);

    other_recipient
}

/// `backup --json` to a recipient and to a passphrase, and `restore --json`, for the walk above.
fn backup_reports(env: &TestEnv, other_recipient: &str, keep: &mut dyn FnMut(&str, &Run)) {
    let backup_file = env.home().join("backup.age");
    let to_recipient = backup(
        env,
        &backup_file,
        Key::Recipient(other_recipient),
        &["--json"],
    );
    let json = parse_json(&to_recipient, "backup");
    assert_eq!(json["out"], backup_file.to_str().unwrap());
    assert_eq!(json["encrypted_to"], "recipients");
    assert_eq!(json["recipients"], serde_json::json!([other_recipient]));
    keep("backup", &to_recipient);
    let passphrase = passphrase_file(env);
    let pass_file = env.home().join("pass.age");
    let to_passphrase = backup(env, &pass_file, Key::Passphrase(&passphrase), &["--json"]);
    assert_eq!(
        parse_json(&to_passphrase, "backup")["encrypted_to"],
        "passphrase"
    );
    keep("backup passphrase", &to_passphrase);

    let restored = restore(env, &pass_file, Key::Passphrase(&passphrase), &["--json"]);
    let json = parse_json(&restored, "restore");
    assert_eq!(json["outcome"], "unchanged");
    assert_eq!(json["in"], pass_file.to_str().unwrap());
    keep("restore", &restored);
}
