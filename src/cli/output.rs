//! Where a command's words go: the result on stdout (text or one JSON object), notices on
//! stderr unless `--quiet` (warnings always), errors on stderr with their hint.

use std::io::Write;
use std::path::PathBuf;

use continuum_vault::{Error, Notice};
use serde::Serialize;

use super::Failure;

/// The version of every `--json` object; bumped only when a field changes meaning or goes away.
pub(crate) const JSON_VERSION: u64 = 1;

/// The global output settings.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Output {
    /// `--quiet`: no notices except warnings.
    pub(crate) quiet: bool,
    /// `--verbose`: errors with every cause, one per line, and their class.
    pub(crate) verbose: bool,
}

impl Output {
    /// Prints the library's notices; under `--quiet` only the warnings.
    pub(crate) fn notices(self, notices: &[Notice]) {
        for notice in notices {
            self.notice(&notice.to_string());
        }
    }

    /// Prints one notice (a confirmation such as "stored", or a warning).
    pub(crate) fn notice(self, text: &str) {
        if !self.quiet || is_warning(text) {
            eprintln!("{text}");
        }
    }

    /// Prints `fields` (a struct or a map) as one JSON object on stdout, preceded by
    /// `version` and `command`; a struct's fields keep their order.
    pub(crate) fn json(command: &str, fields: impl Serialize) -> Result<(), Failure> {
        #[derive(Serialize)]
        struct Report<'a, T> {
            version: u64,
            command: &'a str,
            #[serde(flatten)]
            fields: T,
        }
        let report = Report {
            version: JSON_VERSION,
            command,
            fields,
        };
        let mut text = serde_json::to_string_pretty(&report)
            .expect("reports serialize: string keys, no secrets, no non-finite floats");
        text.push('\n');
        write_stdout(text.as_bytes())
    }

    /// Prints the error, its hint, and with `--verbose` its causes and class, on stderr.
    pub(crate) fn error(self, failure: &Failure) {
        eprint!("{}", error_text(failure, self.verbose));
    }
}

/// Whether a notice is a warning: those are printed even under `--quiet`.
pub(crate) fn is_warning(text: &str) -> bool {
    let first = text.trim_start();
    first.starts_with("warning") || first.starts_with("WARNING")
}

/// The text printed for a failed command.
///
/// By default: `error: ` and the error with its causes on one line, then `hint: ` and the fix.
/// With `--verbose`, also each cause on its own line and the class behind the exit code, so
/// detail the library keeps out of the first line can be shown there.
pub(crate) fn error_text(failure: &Failure, verbose: bool) -> String {
    use std::fmt::Write as _;
    let (line, hint) = match failure {
        Failure::Vault(e) => (continuum_vault::error_chain(e), e.hint()),
        Failure::Exec { program, source } => (
            format!("cannot execute {}: {source}", program.to_string_lossy()),
            Some("check the command name and that it is executable".into()),
        ),
        Failure::Stdin(e) => (format!("cannot read standard input: {e}"), None),
        Failure::StdinTooLarge => (
            format!(
                "standard input holds more than {} bytes",
                continuum_vault::MAX_FILE_SIZE
            ),
            Some("pipe only the secret's value".into()),
        ),
        Failure::Usage { message, hint } => (message.clone(), Some(hint.clone())),
    };
    let mut text = format!("error: {line}\n");
    if let Some(hint) = hint {
        let _ = writeln!(text, "hint: {hint}");
    }
    if verbose {
        if let Failure::Vault(e) = failure {
            if let Some(detail) = e.detail() {
                let _ = writeln!(text, "detail: {detail}");
            }
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let _ = writeln!(text, "caused by: {c}");
                cause = c.source();
            }
            let _ = writeln!(
                text,
                "class: {} (exit code {})",
                serde_json::to_value(e.class())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "other".into()),
                failure.exit_code()
            );
        } else {
            let _ = writeln!(text, "exit code: {}", failure.exit_code());
        }
    }
    text
}

/// Writes to standard output; a closed pipe (`get | head -c0`) is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Vault(Error::Write {
            path: PathBuf::from("<standard output>"),
            source: e,
        })),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_told_apart_from_other_notices() {
        for (text, warning) in [
            ("WARNING: the OS keyring is not usable", true),
            ("warning: previous secret left out", true),
            ("  WARNING: indented", true),
            ("Generated new JWT secret", false),
            ("stored", false),
            ("a warning in the middle", false),
        ] {
            assert_eq!(is_warning(text), warning, "{text}");
        }
    }

    #[test]
    fn an_error_prints_its_chain_and_hint_and_verbose_adds_the_causes_and_class() {
        let failure = Failure::Vault(Error::Io {
            action: "read",
            path: "/v/jwt_secret".into(),
            source: std::io::Error::other("disk on fire"),
        });
        assert_eq!(
            error_text(&failure, false),
            "error: cannot read /v/jwt_secret: disk on fire\n\
             hint: check that /v/jwt_secret is accessible to this user\n"
        );
        assert_eq!(
            error_text(&failure, true),
            "error: cannot read /v/jwt_secret: disk on fire\n\
             hint: check that /v/jwt_secret is accessible to this user\n\
             caused by: disk on fire\n\
             class: other (exit code 1)\n"
        );
    }
}
