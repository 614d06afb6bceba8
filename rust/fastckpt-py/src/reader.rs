//! `_fastckpt.Reader`: an open checkpoint. Names cross the boundary as `bytes` (tensor names are
//! byte strings in the format); the Python layer decodes them.

use std::path::PathBuf;
use std::sync::Arc;

use fastckpt::bundle::{ReadPlan, TensorData};
use fastckpt::{pool, CheckpointReader, Tensor};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use rayon::prelude::*;

use crate::arrays;
use crate::errors::{self, IntoPy};

#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Reader {
    inner: Arc<CheckpointReader>,
    /// Where the owned arrays of small tensors come from.
    slabs: arrays::Slabs,
}

pub(crate) fn to_array<'py>(py: Python<'py>, tensor: Tensor) -> PyResult<Bound<'py, PyAny>> {
    match tensor.data {
        TensorData::Mapped { file, offset, len } => arrays::mapped(py, tensor.dtype, &tensor.shape, file, offset, len),
        TensorData::Owned(bytes) => arrays::owned(py, tensor.dtype, &tensor.shape, bytes),
        TensorData::Elements(elements) => arrays::elements(py, &tensor.shape, elements),
    }
}

#[pymethods]
impl Reader {
    #[new]
    fn new(py: Python<'_>, prefix: PathBuf, verify: bool) -> PyResult<Self> {
        let inner = py.detach(|| CheckpointReader::open(&prefix, verify)).py_err(py)?;
        Ok(Reader { inner: Arc::new(inner), slabs: arrays::Slabs::default() })
    }

    #[getter]
    fn prefix(&self) -> PathBuf {
        self.inner.prefix().to_path_buf()
    }

    /// `[(name, dtype enum, shape tuple)]` of every listed tensor, sorted by name.
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        self.inner
            .names()
            .map(|name| {
                let (dtype, shape) = self.inner.dtype_and_shape(name).py_err(py)?;
                (PyBytes::new(py, name), dtype.0, PyTuple::new(py, shape)?).into_pyobject(py)
            })
            .collect()
    }

    fn has(&self, name: &[u8]) -> bool {
        self.inner.contains(name)
    }

    /// One tensor: a read-only view into the mapping when possible, else (or with `copy`) an
    /// owned array.
    fn get<'py>(&self, py: Python<'py>, name: Vec<u8>, copy: bool) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.read(py, vec![name], copy, Some(&self.slabs))?.remove(0))
    }

    /// Many tensors, read in parallel with the GIL released; the first error is raised. Owned
    /// fixed-size tensors are read straight into numpy-allocated arrays.
    fn get_many<'py>(&self, py: Python<'py>, names: Vec<Vec<u8>>, copy: bool) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.read(py, names, copy, None)
    }

    /// Reads tensors `names[i]` straight into the caller's writable buffers `into[i]` (numpy
    /// arrays viewed as bytes), in parallel with the GIL released: no intermediate copy.
    fn read_into(&self, py: Python<'_>, names: Vec<Vec<u8>>, into: Vec<PyBuffer<u8>>) -> PyResult<()> {
        if names.len() != into.len() {
            return Err(PyValueError::new_err("one buffer per tensor name is needed"));
        }
        let mut targets = Vec::with_capacity(into.len());
        for buffer in &into {
            if buffer.readonly() || !buffer.is_c_contiguous() {
                return Err(PyValueError::new_err("read_into needs writable C-contiguous buffers"));
            }
            targets.push((buffer.buf_ptr() as usize, buffer.len_bytes()));
        }
        let mut ranges: Vec<(usize, usize)> = targets.iter().map(|&(ptr, len)| (ptr, ptr + len)).collect();
        ranges.sort_unstable();
        if ranges.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(PyValueError::new_err("read_into needs buffers that do not overlap each other"));
        }
        let inner = &*self.inner;
        let results: Vec<fastckpt::Result<()>> = py.detach(|| {
            fastckpt::pool::install(|| {
                names
                    .par_iter()
                    .zip(targets)
                    .map(|(name, (ptr, len))| {
                        // SAFETY: each export in `into` keeps its buffer alive and in place
                        // (numpy refuses to resize an exported array) until `into` drops after
                        // this call; no two of them overlap (checked above); each is writable,
                        // C-contiguous and `len` bytes long. Python code running meanwhile may
                        // touch the same bytes, as with any numpy operation that releases the
                        // GIL; whatever it does, the buffer is plain bytes, so no invalid value
                        // can arise.
                        let out = unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, len) };
                        inner.read_into(name, out)
                    })
                    .collect()
            })
        });
        drop(into);
        results.into_iter().try_for_each(|r| r.py_err(py))
    }

    /// Reads the box `region` (per dimension `(start, length)`) of tensor `name` into the
    /// caller's writable C-contiguous buffer `into`, with the GIL released: a process's own part
    /// of a variable, whatever slicing stored it.
    fn read_region(
        &self,
        py: Python<'_>,
        name: Vec<u8>,
        region: Vec<(usize, usize)>,
        into: PyBuffer<u8>,
    ) -> PyResult<()> {
        if into.readonly() || !into.is_c_contiguous() {
            return Err(PyValueError::new_err("read_region needs a writable C-contiguous buffer"));
        }
        let (ptr, len) = (into.buf_ptr() as usize, into.len_bytes());
        let inner = &*self.inner;
        let result = py.detach(|| {
            // SAFETY: the export `into` keeps the buffer alive and in place (numpy refuses to
            // resize an exported array) until it drops after this call; it is writable,
            // C-contiguous and `len` bytes long. Python code running meanwhile may touch the same
            // bytes; whatever it does, they are plain bytes, so no invalid value can arise.
            let out = unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, len) };
            inner.read_region(&name, &region, out)
        });
        drop(into);
        result.py_err(py)
    }
}

