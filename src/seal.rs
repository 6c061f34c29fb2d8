//! How a secret file is sealed: age (X25519), ASCII-armored. And how an existing file is
//! told apart: armored age, binary age, plaintext, or neither.

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::x25519;
use zeroize::Zeroizing;

/// How every armored age file begins.
pub(crate) const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE";
/// How every binary age file begins.
const BINARY_MAGIC: &[u8] = b"age-encryption.org/";

/// What an existing secret file holds, judged from its bytes alone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Nothing but whitespace.
    Empty,
    /// Age-encrypted (armored or binary), or a damaged age file; never treated as plaintext.
    Encrypted,
    /// A plaintext secret: valid UTF-8 without NUL.
    Plaintext,
    /// Neither: binary data that is not age.
    Garbage(&'static str),
}

/// Classifies file content. A file that starts like age is "encrypted" even when truncated.
pub(crate) fn classify(bytes: &[u8]) -> Kind {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(ARMOR_BEGIN) || trimmed.starts_with(BINARY_MAGIC) {
        return Kind::Encrypted;
    }
    match std::str::from_utf8(bytes) {
        Err(_) => Kind::Garbage("it is neither age-encrypted nor UTF-8 text"),
        Ok(text) if text.contains('\0') => {
            Kind::Garbage("it is neither age-encrypted nor text (it contains NUL bytes)")
        }
        Ok(text) if crate::text::strip(text).is_empty() => Kind::Empty,
        Ok(_) => Kind::Plaintext,
    }
}

/// How much stack `seal` and `open` wipe once the cipher code has returned.
///
/// The cipher under age (`chacha20`, through `cipher` 0.4 and `inout` 0.1) XORs each whole
/// 64-byte block through temporaries on the stack (`InOut::xor_in2out`), and leaves the
/// plaintext block there, unzeroized, after encryption and decryption alike. Measured in
/// an unoptimized build, those copies sit about 13 KiB below `open`'s frame; 64 KiB leaves
/// a wide margin and is far below any thread's stack size (2 MiB for Rust threads).
const STACK_SCRUB_BYTES: usize = 64 * 1024;

/// Encrypts `plaintext` to `recipients`, ASCII-armored; then wipes the stack the cipher used.
///
/// Refuses a result larger than [`crate::MAX_FILE_SIZE`]: the vault could not read it back
/// (armor makes a value of about 47 KiB or more too large).
pub(crate) fn seal(
    plaintext: &[u8],
    recipients: &[x25519::Recipient],
) -> Result<Vec<u8>, crate::Error> {
    let sealed = seal_inner(plaintext, recipients);
    scrub_freed_chunk();
    zeroize::zeroize_stack::<STACK_SCRUB_BYTES>();
    let sealed = sealed.map_err(|reason| crate::Error::Encrypt { reason })?;
    if sealed.len() as u64 > crate::MAX_FILE_SIZE {
        return Err(crate::Error::ValueTooLarge {
            sealed: sealed.len(),
            limit: crate::MAX_FILE_SIZE,
        });
    }
    Ok(sealed)
}

/// Refuses, before anything is written, a value of `len` bytes that sealed to
/// `recipients` recipients might not fit in [`crate::MAX_FILE_SIZE`]: the largest size the
/// armored file can have, counted from age's format (header line, one stanza of at most 98
/// bytes per recipient, at most [`GREASE`] bytes of the random stanza age adds, the MAC
/// line, the nonce, one 16-byte tag per 64 KiB chunk; then base64 in 64-column lines
/// between the armor markers). Counting, not a trial seal: nothing secret is copied.
pub(crate) fn check_size(len: usize, recipients: usize) -> Result<(), crate::Error> {
    let chunks = len.div_ceil(AGE_CHUNK).max(1);
    let binary = 22 + 98 * recipients.max(1) + GREASE + 48 + 16 + len + 16 * chunks;
    let base64 = binary.div_ceil(3) * 4;
    let armored = base64 + base64.div_ceil(64) + 70;
    if armored as u64 > crate::MAX_FILE_SIZE {
        return Err(crate::Error::ValueTooLarge {
            sealed: armored,
            limit: crate::MAX_FILE_SIZE,
        });
    }
    Ok(())
}

/// The most bytes age's random ("grease") stanza is counted at.
const GREASE: usize = 512;

/// The size of the plaintext chunk age's `StreamWriter` buffers (`Vec::with_capacity`).
const AGE_CHUNK: usize = 64 * 1024;

/// age's `StreamWriter` copies the plaintext into a 64 KiB chunk that it frees without
/// wiping. The allocator hands that block back to the next request of exactly its size, so
/// one such request, made right after sealing and filled with zeros, overwrites it. Best
/// effort (an allocation in between could take the block first): the command line and the
/// Python package also run on an allocator that zeroes every block it frees.
#[inline(never)]
fn scrub_freed_chunk() {
    // Several at once: an earlier exact-size free block (another seal's chunk) would take
    // the first request, and the chunk may have merged with a free neighbour.
    let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(SCRUB_BLOCKS);
    for _ in 0..SCRUB_BLOCKS {
        // malloc, then a write of every byte: `vec![0; n]` (calloc) may skip the write.
        #[allow(
            clippy::slow_vector_initialization,
            reason = "the write over the reused block is the point"
        )]
        let mut block: Vec<u8> = Vec::with_capacity(AGE_CHUNK);
        block.resize(AGE_CHUNK, 0);
        zeroize::Zeroize::zeroize(&mut block);
        blocks.push(block);
    }
}

