//! `freeze_graph`: the GraphDef and output names in, the frozen GraphDef out. Opening the
//! checkpoint and the whole transformation run with the GIL released.

use std::path::PathBuf;

use fastckpt::graph::freeze_graph as freeze;
use fastckpt::proto::schema::GRAPH_DEF;
use fastckpt::CheckpointReader;
use pyo3::prelude::*;

use crate::errors::IntoPy;
use crate::forks;
use crate::message::{new_message, with_message};

/// The `GraphDef` (ours or TensorFlow's) with its variables replaced by constants read from the
/// checkpoint at `prefix`, pruned to what `output_nodes` need.
#[pyfunction]
pub fn freeze_graph<'py>(
    py: Python<'py>,
    graph_def: &Bound<'py, PyAny>,
    prefix: PathBuf,
    output_nodes: Vec<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let section = forks::enter(py);
    let frozen = with_message(py, graph_def, &GRAPH_DEF, |graph| {
        py.detach(|| {
            let reader = CheckpointReader::open(&prefix, true)?;
            freeze(graph, &reader, &output_nodes)
        })
    })?
    .py_err(py)?;
    drop(section);
    new_message(py, frozen)
}
