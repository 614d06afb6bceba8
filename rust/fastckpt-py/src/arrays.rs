//! numpy arrays over bytes we hold: views into a mapped data file or into a message's bytes
//! (read-only, the mapping or buffer kept alive through `.base`), over a buffer the engine
//! allocated (writeable, freed with the array), or new arrays for the engine to fill: allocated
//! by numpy, or carved out of a shared block for small tensors (see [`Slabs`]). Every array's
//! byte length (shape × itemsize, checked) must equal the bytes behind it, else an error is
//! raised: no array ever reaches past its memory.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use memmap2::MmapMut;

use fastckpt::bundle::DataFile;
use fastckpt::DataType;
use numpy::npyffi::{self, npy_intp, PY_ARRAY_API};
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySlice, PyString, PyTuple};

use crate::dtypes::{self, numpy_dtype};

/// Keeps a data file mapped while numpy arrays view it.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct MappedFile {
    file: Arc<DataFile>,
}

/// The `MappedFile` a reader's views of one data file share as their `.base`, instead of a new
/// Python object per view. Holds the last file's (a checkpoint mostly has one data file, and a
/// reader that alternates between several only makes new objects, as it did before).
#[derive(Debug, Default)]
pub struct MappedBases {
    // Only locked with the GIL held, so never contended or waited on.
    last: Mutex<Option<Py<MappedFile>>>,
}

impl MappedBases {
    fn base<'py>(&self, py: Python<'py>, file: Arc<DataFile>) -> PyResult<Bound<'py, MappedFile>> {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(base) = last.as_ref().filter(|base| Arc::ptr_eq(&base.get().file, &file)) {
            return Ok(base.bind(py).clone());
        }
        let base = Bound::new(py, MappedFile { file })?;
        *last = Some(base.clone().unbind());
        Ok(base)
    }
}

/// Owns the bytes behind a writeable array over memory the engine allocated. The bytes are held
/// as a raw allocation, not as a `Vec`: numpy writes them through the array, and Rust never
/// forms a reference to them after handing them over (only frees them when the array goes).
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct OwnedBytes {
    data: NonNull<u8>,
    len: usize,
}

// SAFETY: `OwnedBytes` is a plain heap allocation that Rust code never reads or writes after
// construction; access goes through numpy, whose arrays Python's own rules govern. Freeing it
// from whichever thread drops the last reference is fine for the global allocator.
unsafe impl Send for OwnedBytes {}
// SAFETY: as above: no `&self` method touches the bytes.
unsafe impl Sync for OwnedBytes {}

impl OwnedBytes {
    fn new(bytes: Vec<u8>) -> Self {
        let boxed: Box<[u8]> = bytes.into_boxed_slice();
        let len = boxed.len();
        let data = NonNull::new(Box::into_raw(boxed).cast::<u8>()).unwrap_or(NonNull::dangling());
        OwnedBytes { data, len }
    }
}

impl Drop for OwnedBytes {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.data.as_ptr(), self.len);
        // SAFETY: `data`/`len` came from `Box::into_raw` of a `Box<[u8]>` in `new` and are freed
        // only here, once; the array that used them is gone (it held the last reference to us).
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// The byte length of an array of `shape` and `itemsize`, checked: `ValueError` when a dimension
/// or the product does not fit numpy's `npy_intp`. A checked shape is what numpy's constructors are
/// handed as their dimensions, as it is ([`npy_dims`]).
fn array_len(shape: &[usize], itemsize: usize) -> PyResult<usize> {
    let too_large = || PyValueError::new_err(format!("shape {shape:?} of {itemsize}-byte elements is too large"));
    if shape.iter().any(|&d| npy_intp::try_from(d).is_err()) {
        return Err(too_large());
    }
    let len = shape.iter().try_fold(itemsize, |acc, &d| acc.checked_mul(d)).ok_or_else(too_large)?;
    if isize::try_from(len).is_err() {
        return Err(too_large());
    }
    Ok(len)
}

