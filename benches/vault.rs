//! In-process costs of the vault with the file key source (no keyring involved).
//!
//! - `resolve/loaded_identity`: what a running server pays per call: one [`Vault`] kept
//!   across iterations, so its key is already loaded (the vault caches it), calling
//!   `load("jwt_secret")`: open the dir, read the metadata and the secret file, decrypt.
//! - `resolve/fresh_vault`: a new [`Vault`] per call, so the key file is read and parsed
//!   too: the in-process part of one `continuum-vault get`.
//! - `decrypt/age_armored_x25519/{new,new_buffered}`: the decryption alone, done with the
//!   `age` crate directly (the crate does not expose its own `seal::open`) on a real vault
//!   file and its key file: armor decoding, header parsing, X25519 unwrap, payload
//!   decryption; with either of age's two header parsers.
//! - `write/generate_encrypt_persist`: a missing secret in an existing vault: generate,
//!   encrypt, atomic write (temp file, fsync, rename, fsync of the dir) under the lock.
//! - `write/first_run`: a fresh home: new identity, key file, metadata and secret, each
//!   written atomically.
//!
//! Write benches run in `CARGO_TARGET_TMPDIR` (on the build's disk) so that the fsyncs are
//! real. Run with `cargo bench --bench vault`; under `cargo test --all-targets` each
//! benchmark runs once, as a smoke test. Nothing here asserts a time.

use std::ffi::OsString;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use continuum_vault::secrecy::ExposeSecret;
use continuum_vault::{KeySource, Source, Vault};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// The secret every bench resolves.
const NAME: &str = "jwt_secret";

/// A temporary HOME holding a vault with the file key source.
struct Home {
    tmp: tempfile::TempDir,
}

impl Home {
    /// An empty HOME under `base`.
    fn new_in(base: &Path) -> Self {
        Self {
            tmp: tempfile::tempdir_in(base).expect("temporary HOME"),
        }
    }

    /// A HOME whose vault already holds the secret (generated on the spot).
    fn with_secret(base: &Path) -> Self {
        let home = Self::new_in(base);
        let loaded = home.vault().load(NAME).expect("first load");
        assert!(matches!(loaded.source(), Source::Generated { .. }));
        home
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn vault_dir(&self) -> PathBuf {
        self.path().join(".continuum")
    }

    /// A vault in this HOME that reads no variable of the process environment except the
    /// HOME given here (so the key file is `$HOME/.config/continuum-vault/<id>.key`).
    fn vault(&self) -> Vault {
        let home: OsString = self.path().into();
        Vault::builder()
            .dir(self.vault_dir())
            .key_source(KeySource::File)
            .env(move |name| (name == "HOME").then(|| home.clone()))
            .build()
            .expect("vault configuration")
    }

    /// The one key file of this HOME.
    fn key_file(&self) -> PathBuf {
        let dir = self.path().join(".config/continuum-vault");
        std::fs::read_dir(&dir)
            .expect("key dir")
            .map(|entry| entry.expect("key dir entry").path())
            .find(|path| path.extension().is_some_and(|ext| ext == "key"))
            .expect("a key file")
    }
}

/// Loads `NAME` and checks it came from the vault file.
fn load_from_vault(vault: &Vault) -> usize {
    let loaded = vault.load(black_box(NAME)).expect("load");
    assert!(matches!(loaded.source(), Source::Vault { .. }));
    loaded.secret().expose_secret().len()
}

fn resolve(c: &mut Criterion) {
    let home = Home::with_secret(&std::env::temp_dir());
    let mut group = c.benchmark_group("resolve");

    let vault = home.vault();
    load_from_vault(&vault);
    group.bench_function("loaded_identity", |b| {
        b.iter(|| load_from_vault(&vault));
    });

    group.bench_function("fresh_vault", |b| {
        b.iter(|| load_from_vault(&home.vault()));
    });
    group.finish();
}

fn decrypt(c: &mut Criterion) {
    let home = Home::with_secret(&std::env::temp_dir());
    let ciphertext = std::fs::read(home.vault_dir().join(NAME)).expect("vault file");
    assert!(ciphertext.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    let key_text = std::fs::read_to_string(home.key_file()).expect("key file");
    let line = key_text
        .lines()
        .find(|line| line.starts_with("AGE-SECRET-KEY-"))
        .expect("an identity line");
    let identity = age::x25519::Identity::from_str(line).expect("identity");

    // `Decryptor::new` parses the header with a parser that may not read ahead, re-parsing
    // as bytes come in; `new_buffered` reads it line by line from a `BufRead` (the armor
    // reader is one). Both are measured: the difference is age's header parsing.
    let mut group = c.benchmark_group("decrypt");
    group.bench_function("age_armored_x25519/new", |b| {
        b.iter(|| {
            let armor = age::armor::ArmoredReader::new(black_box(&ciphertext[..]));
            let decryptor = age::Decryptor::new(armor).expect("age header");
            read_plaintext(decryptor, &identity, ciphertext.len())
        });
    });
    group.bench_function("age_armored_x25519/new_buffered", |b| {
        b.iter(|| {
            let armor = age::armor::ArmoredReader::new(black_box(&ciphertext[..]));
            let decryptor = age::Decryptor::new_buffered(armor).expect("age header");
            read_plaintext(decryptor, &identity, ciphertext.len())
        });
    });
    group.finish();
}

/// Unwraps the file key with `identity` and reads the whole plaintext.
fn read_plaintext<R: Read>(
    decryptor: age::Decryptor<R>,
    identity: &age::x25519::Identity,
    capacity: usize,
) -> usize {
    let mut reader = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .expect("unwrap the file key");
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(capacity));
    reader.read_to_end(&mut plain).expect("payload");
    plain.len()
}

fn write(c: &mut Criterion) {
    // On the build's disk, not a tmpfs, so that fsync costs what it costs.
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut group = c.benchmark_group("write");

    let home = Home::with_secret(base);
    let vault = home.vault();
    let secret_file = home.vault_dir().join(NAME);
    group.bench_function("generate_encrypt_persist", |b| {
        b.iter_batched(
            || std::fs::remove_file(&secret_file).expect("remove the secret"),
            |()| {
                let loaded = vault.load(NAME).expect("generate");
                assert!(matches!(loaded.source(), Source::Generated { .. }));
                loaded
            },
            BatchSize::PerIteration,
        );
    });

    group.bench_function("first_run", |b| {
        b.iter_batched(
            || Home::new_in(base),
            |home| {
                let loaded = home.vault().load(NAME).expect("first run");
                assert!(matches!(loaded.source(), Source::Generated { .. }));
                // Returned, so that removing the directory is not timed.
                (home, loaded)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, resolve, decrypt, write);
criterion_main!(benches);
