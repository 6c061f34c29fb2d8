//! Fuzzing the secret-file reader (plaintext or age, armored or binary, stripping) through
//! the public API: arbitrary and mutated bytes are written as the vault file of a prepared
//! vault (file key source, key and metadata present), then [`Vault::load`] or
//! [`Vault::load_existing`] reads it. For every input:
//!
//! - no panic;
//! - `Ok` only for what the README promises: the vault's own ciphertext (armored or binary:
//!   the original secret, file untouched), valid plaintext (migrated: the value stripped
//!   like Python's `str.strip()`, the file now armored age that reads back the same), or an
//!   empty file (`load` generates; `load_existing` is "not found");
//! - otherwise a typed [`continuum_vault::Error`] whose exit code is in 1..=7 and is the
//!   one the README gives for that content (4 too large, 5 corrupt or undecryptable, 3 not
//!   found; 1 for a plaintext too large to store once encrypted, about 47 KiB and up), the
//!   secret nowhere in its message or hint, and the file (and the directory's listing)
//!   byte-for-byte unchanged.
//!
//! The expected outcome comes from an independent oracle ([`expect`]), whose whitespace
//! table is Python's own (`[c for c in map(chr, range(0x110000)) if c.isspace()]`).
//!
//! Inputs are biased toward the interesting: bit flips, truncations, insertions and
//! deletions of a real armored vault file and of its binary (de-armored) form, armor
//! headers over garbage, binary age headers with made-up stanzas, UTF-8 text built from
//! Python-only whitespace (U+001C..U+001F, U+0085, U+00A0, U+3000, ...) and NUL, single
//! lines around the 64 KiB limit, and raw bytes.
//!
//! The default run is 256 cases (a few seconds). A long run:
//!
//! ```sh
//! CONTINUUM_FUZZ_CASES=20000 cargo test --release --test integration fuzz:: -- --nocapture
//! ```
//!
//! Each run prints its seed; `CONTINUUM_FUZZ_SEED=<64 hex digits>` replays it. A failing
//! input (shrunk by proptest) is written under the target dir's tmp dir, and belongs in
//! `tests/corpus/` once fixed: every file there is replayed by
//! [`the_corpus_replays_cleanly`].
//!
//! cargo-fuzz works on stable Rust here without a sanitizer (`-s none`; checked with
//! cargo-fuzz 0.13.2 and Rust 1.95). The same contract, coverage-guided, is in `fuzz/`
//! (its own workspace, outside the build and CI):
//!
//! ```sh
//! cargo install cargo-fuzz
//! mkdir -p fuzz/corpus/vault_file
//! cargo fuzz run -s none vault_file fuzz/corpus/vault_file tests/corpus
//! ```
//!
//! (libFuzzer adds new inputs to the first directory only; `tests/corpus` seeds it.)

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use continuum_vault::secrecy::ExposeSecret;
use continuum_vault::{Source, Vault};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use rand::TryRng;

use crate::support::library::library_vault;

/// Cases in a default run; `CONTINUUM_FUZZ_CASES` overrides it.
const DEFAULT_CASES: u32 = 256;
/// What `Vault` reads at most (`continuum_vault::MAX_FILE_SIZE`).
const MAX: usize = 64 * 1024;
/// Plaintext values up to this size would still fit in [`MAX`] once sealed (`migrate`).
const MIGRATES: usize = 46 * 1024;
/// Plaintext values from this size on would not (a load still uses them as they are).
const REFUSED: usize = 49 * 1024;
/// Python's `str.isspace()` characters, all of them.
const PYTHON_SPACE: &[char] = &[
    '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{1c}', '\u{1d}', '\u{1e}', '\u{1f}', ' ', '\u{85}',
    '\u{a0}', '\u{1680}', '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}',
    '\u{2006}', '\u{2007}', '\u{2008}', '\u{2009}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}',
    '\u{205f}', '\u{3000}',
];

