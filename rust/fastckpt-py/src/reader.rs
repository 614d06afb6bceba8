//! `_fastckpt.Reader`: an open checkpoint. Names cross the boundary as `bytes` (tensor names are
//! byte strings in the format); the Python layer decodes them.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use fastckpt::bundle::{ReadPlan, TensorData};
use fastckpt::{pool, CheckpointReader, DataType, Tensor};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::marker::Ungil;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::arrays;
use crate::errors::{self, IntoPy};
use crate::forks;

/// Memory a tensor is read into: address and length.
type Span = (usize, usize);

#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Reader {
    inner: Arc<CheckpointReader>,
    /// Where the owned arrays of small tensors come from.
    slabs: arrays::Slabs,
    /// The `.base` its views share.
    bases: arrays::MappedBases,
}

/// The base class of `fastckpt.CheckpointReader`: holds its open reader (`_reader`: a
/// [`Reader`], a `Source` of another format, or `None` once closed) and has its `get_tensor`, so
/// that the common call (no `out`, an open [`Reader`]) reaches [`Reader::get`] without a Python
/// frame or attribute lookup, which cost a quarter of the instructions of a steady 32 KiB
/// `get_tensor(copy=True)`. Every other call goes to the subclass's `_get_tensor`, in Python.
#[pyclass(subclass, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct ReaderBase {
    #[pyo3(get, set, name = "_reader")]
    reader: Option<Py<PyAny>>,
}

#[pymethods]
impl ReaderBase {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        ReaderBase { reader: None }
    }

    /// The tensor ``name``; partitioned tensors are assembled, strings are object arrays of bytes,
    /// a scalar is what TensorFlow's reader gives: a numpy scalar, ``bytes`` for a string.
    ///
    /// ``copy``: an owned, writeable array rather than a read-only view of the mapping.
    /// ``out``: an existing writeable C-contiguous array of the tensor's dtype and shape to read
    /// into (verified, no intermediate copy), returned; TensorFlow has no equivalent. A loop
    /// restoring into the same arrays again and again allocates nothing.
    #[pyo3(signature = (name, *, copy = false, out = None))]
    fn get_tensor<'py>(
        slf: &Bound<'py, Self>,
        name: &Bound<'py, PyAny>,
        copy: bool,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if out.is_none() {
            let reader = slf.borrow().reader.as_ref().map(|reader| reader.clone_ref(py));
            if let Some(Ok(reader)) = reader.map(|reader| reader.into_bound(py).cast_into::<Reader>()) {
                return reader.get().get(py, name, copy);
            }
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "copy"), copy)?;
        kwargs.set_item(intern!(py, "out"), out)?;
        slf.call_method(intern!(py, "_get_tensor"), (name,), Some(&kwargs))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.reader)
    }

    fn __clear__(&mut self) {
        self.reader = None;
    }
}

/// A tensor name as the engine takes it: a `bytes` as it is, a `str` as its UTF-8 (lone surrogates
/// as the bytes `surrogateescape` decoded them from); the Python layer calls it through
/// [`tensor_key_bytes`]. Taking the `str` here spares a steady `get_tensor` loop a `bytes` object
/// per call.
pub(crate) fn tensor_key<'a>(name: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = name.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    let Ok(text) = name.cast::<PyString>() else {
        let kind = name.get_type().name()?;
        return Err(PyTypeError::new_err(format!("a tensor name must be str or bytes, not {kind}")));
    };
    match text.to_str() {
        Ok(utf8) => Ok(Cow::Borrowed(utf8.as_bytes())),
        Err(_) => Ok(Cow::Owned(text.call_method1("encode", ("utf-8", "surrogateescape"))?.extract()?)),
    }
}

/// [`tensor_key`] for the Python layer (`reader._encode`), so that the rule lives here only: a
/// `bytes` comes back as it is, a `str` as new `bytes`.
#[pyfunction]
pub fn tensor_key_bytes<'py>(py: Python<'py>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if name.cast::<PyBytes>().is_ok() {
        return Ok(name.clone());
    }
    Ok(PyBytes::new(py, &tensor_key(name)?).into_any())
}

/// `{name: (dtype enum, shape tuple)}` of `tensors`, in their order, built here in one pass: a
/// listing of 100k tensors made as a list of tuples and then a dict in Python took three times as
/// long. A name is a `str`; bytes that are not UTF-8 decode with `surrogateescape`, which
/// [`tensor_key`] undoes.
pub(crate) fn listing<'py, 'a>(
    py: Python<'py>,
    tensors: impl Iterator<Item = (&'a [u8], DataType, &'a [usize])>,
) -> PyResult<Bound<'py, PyDict>> {
    let listing = PyDict::new(py);
    for (name, dtype, dims) in tensors {
        let name = match std::str::from_utf8(name) {
            Ok(text) => PyString::new(py, text).into_any(),
            Err(_) => PyBytes::new(py, name).call_method1(intern!(py, "decode"), ("utf-8", "surrogateescape"))?,
        };
        listing.set_item(name, (dtype.0, PyTuple::new(py, dims)?))?;
    }
    Ok(listing)
}

