//! The long help of each command: one or two examples, then the variables it reads.
//!
//! The texts are macros, not constants, so that `concat!` can join the shared parts into the
//! literal each `#[command(after_long_help = ...)]` needs.

/// The variables every command that opens the vault reads.
macro_rules! vault_vars {
    () => {
        "  CONTINUUM_VAULT_DIR                 the vault directory (--dir) [default: ~/.continuum]\n\
         \x20 CONTINUUM_VAULT_KEY_SOURCE          auto, keyring, file or systemd-creds (--key-source)\n\
         \x20                                     [default: auto]\n\
         \x20 CONTINUUM_VAULT_KEYRING_TIMEOUT_MS  how long to wait for the keyring, systemd-creds or\n\
         \x20                                     the vault lock [default: 5000]\n\
         \x20 CONTINUUM_VAULT_KEY_DIR             where new key files go\n\
         \x20                                     [default: $XDG_CONFIG_HOME/continuum-vault]\n\
         \x20 CONTINUUM_VAULT_CREDSTORE           where a systemd-creds key goes\n\
         \x20                                     [default: /etc/credstore.encrypted]\n\
         \x20 CONTINUUM_VAULT_STORE               local or openbao (--store) [default: local]; openbao\n\
         \x20                                     reads BAO_ADDR, BAO_TOKEN (or BAO_ROLE_ID and\n\
         \x20                                     BAO_SECRET_ID_FILE), BAO_CACERT; CONTINUUM_VAULT_CACHE=off\n\
         \x20                                     keeps no local copy\n\
         \x20 XDG_CONFIG_HOME                     [default: ~/.config]\n\
         \x20 HOME                                the default vault directory's parent"
    };
}

/// The variables that can supply a secret instead of the vault, in the order they win.
macro_rules! secret_vars {
    () => {
        "  CONTINUUM_<NAME>                    the secret itself, used as given (NAME in capitals)\n\
         \x20 CONTINUUM_<NAME>_FILE               a file holding the secret (e.g. a mounted secret),\n\
         \x20                                     stripped; setting both is an error\n\
         \x20 CREDENTIALS_DIRECTORY               set by systemd: $CREDENTIALS_DIRECTORY/<name> is\n\
         \x20                                     the secret itself, delivered to the unit\n"
    };
}

/// `list`.
pub(crate) const LIST: &str = concat!(
    "Examples:\n",
    "  # The secrets of the vault, the source each would be read from, and previous secrets\n",
    "  continuum-vault list\n",
    "  continuum-vault list --json | jq -r '.secrets[].name'\n",
    "\nVariables:\n",
    secret_vars!(),
    vault_vars!(),
);

/// `get`.
pub(crate) const GET: &str = concat!(
    "Examples:\n",
    "  # Print jwt_secret, creating it on first use (as the server does)\n",
    "  continuum-vault get\n",
    "  # Fail with exit code 3 instead of generating a secret that is not there\n",
    "  continuum-vault get db_password --no-create\n",
    "\nVariables:\n",
    secret_vars!(),
    vault_vars!(),
);

/// `run`.
pub(crate) const RUN: &str = concat!(
    "Examples:\n",
    "  # Start the server with CONTINUUM_JWT_SECRET (and _PREVIOUS after a rotation)\n",
    "  continuum-vault run -- uvicorn continuum.api:app\n",
    "  # Several secrets: all are resolved before CMD starts; if one fails, CMD is not run\n",
    "  continuum-vault run --name jwt_secret --name db_password -- ./server --port 8080\n",
    "\nCMD gets CONTINUUM_<NAME> for every --name, and CONTINUUM_<NAME>_PREVIOUS while a\n",
    "rotated-out secret is still valid; CONTINUUM_<NAME>_FILE is removed from its environment.\n",
    "\nVariables:\n",
    secret_vars!(),
    "  CONTINUUM_<NAME>_PREVIOUS           with CONTINUUM_<NAME> or _FILE as the source: the\n",
    "                                      previous secret, passed on to CMD\n",
    vault_vars!(),
);

/// `set`.
pub(crate) const SET: &str = concat!(
    "Examples:\n",
    "  # Store a value (whitespace around it is stripped)\n",
    "  printf %s \"$DB_PASSWORD\" | continuum-vault set db_password\n",
    "  # Replace a different value; the old one stays valid as the previous secret for 30 days\n",
    "  continuum-vault set --force < new_jwt_secret.txt\n",
    "\nVariables:\n",
    vault_vars!(),
);