/// A vault with a generated secret, its key in a key file.
struct Fixture {
    _tmp: tempfile::TempDir,
    vault: Vault,
    dir: PathBuf,
    path: PathBuf,
    secret: String,
    armored: Vec<u8>,
    binary: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).expect("home");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let dir = home.join(".continuum");
        let vault = library_vault(&home, &[]);
        let loaded = vault.load("jwt_secret").expect("first load");
        assert!(matches!(loaded.source(), Source::Generated { .. }));
        let secret = loaded.secret().expose_secret().to_owned();
        let path = dir.join("jwt_secret");
        let armored = std::fs::read(&path).expect("read the vault file");
        let binary = dearmor(&armored);
        Self {
            _tmp: tmp,
            vault,
            dir,
            path,
            secret,
            armored,
            binary,
        }
    }

    /// The directory's entries, to check that a refusal creates and removes nothing.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .expect("list the vault dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// The binary age file inside an ASCII-armored one.
fn dearmor(armored: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(armored).expect("armor is ASCII");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("armor body is base64")
}

/// What the README says a file with these bytes is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Over the size limit: refused, exit 4.
    TooLarge,
    /// Starts like age: decrypts to the secret, or exit 5.
    Encrypted,
    /// Not UTF-8, or holds NUL: exit 5.
    Garbage,
    /// Whitespace only: `load` generates, `load_existing` exits 3.
    Empty,
    /// A plaintext value, stripped: migrated.
    Plaintext(String),
}

/// The oracle: independent of the library's own classification code.
fn expect(bytes: &[u8]) -> Expect {
    if bytes.len() > MAX {
        return Expect::TooLarge;
    }
    // "Anything that starts like age is treated as encrypted": after ASCII whitespace.
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
        .unwrap_or(bytes.len());
    let head = &bytes[start..];
    if head.starts_with(b"-----BEGIN AGE") || head.starts_with(b"age-encryption.org/") {
        return Expect::Encrypted;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => {
            let value = text.trim_matches(|c| PYTHON_SPACE.contains(&c));
            if value.is_empty() {
                Expect::Empty
            } else {
                Expect::Plaintext(value.to_owned())
            }
        }
        _ => Expect::Garbage,
    }
}

impl Expect {
    /// A short form for messages (a plaintext can be 64 KiB long).
    fn brief(&self) -> String {
        match self {
            Self::Plaintext(v) => format!("Plaintext({} bytes)", v.len()),
            other => format!("{other:?}"),
        }
    }
}

/// How a case ended, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Decrypted,
    Plaintext,
    Generated,
    Refused(u8),
}