/// How many chunk-sized blocks [`scrub_freed_chunk`] takes at once.
const SCRUB_BLOCKS: usize = 4;

/// Kept out of line, so that everything the cipher leaves on the stack sits in frames
/// below `seal`'s, where the scrub reaches.
#[inline(never)]
fn seal_inner(plaintext: &[u8], recipients: &[x25519::Recipient]) -> Result<Vec<u8>, String> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| e.to_string())?;
    // Armor roughly doubles nothing: base64 adds a third plus the header lines.
    let mut out = Vec::with_capacity(512 + plaintext.len() * 2);
    let armor =
        ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| e.to_string())?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| e.to_string())?;
    writer.write_all(plaintext).map_err(|e| e.to_string())?;
    writer
        .finish()
        .and_then(ArmoredWriter::finish)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decrypts an age file (armored or binary) with `identity`; then wipes the stack the
/// cipher used.
///
/// The plaintext goes into one buffer allocated at its final capacity (a plaintext is never
/// longer than its ciphertext), so no reallocation leaves an unzeroized copy.
pub(crate) fn open(
    ciphertext: &[u8],
    identity: &x25519::Identity,
) -> Result<Zeroizing<Vec<u8>>, age::DecryptError> {
    let opened = open_inner(ciphertext, identity);
    zeroize::zeroize_stack::<STACK_SCRUB_BYTES>();
    opened
}

/// Kept out of line, like [`seal_inner`].
#[inline(never)]
fn open_inner(
    ciphertext: &[u8],
    identity: &x25519::Identity,
) -> Result<Zeroizing<Vec<u8>>, age::DecryptError> {
    // The armor reader is a `BufRead`: `new_buffered` reads the header line by line, where
    // `new` re-parses it as bytes come in (about a third of the decryption time).
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(ciphertext))?;
    let reader = decryptor.decrypt(std::iter::once(identity as &dyn age::Identity))?;
    read_plaintext(reader, ciphertext.len())
}

/// Reads an age stream to its end into one zeroizing buffer of `cap` bytes (a plaintext is
/// never longer than its ciphertext), so no reallocation leaves an unzeroized copy behind.
pub(crate) fn read_plaintext(
    mut reader: impl Read,
    cap: usize,
) -> Result<Zeroizing<Vec<u8>>, age::DecryptError> {
    // One byte more than any plaintext can take, to notice one that is longer.
    let mut buf = Zeroizing::new(vec![0u8; cap + 1]);
    // A damaged payload (failed authentication of a chunk) surfaces as a read error.
    let filled = crate::fs::read::fill(&mut reader, &mut buf).map_err(age::DecryptError::Io)?;
    if filled > cap {
        return Err(age::DecryptError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the plaintext is longer than the file",
        )));
    }
    buf.truncate(filled);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_and_is_armored() {
        let id = x25519::Identity::generate();
        let sealed = seal(b"s3cret", &[id.to_public()]).unwrap();
        assert!(sealed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        assert_eq!(classify(&sealed), Kind::Encrypted);
        assert_eq!(&open(&sealed, &id).unwrap()[..], b"s3cret");
    }

    #[test]
    fn wrong_key_and_truncation_fail() {
        let id = x25519::Identity::generate();
        let sealed = seal(b"s3cret", &[id.to_public()]).unwrap();
        assert!(open(&sealed, &x25519::Identity::generate()).is_err());
        for cut in [20, sealed.len() / 2, sealed.len() - 40] {
            assert_eq!(classify(&sealed[..cut]), Kind::Encrypted);
            assert!(open(&sealed[..cut], &id).is_err(), "cut at {cut} decrypted");
        }
    }

    #[test]
    fn classifies_content() {
        assert_eq!(classify(b""), Kind::Empty);
        assert_eq!(classify(b" \n\t"), Kind::Empty);
        assert_eq!(classify(b"legacy-secret\n"), Kind::Plaintext);
        assert_eq!(classify(b"-----BEGIN AGE"), Kind::Encrypted);
        assert_eq!(
            classify(b"age-encryption.org/v1\n-> X25519"),
            Kind::Encrypted
        );
        assert!(matches!(classify(b"a\0b"), Kind::Garbage(_)));
        assert!(matches!(classify(&[0xff, 0xfe]), Kind::Garbage(_)));
    }

    #[test]
    fn refuses_what_the_vault_could_not_read_back() {
        let id = x25519::Identity::generate();
        let fits = seal(&vec![b'a'; 46 * 1024], &[id.to_public()]).unwrap();
        assert!(fits.len() as u64 <= crate::MAX_FILE_SIZE);
        let err = seal(&vec![b'a'; 49 * 1024], &[id.to_public()]).unwrap_err();
        assert!(matches!(err, crate::Error::ValueTooLarge { .. }), "{err}");
        assert!(check_size(46 * 1024, 1).is_ok());
        assert!(check_size(49 * 1024, 1).is_err());
        // Whatever check_size accepts, seal takes (the count is an upper bound).
        for len in (40 * 1024..48 * 1024).step_by(512) {
            if check_size(len, 1).is_ok() {
                assert!(seal(&vec![b'a'; len], &[id.to_public()]).is_ok(), "{len}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_bytes_classify_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = classify(&bytes);
            let id = x25519::Identity::generate();
            prop_assert!(open(&bytes, &id).is_err());
        }

        #[test]
        fn seal_open_round_trip(plain in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let id = x25519::Identity::generate();
            let sealed = seal(&plain, &[id.to_public()]).unwrap();
            prop_assert_eq!(&open(&sealed, &id).unwrap()[..], &plain[..]);
        }
    }
}
