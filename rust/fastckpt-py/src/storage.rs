//! `_fastckpt.storage_*`: file bookkeeping on local paths and object-store URLs alike, for the
//! Python layers that keep checkpoints (state file, retention), all with the GIL released.

use fastckpt::storage::Location;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::IntoPy;

fn location(py: Python<'_>, path: &str) -> PyResult<Location> {
    py.detach(|| Location::parse(path)).py_err(py)
}

/// Whether `path` is an object-store URL; an unsupported `scheme://` raises `ValueError`.
#[pyfunction]
pub fn storage_is_url(py: Python<'_>, path: &str) -> PyResult<bool> {
    Ok(matches!(location(py, path)?, Location::Remote(_)))
}

/// The whole content of a file or object.
#[pyfunction]
pub fn storage_read<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyBytes>> {
    let location = location(py, path)?;
    let bytes = py.detach(|| location.read()).py_err(py)?;
    Ok(PyBytes::new(py, &bytes))
}

/// Replaces a file (temporary file + rename) or an object (one PUT) with `data`.
#[pyfunction]
#[pyo3(signature = (path, data, sync=false))]
pub fn storage_write(py: Python<'_>, path: &str, data: Vec<u8>, sync: bool) -> PyResult<()> {
    let location = location(py, path)?;
    py.detach(|| location.write(&data, sync)).py_err(py)
}

#[pyfunction]
pub fn storage_exists(py: Python<'_>, path: &str) -> PyResult<bool> {
    let location = location(py, path)?;
    py.detach(|| location.exists()).py_err(py)
}

/// Whether `path` is a local directory or a URL that objects are stored below.
#[pyfunction]
pub fn storage_is_folder(py: Python<'_>, path: &str) -> PyResult<bool> {
    let location = location(py, path)?;
    py.detach(|| location.is_folder()).py_err(py)
}

/// Deletes a file or object; a missing one is no error.
#[pyfunction]
pub fn storage_delete(py: Python<'_>, path: &str) -> PyResult<()> {
    let location = location(py, path)?;
    py.detach(|| location.delete()).py_err(py)
}

/// Deletes the local file at `path` (a missing one raises `FileNotFoundError`); its space is
/// freed by a background thread, not by the caller.
#[pyfunction]
pub fn remove_file(py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
    py.detach(|| fastckpt::atomic_file::remove(&path).map_err(|e| fastckpt::Error::io(&path, e))).py_err(py)
}

/// Paths or URLs of the files beside `prefix` whose names start with its name, sorted.
#[pyfunction]
pub fn storage_list(py: Python<'_>, prefix: &str) -> PyResult<Vec<String>> {
    let location = location(py, prefix)?;
    py.detach(|| location.list_prefixed()).py_err(py)
}
