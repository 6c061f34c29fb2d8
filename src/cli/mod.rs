//! The command line: one module per command; errors are printed here, once.

mod exit;
mod get;
mod lifecycle;
mod passphrase;
mod run;
mod set;
mod status;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use continuum_vault::{DEFAULT_SECRET, Error, KeySource, Notice, Vault};

/// Keeps a server's secrets age-encrypted at rest, keyed by the OS keyring.
///
/// Exit codes: 0 ok, 1 other, 2 usage, 3 not found, 4 unsafe path (permissions, owner,
/// symlink), 5 corrupt or undecryptable, 6 keyring unavailable, locked or timed out,
/// 7 conflict or ambiguous configuration; `run`: 126/127 when CMD cannot be executed or found.
#[derive(Debug, Parser)]
#[command(name = "continuum-vault", version, about, long_about = None)]
struct Cli {
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help = "The vault directory [env: CONTINUUM_VAULT_DIR] [default: ~/.continuum]"
    )]
    dir: Option<PathBuf>,

    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "SOURCE",
        help = "Where the vault key lives [env: CONTINUUM_VAULT_KEY_SOURCE] [default: auto]"
    )]
    key_source: Option<KeySourceArg>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KeySourceArg {
    /// The OS keyring when it answers, else a key file (with a loud warning).
    Auto,
    /// The OS keyring only.
    Keyring,
    /// A key file in $XDG_CONFIG_HOME/continuum-vault.
    File,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the secret (creating it if absent, like the server does).
    Get {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// Fail with exit code 3 instead of generating a missing secret.
        #[arg(long)]
        no_create: bool,
    },
    /// Resolve the secret, then exec CMD with it in its environment variable.
    Run {
        /// The secret's name (CMD gets it in CONTINUUM_<NAME>).
        #[arg(long, default_value = DEFAULT_SECRET)]
        name: String,
        /// The command and its arguments.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        cmd: Vec<OsString>,
    },
    /// Store a value read from standard input (stripped), encrypted.
    Set {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// Replace a different value, or a file that cannot be decrypted.
        #[arg(long)]
        force: bool,
    },
    /// Write an age-encrypted backup (to a passphrase or to recipients) that `age -d` opens.
    Backup {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// The backup file to create (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Encrypt to this age recipient instead of a passphrase (repeatable).
        #[arg(long, value_name = "AGE1...")]
        recipient: Vec<String>,
        /// Read the passphrase from the first line of FILE instead of the terminal.
        #[arg(long, value_name = "FILE", conflicts_with = "recipient")]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore a secret from a backup into this vault.
    Restore {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// The backup file.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Open the backup with this age identity file instead of a passphrase.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        /// Read the passphrase from the first line of FILE instead of the terminal.
        #[arg(long, value_name = "FILE", conflicts_with = "identity")]
        passphrase_file: Option<PathBuf>,
        /// Replace a different current value (it is kept as the previous secret).
        #[arg(long)]
        force: bool,
    },
    /// Make a new secret current; the old one stays valid as the previous secret for a while.
    Rotate {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// How long the old secret stays available: more than zero, at most 366 days
        /// (e.g. 30d, 12h, 1h30m, 2w).
        #[arg(long, default_value = "30d", value_parser = lifecycle::parse_duration)]
        grace: std::time::Duration,
    },
    /// Encrypt a legacy plaintext secret file in place, keeping its value.
    ///
    /// Loads never do this: first make every process that reads the file itself go
    /// through continuum-vault (`run`, the library or the Python package).
    Migrate {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
    },
    /// Print this vault's age recipient (for `recipients add` on another host).
    Pubkey,
    /// Manage the other recipients every secret is also encrypted to.
    Recipients {
        #[command(subcommand)]
        action: RecipientsAction,
    },
    /// Move the vault key to another key source, re-encrypting every secret.
    Rekey {
        /// Where the key should live from now on.
        #[arg(long, value_enum)]
        to: RekeyTarget,
    },
    /// Report which source would win and whether the vault is healthy.
    Status {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// Print JSON (never containing the secret).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RecipientsAction {
    /// Encrypt every secret also to RECIPIENT.
    Add {
        /// An age recipient (age1...).
        recipient: String,
    },
    /// Stop encrypting to RECIPIENT.
    Remove {
        /// An age recipient (age1...).
        recipient: String,
    },
    /// List the other recipients.
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RekeyTarget {
    /// The OS keyring.
    Keyring,
    /// A key file in $XDG_CONFIG_HOME/continuum-vault.
    File,
}

/// Parses the command line, runs the command and returns its exit code.
pub(crate) fn run() -> ExitCode {
    harden();
    let cli = Cli::parse();
    let result = vault(&cli).and_then(|vault| match cli.command {
        Command::Get { name, no_create } => get::run(&vault, &name, no_create),
        Command::Run { name, cmd } => run::run(&vault, &name, &cmd),
        Command::Set { name, force } => set::run(&vault, &name, force),
        Command::Status { name, json } => status::run(&vault, &name, json),
        Command::Backup {
            name,
            out,
            recipient,
            passphrase_file,
        } => lifecycle::backup(&vault, &name, &out, recipient, passphrase_file.as_deref()),
        Command::Restore {
            name,
            input,
            identity,
            passphrase_file,
            force,
        } => lifecycle::restore(
            &vault,
            &name,
            &input,
            identity,
            passphrase_file.as_deref(),
            force,
        ),
        Command::Rotate { name, grace } => lifecycle::rotate(&vault, &name, grace),
        Command::Migrate { name } => lifecycle::migrate(&vault, &name),
        Command::Pubkey => lifecycle::pubkey(&vault),
        Command::Recipients { action } => lifecycle::recipients(&vault, action),
        Command::Rekey { to } => lifecycle::rekey(
            &vault,
            match to {
                RekeyTarget::Keyring => KeySource::Keyring,
                RekeyTarget::File => KeySource::File,
            },
        ),
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn vault(cli: &Cli) -> Result<Vault, Failure> {
    let mut builder = Vault::builder();
    if let Some(dir) = &cli.dir {
        builder = builder.dir(dir);
    }
    if let Some(source) = cli.key_source {
        builder = builder.key_source(match source {
            KeySourceArg::Auto => KeySource::Auto,
            KeySourceArg::Keyring => KeySource::Keyring,
            KeySourceArg::File => KeySource::File,
        });
    }
    Ok(builder.build()?)
}

/// A failed command: a vault error, or one of the CLI's own.
#[derive(Debug)]
pub(crate) enum Failure {
    Vault(Error),
    /// `run` could not exec its command.
    Exec {
        program: OsString,
        source: std::io::Error,
    },
    /// Standard input could not be read.
    Stdin(std::io::Error),
    /// Standard input held more than the vault accepts.
    StdinTooLarge,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Vault(e)
    }
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Vault(e) => exit::code(e.class()),
            Self::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            Self::Exec { .. } => 126,
            Self::Stdin(_) => 1,
            Self::StdinTooLarge => 2,
        }
    }
}

fn report(failure: &Failure) {
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
    };
    eprintln!("error: {line}");
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}

fn print_notices(notices: &[Notice]) {
    for notice in notices {
        eprintln!("{notice}");
    }
}

/// Writes to standard output; a closed pipe (`get | head -c0`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Vault(Error::Write {
            path: PathBuf::from("<standard output>"),
            source: e,
        })),
        _ => Ok(()),
    }
}

/// Keeps the secret out of core dumps and away from same-user debuggers: the process is
/// made non-dumpable. An exec'd child (`run`) gets the default back, as it should.
fn harden() {
    #[cfg(target_os = "linux")]
    {
        // Failure here is not fatal: the secret is still zeroized after use.
        let _ =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    }
}
