//! Integration tests of `continuum-vault`: the real binary in a scrubbed environment, and a
//! real Secret Service (gnome-keyring on a private bus) for everything about the keyring.

mod backup_restore;
mod cli;
mod cli_operator;
mod defects;
mod faults;
mod fuzz;
mod keyring;
mod leaks;
mod lifecycle;
mod memory;
mod openbao;
mod smoke_secret_service;
mod strace;
mod support;
mod systemd_creds;
mod systemd_unit;
mod transcripts;
