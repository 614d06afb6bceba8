//! numpy arrays over bytes we hold: views into a mapped data file or into a message's bytes
//! (read-only, the mapping or buffer kept alive through `.base`) or over a buffer we allocated
//! (writeable, freed with the array).

use std::ffi::c_void;
use std::sync::Arc;

use bytes::Bytes;

use fastckpt::bundle::DataFile;
use fastckpt::DataType;
use numpy::npyffi::{self, npy_intp, PY_ARRAY_API};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PySlice};

/// Keeps a data file mapped while numpy arrays view it.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct MappedFile {
    #[allow(dead_code)] // held only to keep the mapping alive
    file: Arc<DataFile>,
}

/// Owns the bytes behind an array we copied or assembled.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct OwnedBytes {
    bytes: Vec<u8>,
}

static DTYPES: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The numpy dtype for a TensorFlow dtype, from `fastckpt._dtypes.NUMPY_DTYPES`.
pub fn numpy_dtype<'py>(py: Python<'py>, dtype: DataType) -> PyResult<Bound<'py, PyArrayDescr>> {
    let table = DTYPES.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("fastckpt._dtypes")?.getattr("NUMPY_DTYPES")?.cast_into::<PyDict>()?.unbind())
    })?;
    match table.bind(py).get_item(dtype.0)? {
        Some(d) => Ok(d.cast_into::<PyArrayDescr>()?),
        None => Err(pyo3::exceptions::PyTypeError::new_err(format!("{} has no numpy equivalent", dtype.describe()))),
    }
}

/// A C-ordered ndarray of `descr` and `shape` from numpy's constructor: over `data` when given
/// (numpy then owns nothing), else over a buffer numpy allocates.
///
/// # Safety
/// A non-null `data` must point to `prod(shape) * itemsize` bytes that outlive the array, and be
/// writeable when `flags` says so.
unsafe fn new_array<'py>(
    py: Python<'py>,
    descr: Bound<'py, PyArrayDescr>,
    shape: &[usize],
    data: *mut c_void,
    flags: i32,
) -> PyResult<Bound<'py, PyAny>> {
    let mut dims: Vec<npy_intp> = shape.iter().map(|&d| d as npy_intp).collect();
    // SAFETY: NewFromDescr steals the descriptor reference (hence into_dtype_ptr); dims has
    // `shape.len()` entries; the caller guarantees the data pointer.
    let array = unsafe {
        PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            descr.into_dtype_ptr(),
            dims.len() as i32,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            data,
            flags,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: a null result means numpy set an exception (e.g. MemoryError), fetched here.
    unsafe { Bound::from_owned_ptr_or_err(py, array) }
}

/// An ndarray of `descr` and `shape` over `data`, whose memory `base` keeps alive.
///
/// # Safety
/// `data` must point to `prod(shape) * itemsize` readable bytes that live as long as `base`, and
/// must be writeable when `writeable` is set.
unsafe fn array_over<'py>(
    py: Python<'py>,
    descr: Bound<'py, PyArrayDescr>,
    shape: &[usize],
    data: *const u8,
    base: Bound<'py, PyAny>,
    writeable: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let flags = npyffi::NPY_ARRAY_C_CONTIGUOUS | if writeable { npyffi::NPY_ARRAY_WRITEABLE } else { 0 };
    // SAFETY: forwarded from the caller.
    let array = unsafe { new_array(py, descr, shape, data as *mut c_void, flags)? };
    // SAFETY: `array` is a fresh ndarray; SetBaseObject steals the reference to `base`.
    let status = unsafe { PY_ARRAY_API.PyArray_SetBaseObject(py, array.as_ptr() as *mut _, base.into_ptr()) };
    if status != 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(array)
}

/// A read-only view of `len` bytes at `offset` in a mapped file.
pub fn mapped<'py>(
    py: Python<'py>,
    dtype: DataType,
    shape: &[usize],
    file: Arc<DataFile>,
    offset: usize,
    len: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let descr = numpy_dtype(py, dtype)?;
    debug_assert_eq!(len, shape.iter().product::<usize>() * descr.itemsize());
    let data = file.bytes()[offset..offset + len].as_ptr();
    let base = Bound::new(py, MappedFile { file })?.into_any();
    // SAFETY: the range was bounds-checked by the reader; `base` keeps the mapping alive.
    unsafe { array_over(py, descr, shape, data, base, false) }
}

