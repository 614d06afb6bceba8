//! TF2 object graphs across the boundary: parsed into plain tuples for `fastckpt.object_graph`,
//! and built from the object tree `fastckpt.Checkpoint` walks.

use fastckpt::checkpoint::{NodeSpec, ObjectGraph};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::IntoPy;

/// `(children [(local_name, node_id)], attributes [(name, full_name, checkpoint_key)],
/// slot_variables [(original_node_id, slot_name, slot_node_id)], registered_saver (name,
/// object_name) | None, has_checkpoint_values bool | None, holds_values, path | None,
/// friendly_path | None)`.
type NodeTuple = (
    Vec<(String, usize)>,
    Vec<(String, String, String)>,
    Vec<(usize, String, usize)>,
    Option<(String, String)>,
    Option<bool>,
    bool,
    Option<String>,
    Option<String>,
);

/// The nodes of a serialized `TrackableObjectGraph`, with each node's path and friendly path.
#[pyfunction]
pub fn parse_object_graph(py: Python<'_>, data: &[u8]) -> PyResult<Vec<NodeTuple>> {
    let graph = py.detach(|| ObjectGraph::decode(data)).py_err(py)?;
    let paths = graph.paths();
    let friendly = graph.friendly_paths();
    let holds = graph.holds_values();
    Ok(graph
        .nodes
        .into_iter()
        .zip(holds)
        .zip(paths.into_iter().zip(friendly))
        .map(|((node, holds), (path, friendly))| {
            (
                node.children.into_iter().map(|c| (c.local_name, c.node_id)).collect(),
                node.attributes.into_iter().map(|a| (a.name, a.full_name, a.checkpoint_key)).collect(),
                node.slot_variables
                    .into_iter()
                    .map(|s| (s.original_variable_node_id, s.slot_name, s.slot_variable_node_id))
                    .collect(),
                node.registered_saver,
                node.has_checkpoint_values,
                holds,
                path,
                friendly,
            )
        })
        .collect())
}

/// `[(checkpoint key, friendly name)]` of every saved tensor of a serialized graph: the rule
/// `fastckpt.convert(..., friendly_names=True)` names tensors by.
#[pyfunction]
pub fn object_graph_friendly_names(py: Python<'_>, data: &[u8]) -> PyResult<Vec<(String, String)>> {
    py.detach(|| ObjectGraph::decode(data).map(|graph| graph.friendly_names())).py_err(py)
}

/// One object of `build_object_graph`: `(children [(local_name, index)], attribute names,
/// slot_variables [(original variable's path, slot_name, slot index)])`; index 0 is the root.
type SpecTuple = (Vec<(String, usize)>, Vec<String>, Vec<(String, String, usize)>);

/// A new serialized graph for the objects `specs`, and per object the keys of its attributes.
#[pyfunction]
pub fn build_object_graph<'py>(
    py: Python<'py>,
    specs: Vec<SpecTuple>,
) -> PyResult<(Bound<'py, PyBytes>, Vec<Vec<String>>)> {
    let specs: Vec<NodeSpec> = specs
        .into_iter()
        .map(|(children, attributes, slot_variables)| NodeSpec { children, attributes, slot_variables })
        .collect();
    let (graph, ids, serialized) = py
        .detach(|| {
            ObjectGraph::build(&specs).map(|(graph, ids)| {
                let serialized = graph.encode();
                (graph, ids, serialized)
            })
        })
        .py_err(py)?;
    let keys =
        ids.iter().map(|&id| graph.nodes[id].attributes.iter().map(|a| a.checkpoint_key.clone()).collect()).collect();
    Ok((PyBytes::new(py, &serialized), keys))
}
