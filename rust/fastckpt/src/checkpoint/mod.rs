//! TF2 object-based checkpoints: the object graph stored beside the tensors, which names every
//! tensor by the path of edges from the root object that leads to it (spec §4).

pub mod object_graph;

pub use object_graph::{NodeSpec, ObjectGraph, OBJECT_GRAPH_KEY};
