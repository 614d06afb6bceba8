//! Engine errors as Python exceptions. The hierarchy is defined in Python (`fastckpt.errors`) so
//! that its classes can also inherit from `KeyError`, `FileNotFoundError`, …; this module imports
//! each class once, as a typed exception, and maps every engine error onto one of them.

use fastckpt::error::ImportErrorKind;
use fastckpt::Error;
use pyo3::prelude::*;

pyo3::import_exception!(fastckpt.errors, CheckpointError);
pyo3::import_exception!(fastckpt.errors, CorruptCheckpointError);
pyo3::import_exception!(fastckpt.errors, ChecksumMismatchError);
pyo3::import_exception!(fastckpt.errors, TensorNotFoundError);
pyo3::import_exception!(fastckpt.errors, CheckpointNotFoundError);
pyo3::import_exception!(fastckpt.errors, CheckpointIOError);
pyo3::import_exception!(fastckpt.errors, DecodeError);
pyo3::import_exception!(fastckpt.errors, GraphImportError);
pyo3::import_exception!(fastckpt.errors, NotFoundError);
pyo3::import_exception!(fastckpt.errors, UnimplementedError);
pyo3::import_exception!(fastckpt.errors, InvalidArgumentError);

/// Imports every class now, when `_fastckpt` is imported (`fastckpt.errors` is the first thing
/// the package imports): the classes raised are then the ones `fastckpt.errors` defines,
/// whatever those names are bound to later.
pub fn import_all(py: Python<'_>) {
    py.get_type::<CheckpointError>();
    py.get_type::<CorruptCheckpointError>();
    py.get_type::<ChecksumMismatchError>();
    py.get_type::<TensorNotFoundError>();
    py.get_type::<CheckpointNotFoundError>();
    py.get_type::<CheckpointIOError>();
    py.get_type::<DecodeError>();
    py.get_type::<GraphImportError>();
    py.get_type::<NotFoundError>();
    py.get_type::<UnimplementedError>();
    py.get_type::<InvalidArgumentError>();
}

/// The OS error number of `source`, or for an error the OS did not raise (an object store's "not
/// found" or "access denied") the number of its kind, as Python's own I/O errors would carry.
fn errno_of(source: &std::io::Error) -> Option<i32> {
    const ENOENT: i32 = 2;
    const EACCES: i32 = 13;
    source.raw_os_error().or(match source.kind() {
        std::io::ErrorKind::NotFound => Some(ENOENT),
        std::io::ErrorKind::PermissionDenied => Some(EACCES),
        _ => None,
    })
}

/// Converts an engine error into the matching `fastckpt` exception.
pub fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::Io { source, path } => {
            let class = match source.kind() {
                std::io::ErrorKind::NotFound => py.get_type::<CheckpointNotFoundError>(),
                _ => py.get_type::<CheckpointIOError>(),
            };
            match errno_of(&source) {
                // OSError's (errno, strerror, filename) form: `str()` names the file, `.filename` holds it.
                Some(errno) => PyErr::from_type(class, (errno, source.to_string(), path.display().to_string())),
                // No errno to give (an object store's other answers): the message alone, which
                // names the object, rather than a made-up "[Errno 0]".
                None => PyErr::from_type(class, (message,)),
            }
        }
        Error::Corrupt { .. } => CorruptCheckpointError::new_err(message),
        Error::Checksum { .. } => ChecksumMismatchError::new_err(message),
        Error::KeyNotFound { .. } => TensorNotFoundError::new_err(message),
        Error::Refused { .. } => InvalidArgumentError::new_err(message),
        Error::Unsupported(_) => UnimplementedError::new_err(message),
        Error::Decode(_) => DecodeError::new_err(message),
        // TensorFlow's InvalidArgument: a ValueError, and a CheckpointError like every engine error.
        Error::InvalidArgument(_) => InvalidArgumentError::new_err(message),
        Error::Import { kind, .. } => match kind {
            ImportErrorKind::ValueError => GraphImportError::new_err(message),
            ImportErrorKind::NotFoundError => NotFoundError::new_err(message),
            ImportErrorKind::UnimplementedError => UnimplementedError::new_err(message),
        },
        _ => CheckpointError::new_err(message),
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
