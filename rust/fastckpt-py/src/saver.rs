//! What the Saver needs from the engine beyond reading and writing bundles: merging bundles
//! written in parts (sharded saves, several processes) and the meta graph it writes.

use std::path::PathBuf;

use fastckpt::graph::saver::{meta_graph, SaverOptions, VariableSpec};
use fastckpt::DataType;
use pyo3::prelude::*;

use crate::errors::IntoPy;
use crate::message::new_message;

/// The `MetaGraphDef` of a TF1 Saver over `(name, dtype enum, shape)` variables.
#[pyfunction]
pub fn saver_meta_graph<'py>(
    py: Python<'py>,
    variables: Vec<(String, u32, Vec<i64>)>,
    max_to_keep: i32,
    keep_checkpoint_every_n_hours: f32,
) -> PyResult<Bound<'py, PyAny>> {
    let specs: Vec<VariableSpec> = variables
        .into_iter()
        .map(|(name, dtype, shape)| VariableSpec { name, dtype: DataType(dtype), shape })
        .collect();
    let options = SaverOptions { max_to_keep, keep_checkpoint_every_n_hours };
    let meta = py.detach(|| meta_graph(&specs, options)).py_err(py)?;
    new_message(py, meta)
}

/// The data files a sharded save of tensors of these byte sizes writes at `max_shard_size`:
/// consecutive tensors, a larger tensor alone; the indices of each file's tensors.
#[pyfunction]
pub fn plan_shards(sizes: Vec<u64>, max_shard_size: u64) -> Vec<Vec<usize>> {
    fastckpt::convert::consecutive_shards(sizes, max_shard_size)
}

/// Merges the bundles at `prefixes` into one at `output` (TF's `MergeV2Checkpoints`).
#[pyfunction]
pub fn merge_bundles(
    py: Python<'_>,
    prefixes: Vec<PathBuf>,
    output: PathBuf,
    delete_dirs: bool,
    sync: bool,
) -> PyResult<()> {
    py.detach(|| fastckpt::bundle::merge_bundles(&prefixes, &output, delete_dirs, sync)).py_err(py)
}
