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
#[cfg(target_os = "linux")]
#[path = "../../src/key/secret_service.rs"]
#[allow(dead_code, reason = "the keyring tests use the connection only")]
mod secret_service;
mod smoke_secret_service;
mod strace;
mod support;
mod systemd_creds;
mod systemd_unit;
mod transcripts;
