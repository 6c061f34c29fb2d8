//! libFuzzer target: arbitrary bytes as the vault file of a prepared vault (file key
//! source, key and metadata present), read through the public API. Never a panic; an
//! error has an exit code in 1..=7 and leaves the file byte-for-byte unchanged; a success
//! is a decryption, a migration or (empty file) a generated secret.

#![no_main]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use continuum_vault::{KeySource, Source, Vault};
use libfuzzer_sys::fuzz_target;

struct Prepared {
    vault: Vault,
    path: PathBuf,
}

/// One vault per fuzzing process, under the system temp dir.
fn prepared() -> &'static Prepared {
    static PREPARED: OnceLock<Prepared> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let home = std::env::temp_dir().join(format!("continuum-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir(&home).expect("create the fuzz home");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let (h, config) = (home.clone(), home.join(".config"));
        let vault = Vault::builder()
            .dir(home.join(".continuum"))
            .key_source(KeySource::File)
            .env(move |name| match name {
                "HOME" => Some(h.clone().into()),
                "XDG_CONFIG_HOME" => Some(config.clone().into()),
                _ => None,
            })
            .build()
            .expect("vault");
        vault.load("jwt_secret").expect("prepare the vault");
        Prepared {
            vault,
            path: home.join(".continuum/jwt_secret"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let p = prepared();
    std::fs::write(&p.path, data).expect("write the vault file");
    std::fs::set_permissions(&p.path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // The first byte picks `load` or `load_existing`; all of it is the file.
    let existing = data.first().is_some_and(|b| b & 1 == 1);
    let result = if existing {
        p.vault.load_existing("jwt_secret")
    } else {
        p.vault.load("jwt_secret")
    };
    match result {
        Ok(loaded) => assert!(matches!(
            loaded.source(),
            Source::Vault { .. } | Source::Plaintext { .. } | Source::Generated { .. }
        )),
        Err(e) => {
            // Every refusal has a class and, unless it is "other", a hint.
            assert!(
                e.class() == continuum_vault::ErrorClass::Other || e.hint().is_some(),
                "no hint: {e}"
            );
            let now = std::fs::read(&p.path).expect("read the vault file");
            assert!(now == data, "a refusal changed the file: {e}");
        }
    }
});
