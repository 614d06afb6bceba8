//! PyO3 glue of fastckpt: argument conversion, numpy arrays over mapped or owned bytes, the GIL
//! released around every piece of I/O, and engine errors mapped onto Python exceptions. The
//! public API lives in `python/fastckpt/`; this module is its private engine room.

mod arrays;
mod checkpoint;
mod containers;
mod convert;
mod descriptor;
mod errors;
mod freeze;
mod graph;
mod graph_py;
mod message;
mod reader;
mod saver;
mod snapshot;
mod state;
mod tree;
mod writer;

use pyo3::prelude::*;

#[pymodule]
fn _fastckpt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<reader::Reader>()?;
    m.add_class::<writer::Writer>()?;
    m.add_function(wrap_pyfunction!(state::parse_checkpoint_state, m)?)?;
    m.add_function(wrap_pyfunction!(saver::merge_bundles, m)?)?;
    m.add_function(wrap_pyfunction!(saver::saver_meta_graph, m)?)?;
    m.add_function(wrap_pyfunction!(state::write_checkpoint_state, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::parse_object_graph, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::build_object_graph, m)?)?;
    m.add_function(wrap_pyfunction!(snapshot::copy_into, m)?)?;
    message::add_classes(m)?;
    m.add_class::<descriptor::Descriptor>()?;
    m.add_class::<descriptor::FieldDescriptor>()?;
    m.add_class::<containers::RepeatedComposite>()?;
    m.add_class::<containers::RepeatedScalar>()?;
    m.add_class::<containers::MessageMap>()?;
    m.add_class::<containers::ScalarMap>()?;
    m.add_function(wrap_pyfunction!(graph::read_message, m)?)?;
    m.add_function(wrap_pyfunction!(graph::parse_message, m)?)?;
    m.add_function(wrap_pyfunction!(graph::write_message, m)?)?;
    m.add_function(wrap_pyfunction!(graph::make_ndarray, m)?)?;
    m.add_class::<graph_py::Graph>()?;
    m.add_class::<graph_py::Operation>()?;
    m.add_class::<graph_py::Tensor>()?;
    m.add_class::<graph_py::DType>()?;
    m.add_function(wrap_pyfunction!(graph_py::import_graph_def, m)?)?;
    m.add_function(wrap_pyfunction!(freeze::freeze_graph, m)?)?;
    Ok(())
}
