//! Python bindings of `continuum-vault`: the extension module `continuum_vault._native`.
//!
//! The Python package `continuum_vault` (`python/continuum_vault/`) re-exports what is here;
//! nothing in this crate holds logic of its own beyond the translation between the two
//! languages:
//!
//! - every call that touches a file or the keyring runs with the GIL released
//!   ([`Python::detach`]), so a frozen keyring blocks only the calling thread, and only up to
//!   the vault's deadline;
//! - notices go to Python's `sys.stderr`, one write per notice, so Python captures them like
//!   any other output;
//! - a [`continuum_vault::Error`] becomes the Python exception of its
//!   [`ErrorClass`](continuum_vault::ErrorClass) (the table in `errors.rs`), carrying the fix as `.hint`
//!   and the command line's exit code as `.exit_code`;
//! - secrets live in [`SecretString`](continuum_vault::secrecy::SecretString)s on this side, zeroized on drop. The `str` handed to
//!   Python is a copy that Python owns: it is immutable and cannot be wiped.

mod errors;
mod vault;

use pyo3::prelude::*;

/// The extension's own allocations are zeroed when freed: what age or a parser leaves in a
/// block it frees is gone then. (Python's `str` objects are Python's, and are not covered.)
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

/// The compiled half of `continuum_vault`; import `continuum_vault`, not this module.
#[pymodule(name = "_native")]
mod native {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::vault::{KeySet, Vault, get_or_generate_jwt_secret, keys};

    #[pymodule_export]
    use crate::errors::error_classes;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("DEFAULT_SECRET", continuum_vault::DEFAULT_SECRET)?;
        crate::errors::register(m)
    }
}

/// Writes each notice to Python's `sys.stderr`, one write per notice, each ending in a newline.
fn emit(py: Python<'_>, notices: &[continuum_vault::Notice]) -> PyResult<()> {
    if notices.is_empty() {
        return Ok(());
    }
    let stderr = py.import("sys")?.getattr("stderr")?;
    if stderr.is_none() {
        // `pythonw` and some daemons run without a standard error at all.
        return Ok(());
    }
    for notice in notices {
        stderr.call_method1("write", (format!("{notice}\n"),))?;
    }
    stderr.call_method0("flush")?;
    Ok(())
}
