//! New secrets: 32 bytes from the OS random number generator, base64url without padding
//! (43 characters), exactly like Python's `secrets.token_urlsafe(32)`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::Error;

const RANDOM_BYTES: usize = 32;
const ENCODED_LEN: usize = 43;

/// Generates a new secret. Every intermediate buffer is zeroized.
pub(crate) fn token_urlsafe() -> Result<SecretString, Error> {
    let mut raw = Zeroizing::new([0u8; RANDOM_BYTES]);
    rand::rngs::SysRng
        .try_fill_bytes(raw.as_mut())
        .map_err(|e| Error::Random {
            reason: e.to_string(),
        })?;
    let mut encoded = Zeroizing::new([0u8; ENCODED_LEN]);
    let n = URL_SAFE_NO_PAD
        .encode_slice(&raw[..], &mut encoded[..])
        .expect("43 bytes hold base64 of 32");
    debug_assert_eq!(n, ENCODED_LEN);
    let text = std::str::from_utf8(encoded.as_ref()).expect("base64 is ASCII");
    Ok(secrecy::SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn looks_like_token_urlsafe_32() {
        let a = token_urlsafe().unwrap();
        let b = token_urlsafe().unwrap();
        assert_eq!(a.expose_secret().len(), 43);
        assert!(
            a.expose_secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a.expose_secret(), b.expose_secret());
        let decoded = URL_SAFE_NO_PAD.decode(a.expose_secret()).unwrap();
        assert_eq!(decoded.len(), 32);
    }
}
