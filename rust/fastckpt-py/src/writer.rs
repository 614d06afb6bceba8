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

/// One tensor of `add_many`: name, dtype enum, shape, data.
type TensorArgs<'py> = (Vec<u8>, u32, Vec<i64>, Bound<'py, PyAny>);

/// The bytes of one tensor, borrowed from `Data` so that they can cross into code that runs
/// without the GIL.
enum View<'a> {
    Fixed(&'a [u8]),
    Elements(Vec<&'a [u8]>),
}

impl Data<'_> {
    fn view(&self) -> View<'_> {
        match self {
            Data::Buffer(buffer) => {
                // SAFETY: the buffer export keeps the memory alive and in place until the `Data`
                // is dropped, which outlives the view; it is C-contiguous with `len_bytes` bytes.
                // Python threads may change the bytes meanwhile: the engine only copies them into
                // its own staging buffer, and checksums and writes that copy.
                View::Fixed(unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes()) })
            }
            Data::Elements(list) => View::Elements(list.iter().map(|b| b.as_bytes()).collect()),
        }
    }
}

impl View<'_> {
    fn payload(&self, dtype: DataType) -> Payload<'_> {
        match self {
            View::Fixed(bytes) => Payload::Fixed(bytes),
            View::Elements(elements) if dtype == DataType::VARIANT => Payload::Variants(elements),
            View::Elements(elements) => Payload::Strings(elements),
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
    /// With `sync`, `finish` makes the checkpoint durable (files and folder fsynced); with
    /// `allow_partial_slices` it accepts partitioned tensors that are not whole (shards to merge).
    /// With `merged_prefix`, it writes part `shard` of `num_shards` of that checkpoint on object
    /// storage (data under the merged names, this part's index at `prefix`).
    #[new]
    #[pyo3(signature = (prefix, alignment, sync = false, allow_partial_slices = false, merged_prefix = None, shard = 0, num_shards = 1))]
    #[allow(clippy::too_many_arguments, reason = "the keyword arguments of BundleWriter")]
    fn new(
        py: Python<'_>,
        prefix: PathBuf,
        alignment: usize,
        sync: bool,
        allow_partial_slices: bool,
        merged_prefix: Option<PathBuf>,
        shard: i32,
        num_shards: i32,
    ) -> PyResult<Self> {
        let create = || {
            let writer = match &merged_prefix {
                Some(merged) => BundleWriter::create_part(&prefix, alignment, merged, shard, num_shards)?,
                None => BundleWriter::create(&prefix, alignment)?,
            };
            Ok(writer.with_sync(sync).with_partial_slices(allow_partial_slices))
        };
        let inner = py.detach(create).py_err(py)?;
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
        let view = data.view();
        let dtype = DataType(dtype);
        let writer = self.writer()?;
        py.detach(|| writer.add(name, dtype, &shape, view.payload(dtype))).py_err(py)
    }

    /// Appends many whole tensors `(name, dtype, shape, data)` in one call, with the GIL released
    /// once for all of them (what `fastckpt.save` uses for many small tensors).
    fn add_many(&mut self, py: Python<'_>, tensors: Vec<TensorArgs<'_>>) -> PyResult<()> {
        let datas = tensors.iter().map(|(_, _, _, data)| Data::extract(data)).collect::<PyResult<Vec<_>>>()?;
        let views: Vec<View<'_>> = datas.iter().map(Data::view).collect();
        let headers: Vec<(&[u8], DataType, &[i64])> = tensors
            .iter()
            .map(|(name, dtype, shape, _)| (name.as_slice(), DataType(*dtype), shape.as_slice()))
            .collect();
        let writer = self.writer()?;
        py.detach(|| {
            headers
                .iter()
                .zip(&views)
                .try_for_each(|(&(name, dtype, shape), view)| writer.add(name, dtype, shape, view.payload(dtype)))
        })
        .py_err(py)
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
        let view = data.view();
        let writer = self.writer()?;
        py.detach(|| writer.add_slice(name, &full_shape, &slice, dtype, view.payload(dtype))).py_err(py)
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
