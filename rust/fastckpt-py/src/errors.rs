//! Engine errors as Python exceptions. The hierarchy itself is defined in Python
//! (`fastckpt.errors`) so that it can inherit from `KeyError` and `FileNotFoundError`; this module
//! looks the classes up and raises them.

use fastckpt::error::ImportErrorKind;
use fastckpt::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module = ERRORS.get_or_try_init(py, || py.import("fastckpt.errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

pub fn raise(py: Python<'_>, name: &str, message: String) -> PyErr {
    match class(py, name) {
        Ok(cls) => PyErr::from_type(cls, message),
        Err(e) => e,
    }
}

/// Converts an engine error into the matching `fastckpt` exception.
pub fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Io { source, path } => {
            let name = match source.kind() {
                std::io::ErrorKind::NotFound => "CheckpointNotFoundError",
                _ => "CheckpointIOError",
            };
            // OSError's (errno, strerror, filename) form: `str()` names the file, `.filename` holds it.
            let args = (source.raw_os_error().unwrap_or(0), source.to_string(), path.display().to_string());
            match class(py, name) {
                Ok(cls) => PyErr::from_type(cls, args),
                Err(e) => e,
            }
        }
        Error::Corrupt { .. } => raise(py, "CorruptCheckpointError", message),
        Error::Checksum { .. } => raise(py, "ChecksumMismatchError", message),
        Error::KeyNotFound { .. } => raise(py, "TensorNotFoundError", message),
        Error::Decode(_) => raise(py, "DecodeError", message),
        Error::InvalidArgument(_) => PyValueError::new_err(message),
        Error::Import { kind, .. } => match kind {
            ImportErrorKind::ValueError => raise(py, "GraphImportError", message),
            ImportErrorKind::NotFoundError => raise(py, "NotFoundError", message),
            ImportErrorKind::UnimplementedError => raise(py, "UnimplementedError", message),
        },
        _ => raise(py, "CheckpointError", message),
    }
}

/// `Result` of the engine into `PyResult`.
pub trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for fastckpt::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