/// Runs `f` with the GIL released, in a fork section ([`forks::enter`]). [`Reader::get`] enters
/// one only to let the GIL go: with the GIL held no fork can be under way, and a steady read that
/// keeps it spares the section's thread-local and atomic updates.
fn detached<T: Ungil>(py: Python<'_>, f: impl Ungil + FnOnce() -> T) -> T {
    let _section = forks::enter(py);
    py.detach(f)
}

/// The numpy array of `tensor`; views take their `.base` from `bases` when given.
pub(crate) fn to_array<'py>(
    py: Python<'py>,
    tensor: Tensor,
    bases: Option<&arrays::MappedBases>,
) -> PyResult<Bound<'py, PyAny>> {
    match tensor.data {
        TensorData::Mapped { file, offset, len } => {
            arrays::mapped(py, tensor.dtype, &tensor.shape, (file, offset, len), bases)
        }
        TensorData::Owned(bytes) => arrays::owned(py, tensor.dtype, &tensor.shape, bytes),
        TensorData::Elements(elements) => arrays::elements(py, &tensor.shape, elements),
    }
}

#[pymethods]
impl Reader {
    #[new]
    fn new(py: Python<'_>, prefix: PathBuf, verify: bool) -> PyResult<Self> {
        let inner = py.detach(|| CheckpointReader::open(&prefix, verify)).py_err(py)?;
        Ok(Reader { inner: Arc::new(inner), slabs: arrays::Slabs::default(), bases: arrays::MappedBases::default() })
    }

    #[getter]
    fn prefix(&self) -> PathBuf {
        self.inner.prefix().to_path_buf()
    }