/// Writes `bytes` as the vault file, reads it, and checks the contract. `existing`:
/// `load_existing` instead of `load`.
fn check(fx: &Fixture, bytes: &[u8], existing: bool) -> Result<Outcome, TestCaseError> {
    std::fs::write(&fx.path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    std::fs::set_permissions(&fx.path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let listing = fx.listing();
    let expected = expect(bytes);
    let result = if existing {
        fx.vault.load_existing("jwt_secret")
    } else {
        fx.vault.load("jwt_secret")
    };
    match result {
        Ok(loaded) => {
            let value = loaded.secret().expose_secret();
            match (loaded.source(), &expected) {
                (Source::Vault { .. }, Expect::Encrypted) => {
                    prop_assert_eq!(value, fx.secret.as_str(), "decrypted to another value");
                    prop_assert_eq!(&std::fs::read(&fx.path).unwrap(), bytes, "a read wrote");
                    Ok(Outcome::Decrypted)
                }
                (Source::Plaintext { .. }, Expect::Plaintext(want)) => {
                    // A legacy plaintext file is used as it is and never rewritten by a load.
                    prop_assert_eq!(value, want.as_str(), "read another value");
                    prop_assert_eq!(&std::fs::read(&fx.path).unwrap(), bytes, "a read wrote");
                    prop_assert_eq!(fx.listing(), listing, "a read changed the directory");
                    Ok(Outcome::Plaintext)
                }
                (Source::Generated { .. }, Expect::Empty) if !existing => {
                    prop_assert_eq!(value.len(), 43, "not a token_urlsafe(32)");
                    Ok(Outcome::Generated)
                }
                (source, _) => Err(TestCaseError::fail(format!(
                    "Ok({source:?}) for content expected as {} (existing: {existing})",
                    expected.brief()
                ))),
            }
        }
        Err(e) => {
            let code = exit_code(e.class());
            prop_assert!((1..=7).contains(&code), "exit code {code}: {e}");
            let want = match &expected {
                Expect::TooLarge => 4,
                Expect::Encrypted | Expect::Garbage => 5,
                Expect::Empty if existing => 3,
                // Too large to store once encrypted: refused, the plaintext left as it is.
                Expect::Empty | Expect::Plaintext(_) => {
                    return Err(TestCaseError::fail(format!(
                        "error for content expected as {}: {e} (exit {code})",
                        expected.brief()
                    )));
                }
            };
            prop_assert_eq!(code, want, "{} ({})", e, expected.brief());
            let text = format!("{e} {e:?} {:?}", e.hint());
            prop_assert!(!text.contains(&fx.secret), "the secret is in the error");
            prop_assert!(code == 1 || e.hint().is_some(), "no hint: {}", e);
            prop_assert_eq!(
                &std::fs::read(&fx.path).unwrap(),
                bytes,
                "a refusal changed the file"
            );
            prop_assert_eq!(fx.listing(), listing, "a refusal changed the directory");
            Ok(Outcome::Refused(code))
        }
    }
}

/// The CLI's exit code of a class (the README table).
fn exit_code(class: continuum_vault::ErrorClass) -> u8 {
    use continuum_vault::ErrorClass as C;
    match class {
        C::Usage => 2,
        C::NotFound => 3,
        C::UnsafePath => 4,
        C::Corrupt => 5,
        C::KeyUnavailable => 6,
        C::Conflict => 7,
        _ => 1,
    }
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Edit {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    /// A line break as `\r\n`, or a line duplicated.
    CrLf(Index),
    DuplicateLine(Index),
}

impl Edit {
    fn apply(&self, b: &mut Vec<u8>) {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
        match self {
            Self::FlipBit(i, bit) => {
                if !b.is_empty() {
                    let at = at(i, b.len());
                    b[at] ^= 1 << (bit % 8);
                }
            }
            Self::SetByte(i, v) => {
                if !b.is_empty() {
                    let at = at(i, b.len());
                    b[at] = *v;
                }
            }
            Self::Truncate(i) => b.truncate(at(i, b.len() + 1)),
            Self::Insert(i, bytes) => {
                let at = at(i, b.len() + 1);
                b.splice(at..at, bytes.iter().copied());
            }
            Self::Delete(i, n) => {
                let at = at(i, b.len() + 1);
                let end = (at + n).min(b.len());
                b.drain(at..end);
            }
            Self::CrLf(i) => {
                let lines: Vec<usize> = (0..b.len()).filter(|&k| b[k] == b'\n').collect();
                if !lines.is_empty() {
                    let k = lines[i.index(lines.len())];
                    b.insert(k, b'\r');
                }
            }
            Self::DuplicateLine(i) => {
                let text = b.clone();
                let lines: Vec<&[u8]> = text.split_inclusive(|c| *c == b'\n').collect();
                if !lines.is_empty() {
                    let k = i.index(lines.len());
                    let at: usize = lines[..k].iter().map(|l| l.len()).sum();
                    b.splice(at..at, lines[k].iter().copied());
                }
            }
        }
    }
}

/// Bytes worth inserting: line ends, armor and base64 punctuation, Python-only whitespace,
/// NUL, a stray end marker.
fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b" ".to_vec()),
        Just(b"=".to_vec()),
        Just(b"-".to_vec()),
        Just(b"\0".to_vec()),
        Just("\u{a0}".as_bytes().to_vec()),
        Just("\u{3000}".as_bytes().to_vec()),
        Just("\u{85}".as_bytes().to_vec()),
        Just(b"\x1c\x1f".to_vec()),
        Just(b"-----END AGE ENCRYPTED FILE-----\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..24),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::FlipBit(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::SetByte(i, b)),
        2 => any::<Index>().prop_map(Edit::Truncate),
        2 => (any::<Index>(), interesting_bytes()).prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => any::<Index>().prop_map(Edit::CrLf),
        1 => any::<Index>().prop_map(Edit::DuplicateLine),
    ]
}

/// A seed file with one to four edits (and, one time in eight, none: it must decrypt).
fn mutated(seed: Arc<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(seed.to_vec()),
        7 => proptest::collection::vec(edit(), 1..5).prop_map(move |edits| {
            let mut bytes = seed.to_vec();
            for e in &edits {
                e.apply(&mut bytes);
            }
            bytes
        }),
    ]
}

