//! PyO3 glue of fastckpt: argument conversion, numpy arrays over mapped or owned bytes, the GIL
//! released around every piece of I/O, and engine errors mapped onto Python exceptions. The
//! public API lives in `python/fastckpt/`; this module is its private engine room.

mod arrays;
mod errors;
mod reader;
mod writer;

use pyo3::prelude::*;

#[pymodule]
fn _fastckpt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<reader::Reader>()?;
    m.add_class::<writer::Writer>()?;
    m.add_function(wrap_pyfunction!(reader::latest_checkpoint, m)?)?;
    Ok(())
}