/// A shape checked by [`array_len`] as numpy's rank and dimensions: the dims are handed over in
/// place, no copy or allocation per array (`usize` and `npy_intp` have one size and alignment,
/// and every dim fits both). numpy refuses too many dimensions itself (`ValueError`).
fn npy_dims(shape: &[usize]) -> PyResult<(c_int, *const npy_intp)> {
    let ndim = c_int::try_from(shape.len()).map_err(|_| PyValueError::new_err("too many dimensions"))?;
    Ok((ndim, shape.as_ptr().cast()))
}

/// Refuses to make an array of `len` bytes over `available` bytes.
fn check_len(dtype: DataType, shape: &[usize], len: usize, available: usize) -> PyResult<()> {
    if len == available {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "an array of {} and shape {shape:?} takes {len} bytes, the tensor has {available}",
        dtype.describe()
    )))
}

/// An ndarray of `descr` and `shape` (checked by [`array_len`]) over `data`, whose memory `base`
/// keeps alive.
///
/// # Safety
/// `data` must point to `len` readable bytes, `len` being `shape`'s product times the itemsize,
/// that live as long as `base`, and must be writeable (by numpy, with no Rust reference to them)
/// when `writeable` is set.
unsafe fn array_over<'py>(
    py: Python<'py>,
    descr: Bound<'py, PyArrayDescr>,
    shape: &[usize],
    data: *const u8,
    base: Bound<'py, PyAny>,
    writeable: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let flags = npyffi::NPY_ARRAY_C_CONTIGUOUS | if writeable { npyffi::NPY_ARRAY_WRITEABLE } else { 0 };
    let (ndim, dims) = npy_dims(shape)?;
    // SAFETY: NewFromDescr steals the descriptor reference (hence into_dtype_ptr); `dims` points
    // to `ndim` sizes, which numpy only reads (`npy_intp const *` in its C API) and copies into
    // the array; the data pointer is the caller's guarantee.
    let array = unsafe {
        PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            descr.into_dtype_ptr(),
            ndim,
            dims.cast_mut(),
            std::ptr::null_mut(),
            data as *mut c_void,
            flags,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: a null result means numpy set an exception (e.g. too many dimensions), fetched here.
    let array = unsafe { Bound::from_owned_ptr_or_err(py, array)? };
    // SAFETY: `array` is a fresh ndarray; SetBaseObject steals the reference to `base`.
    let status = unsafe { PY_ARRAY_API.PyArray_SetBaseObject(py, array.as_ptr().cast(), base.into_ptr()) };
    if status != 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(array)
}

/// A read-only view of `len` bytes at `offset` in a mapped file, whose `.base` comes from
/// `bases` when given.
pub fn mapped<'py>(
    py: Python<'py>,
    dtype: DataType,
    shape: &[usize],
    (file, offset, len): (Arc<DataFile>, usize, usize),
    bases: Option<&MappedBases>,
) -> PyResult<Bound<'py, PyAny>> {
    let descr = numpy_dtype(py, dtype)?;
    let needed = array_len(shape, descr.itemsize())?;
    check_len(dtype, shape, needed, len)?;
    let bytes = offset.checked_add(len).and_then(|end| file.bytes().get(offset..end));
    let Some(bytes) = bytes else {
        return Err(PyValueError::new_err(format!(
            "bytes {offset}..+{len} lie outside {} ({} bytes)",
            file.path().display(),
            file.bytes().len()
        )));
    };
    let data = bytes.as_ptr();
    let base = match bases {
        Some(bases) => bases.base(py, file)?.into_any(),
        None => Bound::new(py, MappedFile { file })?.into_any(),
    };
    // SAFETY: `data` starts `needed` in-bounds bytes of the mapping of `file` (checked just
    // above), which `base` holds and so keeps mapped as long as the array lives; the array is
    // read-only.
    unsafe { array_over(py, descr, shape, data, base, false) }
}

