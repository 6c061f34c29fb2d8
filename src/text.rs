//! Secret text: stripping like the server does.
//!
//! (`SecretString::from(&str)` copies into a `String` of exactly the right capacity, so
//! its boxing never reallocates and leaves no stray copy: no helper is needed for that.)

/// Python's `str.isspace()`: Unicode `White_Space` plus the ASCII separators U+001C..U+001F,
/// which Python counts as whitespace and Rust does not.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Strips leading and trailing whitespace exactly like Python's `str.strip()`.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_python_space)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        fn strip_is_idempotent(s in ".*") {
            prop_assert_eq!(strip(strip(&s)), strip(&s));
        }
    }
}
