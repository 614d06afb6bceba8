//! What the Saver needs from the engine beyond reading and writing bundles: merging bundles
//! written in parts (sharded saves, several processes).

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::errors::IntoPy;

/// Merges the bundles at `prefixes` into one at `output` (TF's `MergeV2Checkpoints`).
#[pyfunction]
pub fn merge_bundles(py: Python<'_>, prefixes: Vec<PathBuf>, output: PathBuf, delete_dirs: bool) -> PyResult<()> {
    py.detach(|| fastckpt::bundle::merge_bundles(&prefixes, &output, delete_dirs)).py_err(py)
}