    /// `{name: (dtype enum, shape tuple)}` of every listed tensor, sorted by name ([`listing`]).
    fn listing<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        listing(py, self.inner.listing())
    }

    fn has(&self, name: &[u8]) -> bool {
        self.inner.contains(name)
    }

    /// One tensor (`get_tensor`): a read-only view into the mapping when possible, else (or with
    /// `copy`) an owned array; a scalar as TensorFlow's reader gives it ([`arrays::tf_value`]).
    /// Owned small tensors are carved from slabs: a loop of such calls would otherwise fault its
    /// memory in page by page on every pass.
    fn get<'py>(&self, py: Python<'py>, name: &Bound<'py, PyAny>, copy: bool) -> PyResult<Bound<'py, PyAny>> {
        let name = &*tensor_key(name)?;
        let inner = &*self.inner;
        if copy {
            // Once the data files are open a plan is a lookup in memory: made with the GIL held,
            // a steady owned read releases the GIL once instead of twice.
            let plan = if inner.plans_in_memory() { inner.plan(name) } else { detached(py, || inner.plan(name)) };
            if let Some(plan) = plan.py_err(py)? {
                let mut array = arrays::EmptyArray::new(py, plan.dtype(), plan.shape(), Some(&self.slabs))
                    .map_err(|e| self.unrepresentable(py, name, e))?;
                let bytes = array.bytes_mut();
                // A small tensor in the page cache is read with the GIL held (no disk wait; one
                // GIL release and reacquire fewer); any other read lets the GIL go.
                if !inner.read_planned_cached(name, &plan, bytes).py_err(py)? {
                    detached(py, || inner.read_planned(name, &plan, bytes)).py_err(py)?;
                }
                return arrays::tf_value(array.into_array());
            }
        }
        // A view already verified, of a file already open, is made without releasing the GIL.
        let in_memory = if copy { None } else { inner.view_in_memory(name) };
        let tensor = match in_memory {
            Some(view) => view,
            None => detached(py, || if copy { inner.tensor_owned(name) } else { inner.tensor(name) }).py_err(py)?,
        };
        arrays::tf_value(to_array(py, tensor, Some(&self.bases)).map_err(|e| self.unrepresentable(py, name, e))?)
    }

    /// Many tensors, read in parallel with the GIL released; the first error is raised. Owned
    /// fixed-size tensors are read straight into numpy-allocated arrays.
    fn get_many<'py>(&self, py: Python<'py>, names: Vec<Vec<u8>>, copy: bool) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.read(py, names, copy)
    }

    /// Reads tensors `names[i]` straight into the caller's writable buffers `into[i]` (numpy
    /// arrays viewed as bytes), in parallel with the GIL released: no intermediate copy.
    fn read_into(&self, py: Python<'_>, names: Vec<Vec<u8>>, into: Vec<PyBuffer<u8>>) -> PyResult<()> {
        if names.len() != into.len() {
            return Err(PyValueError::new_err("one buffer per tensor name is needed"));
        }
        let targets = into.iter().map(writable).collect::<PyResult<Vec<_>>>()?;
        let result = self.fill(py, &names, targets);
        drop(into);
        result
    }

    /// Reads into the numpy arrays of the mapping `arrays` (`{name: array}`) the tensors their
    /// keys name, as `read_into`. A usual pair (a `str`/`bytes` name of a listed tensor, and a
    /// writeable array of exactly its dtype and shape, see [`arrays::Plain`]) is checked here;
    /// any other goes to `target` (`CheckpointReader._target`), which returns the name's bytes and
    /// a byte view of the array, or raises the error naming the tensor.
    fn read_arrays(&self, py: Python<'_>, arrays: &Bound<'_, PyAny>, target: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut names = Vec::new();
        let mut targets = Vec::new();
        // Keep every array (or its export) alive and in place until the reads are done.
        let mut held: Vec<Bound<'_, PyAny>> = Vec::new();
        let mut exports: Vec<PyBuffer<u8>> = Vec::new();
        for item in arrays.call_method0("items")?.try_iter()? {
            let (name, array): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            if let Some((key, span)) = self.plain_target(py, &name, &array)? {
                names.push(key);
                targets.push(span);
                held.push(array);
                continue;
            }
            let (key, buffer): (Vec<u8>, PyBuffer<u8>) = target.call1((name, array))?.extract()?;
            names.push(key);
            targets.push(writable(&buffer)?);
            exports.push(buffer);
        }
        let result = self.fill(py, &names, targets);
        drop((held, exports));
        result
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
        let _section = forks::enter(py);
        let result = py.detach(|| {
            // SAFETY: the export `into` keeps the buffer alive and in place (numpy refuses to
            // resize an exported array; `resize(refcheck=False)` is numpy's own unchecked escape,
            // the caller's promise that nothing refers to it) until it drops after this call; it is writable,
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
    /// [`Reader::get_many`]. Owned small arrays are carved from slabs, as in [`Reader::get`]:
    /// numpy's own allocations of a steady W2 loop faulted their pages in and zeroed them on
    /// every pass (glibc gives the freed heap back), where slabs come back from the idle ones.
    fn read<'py>(&self, py: Python<'py>, names: Vec<Vec<u8>>, copy: bool) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let _section = forks::enter(py);
        let inner = &*self.inner;
        // Owned fixed-size tensors: new arrays, filled by the engine below (each read resolved
        // once, before the allocation it sizes).
        let mut fresh: Vec<(usize, ReadPlan<'_>, arrays::EmptyArray<'py>)> = Vec::new();
        if copy {
            let plans = py.detach(|| names.iter().map(|name| inner.plan(name)).collect::<fastckpt::Result<Vec<_>>>());
            for (i, (name, plan)) in names.iter().zip(plans.py_err(py)?).enumerate() {
                if let Some(plan) = plan {
                    let array = arrays::EmptyArray::new(py, plan.dtype(), plan.shape(), Some(&self.slabs))
                        .map_err(|e| self.unrepresentable(py, name, e))?;
                    fresh.push((i, plan, array));
                }
            }
        }
        let mut is_fresh = vec![false; names.len()];
        fresh.iter().for_each(|(i, _, _)| is_fresh[*i] = true);
        let rest: Vec<Vec<u8>> =
            names.iter().zip(&is_fresh).filter(|(_, fresh)| !**fresh).map(|(n, _)| n.clone()).collect();
        let mut batch: Vec<(&[u8], &ReadPlan<'_>, &mut [u8])> =
            fresh.iter_mut().map(|(i, plan, array)| (names[*i].as_slice(), &*plan, array.bytes_mut())).collect();
        let (filled, tensors) =
            py.detach(|| pool::join(|| inner.read_planned_many(&mut batch), || inner.tensors(&rest, copy)));
        drop(batch);
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
                    to_array(py, tensor, Some(&self.bases)).map_err(|e| self.unrepresentable(py, name, e))
                }
            })
            .collect()
    }

    /// Where a usual `read_arrays` pair reads to (see [`Reader::read_arrays`]): the name's bytes
    /// and the array's data span; `None` when the general check must look at the pair.
    fn plain_target(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        array: &Bound<'_, PyAny>,
    ) -> PyResult<Option<(Vec<u8>, Span)>> {
        let Some(key) = arrays::plain_name(name) else { return Ok(None) };
        let Some(plain) = arrays::Plain::of(py, array)? else { return Ok(None) };
        if !plain.writeable || !self.inner.contains(&key) {
            return Ok(None);
        }
        let Ok((dtype, shape)) = self.inner.dtype_and_shape(&key) else { return Ok(None) };
        let same_shape =
            shape.len() == plain.dims.len() && shape.iter().zip(plain.dims).all(|(&s, &d)| usize::try_from(d) == Ok(s));
        if dtype != plain.dtype || !same_shape {
            return Ok(None);
        }
        Ok(Some((key, (plain.data as usize, plain.len))))
    }

    /// Reads tensors `names[i]` into the memory spans `targets[i]` (address, length), together
    /// ([`CheckpointReader::read_into_many`]) with the GIL released. The caller keeps every span
    /// alive, in place and writable for the call, with no Rust reference to it; no two may
    /// overlap (checked here).
    fn fill(&self, py: Python<'_>, names: &[Vec<u8>], targets: Vec<Span>) -> PyResult<()> {
        let mut ranges: Vec<(usize, usize)> = targets.iter().map(|&(ptr, len)| (ptr, ptr + len)).collect();
        ranges.sort_unstable();
        if ranges.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(PyValueError::new_err("read_into needs buffers that do not overlap each other"));
        }
        let inner = &*self.inner;
        let _section = forks::enter(py);
        py.detach(|| {
            let mut reads: Vec<(&[u8], &mut [u8])> = names
                .iter()
                .zip(targets)
                .map(|(name, (ptr, len))| {
                    // SAFETY: each span is a writable, C-contiguous buffer of `len` bytes that the
                    // caller's references (arrays or buffer exports) keep alive and in place (numpy
                    // refuses to resize an array something else refers to) until after this call,
                    // and no two of them overlap (checked above). Python code running meanwhile may
                    // touch the same bytes, as with any numpy operation that releases the GIL;
                    // whatever it does, the buffer is plain bytes, so no invalid value can arise.
                    (name.as_slice(), unsafe { std::slice::from_raw_parts_mut(ptr as *mut u8, len) })
                })
                .collect();
            inner.read_into_many(&mut reads)
        })
        .py_err(py)
    }

    fn unrepresentable(&self, py: Python<'_>, name: &[u8], error: PyErr) -> PyErr {
        unrepresentable(py, self.inner.index_path(), name, error)
    }
}