/// An armor header over garbage: base64-looking lines or raw bytes, with or without an end.
fn armor_over_garbage() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "[A-Za-z0-9+/=]{0,80}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..80),
    ];
    (
        prop_oneof![
            Just("-----BEGIN AGE ENCRYPTED FILE-----\n"),
            Just("-----BEGIN AGE ENCRYPTED FILE-----\r\n"),
            Just("  \n\t-----BEGIN AGE ENCRYPTED FILE-----\n"),
            Just("-----BEGIN AGE"),
            Just("-----BEGIN AGE ENCRYPTED FILE----- \n"),
        ],
        proptest::collection::vec(line, 0..6),
        any::<bool>(),
    )
        .prop_map(|(head, lines, end)| {
            let mut out = head.as_bytes().to_vec();
            for l in lines {
                out.extend_from_slice(&l);
                out.push(b'\n');
            }
            if end {
                out.extend_from_slice(b"-----END AGE ENCRYPTED FILE-----\n");
            }
            out
        })
}

/// A binary age header with made-up stanzas, then arbitrary payload bytes.
fn binary_header() -> impl Strategy<Value = Vec<u8>> {
    let b64 = "[A-Za-z0-9+/]{0,64}";
    let stanza = prop_oneof![
        (b64, b64).prop_map(|(a, body)| format!("-> X25519 {a}\n{body}\n")),
        (b64, "[0-9]{1,3}", b64).prop_map(|(s, n, body)| format!("-> scrypt {s} {n}\n{body}\n")),
        ("[ -~]{0,40}", b64).prop_map(|(args, body)| format!("-> {args}\n{body}\n")),
    ];
    (
        prop_oneof![
            Just("age-encryption.org/v1\n"),
            Just("age-encryption.org/v2\n"),
            Just("age-encryption.org/"),
        ],
        proptest::collection::vec(stanza, 0..3),
        proptest::option::of(b64),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(version, stanzas, mac, payload)| {
            let mut out = version.as_bytes().to_vec();
            for s in stanzas {
                out.extend_from_slice(s.as_bytes());
            }
            if let Some(mac) = mac {
                out.extend_from_slice(format!("--- {mac}\n").as_bytes());
            }
            out.extend_from_slice(&payload);
            out
        })
}

/// UTF-8 text from Python-only whitespace, other lookalikes, NUL, and ordinary characters.
fn edge_text() -> impl Strategy<Value = Vec<u8>> {
    let ch = prop_oneof![
        3 => proptest::sample::select(PYTHON_SPACE),
        1 => proptest::sample::select(&['\0', '\u{200b}', '\u{feff}', '\u{180e}', '\u{2060}'][..]),
        3 => proptest::char::range(' ', '~'),
        1 => any::<char>(),
    ];
    (
        proptest::collection::vec(ch, 0..80),
        proptest::option::of(prop_oneof![
            Just("-----BEGIN AGE"),
            Just("age-encryption.org/"),
        ]),
    )
        .prop_map(|(chars, age_prefix)| {
            let text: String = chars.into_iter().collect();
            match age_prefix {
                // Age-looking text after the whitespace, Python-only or not.
                Some(prefix) => {
                    let split = text.len() / 2;
                    let split = (0..=split)
                        .rev()
                        .find(|&k| text.is_char_boundary(k))
                        .unwrap_or(0);
                    format!("{}{prefix}{}", &text[..split], &text[split..]).into_bytes()
                }
                None => text.into_bytes(),
            }
        })
}

