//! The shipped unit, `contrib/systemd/continuum.service`, checked by systemd itself:
//! `systemd-analyze verify` (every line parses, the `ExecStart=` program exists) and
//! `systemd-analyze security --offline=yes` (the hardening keeps the exposure low).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::env::BIN;
use crate::support::keyring::REQUIRE_ENV;

/// Where the unit starts the vault; the binary the suite built stands in for it.
const INSTALLED_BIN: &str = "/usr/local/bin/continuum-vault";

/// The highest exposure accepted, in tenths, as `--threshold=` takes it (2.0 of 10).
const MAX_EXPOSURE_TENTHS: &str = "20";

fn shipped_unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd/continuum.service");
    std::fs::read_to_string(&path).expect("read the shipped unit")
}

/// A copy of `unit` named continuum.service in a temp dir.
///
/// `verify` insists that the `ExecStart=` program exists, and /usr/local/bin/continuum-vault is
/// not installed where the suite runs (nor should the suite install it): the copy names the
/// binary the suite built instead, and nothing else in it changes.
fn copy_for_verify(unit: &str) -> (tempfile::TempDir, PathBuf) {
    assert_eq!(
        unit.matches(INSTALLED_BIN).count(),
        1,
        "the unit names {INSTALLED_BIN} once, in ExecStart="
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("continuum.service");
    std::fs::write(&path, unit.replace(INSTALLED_BIN, BIN)).expect("write the unit");
    (dir, path)
}

fn analyze(args: &[&str], unit: &Path) -> Option<Output> {
    match Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os(REQUIRE_ENV).is_none_or(|v| v != "1"),
                "systemd-analyze is missing (Debian package systemd)"
            );
            eprintln!("SKIPPED: systemd-analyze is not installed");
            None
        }
        Err(e) => panic!("run systemd-analyze: {e}"),
    }
}

/// `verify` exits 0 even for unknown keys and bad values; its warnings go to stderr.
fn verify(unit: &str) -> Option<(bool, String)> {
    let (_dir, path) = copy_for_verify(unit);
    let out = analyze(&["verify"], &path)?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn the_unit_has_what_the_readme_promises() {
    let unit = shipped_unit();
    let service: Vec<&str> = unit
        .lines()
        .skip_while(|l| *l != "[Service]")
        .take_while(|l| !l.starts_with("[Install]"))
        .collect();
    for line in [
        "User=continuum",
        "StateDirectory=continuum",
        "LoadCredentialEncrypted=continuum-vault-VAULT_ID:/etc/credstore.encrypted/continuum-vault-VAULT_ID",
        "ExecStart=/usr/local/bin/continuum-vault run -- /usr/local/bin/continuum-server",
        "Environment=CONTINUUM_VAULT_KEY_SOURCE=systemd-creds",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(service.contains(&line), "[Service] lacks {line:?}");
    }
}

#[test]
fn the_unit_verifies_cleanly() {
    let Some((ok, stderr)) = verify(&shipped_unit()) else {
        return;
    };
    assert!(ok && stderr.is_empty(), "systemd-analyze verify:\n{stderr}");
}

#[test]
fn verify_catches_a_bad_line() {
    // The check above would pass vacuously if verify ignored the file: show it does not.
    let broken = shipped_unit().replace("ProtectSystem=strict", "ProtectSystm=strict");
    let Some((_, stderr)) = verify(&broken) else {
        return;
    };
    assert!(stderr.contains("Unknown key 'ProtectSystm'"), "{stderr}");
}

#[test]
fn the_unit_is_hardened() {
    let (_dir, path) = copy_for_verify(&shipped_unit());
    let threshold = format!("--threshold={MAX_EXPOSURE_TENTHS}");
    let Some(out) = analyze(&["security", "--offline=yes", &threshold], &path) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exposure above {MAX_EXPOSURE_TENTHS}/100:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the hardening the same check fails, so the threshold means something.
    let unit = shipped_unit();
    let bare = &unit[..unit.find("# Hardening.").expect("a hardening section")];
    let (_bare_dir, bare_path) = copy_for_verify(bare);
    let out = analyze(&["security", "--offline=yes", &threshold], &bare_path)
        .expect("systemd-analyze ran above");
    assert!(
        !out.status.success(),
        "an unhardened unit passed the threshold"
    );
}
