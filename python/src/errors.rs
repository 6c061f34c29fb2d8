//! The Python exceptions: one class per [`ErrorClass`], all under `VaultError`.
//!
//! [`CLASSES`] is the one table of the mapping; the classes are made from it when the module
//! is imported, and `python/tests/test_errors.py` holds it against README.md's exit codes.

use continuum_vault::{Error, ErrorClass};
use pyo3::exceptions::{PyException, PyLookupError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

/// One error class as Python sees it.
struct PyClassSpec {
    /// The library's class.
    class: ErrorClass,
    /// The exception's name in `continuum_vault`.
    name: &'static str,
    /// The exit code `continuum-vault` uses for this class (README.md, "Exit codes").
    exit_code: u8,
    /// The class docstring.
    doc: &'static str,
}

/// The mapping, in exit code order. `VaultError` itself stands for the class "other".
const CLASSES: [PyClassSpec; 7] = [
    PyClassSpec {
        class: ErrorClass::Other,
        name: "VaultError",
        exit_code: 1,
        doc: "A vault operation failed. `.hint` says what to do (or is None), `.exit_code` is \
              the code `continuum-vault` exits with for the same error. Raised as such for \
              errors of no more specific class (I/O, a full disk, the random number generator).",
    },
    PyClassSpec {
        class: ErrorClass::Usage,
        name: "UsageError",
        exit_code: 2,
        doc: "A bad argument, secret name, setting or value (also a ValueError).",
    },
    PyClassSpec {
        class: ErrorClass::NotFound,
        name: "NotFoundError",
        exit_code: 3,
        doc: "The secret, or the file a _FILE variable names, does not exist (also a LookupError).",
    },
    PyClassSpec {
        class: ErrorClass::UnsafePath,
        name: "UnsafePathError",
        exit_code: 4,
        doc: "A path is unsafe to use: permissions, owner, symbolic link, file type or size.",
    },
    PyClassSpec {
        class: ErrorClass::Corrupt,
        name: "CorruptError",
        exit_code: 5,
        doc: "A file is corrupt, tampered with, or does not decrypt with the vault's key. \
              It is left as it is.",
    },
    PyClassSpec {
        class: ErrorClass::KeyUnavailable,
        name: "KeyUnavailableError",
        exit_code: 6,
        doc: "The key is unavailable: the keyring is absent or locked, the entry is missing or \
              invalid, or the keyring or the vault lock did not answer before the deadline.",
    },
    PyClassSpec {
        class: ErrorClass::Conflict,
        name: "ConflictError",
        exit_code: 7,
        doc: "A different value is stored (pass force=True to replace it), or the configuration \
              is ambiguous (both a variable and its _FILE variant, a key source contradicting \
              the vault's record).",
    },
];

/// The classes made by [`register`], in the order of [`CLASSES`].
static TYPES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

/// Makes the exception classes and adds them to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let types = TYPES.get_or_try_init(py, || make_types(py))?;
    for (spec, ty) in CLASSES.iter().zip(types) {
        m.add(spec.name, ty.bind(py))?;
    }
    Ok(())
}

fn make_types(py: Python<'_>) -> PyResult<Vec<Py<PyType>>> {
    let make_type = py.import("builtins")?.getattr("type")?;
    let mut types: Vec<Py<PyType>> = Vec::with_capacity(CLASSES.len());
    for spec in &CLASSES {
        let bases = match spec.class {
            ErrorClass::Other => PyTuple::new(py, [py.get_type::<PyException>()])?,
            ErrorClass::Usage => PyTuple::new(
                py,
                [types[0].bind(py).clone(), py.get_type::<PyValueError>()],
            )?,
            ErrorClass::NotFound => PyTuple::new(
                py,
                [types[0].bind(py).clone(), py.get_type::<PyLookupError>()],
            )?,
            _ => PyTuple::new(py, [types[0].bind(py).clone()])?,
        };
        let namespace = PyDict::new(py);
        namespace.set_item("__doc__", spec.doc)?;
        namespace.set_item("__module__", "continuum_vault")?;
        namespace.set_item("exit_code", spec.exit_code)?;
        namespace.set_item("hint", py.None())?;
        let ty = make_type
            .call1((spec.name, bases, namespace))?
            .cast_into::<PyType>()?;
        types.push(ty.unbind());
    }
    Ok(types)
}

/// `[(name, exit_code), ...]`: the exception classes and their exit codes, in exit code order.
#[pyfunction]
pub(crate) fn error_classes() -> Vec<(&'static str, u8)> {
    CLASSES.iter().map(|c| (c.name, c.exit_code)).collect()
}

/// The Python exception for `error`: its message is the error chain on one line, `.hint`
/// the fix (also shown as a note under the traceback), `.exit_code` its class's code.
/// Neither holds a secret: no [`Error`] variant carries one.
pub(crate) fn to_py(py: Python<'_>, error: &Error) -> PyErr {
    let class = error.class();
    let index = CLASSES
        .iter()
        .position(|spec| spec.class == class)
        .unwrap_or(0);
    let message = continuum_vault::error_chain(error);
    match build(py, index, message, error.hint()) {
        Ok(err) | Err(err) => err,
    }
}

fn build(py: Python<'_>, index: usize, message: String, hint: Option<String>) -> PyResult<PyErr> {
    let types = TYPES.get_or_try_init(py, || make_types(py))?;
    let value = types[index].bind(py).call1((message,))?;
    if let Some(hint) = hint {
        value.setattr("__notes__", PyList::new(py, [format!("hint: {hint}")])?)?;
        value.setattr("hint", hint)?;
    }
    Ok(PyErr::from_value(value))
}

/// A usage error for a bad argument given from Python.
pub(crate) fn usage(
    py: Python<'_>,
    setting: &'static str,
    value: String,
    reason: &'static str,
) -> PyErr {
    to_py(
        py,
        &Error::InvalidSetting {
            setting,
            value,
            reason,
        },
    )
}