impl Reader {
    /// [`Reader::get_many`]; owned small tensors come from `slabs` when given. One call per tensor
    /// (`get`) takes them from slabs: a loop of such calls would otherwise fault its memory in
    /// page by page on every pass. A batch keeps numpy's own allocations, whose heap memory a
    /// steady loop reuses (slabs would be mapped and zeroed afresh each time).
    fn read<'py>(
        &self,
        py: Python<'py>,
        names: Vec<Vec<u8>>,
        copy: bool,
        slabs: Option<&arrays::Slabs>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let inner = &*self.inner;
        // Owned fixed-size tensors: new numpy arrays, filled by the engine below (each read
        // resolved once, before the allocation it sizes).
        let mut fresh: Vec<(usize, ReadPlan, arrays::EmptyArray<'py>)> = Vec::new();
        if copy {
            for (i, name) in names.iter().enumerate() {
                if let Some(plan) = py.detach(|| inner.plan(name)).py_err(py)? {
                    let array = arrays::EmptyArray::new(py, plan.dtype(), plan.shape(), slabs)
                        .map_err(|e| self.unrepresentable(py, name, e))?;
                    fresh.push((i, plan, array));
                }
            }
        }
        let mut is_fresh = vec![false; names.len()];
        fresh.iter().for_each(|(i, _, _)| is_fresh[*i] = true);
        let rest: Vec<Vec<u8>> =
            names.iter().zip(&is_fresh).filter(|(_, fresh)| !**fresh).map(|(n, _)| n.clone()).collect();
        let mut fills: Vec<(usize, &ReadPlan, &mut [u8])> =
            fresh.iter_mut().map(|(i, plan, array)| (*i, &*plan, array.bytes_mut())).collect();
        let mut batch: Vec<(&[u8], &ReadPlan, &mut [u8])> =
            fills.iter_mut().map(|(i, plan, buf)| (names[*i].as_slice(), *plan, &mut **buf)).collect();
        let (filled, tensors) = py.detach(|| {
            if names.len() == 1 {
                // One tensor: handing it to the thread pool would cost more than reading it.
                let tensor = |k: &Vec<u8>| if copy { inner.tensor_owned(k) } else { inner.tensor(k) };
                let filled = batch.iter_mut().try_for_each(|(key, plan, buf)| inner.read_planned(key, plan, buf));
                (filled, rest.iter().map(tensor).collect())
            } else {
                pool::join(|| inner.read_planned_many(&mut batch), || inner.tensors(&rest, copy))
            }
        });
        drop(batch);
        drop(fills);
        filled.py_err(py)?;
        let mut arrays: Vec<Option<Bound<'py, PyAny>>> = vec![None; names.len()];
        for (i, _, array) in fresh {
            arrays[i] = Some(array.into_array());
        }
        let mut tensors = tensors.into_iter();
        arrays
            .into_iter()
            .zip(&names)
            .map(|(slot, name)| match slot {
                Some(array) => Ok(array),
                None => {
                    let tensor = tensors.next().expect("one tensor per unfilled slot").py_err(py)?;
                    to_array(py, tensor).map_err(|e| self.unrepresentable(py, name, e))
                }
            })
            .collect()
    }

    /// numpy refuses shapes TensorFlow allows (more than 64 dimensions, sizes beyond `isize`): say
    /// which tensor of which checkpoint, as a `CheckpointError`.
    fn unrepresentable(&self, py: Python<'_>, name: &[u8], error: PyErr) -> PyErr {
        if !error.is_instance_of::<pyo3::exceptions::PyValueError>(py) {
            return error;
        }
        let message = format!(
            "tensor '{}' in {} cannot be a numpy array: {}",
            String::from_utf8_lossy(name),
            self.inner.index_path().display(),
            error.value(py)
        );
        errors::CheckpointError::new_err(message)
    }
}

/// The floor a verified owned read is measured against (`benchmarks/steady_read.py`): for every
/// `chunk` bytes of `src`, a copy into the same place of `dst` and the crc32c of the copy, with
/// the GIL released and no Python in between. Returns the crc32c of the last chunk.
#[pyfunction]
pub fn crc32c_copy(py: Python<'_>, src: PyBuffer<u8>, dst: PyBuffer<u8>, chunk: usize) -> PyResult<u32> {
    if dst.readonly() || !dst.is_c_contiguous() || !src.is_c_contiguous() || src.len_bytes() != dst.len_bytes() {
        return Err(PyValueError::new_err("crc32c_copy needs C-contiguous buffers of one size, dst writable"));
    }
    let (from, to, len) = (src.buf_ptr() as usize, dst.buf_ptr() as usize, src.len_bytes());
    if from < to + len && to < from + len {
        return Err(PyValueError::new_err("crc32c_copy needs buffers that do not overlap"));
    }
    Ok(py.detach(|| {
        // SAFETY: both exports stay alive and in place until they drop after this call; `src`
        // has `len` readable bytes, `dst` `len` writable ones, and they do not overlap (checked
        // above). Python code touching them meanwhile can only change plain bytes.
        let (src, dst) = unsafe {
            (std::slice::from_raw_parts(from as *const u8, len), std::slice::from_raw_parts_mut(to as *mut u8, len))
        };
        src.chunks(chunk.max(1)).zip(dst.chunks_mut(chunk.max(1))).fold(0, |_, (s, d)| {
            d.copy_from_slice(s);
            fastckpt::crc::value(d)
        })
    }))
}
