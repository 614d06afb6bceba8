//! PyO3 glue of fastckpt: argument conversion, numpy arrays over mapped or owned bytes, the GIL
//! released around every piece of I/O, and engine errors mapped onto Python exceptions. The
//! public API lives in `python/fastckpt/`; this module is its private engine room.

mod arrays;
mod checkpoint;
mod containers;
mod conversion;
mod convert;
mod descriptor;
mod dtypes;
mod errors;
mod forks;
mod freeze;
mod graph;
mod graph_util;
mod io;
mod locks;
mod message;
mod reader;
mod saver;
mod snapshot;
mod state;
mod storage;
mod tree;
mod writer;

use pyo3::prelude::*;

/// `gil_used = true`: the classes rely on the GIL (the wheels are abi3, which free-threaded
/// CPython does not load anyway).
#[pymodule(gil_used = true)]
fn _fastckpt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::import_all(m.py());
    forks::register(m)?;
    // The workspace version in Cargo.toml is the one source: maturin copies it into the package
    // metadata, and `fastckpt.__version__` is this.
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<reader::Reader>()?;
    m.add_class::<reader::ReaderBase>()?;
    m.add_function(wrap_pyfunction!(reader::crc32c_copy, m)?)?;
    m.add_function(wrap_pyfunction!(reader::crc32c_pread, m)?)?;
    m.add_function(wrap_pyfunction!(reader::tensor_key_bytes, m)?)?;
    m.add_class::<writer::Writer>()?;
    m.add_function(wrap_pyfunction!(dtypes::dtype_table, m)?)?;
    m.add_function(wrap_pyfunction!(state::parse_checkpoint_state, m)?)?;
    m.add_function(wrap_pyfunction!(saver::merge_bundles, m)?)?;
    m.add_function(wrap_pyfunction!(saver::plan_shards, m)?)?;
    m.add_function(wrap_pyfunction!(saver::saver_meta_graph, m)?)?;
    m.add_function(wrap_pyfunction!(state::write_checkpoint_state, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::parse_object_graph, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::build_object_graph, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint::object_graph_friendly_names, m)?)?;
    m.add_function(wrap_pyfunction!(snapshot::copy_into, m)?)?;
    m.add_function(wrap_pyfunction!(storage::storage_is_url, m)?)?;
    m.add_function(wrap_pyfunction!(storage::storage_read, m)?)?;
    m.add_function(wrap_pyfunction!(storage::storage_write, m)?)?;
    m.add_function(wrap_pyfunction!(storage::storage_exists, m)?)?;
    m.add_function(wrap_pyfunction!(storage::storage_is_folder, m)?)?;
    m.add_function(wrap_pyfunction!(storage::storage_delete, m)?)?;
    m.add_function(wrap_pyfunction!(storage::storage_list, m)?)?;
    m.add_function(wrap_pyfunction!(storage::remove_file, m)?)?;
    message::add_classes(m)?;
    m.add_class::<descriptor::Descriptor>()?;
    m.add_class::<descriptor::FieldDescriptor>()?;
    m.add_class::<containers::RepeatedComposite>()?;
    m.add_class::<containers::RepeatedScalar>()?;
    m.add_class::<containers::MessageMap>()?;
    m.add_class::<containers::ScalarMap>()?;
    m.add_function(wrap_pyfunction!(io::read_message, m)?)?;
    m.add_function(wrap_pyfunction!(io::parse_message, m)?)?;
    m.add_function(wrap_pyfunction!(io::write_message, m)?)?;
    m.add_function(wrap_pyfunction!(io::make_ndarray, m)?)?;
    m.add_function(wrap_pyfunction!(io::make_tensor_proto, m)?)?;
    m.add_class::<graph::Graph>()?;
    m.add_class::<graph::Operation>()?;
    m.add_class::<graph::Tensor>()?;
    m.add_class::<graph::DType>()?;
    m.add_function(wrap_pyfunction!(graph::import_graph_def, m)?)?;
    m.add_function(wrap_pyfunction!(freeze::freeze_graph, m)?)?;
    m.add_function(wrap_pyfunction!(graph_util::extract_sub_graph, m)?)?;
    m.add_function(wrap_pyfunction!(graph_util::remove_training_nodes, m)?)?;
    m.add_function(wrap_pyfunction!(conversion::convert, m)?)?;
    m.add_class::<conversion::Source>()?;
    Ok(())
}