/// What `get_tensor` returns for `array`: TensorFlow's reader gives a scalar tensor as a numpy
/// scalar (a string one as `bytes`, so that e.g. a TF2 checkpoint's object graph parses as it is),
/// any other tensor as the array.
pub fn tf_value(array: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyAny>> {
    match array.cast::<PyUntypedArray>() {
        Ok(scalar) if scalar.ndim() == 0 => array.get_item(PyTuple::empty(array.py())),
        _ => Ok(array),
    }
}

/// A writeable array owning `bytes`.
pub fn owned<'py>(py: Python<'py>, dtype: DataType, shape: &[usize], bytes: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
    let descr = numpy_dtype(py, dtype)?;
    let len = array_len(shape, descr.itemsize())?;
    check_len(dtype, shape, len, bytes.len())?;
    let base = Bound::new(py, OwnedBytes::new(bytes))?;
    let data = base.get().data.as_ptr();
    // SAFETY: `base` owns exactly `len` bytes at `data` (checked above) and lives as long as the
    // array; no Rust reference to them exists, so numpy may write them.
    unsafe { array_over(py, descr, shape, data, base.into_any(), true) }
}

/// A new C-ordered, writeable array for the engine to fill before any Python code sees it:
/// carved out of a slab when small (holding whatever an earlier array of the slab left), else
/// allocated zero-filled by numpy (calloc: fresh pages cost nothing until touched; numpy asks
/// for huge pages on large buffers). Whoever makes one writes all its bytes before
/// [`EmptyArray::into_array`], or drops it.
#[derive(Debug)]
pub struct EmptyArray<'py> {
    array: Bound<'py, PyAny>,
    data: *mut u8,
    len: usize,
}

impl<'py> EmptyArray<'py> {
    /// Small tensors are carved out of `slabs` when given, others allocated by numpy.
    pub fn new(py: Python<'py>, dtype: DataType, shape: &[usize], slabs: Option<&Slabs>) -> PyResult<Self> {
        let descr = numpy_dtype(py, dtype)?;
        let len = array_len(shape, descr.itemsize())?;
        let carved = match slabs {
            Some(slabs) => slabs.carve(py, len)?,
            None => None,
        };
        let Some((slab, data)) = carved else { return Self::allocated(py, dtype, shape) };
        // SAFETY: `carve` gave `len` initialised bytes at `data`, handed out to no one else,
        // inside the mapping `slab` keeps alive; no Rust reference to them exists once
        // `bytes_mut`'s borrow ends, so numpy may write them.
        let array = unsafe { array_over(py, descr, shape, data, slab.into_any(), true)? };
        Ok(EmptyArray { array, data, len })
    }

    /// A tensor of its own, allocated by numpy.
    fn allocated(py: Python<'py>, dtype: DataType, shape: &[usize]) -> PyResult<Self> {
        let descr = numpy_dtype(py, dtype)?;
        let len = array_len(shape, descr.itemsize())?;
        let (ndim, dims) = npy_dims(shape)?;
        // SAFETY: PyArray_Zeros steals the descriptor reference and only reads the `ndim` sizes at
        // `dims` (`npy_intp const *` in numpy's C API).
        let array = unsafe { PY_ARRAY_API.PyArray_Zeros(py, ndim, dims.cast_mut(), descr.into_dtype_ptr(), 0) };
        // SAFETY: a null result means numpy set an exception (e.g. MemoryError), fetched here.
        let array = unsafe { Bound::from_owned_ptr_or_err(py, array)? };
        // SAFETY: `array` is an ndarray (PyArray_Zeros made it), so it has the ndarray layout.
        let data = unsafe { (*array.as_ptr().cast::<npyffi::PyArrayObject>()).fields.data.cast::<u8>() };
        Ok(EmptyArray { array, data, len })
    }

    /// The array's bytes. Borrowing `self` ties them to the array, which no Python code can
    /// reach before [`EmptyArray::into_array`] (this struct holds the only reference).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: a fresh C-contiguous array owns `len` initialised bytes at its data pointer
        // (zeroed, or left by an array of the slab that is gone), alive while `self.array` is;
        // `&mut self` makes this the only access to them.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.len) }
    }

    pub fn into_array(self) -> Bound<'py, PyAny> {
        self.array
    }
}

