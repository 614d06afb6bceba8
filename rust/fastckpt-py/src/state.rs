//! The `checkpoint` state file: written by the engine (atomically); the rules deciding what goes
//! into it are TensorFlow's path rules and live in `python/fastckpt/state.py`.

use std::path::PathBuf;

use fastckpt::state::CheckpointState;
use fastckpt::Error;
use pyo3::prelude::*;

use crate::errors::IntoPy;
use crate::message::new_message;

/// The `CheckpointState` message in the text `data`, read as TensorFlow reads the state file (a
/// field given twice keeps its last value); `DecodeError` when it does not parse.
#[pyfunction]
pub fn parse_checkpoint_state<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let msg = CheckpointState::parse_message(data)
        .map_err(|e| Error::Decode(format!("cannot parse the checkpoint state: {e}")))
        .py_err(py)?;
    new_message(py, msg)
}

/// Replaces the state file at `path` with the given fields.
#[pyfunction]
#[pyo3(signature = (path, model_checkpoint_path, all_model_checkpoint_paths, all_model_checkpoint_timestamps, last_preserved_timestamp))]
pub fn write_checkpoint_state(
    py: Python<'_>,
    path: PathBuf,
    model_checkpoint_path: String,
    all_model_checkpoint_paths: Vec<String>,
    all_model_checkpoint_timestamps: Vec<f64>,
    last_preserved_timestamp: f64,
) -> PyResult<()> {
    let state = CheckpointState {
        model_checkpoint_path,
        all_model_checkpoint_paths,
        all_model_checkpoint_timestamps,
        last_preserved_timestamp,
    };
    py.detach(|| state.write(&path)).py_err(py)
}
