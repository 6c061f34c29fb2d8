//! The key file: `$XDG_CONFIG_HOME/continuum-vault/<vault id>.key` in age-keygen format,
//! mode 0600 in a 0700 directory, never inside the vault dir. Read with the same checks as
//! secret files: no links, owned by this user, no group or other bits.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::VaultKey;
use crate::fs::atomic::Replace;
use crate::fs::{PrivateDir, group_or_other_bits, my_uid};
use crate::{Error, Unsafe};

/// The key file's name for a vault id.
pub(crate) fn file_name(vault_id: &str) -> String {
    format!("{vault_id}.key")
}

/// Reads and parses a vault's key file; `Ok(None)` when the file or its dir is missing.
pub(crate) fn read(key_dir: &Path, vault_id: &str) -> Result<Option<VaultKey>, Error> {
    let Some(dir) = PrivateDir::open(key_dir)? else {
        return Ok(None);
    };
    let name = file_name(vault_id);
    let path = dir.join(&name);
    let Some(content) = dir.read(&name)? else {
        return Ok(None);
    };
    if content.uid != my_uid() {
        return Err(Error::UnsafePath {
            path,
            problem: Unsafe::ForeignOwner {
                owner: content.uid,
                me: my_uid(),
            },
        });
    }
    if group_or_other_bits(content.mode) {
        return Err(Error::UnsafePath {
            path,
            problem: Unsafe::ReadableByOthers { mode: content.mode },
        });
    }
    let invalid = |detail| Error::IdentityInvalid {
        location: format!("key file {}", path.display()),
        detail,
    };
    let text = std::str::from_utf8(&content.bytes).map_err(|_| invalid(" (not UTF-8)"))?;
    let line = text
        .lines()
        .map(crate::text::strip)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .ok_or_else(|| invalid(" (no AGE-SECRET-KEY- line)"))?;
    VaultKey::parse(line).map(Some).ok_or_else(|| invalid(""))
}

/// Writes a new key file (never replacing one) and returns its path.
pub(crate) fn create(key_dir: &Path, vault_id: &str, key: &VaultKey) -> Result<PathBuf, Error> {
    let dir = PrivateDir::create(key_dir)?;
    let name = file_name(vault_id);
    let secret = key.to_text();
    let mut text = Zeroizing::new(String::with_capacity(256));
    text.push_str("# created: ");
    text.push_str(&rfc3339_now());
    text.push_str("\n# public key: ");
    text.push_str(&key.recipient().to_string());
    text.push('\n');
    text.push_str(&secret);
    text.push('\n');
    dir.write_atomic(&name, text.as_bytes(), Replace::No)?;
    Ok(dir.join(&name))
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`, as age-keygen writes it.
fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

/// A UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day in 1..=31");
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month in 1..=12");
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
    }

    #[test]
    fn writes_age_keygen_format_and_reads_it_back() {
        let tmp = tempfile::tempdir().unwrap();
        let key_dir = tmp.path().join("cfg/continuum-vault");
        let key = VaultKey::generate();
        let path = create(&key_dir, "abc", &key).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# created: "));
        assert!(text.contains(&format!("# public key: {}", key.recipient())));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&key_dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let back = read(&key_dir, "abc").unwrap().unwrap();
        assert_eq!(back.recipient().to_string(), key.recipient().to_string());
        assert!(read(&key_dir, "other").unwrap().is_none());
        // Never replaced.
        assert!(create(&key_dir, "abc", &VaultKey::generate()).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn refuses_a_key_file_others_can_read() {
        let tmp = tempfile::tempdir().unwrap();
        let key_dir = tmp.path().join("k");
        let path = create(&key_dir, "abc", &VaultKey::generate()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = read(&key_dir, "abc").err().unwrap();
        assert!(
            matches!(
                err,
                Error::UnsafePath {
                    problem: Unsafe::ReadableByOthers { .. },
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