/// Tensors up to this size share slabs; larger ones get an allocation of their own.
pub const SLAB_MAX_TENSOR: usize = 256 << 10;
/// One slab: the size of a huge page (x86-64, and arm64 with 4 KiB pages). Anonymous mappings of
/// this size are aligned to one, so a slab can be backed by one.
const SLAB_LEN: usize = 2 << 20;
/// Where each array starts inside a slab (a cache line, like the writer's default alignment).
const SLAB_ALIGN: usize = 64;

/// A block of anonymous memory shared by the owned arrays of many small tensors, freed when the
/// last of them goes. Allocating 32 KiB arrays one by one from the C heap cost a page fault per
/// 4 KiB on every pass of a steady `get_tensor(copy=True)` loop (glibc gives the heap back to the
/// kernel when a pass's arrays are freed): most of its time. A slab's memory comes back from the
/// idle slabs ([`IDLE`]) without a fault, and a slab that is reused becomes a huge page
/// ([`SlabMemory`]). The price: a small array kept alone keeps its slab's touched pages (at most
/// [`SLAB_LEN`]) resident.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Slab {
    /// Address of the mapping's first byte. Rust never reads or writes the mapping while arrays
    /// use it; numpy arrays do, each over its own disjoint range.
    start: usize,
    /// `None` only once [`Drop`] has handed the memory to [`IDLE`].
    memory: Option<SlabMemory>,
    /// Bytes handed out from the start; grows while the slab is the one arrays are carved from
    /// ([`Slabs`], with the GIL held).
    used: AtomicUsize,
}

/// A slab's mapping, and whether it has been marked `MADV_HUGEPAGE`.
///
/// A new slab is faulted in 4 KiB pages. As one huge page its first touch would need a free
/// 2 MiB block, and a VM that hands free memory back to its host (free page reporting, as on
/// Firecracker) has handed back exactly those: zeroing the huge page then faults on the host
/// 512 times, where small pages mostly come from memory the host still backs. A restore into
/// new memory (cold W2, `get_tensor(copy=True)`) ran 2-4x slower with huge pages. A slab that
/// comes back mostly used ([`HUGE_MIN_USED`]) is one a loop reuses, and there a huge page pays:
/// in 4 KiB pages every pass costs a TLB miss and a dirty-bit update per page written, and
/// marking 512 pages `MADV_FREE` when the pass's arrays go. So such a slab is emptied
/// (`MADV_DONTNEED`) and marked `MADV_HUGEPAGE`, and its next user faults it in as one huge page.
#[derive(Debug)]
struct SlabMemory {
    map: MmapMut,
    hinted: bool,
}

/// Slabs none of whose arrays is alive any more, kept for the next ones (at most
/// [`IDLE_MAX`]): a loop restoring the same checkpoint pass after pass then writes into memory
/// that is already mapped, instead of faulting in and zeroing a fresh slab per 64 tensors (which
/// the kernel's `clear_page` made a seventh of a steady 32 KiB `get_tensor(copy=True)`). Idle
/// slabs are marked `MADV_FREE`: the kernel may take their pages back under memory pressure
/// (they come back zeroed) and otherwise leaves them in place. Only ever `try_lock`ed, so no
/// thread waits on it and a child forked while another thread held it just maps new slabs.
static IDLE: Mutex<Vec<SlabMemory>> = Mutex::new(Vec::new());
/// At most this many idle slabs (256 MiB) are kept; more are unmapped.
const IDLE_MAX: usize = 128;
/// A slab that comes back with at least this much handed out becomes a huge page: at most
/// twice the memory its arrays had touched.
const HUGE_MIN_USED: usize = SLAB_LEN / 2;

