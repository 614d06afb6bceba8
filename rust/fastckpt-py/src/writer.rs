//! `_fastckpt.Writer`: a streaming bundle writer. Arrays arrive as contiguous byte buffers (the
//! Python layer makes them so); their bytes are written and checksummed with the GIL released.

use std::path::PathBuf;

use fastckpt::bundle::writer::Payload;
use fastckpt::proto::{Extent, TensorSlice};
use fastckpt::{BundleWriter, DataType};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::errors::IntoPy;

#[pyclass(module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Writer {
    inner: Option<BundleWriter>,
}

/// The bytes of one tensor as handed over by Python: a contiguous buffer or a list of `bytes`.
enum Data<'py> {
    Buffer(PyBuffer<u8>),
    Elements(Vec<Bound<'py, PyBytes>>),
}

impl<'py> Data<'py> {
    fn extract(data: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(list) = data.cast::<PyList>() {
            return Ok(Data::Elements(list.extract()?));
        }
        let buffer = PyBuffer::<u8>::get(data)?;
        if !buffer.is_c_contiguous() {
            return Err(PyTypeError::new_err("tensor data must be a C-contiguous buffer"));
        }
        Ok(Data::Buffer(buffer))
    }
}

/// Runs `f` on the payload view of `data`, with the GIL released.
fn with_payload<R: Send>(
    py: Python<'_>,
    dtype: DataType,
    data: &Data<'_>,
    f: impl FnOnce(Payload<'_>) -> R + Send,
) -> R {
    match data {
        Data::Buffer(buffer) => {
            // SAFETY: the buffer export keeps the memory alive and in place until `buffer` is
            // dropped, after this call; it is C-contiguous with `len_bytes` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes()) };
            py.detach(|| f(Payload::Fixed(bytes)))
        }
        Data::Elements(list) => {
            let elements: Vec<&[u8]> = list.iter().map(|b| b.as_bytes()).collect();
            let payload =
                if dtype == DataType::VARIANT { Payload::Variants(&elements) } else { Payload::Strings(&elements) };
            py.detach(|| f(payload))
        }
    }
}

impl Writer {
    fn writer(&mut self) -> PyResult<&mut BundleWriter> {
        self.inner.as_mut().ok_or_else(|| PyValueError::new_err("the writer is already finished or aborted"))
    }
}

#[pymethods]
impl Writer {
    #[new]
    fn new(py: Python<'_>, prefix: PathBuf, alignment: usize) -> PyResult<Self> {
        let inner = py.detach(|| BundleWriter::create(&prefix, alignment)).py_err(py)?;
        Ok(Writer { inner: Some(inner) })
    }

    /// Appends a whole tensor of TensorFlow dtype `dtype` (enum value).
    fn add(
        &mut self,
        py: Python<'_>,
        name: &[u8],
        dtype: u32,
        shape: Vec<i64>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let data = Data::extract(data)?;
        let dtype = DataType(dtype);
        let writer = self.writer()?;
        with_payload(py, dtype, &data, |payload| writer.add(name, dtype, &shape, payload)).py_err(py)
    }

    /// Appends one slice `[(start, length)]` (length -1 = whole dimension) of a partitioned tensor.
    fn add_slice(
        &mut self,
        py: Python<'_>,
        name: &[u8],
        dtype: u32,
        full_shape: Vec<i64>,
        extents: Vec<(i64, i64)>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let data = Data::extract(data)?;
        let dtype = DataType(dtype);
        let slice =
            TensorSlice { extents: extents.into_iter().map(|(start, length)| Extent { start, length }).collect() };
        let writer = self.writer()?;
        with_payload(py, dtype, &data, |payload| writer.add_slice(name, &full_shape, &slice, dtype, payload)).py_err(py)
    }

    /// Writes the index and moves both files into place.
    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        let writer =
            self.inner.take().ok_or_else(|| PyValueError::new_err("the writer is already finished or aborted"))?;
        py.detach(|| writer.finish()).py_err(py)
    }

    /// Discards everything written so far; files at the prefix are left untouched.
    fn abort(&mut self, py: Python<'_>) {
        if let Some(writer) = self.inner.take() {
            py.detach(|| drop(writer));
        }
    }
}
