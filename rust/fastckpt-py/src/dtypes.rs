//! The engine's dtype table (`fastckpt::dtype`) for Python, and the numpy dtype of each
//! TensorFlow dtype. `fastckpt._dtypes` builds its numpy mapping from [`dtype_table`]; the glue
//! copies that mapping (at first use, and once more with `ml_dtypes`' types when one is first
//! needed) and checks every fixed-size entry against the engine's element size, so no later change
//! to a Python dict can make an array claim more bytes than the engine gave it.

use fastckpt::dtype::Layout;
use fastckpt::DataType;
use numpy::npyffi::PyArray_Descr;
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

/// One row of the table: enum value, enum name, `tf.DType` name, how it is stored (`"fixed"`,
/// `"string"`, `"variant"`, `None` for types that hold no data) and bytes per element.
type Row = (u32, &'static str, String, Option<&'static str>, Option<usize>);

/// Every TensorFlow dtype the engine knows, in enum order (reference types excluded).
#[pyfunction]
pub fn dtype_table() -> Vec<Row> {
    DataType::ALL
        .iter()
        .map(|&t| {
            let layout = t.layout().map(|l| match l {
                Layout::Fixed { .. } => "fixed",
                Layout::String => "string",
                Layout::Variant => "variant",
            });
            (t.0, t.name().unwrap_or_default(), t.python_name(), layout, t.element_size())
        })
        .collect()
}

/// numpy dtypes by enum value, taken from `fastckpt._dtypes.NUMPY_DTYPES` and checked: the ones
/// it has made at first use (numpy's own), and once a type of `ml_dtypes` is first needed, all of
/// them (`fastckpt._dtypes` imports `ml_dtypes` only then: importing it is slow).
static LOADED: PyOnceLock<Table> = PyOnceLock::new();
static WITH_ML_DTYPES: PyOnceLock<Table> = PyOnceLock::new();

type Table = Vec<Option<Py<PyArrayDescr>>>;

fn snapshot(py: Python<'_>, with_ml_dtypes: bool) -> PyResult<Table> {
    let dtypes = py.import("fastckpt._dtypes")?.getattr("NUMPY_DTYPES")?;
    let mapping = dtypes.call_method1("loaded", (with_ml_dtypes,))?.cast_into::<PyDict>()?;
    DataType::ALL
        .iter()
        .map(|&t| {
            let Some(descr) = mapping.get_item(t.0)? else { return Ok(None) };
            let descr = descr.cast_into::<PyArrayDescr>()?;
            if let Some(size) = t.element_size() {
                if descr.itemsize() != size {
                    return Err(PyTypeError::new_err(format!(
                        "numpy dtype {descr} for {} has {} bytes per element, the format has {size}",
                        t.describe(),
                        descr.itemsize()
                    )));
                }
            }
            Ok(Some(descr.unbind()))
        })
        .collect()
}

fn entry(table: &Table, dtype: DataType) -> Option<&Py<PyArrayDescr>> {
    usize::try_from(dtype.0).ok().and_then(|i| table.get(i)).and_then(Option::as_ref)
}

/// The numpy dtype of the arrays fastckpt returns for `dtype`.
pub fn numpy_dtype<'py>(py: Python<'py>, dtype: DataType) -> PyResult<Bound<'py, PyArrayDescr>> {
    let loaded = LOADED.get_or_try_init(py, || snapshot(py, false))?;
    let descr = match entry(loaded, dtype) {
        Some(descr) => Some(descr),
        None => entry(WITH_ML_DTYPES.get_or_try_init(py, || snapshot(py, true))?, dtype),
    };
    match descr {
        Some(descr) => Ok(descr.bind(py).clone()),
        None => Err(PyTypeError::new_err(format!("{} has no numpy equivalent", dtype.describe()))),
    }
}

/// The fixed-size TensorFlow dtype whose numpy dtype is the very object at `descr`, if any.
/// numpy's builtin and ml_dtypes' dtypes are singletons that arrays share, so a float32 array
/// carries the table's own float32 object; a dtype merely equal to one in the table (another
/// byte order, a structured copy) gives `None`, and the caller converts it the general way.
/// An array can have a type of `ml_dtypes` only once `ml_dtypes` is imported: the full table is
/// searched then.
pub fn fixed_of_descr(py: Python<'_>, descr: *const PyArray_Descr) -> PyResult<Option<DataType>> {
    let find = |table: &Table| {
        let same =
            |entry: &Option<Py<PyArrayDescr>>| entry.as_ref().is_some_and(|d| std::ptr::eq(d.as_ptr().cast(), descr));
        DataType::ALL.iter().zip(table).find(|(t, entry)| t.element_size().is_some() && same(entry)).map(|(&t, _)| t)
    };
    if let Some(found) = find(LOADED.get_or_try_init(py, || snapshot(py, false))?) {
        return Ok(Some(found));
    }
    let full = match WITH_ML_DTYPES.get(py) {
        Some(full) => full,
        None if py.import("sys")?.getattr("modules")?.contains("ml_dtypes")? => {
            WITH_ML_DTYPES.get_or_try_init(py, || snapshot(py, true))?
        }
        None => return Ok(None),
    };
    Ok(find(full))
}
