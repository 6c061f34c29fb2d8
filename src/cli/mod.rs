//! The command line: one module per command; errors are printed here, once.

mod docs;
mod exec;
mod exit;
mod get;
mod help;
mod lifecycle;
mod output;
mod passphrase;
mod run;
mod set;
mod status;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use continuum_vault::{DEFAULT_SECRET, Error, KeySource, StoreKind, Vault};

use output::Output;

/// Keeps a server's secrets age-encrypted at rest, keyed by the OS keyring.
#[derive(Debug, Parser)]
#[command(
    name = "continuum-vault",
    version,
    about,
    long_about = None,
    after_help = exit::help(),
    help_expected = true,
    // Our own `help`, so that `help --help` works like every other command's.
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
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

    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "STORE",
        help = "Where the secrets are kept [env: CONTINUUM_VAULT_STORE] [default: local]"
    )]
    store: Option<StoreArg>,

    /// Print no notices, only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Print every cause of an error on its own line, and the error's class.
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KeySourceArg {
    /// The OS keyring when it answers, else a key file (with a loud warning).
    Auto,
    /// The OS keyring only.
    Keyring,
    /// A key file, in $XDG_CONFIG_HOME/continuum-vault unless the key dir is set.
    File,
    /// A systemd credential sealed to this host (root only).
    SystemdCreds,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StoreArg {
    /// The vault directory on this host.
    Local,
    /// An OpenBao (or Vault) KV v2 engine shared by several hosts.
    Openbao,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the secret (creating it if absent, like the server does).
    #[command(after_long_help = help::GET)]
    Get {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// Fail with exit code 3 instead of generating a missing secret.
        #[arg(long)]
        no_create: bool,
    },
    /// Resolve the secrets, then exec CMD with each in its environment variable.
    #[command(
        override_usage = "continuum-vault run [OPTIONS] [--name NAME]... -- CMD [ARGS]...",
        after_long_help = help::RUN
    )]
    Run {
        #[arg(
            long,
            value_name = "NAME",
            help = "A secret to export as CONTINUUM_<NAME> (repeatable) [default: jwt_secret]"
        )]
        name: Vec<String>,
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
    #[command(after_long_help = help::SET)]
    Set {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// Replace a different value, or a file that cannot be decrypted.
        #[arg(long)]
        force: bool,
        /// Report what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write an age-encrypted backup (to a passphrase or to recipients) that `age -d` opens.
    #[command(after_long_help = help::BACKUP)]
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
        /// Report what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Restore a secret from a backup into this vault.
    #[command(after_long_help = help::RESTORE)]
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
        /// Report what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Make a new secret current; the old one stays valid as the previous secret for a while.
    #[command(after_long_help = help::ROTATE)]
    Rotate {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// How long the old secret stays available: more than zero, at most 366 days
        /// (e.g. 30d, 12h, 1h30m, 2w).
        #[arg(long, default_value = "30d", value_parser = lifecycle::parse_duration)]
        grace: std::time::Duration,
        /// Report what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Encrypt a legacy plaintext secret file in place, keeping its value.
    ///
    /// Loads never do this: first make every process that reads the file itself go
    /// through continuum-vault (`run`, the library or the Python package).
    #[command(after_long_help = help::MIGRATE)]
    Migrate {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// Report what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print this vault's age recipient (for `recipients add` on another host).
    #[command(after_long_help = help::PUBKEY)]
    Pubkey {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage the other recipients every secret is also encrypted to.
    #[command(after_long_help = help::RECIPIENTS)]
    Recipients {
        /// Report what was done as JSON on stdout.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: RecipientsAction,
    },
    /// Move the vault key to another key source, re-encrypting every secret.
    #[command(after_long_help = help::REKEY)]
    Rekey {
        /// Where the key should live from now on.
        #[arg(long, value_enum)]
        to: RekeyTarget,
        /// Report what was done as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List the secrets the vault holds (names, never values).
    #[command(after_long_help = help::LIST)]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Report which source would win and whether the vault is healthy.
    #[command(after_long_help = help::STATUS)]
    Status {
        /// The secret's name.
        #[arg(default_value = DEFAULT_SECRET)]
        name: String,
        /// Print JSON (never containing the secret).
        #[arg(long)]
        json: bool,
    },
    /// Print a completion script for SHELL on stdout.
    #[command(after_long_help = help::COMPLETIONS)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout.
    #[command(after_long_help = help::MAN)]
    Man,
    /// Print this message or the help of the given subcommand(s).
    #[command(after_long_help = help::HELP)]
    Help {
        /// The subcommand, e.g. `get` or `recipients add`.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
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
    /// A key file, in $XDG_CONFIG_HOME/continuum-vault unless the key dir is set.
    File,
    /// A systemd credential sealed to this host (run as root).
    SystemdCreds,
}

/// Parses the command line, runs the command and returns its exit code.
pub(crate) fn run() -> ExitCode {
    harden();
    let cli = Cli::parse();
    let out = Output {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match dispatch(&cli, out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(cli: &Cli, out: Output) -> Result<u8, Failure> {
    // The commands that print documentation open no vault.
    let vault = || vault(cli);
    match &cli.command {
        Command::Get { name, no_create } => get::run(&vault()?, out, name, *no_create),
        Command::Run { name, cmd } => run::run(&vault()?, out, name, cmd),
        Command::Set { name, force, json } => set::run(&vault()?, out, name, *force, *json),
        Command::Status { name, json } => status::run(&vault()?, name, *json),
        Command::List { json } => status::list(&vault()?, *json),
        Command::Backup {
            name,
            out: file,
            recipient,
            passphrase_file,
            json,
        } => lifecycle::backup(
            &vault()?,
            out,
            name,
            file,
            recipient,
            passphrase_file.as_deref(),
            *json,
        ),
        Command::Restore {
            name,
            input,
            identity,
            passphrase_file,
            force,
            json,
        } => lifecycle::restore(
            &vault()?,
            out,
            &lifecycle::RestoreArgs {
                name,
                input,
                identity: identity.clone(),
                passphrase_file: passphrase_file.as_deref(),
                force: *force,
                json: *json,
            },
        ),
        Command::Rotate { name, grace, json } => {
            lifecycle::rotate(&vault()?, out, name, *grace, *json)
        }
        Command::Migrate { name, json } => lifecycle::migrate(&vault()?, out, name, *json),
        Command::Pubkey { json } => lifecycle::pubkey(&vault()?, out, *json),
        Command::Recipients { action, json } => {
            lifecycle::recipients(&vault()?, out, action, *json)
        }
        Command::Rekey { to, json } => lifecycle::rekey(
            &vault()?,
            out,
            match to {
                RekeyTarget::Keyring => KeySource::Keyring,
                RekeyTarget::File => KeySource::File,
                RekeyTarget::SystemdCreds => KeySource::SystemdCreds,
            },
            *json,
        ),
        Command::Completions { shell } => docs::completions(*shell),
        Command::Man => docs::man(),
        Command::Help { command } => docs::help(command),
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
            KeySourceArg::SystemdCreds => KeySource::SystemdCreds,
        });
    }
    if let Some(store) = cli.store {
        builder = builder.store(match store {
            StoreArg::Local => StoreKind::Local,
            StoreArg::Openbao => StoreKind::OpenBao,
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
    /// Arguments clap accepts but that make no sense together.
    Usage {
        message: String,
        hint: String,
    },
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Vault(e)
    }
}

impl Failure {
    fn exit_code(&self) -> u8 {
        use continuum_vault::ErrorClass;
        match self {
            Self::Vault(e) => exit::for_class(e.class()),
            Self::Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                exit::COMMAND_NOT_FOUND
            }
            Self::Exec { .. } => exit::CANNOT_EXECUTE,
            Self::Stdin(_) => exit::for_class(ErrorClass::Other),
            Self::StdinTooLarge | Self::Usage { .. } => exit::for_class(ErrorClass::Usage),
        }
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
