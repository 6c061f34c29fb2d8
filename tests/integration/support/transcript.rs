//! Transcripts: the whole output of CLI runs, pinned as text in `tests/transcripts/`.
//!
//! Each step of a [`Transcript`] records the command line, the exact exit code, and the
//! whole stdout and stderr; [`Transcript::check`] compares the lot with
//! `tests/transcripts/<name>.txt`. So every message and hint is reviewed as text, and any
//! change to one shows in a diff. What differs from run to run is redacted first: the temp
//! HOME (`[HOME]`) and its parent (`[TMP]`), the uid of the user running the tests (`[UID]`), age recipients (`[RECIPIENT]`), vault ids
//! (`[ID]`), generated secrets (`[TOKEN]`), RFC 3339 times (`[TIME]`) and Unix times
//! (`[UNIX-TIME]`).
//!
//! When messages change on purpose, regenerate every transcript with one command, then
//! review `git diff tests/transcripts/` and commit it:
//!
//! ```sh
//! CONTINUUM_TRANSCRIPTS=overwrite cargo test --test integration transcripts::
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use super::env::{Run, TestEnv};

/// Set to `overwrite` to write the transcripts instead of comparing them.
pub(crate) const OVERWRITE_ENV: &str = "CONTINUUM_TRANSCRIPTS";

/// A generated secret with the characters around it (kept by the replacement). A match
/// takes the separator after it, so two tokens one separator apart need a second pass.
const TOKEN: &str = r"(^|[^A-Za-z0-9_-])[A-Za-z0-9_-]{43}($|[^A-Za-z0-9_-])";

/// The owner shown by `status` and `status --json`.
static OWNER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(owner uid: +|"owner_uid": )(\d+)"#).expect("pattern"));

/// Generated values, each with what stands in its place.
static REDACTIONS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // Bech32: lowercase letters and digits but 1, b, i, o.
        (r"age1[02-9ac-hj-np-z]{58}", "[RECIPIENT]"),
        // `secrets.token_urlsafe(32)`: 43 base64url characters, standing alone (before the
        // ids, as a token may hold a run of hex digits between two dashes).
        (TOKEN, "${1}[TOKEN]${2}"),
        (r"\b[0-9a-f]{32}\b", "[ID]"),
        (r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b", "[TIME]"),
        (r"\b1\d{9}\b", "[UNIX-TIME]"),
    ]
    .into_iter()
    .map(|(pattern, by)| (Regex::new(pattern).expect("redaction pattern"), by))
    .collect()
});

/// The runs of one transcript file, recorded as text.
pub(crate) struct Transcript {
    name: &'static str,
    text: String,
}