/// numpy refuses shapes TensorFlow allows (more than 64 dimensions, sizes beyond `isize`): say
/// which tensor of which file, as a `CheckpointError`.
pub fn unrepresentable(py: Python<'_>, path: &std::path::Path, name: &[u8], error: PyErr) -> PyErr {
    if !error.is_instance_of::<PyValueError>(py) {
        return error;
    }
    let message = format!(
        "tensor '{}' in {} cannot be a numpy array: {}",
        String::from_utf8_lossy(name),
        path.display(),
        error.value(py)
    );
    errors::CheckpointError::new_err(message)
}

/// The address and length of a caller's buffer the engine may write into.
fn writable(buffer: &PyBuffer<u8>) -> PyResult<Span> {
    if buffer.readonly() || !buffer.is_c_contiguous() {
        return Err(PyValueError::new_err("the engine reads into writable C-contiguous buffers only"));
    }
    Ok((buffer.buf_ptr() as usize, buffer.len_bytes()))
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

/// The kernel's share of a verified owned read (`benchmarks/steady_read.py`'s `[info]` row): for
/// every `chunk` bytes of `dst`, a `pread` of the same bytes of the file at `path` into them and
/// their crc32c, with the GIL released and no Python in between, as [`Reader::get`] reads a
/// tensor in the page cache. Returns the crc32c of the last chunk.
#[pyfunction]
pub fn crc32c_pread(py: Python<'_>, path: PathBuf, dst: PyBuffer<u8>, chunk: usize) -> PyResult<u32> {
    use std::os::unix::fs::FileExt;
    let (to, len) = writable(&dst)?;
    let file = std::fs::File::open(&path)?;
    let chunk = chunk.max(1);
    let result = py.detach(|| {
        // SAFETY: the export `dst` keeps the buffer alive and in place until it drops after this
        // call; it is writable and `len` bytes long. Python code touching it meanwhile can only
        // change plain bytes.
        let dst = unsafe { std::slice::from_raw_parts_mut(to as *mut u8, len) };
        dst.chunks_mut(chunk).enumerate().try_fold(0, |_, (i, piece)| {
            file.read_exact_at(piece, (i * chunk) as u64)?;
            Ok::<u32, std::io::Error>(fastckpt::crc::value(piece))
        })
    });
    drop(dst);
    Ok(result?)
}
