//! The exit codes: the one table mapping the library's error classes to numbers.

use continuum_vault::ErrorClass;

/// The exit code of an error class.
pub(crate) fn code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Usage => 2,
        ErrorClass::NotFound => 3,
        ErrorClass::UnsafePath => 4,
        ErrorClass::Corrupt => 5,
        ErrorClass::KeyUnavailable => 6,
        ErrorClass::Conflict => 7,
        _ => 1,
    }
}