/// A writeable array owning `bytes`.
pub fn owned<'py>(py: Python<'py>, dtype: DataType, shape: &[usize], bytes: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
    let descr = numpy_dtype(py, dtype)?;
    let base = Bound::new(py, OwnedBytes { bytes })?;
    let data = base.get().bytes.as_ptr();
    // SAFETY: `base` owns the bytes (never resized again) and lives as long as the array; the
    // reader produced exactly prod(shape) * itemsize of them. Writing through the array is the
    // only mutation, as for any numpy-owned buffer.
    unsafe { array_over(py, descr, shape, data, base.into_any(), true) }
}

/// A new C-ordered, writeable, uninitialised array allocated by numpy (which asks the kernel for
/// huge pages on large buffers), with a slice over its bytes for the engine to fill.
///
/// # Safety
/// The slice aliases the array's memory: the caller must fill it before handing the array to
/// Python code, and must not use it after the array is dropped.
pub unsafe fn empty<'py>(
    py: Python<'py>,
    dtype: DataType,
    shape: &[usize],
) -> PyResult<(Bound<'py, PyAny>, &'py mut [u8])> {
    let descr = numpy_dtype(py, dtype)?;
    let itemsize = descr.itemsize();
    // SAFETY: a null data pointer makes numpy allocate the buffer itself.
    let array = unsafe { new_array(py, descr, shape, std::ptr::null_mut(), 0)? };
    let len = shape.iter().product::<usize>() * itemsize;
    // SAFETY: a fresh C-contiguous array owns `len` bytes at its data pointer, alive as long as
    // the array (the caller's obligation).
    let bytes = unsafe {
        let data = (*(array.as_ptr() as *mut npyffi::PyArrayObject)).fields.data as *mut u8;
        if len == 0 {
            &mut [][..]
        } else {
            std::slice::from_raw_parts_mut(data, len)
        }
    };
    Ok((array, bytes))
}

/// An object array of `bytes`, shaped, as TensorFlow returns string tensors.
pub fn elements<'py>(py: Python<'py>, shape: &[usize], elements: Vec<Vec<u8>>) -> PyResult<Bound<'py, PyAny>> {
    let items = PyList::new(py, elements.iter().map(|e| PyBytes::new(py, e)))?;
    let numpy = py.import("numpy")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", numpy.getattr("object_")?)?;
    let flat = numpy.call_method("empty", (elements.len(),), Some(&kwargs))?;
    if !elements.is_empty() {
        flat.set_item(pyo3::types::PySlice::full(py), items)?;
    }
    flat.call_method1("reshape", (shape.to_vec(),))
}

/// Keeps engine bytes (a slice of a message's buffer or of a mapped file) alive while numpy
/// arrays view them.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct SharedBytes {
    #[allow(dead_code)] // held only to keep the bytes alive
    bytes: Bytes,
}

/// A read-only view of shared engine bytes. The bytes need not be aligned for the dtype: numpy
/// marks such an array unaligned and reads it correctly.
pub fn shared<'py>(py: Python<'py>, dtype: DataType, shape: &[usize], bytes: Bytes) -> PyResult<Bound<'py, PyAny>> {
    let descr = numpy_dtype(py, dtype)?;
    debug_assert_eq!(bytes.len(), shape.iter().product::<usize>() * descr.itemsize());
    let data = bytes.as_ptr();
    let base = Bound::new(py, SharedBytes { bytes })?.into_any();
    // SAFETY: `base` holds the bytes, which never change, for as long as the array lives; their
    // length is prod(shape) * itemsize (checked by the engine); the array is read-only.
    unsafe { array_over(py, descr, shape, data, base, false) }
}

/// An object array of `len` `bytes` elements, shaped: `values` first, then the last value
/// repeated (the same object), or `b""` throughout when there are no values.
pub fn strings<'py>(py: Python<'py>, shape: &[usize], values: &[Bytes], len: usize) -> PyResult<Bound<'py, PyAny>> {
    let numpy = py.import("numpy")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", numpy.getattr("object_")?)?;
    let flat = numpy.call_method("empty", (len,), Some(&kwargs))?;
    let n = values.len().min(len);
    if n > 0 {
        let items = PyList::new(py, values[..n].iter().map(|v| PyBytes::new(py, v)))?;
        flat.set_item(PySlice::new(py, 0, n as isize, 1), items)?;
    }
    if n < len {
        let fill = PyBytes::new(py, values.get(n.wrapping_sub(1)).map_or(&[][..], |b| &b[..]));
        flat.set_item(PySlice::new(py, n as isize, len as isize, 1), fill)?;
    }
    flat.call_method1("reshape", (shape.to_vec(),))
}
