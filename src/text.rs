//! Secret text: stripping like the server does, and building `SecretString`s without stray copies.

use secrecy::SecretString;

/// Python's `str.isspace()`: Unicode `White_Space` plus the ASCII separators U+001C..U+001F,
/// which Python counts as whitespace and Rust does not.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Strips leading and trailing whitespace exactly like Python's `str.strip()`.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_python_space)
}

/// Copies `s` into a new `SecretString` whose heap buffer is exactly `s.len()` bytes.
///
/// `SecretString::from(String)` calls `into_boxed_str`, which reallocates (leaving an
/// unzeroized copy behind) when the `String` has spare capacity. Allocating the exact
/// size first means the boxed buffer is the only copy.
pub(crate) fn secret_string(s: &str) -> SecretString {
    let mut owned = String::with_capacity(s.len());
    owned.push_str(s);
    debug_assert_eq!(owned.capacity(), owned.len());
    SecretString::from(owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    #[test]
    fn strips_like_python() {
        assert_eq!(strip("  abc \n"), "abc");
        assert_eq!(strip("\u{1c}\u{1f}abc\u{85}\u{a0}\u{3000}"), "abc");
        assert_eq!(strip("a b"), "a b");
        assert_eq!(strip(" \t\r\n "), "");
        // U+200B (zero width space) is not whitespace for Python either.
        assert_eq!(strip("\u{200b}x"), "\u{200b}x");
    }

    proptest! {
        #[test]
        fn secret_string_round_trips(s in ".*") {
            let secret = secret_string(&s);
            prop_assert_eq!(secret.expose_secret(), s.as_str());
        }

        #[test]
        fn strip_is_idempotent(s in ".*") {
            prop_assert_eq!(strip(strip(&s)), strip(&s));
        }
    }
}
