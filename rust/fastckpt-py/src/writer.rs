//! `_fastckpt.Writer`: a streaming bundle writer. Arrays arrive as plain numpy arrays, taken as
//! they are, or as contiguous byte buffers the Python layer made; their bytes are written and
//! checksummed with the GIL released.

use std::path::PathBuf;

use fastckpt::bundle::writer::{NewTensor, Payload};
use fastckpt::proto::{Extent, TensorSlice};
use fastckpt::{BundleWriter, DataType};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::arrays;
use crate::errors::IntoPy;

#[pyclass(module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Writer {
    inner: Option<BundleWriter>,
}

/// Bounds of one `add_many` batch (what is handed to the engine per release of the GIL): bytes
/// of converted payloads held (copies of non-contiguous inputs, encoded strings) and tensors.
///
/// Each batch is one run of the engine's write pipeline (a writer thread started, filled and
/// drained), and between two batches nothing is written while the next one is collected here
/// under the GIL. So the count is high enough that a model's plain arrays, which are held by
/// reference and not copied, go in one batch; collecting that many holds the GIL for a few
/// milliseconds. (With 1,024, a steady save of W2's 8,192 tensors restarted the pipeline eight
/// times and took a third longer per tensor on the loaded 2-core VM.)
const BATCH_BYTES: usize = 32 << 20;
const BATCH_COUNT: usize = 16_384;

/// The bytes of one tensor as handed over by Python.
enum Data<'py> {
    /// A plain numpy array taken as it is (see [`arrays::Plain`]): `len` bytes at `ptr`. The
    /// reference keeps the array and its memory alive, and numpy refuses to resize an array that
    /// something else refers to (`resize(refcheck=False)` is the caller's promise that nothing does).
    Array { _array: Bound<'py, PyAny>, ptr: *const u8, len: usize },
    /// A C-contiguous buffer (the Python layer's conversion of anything else).
    Buffer(PyBuffer<u8>),
    /// The elements of a string or variant tensor.
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

    /// Bytes this payload holds.
    fn len(&self) -> usize {
        match self {
            Data::Array { len, .. } => *len,
            Data::Buffer(buffer) => buffer.len_bytes(),
            Data::Elements(list) => list.iter().map(|b| b.as_bytes().len()).sum(),
        }
    }
}

/// One tensor of an `add_many` batch, ready for the engine.
struct Staged<'py> {
    name: Vec<u8>,
    dtype: DataType,
    shape: Vec<i64>,
    data: Data<'py>,
}

impl<'py> Staged<'py> {
    /// A `(name, value)` pair the engine takes as it is: a plain name and an [`arrays::Plain`].
    fn plain(py: Python<'py>, pair: &Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        let Ok(pair) = pair.cast::<PyTuple>() else { return Ok(None) };
        if pair.len() != 2 {
            return Ok(None);
        }
        let Some(name) = arrays::plain_name(&pair.get_item(0)?) else { return Ok(None) };
        let value = pair.get_item(1)?;
        let Some(array) = arrays::Plain::of(py, &value)? else { return Ok(None) };
        let (dtype, ptr, len) = (array.dtype, array.data.cast_const(), array.len);
        let shape = array.dims.iter().map(|&d| d as i64).collect();
        Ok(Some(Staged { name, dtype, shape, data: Data::Array { ptr, len, _array: value } }))
    }

    /// What the Python layer's conversion returned: `(name, dtype enum, shape, payload)`.
    fn converted(prepared: &Bound<'py, PyAny>) -> PyResult<Self> {
        let (name, dtype, shape, payload): (Vec<u8>, u32, Vec<i64>, Bound<'py, PyAny>) = prepared.extract()?;
        Ok(Staged { name, dtype: DataType(dtype), shape, data: Data::extract(&payload)? })
    }
}

/// The bytes of one tensor, borrowed from `Data` so that they can cross into code that runs
/// without the GIL.
enum View<'a> {
    Fixed(&'a [u8]),
    Elements(Vec<&'a [u8]>),
}

impl Data<'_> {
    fn view(&self) -> View<'_> {
        match self {
            Data::Array { len: 0, .. } => View::Fixed(&[]),
            // SAFETY: the array, held by `_array`, has `len` bytes of C-contiguous data at `ptr`,
            // alive and in place until the `Data` is dropped, which outlives the view. Python
            // threads may change the bytes meanwhile: the engine only copies them into its own
            // staging buffer, and checksums and writes that copy.
            Data::Array { ptr, len, .. } => View::Fixed(unsafe { std::slice::from_raw_parts(*ptr, *len) }),
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
    /// Appends a batch, with the GIL released once for all of it.
    fn write(&mut self, py: Python<'_>, batch: &[Staged<'_>]) -> PyResult<()> {
        let views: Vec<View<'_>> = batch.iter().map(|staged| staged.data.view()).collect();
        let tensors: Vec<NewTensor<'_>> = batch
            .iter()
            .zip(&views)
            .map(|(staged, view)| NewTensor {
                key: &staged.name,
                dtype: staged.dtype,
                shape: &staged.shape,
                payload: view.payload(staged.dtype),
            })
            .collect();
        let writer = self.writer()?;
        py.detach(|| writer.add_many(&tensors)).py_err(py)
    }

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

    /// Appends the `(name, value)` pairs of the iterable `tensors` in order, handed to the engine
    /// in batches with the GIL released once per batch. A pair of a plain name and a plain numpy
    /// array (see [`arrays::Plain`]) is taken as it is; any other goes through `prepare`
    /// (`fastckpt.writer._prepare_pair`), which converts it or raises the error naming the tensor.
    fn add_many(&mut self, py: Python<'_>, tensors: &Bound<'_, PyAny>, prepare: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut batch = Vec::new();
        let mut held = 0;
        for pair in tensors.try_iter()? {
            let pair = pair?;
            let staged = match Staged::plain(py, &pair)? {
                Some(staged) => staged,
                None => {
                    let staged = Staged::converted(&prepare.call1((pair,))?)?;
                    held += staged.data.len();
                    staged
                }
            };
            batch.push(staged);
            if held >= BATCH_BYTES || batch.len() >= BATCH_COUNT {
                self.write(py, &batch)?;
                batch.clear();
                held = 0;
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.write(py, &batch)
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