/// One long line, around the 64 KiB limit or anywhere below it.
fn huge_line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(MAX - 1),
            Just(MAX),
            Just(MAX + 1),
            Just(MAX + 4096),
            Just(MIGRATES),
            Just(REFUSED),
            1024..MAX,
        ],
        prop_oneof![Just(b'a'), Just(b' '), Just(0xa0), Just(b'=')],
        prop_oneof![
            Just(&b""[..]),
            Just(&b"-----BEGIN AGE ENCRYPTED FILE-----\n"[..])
        ],
    )
        .prop_map(|(len, byte, head)| {
            let mut out = head.to_vec();
            out.resize(len, byte);
            out
        })
}

/// Everything, weighted toward the age paths.
fn inputs(fx: &Fixture) -> impl Strategy<Value = (Vec<u8>, bool)> {
    let armored = Arc::new(fx.armored.clone());
    let binary = Arc::new(fx.binary.clone());
    let bytes = prop_oneof![
        4 => mutated(armored),
        2 => mutated(binary),
        2 => armor_over_garbage(),
        2 => binary_header(),
        3 => edge_text(),
        1 => huge_line(),
        1 => proptest::collection::vec(any::<u8>(), 0..512),
    ];
    (bytes, any::<bool>())
}

/// Cases and seed for this run.
fn run_settings() -> (u32, [u8; 32]) {
    let cases = std::env::var("CONTINUUM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut seed = [0u8; 32];
    match std::env::var("CONTINUUM_FUZZ_SEED") {
        Ok(hex) => {
            assert_eq!(hex.len(), 64, "CONTINUUM_FUZZ_SEED: 64 hex digits");
            for (k, byte) in seed.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).expect("hex");
            }
        }
        Err(_) => rand::rngs::SysRng
            .try_fill_bytes(&mut seed)
            .expect("OS random number generator"),
    }
    (cases, seed)
}

#[test]
fn the_file_reader_never_panics_and_refuses_without_writing() {
    let fx = Fixture::new();
    let (cases, seed) = run_settings();
    let hex = seed.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let outcomes = RefCell::new(BTreeMap::<Outcome, u32>::new());
    let result = runner.run(&inputs(&fx), |(bytes, existing)| {
        let outcome = check(&fx, &bytes, existing)?;
        *outcomes.borrow_mut().entry(outcome).or_default() += 1;
        Ok(())
    });
    eprintln!("fuzz: {cases} cases, seed {hex}: {:?}", outcomes.borrow());
    if let Err(TestError::Fail(reason, (bytes, existing))) = &result {
        let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-failure-{hex}.bin"));
        std::fs::write(&saved, bytes).expect("save the failing input");
        panic!(
            "{reason}\nminimal input ({} bytes, load_existing: {existing}) saved to {}",
            bytes.len(),
            saved.display()
        );
    }
    result.expect("fuzz run");
    // Every path was reached in a default run.
    let outcomes = outcomes.into_inner();
    for needed in [Outcome::Decrypted, Outcome::Plaintext, Outcome::Refused(5)] {
        assert!(
            outcomes.contains_key(&needed) || cases < DEFAULT_CASES,
            "no case ended as {needed:?}: {outcomes:?}"
        );
    }
}

#[test]
fn the_corpus_replays_cleanly() {
    let fx = Fixture::new();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("tests/corpus exists")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 24,
        "the corpus shrank: {} files",
        files.len()
    );
    let mut outcomes = BTreeMap::<Outcome, u32>::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("read corpus file");
        for existing in [false, true] {
            match check(&fx, &bytes, existing) {
                Ok(outcome) => *outcomes.entry(outcome).or_default() += 1,
                Err(e) => panic!("{} (load_existing: {existing}): {e}", file.display()),
            }
        }
    }
    eprintln!("corpus: {} files: {outcomes:?}", files.len());
}