impl Transcript {
    /// A transcript to be compared with `tests/transcripts/<name>.txt`.
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            text: String::new(),
        }
    }

    /// Runs the binary as `env`'s user and records the step.
    pub(crate) fn run(&mut self, env: &TestEnv, args: &[&str]) -> Run {
        let run = env.run(args);
        self.record(env, &[], args, None, &run);
        run
    }

    /// Runs the binary with `input` on standard input and records the step.
    pub(crate) fn run_with_input(&mut self, env: &TestEnv, args: &[&str], input: &[u8]) -> Run {
        let run = env.run_with_input(args, input);
        self.record(env, &[], args, Some(input), &run);
        run
    }

    /// Runs the binary with the variables `vars` added to `env`'s, and records the step.
    pub(crate) fn run_with_vars(
        &mut self,
        env: &TestEnv,
        vars: &[(&str, &str)],
        args: &[&str],
    ) -> Run {
        let mut cmd = env.cmd(args);
        cmd.envs(vars.iter().copied());
        let run = Run(cmd.output().expect("run continuum-vault"));
        self.record(env, vars, args, None, &run);
        run
    }

    /// Appends one step: the command line as a shell would show it, then what it did.
    fn record(
        &mut self,
        env: &TestEnv,
        vars: &[(&str, &str)],
        args: &[&str],
        input: Option<&[u8]>,
        run: &Run,
    ) {
        let mut line = String::from("$ ");
        if let Some(input) = input {
            write!(line, "printf '{}' | ", input.escape_ascii()).unwrap();
        }
        for (key, value) in vars {
            write!(line, "{key}={} ", quoted(value)).unwrap();
        }
        line.push_str("continuum-vault");
        for arg in args {
            write!(line, " {}", quoted(arg)).unwrap();
        }
        let step = format!(
            "{line}\n? {}\n--- stdout\n{}--- stderr\n{}\n",
            run.code(),
            with_final_newline(&run.stdout()),
            with_final_newline(&run.stderr()),
        );
        self.text.push_str(&redact(env, &step));
    }

    /// Compares the recorded steps with the transcript file (or, with
    /// `CONTINUUM_TRANSCRIPTS=overwrite`, writes them to it).
    #[track_caller]
    pub(crate) fn check(self) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/transcripts")
            .join(format!("{}.txt", self.name));
        if std::env::var_os(OVERWRITE_ENV).is_some_and(|v| v == "overwrite") {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(self.text.as_str()) {
                std::fs::write(&path, &self.text).expect("write the transcript");
            }
            return;
        }
        let Ok(expected) = std::fs::read_to_string(&path) else {
            panic!(
                "no transcript {}; make it with {OVERWRITE_ENV}=overwrite, then review it:\n{}",
                path.display(),
                self.text
            );
        };
        assert!(
            expected == self.text,
            "the output differs from {} (- expected, + actual); if the change is meant, \
             regenerate with {OVERWRITE_ENV}=overwrite and review the diff:\n{}",
            path.display(),
            diff(&expected, &self.text)
        );
    }
}

/// `text`, redacted: the temp HOME and its parent, then every generated value.
fn redact(env: &TestEnv, text: &str) -> String {
    let home = env.home().display().to_string();
    let tmp = env
        .home()
        .parent()
        .expect("HOME is inside a temp dir")
        .display()
        .to_string();
    let mut text = text.replace(&home, "[HOME]").replace(&tmp, "[TMP]");
    // The owner is this user, whoever runs the tests; another user's uid stays visible.
    let uid = rustix::process::geteuid().as_raw().to_string();
    text = OWNER
        .replace_all(&text, |c: &regex::Captures<'_>| {
            let owner = if c[2] == uid { "[UID]" } else { &c[2] };
            format!("{}{owner}", &c[1])
        })
        .into_owned();
    for (pattern, by) in REDACTIONS.iter() {
        text = pattern.replace_all(&text, *by).into_owned();
        if pattern.as_str() == TOKEN {
            text = pattern.replace_all(&text, *by).into_owned();
        }
    }
    text
}

/// An argument as a shell would need it: bare when it is plain, else in single quotes.
fn quoted(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%[]".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// `text` with a newline at its end, marked when the output had none.
fn with_final_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n[no newline at the end]\n")
    }
}

/// A line diff of two texts: common lines indented, others marked `-` (only in `old`) or
/// `+` (only in `new`), from their longest common subsequence.
fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // lcs[i][j]: the length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            writeln!(out, "  {}", a[i]).unwrap();
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            writeln!(out, "- {}", a[i]).unwrap();
            i += 1;
        } else {
            writeln!(out, "+ {}", b[j]).unwrap();
            j += 1;
        }
    }
    out
}

#[test]
fn redaction_and_diff_of_the_transcript_harness() {
    let env = TestEnv::new();
    let token = "Ab-_0123456789abcdefghijklmnopqrstuvwxyzABC";
    let text = format!(
        "{home}/x {token} {token}\n{id}.key age1{r} 2026-01-02T03:04:05Z .unreadable.1767323045",
        home = env.home().display(),
        id = "0123456789abcdef0123456789abcdef",
        r = "q".repeat(58),
    );
    assert_eq!(
        redact(&env, &text),
        "[HOME]/x [TOKEN] [TOKEN]\n[ID].key [RECIPIENT] [TIME] .unreadable.[UNIX-TIME]"
    );
    assert_eq!(diff("a\nb\nc\n", "a\nB\nc\n"), "  a\n- b\n+ B\n  c\n");
    assert_eq!(quoted("it's"), r"'it'\''s'");
    assert_eq!(quoted("--key-source"), "--key-source");
}