impl Slab {
    fn new(mut memory: SlabMemory) -> Self {
        Slab { start: memory.map.as_mut_ptr() as usize, memory: Some(memory), used: AtomicUsize::new(0) }
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        let Some(memory) = self.memory.take() else { return };
        let Ok(mut idle) = IDLE.try_lock() else { return };
        if idle.len() < IDLE_MAX {
            idle.push(memory.idle(*self.used.get_mut()));
        }
    }
}

impl SlabMemory {
    fn new() -> PyResult<Self> {
        let map = MmapMut::map_anon(SLAB_LEN).map_err(|e| PyMemoryError::new_err(e.to_string()))?;
        Ok(SlabMemory { map, hinted: false })
    }

    /// The memory of a slab none of whose arrays is alive, `used` bytes of it handed out, ready to
    /// wait in [`IDLE`]: a mostly used slab still in small pages is emptied and asks for a huge
    /// page (see [`SlabMemory`]), any other is marked `MADV_FREE`.
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut, unused_variables))]
    fn idle(mut self, used: usize) -> Self {
        #[cfg(target_os = "linux")]
        {
            use memmap2::{Advice, UncheckedAdvice};
            let to_huge =
                used >= HUGE_MIN_USED && !self.hinted && huge_pages_on() && self.map.advise(Advice::HugePage).is_ok();
            self.hinted |= to_huge;
            let advice = if to_huge { UncheckedAdvice::DontNeed } else { UncheckedAdvice::Free };
            // SAFETY: the last array over this slab is gone (each held a reference to it) and
            // Rust holds none into it, so nothing reads the pages until the next owner has
            // written every byte it hands out; either advice at most replaces their contents
            // with zeros.
            let _ = unsafe { self.map.unchecked_advise(advice) };
        }
        self
    }
}

/// Whether the kernel backs a mapping marked `MADV_HUGEPAGE` with huge pages of [`SLAB_LEN`]
/// (transparent huge pages `always` or `madvise`). Read from sysfs once, without a lock (a
/// child forked in the middle of it just reads again).
#[cfg(target_os = "linux")]
fn huge_pages_on() -> bool {
    // 0: not read yet, 1: on, 2: off.
    static ON: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
    match ON.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = huge_pages_configured(std::path::Path::new("/sys/kernel/mm/transparent_hugepage"));
            ON.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

/// [`huge_pages_on`] from the files of `dir`: the huge page is [`SLAB_LEN`], and the choice in
/// effect (the bracketed word of `always [madvise] never`) for that size is not `never`; a
/// kernel with huge pages of several sizes lets each size keep the global choice (`inherit`)
/// or set its own.
#[cfg(target_os = "linux")]
fn huge_pages_configured(dir: &std::path::Path) -> bool {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let chosen = |text: String| {
        text.split_whitespace().find_map(|word| Some(word.strip_prefix('[')?.strip_suffix(']')?.to_owned()))
    };
    let global = chosen(read("enabled"));
    let chosen_for_size = match chosen(read(&format!("hugepages-{}kB/enabled", SLAB_LEN >> 10))) {
        Some(own) if own != "inherit" => Some(own),
        _ => global,
    };
    read("hpage_pmd_size").trim().parse() == Ok(SLAB_LEN)
        && matches!(chosen_for_size.as_deref(), Some("always" | "madvise"))
}

/// The slab small owned arrays are currently carved from.
#[derive(Debug, Default)]
pub struct Slabs {
    // Only locked with the GIL held, so never contended or waited on.
    current: Mutex<Option<Py<Slab>>>,
}

impl Slabs {
    /// `len` bytes of a slab handed out to no one else (a new or idle slab when the current one
    /// is full), with the slab that owns them; `None` for tensors too large or empty. The bytes
    /// are initialised but hold whatever an earlier array left there: the caller overwrites
    /// every one of them before any Python code sees the array.
    fn carve<'py>(&self, py: Python<'py>, len: usize) -> PyResult<Option<(Bound<'py, Slab>, *mut u8)>> {
        if len == 0 || len > SLAB_MAX_TENSOR {
            return Ok(None);
        }
        let mut current = self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let fits = current.as_ref().is_some_and(|slab| slab.get().used.load(Ordering::Relaxed) + len <= SLAB_LEN);
        if !fits {
            let idle = IDLE.try_lock().ok().and_then(|mut idle| idle.pop());
            let memory = match idle {
                Some(memory) => memory,
                None => SlabMemory::new()?,
            };
            *current = Some(Py::new(py, Slab::new(memory))?);
        }
        let Some(slab) = current.as_ref() else { return Ok(None) };
        let slab = slab.bind(py).clone();
        let offset = slab.get().used.load(Ordering::Relaxed);
        slab.get().used.store((offset + len).next_multiple_of(SLAB_ALIGN).min(SLAB_LEN), Ordering::Relaxed);
        let data = (slab.get().start + offset) as *mut u8;
        Ok(Some((slab, data)))
    }
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
    let len = array_len(shape, descr.itemsize())?;
    check_len(dtype, shape, len, bytes.len())?;
    let data = bytes.as_ptr();
    let base = Bound::new(py, SharedBytes { bytes })?.into_any();
    // SAFETY: `base` holds the `len` bytes at `data` (checked above), which never change, for
    // as long as the array lives; the array is read-only.
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

/// A numpy array the engine can use as it is: an exact ndarray (a subclass may redefine what its
/// data is), C-contiguous, of one of the table's fixed-size dtypes (the very dtype object, see
/// [`dtypes::fixed_of_descr`], hence in the host's byte order). A training loop's arrays are all
/// like this; callers hand anything else to the Python layer's general conversion.
#[derive(Debug)]
pub struct Plain<'a> {
    pub dtype: DataType,
    pub dims: &'a [npy_intp],
    /// `len` bytes of data, alive as long as the array is.
    pub data: *mut u8,
    pub len: usize,
    pub writeable: bool,
}