/// `backup`.
pub(crate) const BACKUP: &str = concat!(
    "Examples:\n",
    "  # To a passphrase (asked twice on the terminal); open by hand with `age -d FILE`\n",
    "  continuum-vault backup --out /media/usb/jwt_secret.age\n",
    "  # To an age recipient; open by hand with `age -d -i KEY FILE`\n",
    "  continuum-vault backup --out jwt_secret.age --recipient age1... --json\n",
    "\nVariables:\n",
    vault_vars!(),
);

/// `restore`.
pub(crate) const RESTORE: &str = concat!(
    "Examples:\n",
    "  # From a passphrase backup (the passphrase is asked on the terminal)\n",
    "  continuum-vault restore --in /media/usb/jwt_secret.age\n",
    "  # With an age identity, replacing the current value (kept as the previous secret)\n",
    "  continuum-vault restore --in jwt_secret.age --identity ~/backup.key --force\n",
    "\nVariables:\n",
    vault_vars!(),
);

/// `rotate`.
pub(crate) const ROTATE: &str = concat!(
    "Examples:\n",
    "  # A new jwt_secret; the old one stays valid as the previous secret for 30 days\n",
    "  continuum-vault rotate\n",
    "  # A shorter window, and the expiry as JSON\n",
    "  continuum-vault rotate --grace 12h --json\n",
    "\n`run` exports the old secret as CONTINUUM_<NAME>_PREVIOUS until the window ends.\n",
    "\nVariables:\n",
    vault_vars!(),
);

/// `migrate`.
pub(crate) const MIGRATE: &str = concat!(
    "Examples:\n",
    "  # Once nothing reads ~/.continuum/jwt_secret directly any more: encrypt it in place\n",
    "  continuum-vault migrate\n",
    "  # Another secret, reporting whether the file changed\n",
    "  continuum-vault migrate db_password --json\n",
    "\nVariables:\n",
    vault_vars!(),
);

/// `pubkey`.
pub(crate) const PUBKEY: &str = concat!(
    "Examples:\n",
    "  # On host B: print its recipient; then on host A: let B open A's secrets\n",
    "  continuum-vault pubkey\n",
    "  continuum-vault recipients add age1...\n",
    "\nVariables:\n",
    vault_vars!(),
);

/// `recipients`.
pub(crate) const RECIPIENTS: &str = concat!(
    "Examples:\n",
    "  # Encrypt every secret also to host B's key\n",
    "  continuum-vault recipients add \"$(ssh host-b continuum-vault pubkey)\"\n",
    "  # The recipients, for a script\n",
    "  continuum-vault recipients list --json\n",
    "\nVariables:\n",
    vault_vars!(),
);

/// `rekey`.
pub(crate) const REKEY: &str = concat!(
    "Examples:\n",
    "  # Move a key file's key into the OS keyring\n",
    "  continuum-vault rekey --to keyring\n",
    "  # Move it to a 0600 key file, for a headless service without a keyring\n",
    "  continuum-vault rekey --to file\n",
    "\nVariables:\n",
    vault_vars!(),
);

/// `status`.
pub(crate) const STATUS: &str = concat!(
    "Examples:\n",
    "  # What `get` would do, and what to fix; exit code 0 when healthy, else the first problem's\n",
    "  continuum-vault status\n",
    "  # The same as JSON (never the secret)\n",
    "  continuum-vault status db_password --json\n",
    "\nVariables:\n",
    secret_vars!(),
    vault_vars!(),
);

/// `completions`.
pub(crate) const COMPLETIONS: &str = "Examples:\n  \
    continuum-vault completions bash > ~/.local/share/bash-completion/completions/continuum-vault\n  \
    continuum-vault completions zsh > \"${fpath[1]}/_continuum-vault\"\n  \
    continuum-vault completions fish > ~/.config/fish/completions/continuum-vault.fish";

/// `man`.
pub(crate) const MAN: &str = "Examples:\n  \
    continuum-vault man | man -l -\n  \
    continuum-vault man > /usr/local/share/man/man1/continuum-vault.1";

/// `help`.
pub(crate) const HELP: &str = "Examples:\n  \
    continuum-vault help run\n  \
    continuum-vault help recipients add";
