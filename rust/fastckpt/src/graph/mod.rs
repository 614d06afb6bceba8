//! Graphs: TensorFlow's `GraphDef` brought into memory as a [`Graph`] of operations, with
//! `import_graph_def` semantics (names, input maps, checks, error texts) identical to
//! TensorFlow 2.21's, and back out as a `GraphDef`.
//!
//! [`ops`] knows every op TensorFlow registers (what an op's outputs are, which attrs it needs),
//! [`model`] is the graph, [`import`] fills it, `device` reads device strings as Python does;
//! [`io`] reads and writes files holding one message, [`tensor`] decodes `TensorProto` values;
//! [`freeze`] turns variables into constants read from a checkpoint (`freeze_calls` through
//! function calls); [`subgraph`] prunes and splices GraphDefs as `graph_util` does; [`saver`]
//! builds the meta graph of a TF1 Saver.

mod device;
pub mod freeze;
mod freeze_calls;
pub mod import;
pub mod io;
pub mod model;
pub mod ops;
pub mod saver;
pub mod subgraph;
pub mod tensor;

pub use device::DeviceSpec;
pub use freeze::freeze_graph;
pub use import::{import_graph_def, Element, ImportOptions};
pub use model::{Function, Graph, OpId, Operation, TensorRef};
pub use ops::{registry, OpDef, OpRegistry};
pub use subgraph::{extract_sub_graph, remove_training_nodes};