impl<'a> Plain<'a> {
    /// `value` when it is such an array (`None` otherwise).
    pub fn of(py: Python<'_>, value: &'a Bound<'_, PyAny>) -> PyResult<Option<Self>> {
        // SAFETY: PyArray_CheckExact only compares the object's type with numpy's ndarray type.
        if unsafe { npyffi::PyArray_CheckExact(py, value.as_ptr()) } == 0 {
            return Ok(None);
        }
        // SAFETY: an exact ndarray has the PyArrayObject layout; its fields are only read, with
        // the GIL held, while `value` keeps the array alive.
        let array = unsafe { &(*value.as_ptr().cast::<npyffi::PyArrayObject>()).fields };
        if array.flags & npyffi::NPY_ARRAY_C_CONTIGUOUS == 0 {
            return Ok(None);
        }
        let Some(dtype) = dtypes::fixed_of_descr(py, array.descr)? else { return Ok(None) };
        let ndim = usize::try_from(array.nd).unwrap_or(0);
        let dims: &[npy_intp] = if ndim == 0 {
            &[]
        } else {
            // SAFETY: an ndarray's `dimensions` points to `nd` sizes, alive as long as the array.
            unsafe { std::slice::from_raw_parts(array.dimensions, ndim) }
        };
        let size = dtype.element_size().unwrap_or(0);
        let len = dims.iter().try_fold(size, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?));
        let Some(len) = len else { return Ok(None) };
        let writeable = array.flags & npyffi::NPY_ARRAY_WRITEABLE != 0;
        Ok(Some(Plain { dtype, dims, data: array.data.cast(), len, writeable }))
    }
}

/// A tensor name the engine can take without conversion: a `bytes`, or a `str` without lone
/// surrogates (its UTF-8); `None` for anything else.
pub fn plain_name(name: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(bytes) = name.cast::<PyBytes>() {
        return Some(bytes.as_bytes().to_vec());
    }
    name.cast::<PyString>().ok()?.to_str().ok().map(|s| s.as_bytes().to_vec())
}
