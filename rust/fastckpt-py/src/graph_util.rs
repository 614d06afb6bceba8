//! `extract_sub_graph` and `remove_training_nodes`: a GraphDef (ours or TensorFlow's) in, a new
//! `GraphDef` out, edited with the GIL released (in a fork section: the message tree is shared).

use fastckpt::graph::{extract_sub_graph as extract, remove_training_nodes as remove};
use fastckpt::proto::schema::GRAPH_DEF;
use fastckpt::proto::Message;
use fastckpt::Result;
use pyo3::prelude::*;

use crate::errors::IntoPy;
use crate::forks;
use crate::message::{new_message, with_message};

fn edit<'py>(
    py: Python<'py>,
    graph_def: &Bound<'py, PyAny>,
    f: impl FnOnce(&Message) -> Result<Message> + Send,
) -> PyResult<Bound<'py, PyAny>> {
    let section = forks::enter(py);
    let out = with_message(py, graph_def, &GRAPH_DEF, |graph| py.detach(|| f(graph)))?.py_err(py)?;
    drop(section);
    new_message(py, out)
}

/// The nodes of `graph_def` that `dest_nodes` reach, with its library and versions.
#[pyfunction]
pub fn extract_sub_graph<'py>(
    py: Python<'py>,
    graph_def: &Bound<'py, PyAny>,
    dest_nodes: Vec<String>,
) -> PyResult<Bound<'py, PyAny>> {
    edit(py, graph_def, |graph| extract(graph, &dest_nodes))
}

/// `graph_def` without CheckNumerics nodes and with Identity / StopGradient nodes spliced out,
/// except `protected_nodes`.
#[pyfunction]
pub fn remove_training_nodes<'py>(
    py: Python<'py>,
    graph_def: &Bound<'py, PyAny>,
    protected_nodes: Vec<String>,
) -> PyResult<Bound<'py, PyAny>> {
    edit(py, graph_def, |graph| remove(graph, &protected_nodes))
}
