//! Reading a bundle: the index is parsed and every entry validated at open; data files are mapped
//! on first use and tensors are handed out as ranges of the mapping whenever their bytes can be
//! used as they are, so that a caller can view them without copying.
//!
//! A checkpoint in an object store ([`BundleReader::open_remote`]) is read the same way, except
//! that its data files are not mapped: every tensor is fetched by ranged GETs of exactly its bytes
//! into memory of its own (so tensors are always owned there), checked as local reads are.
//! A checkpoint saved over while a reader has it open must not hand out the new data under the
//! old index, so the reader pins versions by entity tag: a data object is opened (HEAD, its tag
//! kept), then the index is checked to still carry the tag it had when it was read — as writers
//! delete the index before they replace data ([`super::writer`]), the data object is then the
//! index's own — and every ranged GET asks for exactly that version (`If-Match`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use hashbrown::HashTable;
use memmap2::Mmap;
use rayon::prelude::*;

use super::entry::{push_checked_dims, BundleEntry};
use super::header::{BundleHeader, Endianness, BUNDLE_VERSION};
use super::strings::ElementsError;
use super::{naming, slices, strings, variant};
use crate::dtype::{DataType, Layout};
use crate::error::{display_key, Error, Result};
use crate::proto::TensorShape;
use crate::storage::{Location, Piece, Remote};
use crate::table::Table;
use crate::{crc, pool};

const HOST_ENDIANNESS: Endianness = if cfg!(target_endian = "big") { Endianness::Big } else { Endianness::Little };

/// Copies above this size are split into chunks that are copied and checksummed on all cores.
const COPY_CHUNK: usize = 4 << 20;

/// Tensors above this size, which are read or checksummed by several threads at once, first ask
/// the kernel to bring their whole range into the page cache (see [`DataFile::prefetch`]).
const PREFETCH_MIN: usize = COPY_CHUNK;

/// A single tensor read into new memory ([`BundleReader::pread_verified`]) above this size is
/// split over the pool's threads even below [`COPY_CHUNK`]: most of such a read is the kernel
/// faulting in and zeroing the destination's pages (about 2 µs a 4 KiB page on this VM), which
/// each thread then does for its share. Below it, handing the read to the pool costs about as
/// much as the second thread saves.
const SPLIT_MIN: usize = 512 << 10;

/// The pieces a split read is cut into are multiples of this: whole pages, so that neighbouring
/// threads share at most the one destination page their pieces meet in (numpy's buffers do not
/// start on a page boundary).
const SPLIT_ALIGN: usize = 64 << 10;

/// A large mapped tensor whose pages are not in the page cache is checksummed by reading its
/// bytes in order, this many at a time, into one small buffer (see [`BundleReader::verify_mapped`]).
const STREAM_CHUNK: usize = 1 << 20;

/// Pages looked at to judge whether a range is in the page cache ([`DataFile::cached`]).
const RESIDENCY_SAMPLES: usize = 16;

/// Whole tensors of at most [`COPY_CHUNK`] bytes that a batch reads from one local file are read
/// in runs: neighbours in file order, at most [`RUN_GAP`] apart, joined up to this many bytes and
/// read by one `preadv` straight into their buffers (see [`LocalFile::read_run`]).
const RUN_BYTES: usize = 2 << 20;

/// The largest gap between neighbours (alignment padding, a tensor not asked for) that a run
/// reads and drops rather than ending there.
const RUN_GAP: usize = 4 << 10;

/// Buffers one `preadv` takes at most (Linux's `IOV_MAX`); a run needs one per tensor and gap.
const RUN_IOVECS: usize = 1024;

/// Tensors up to this size may be read and checksummed by a caller that holds a lock other
/// threads wait for (Python's GIL), when their bytes are in the page cache: tens of µs at most
/// (see [`BundleReader::read_planned_cached`]).
const CACHED_READ_MAX: usize = 256 << 10;

/// One data file (`P.data-SSSSS-of-NNNNN`): mapped, or an object read by ranges.
#[derive(Debug)]
pub struct DataFile {
    path: PathBuf,
    source: Source,
}

#[derive(Debug)]
enum Source {
    Local {
        file: File,
        map: Option<Mmap>,
        /// Whether the file system may still answer reads that must not wait
        /// ([`DataFile::read_cached`]); cleared the first time it says it cannot.
        nowait: AtomicBool,
    },
    /// `tag`: the entity tag the object had when opened, which every read insists on.
    Remote { object: Remote, len: usize, tag: Option<String> },
}

impl DataFile {
    /// Opens and maps `path` (also the files of safetensors and npz sources).
    pub fn open(path: PathBuf) -> Result<Self> {
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the mapping is read-only. Our writers never truncate or rewrite a data file in
            // place (they write a new file and rename it over the old name), so the pages stay valid
            // for as long as the mapping lives.
            Some(unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?)
        };
        Ok(DataFile { path, source: Source::Local { file, map, nowait: AtomicBool::new(true) } })
    }

    /// An object of a store, not read until tensors are asked for (its size and version are).
    pub fn open_remote(object: Remote) -> Result<Self> {
        let (size, tag) = object.head()?;
        let path = object.display_path();
        let len = usize::try_from(size).map_err(|_| Error::corrupt(&path, format!("object of {size} bytes")))?;
        Ok(DataFile { path, source: Source::Remote { object, len, tag } })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mapped bytes (empty for an object of a store: see [`DataFile::read_at`]).
    pub fn bytes(&self) -> &[u8] {
        match &self.source {
            Source::Local { map, .. } => map.as_deref().unwrap_or(&[]),
            Source::Remote { .. } => &[],
        }
    }

    pub fn len(&self) -> usize {
        match &self.source {
            Source::Local { map, .. } => map.as_deref().map_or(0, <[u8]>::len),
            Source::Remote { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_remote(&self) -> bool {
        matches!(self.source, Source::Remote { .. })
    }

    /// Fills `out` with the bytes at `offset`: a `pread` of the file, or ranged GETs of the object.
    fn read_at(&self, out: &mut [u8], offset: usize) -> Result<()> {
        use std::os::unix::fs::FileExt;
        match &self.source {
            Source::Local { file, .. } => file.read_exact_at(out, offset as u64).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::corrupt(
                    &self.path,
                    "the data file ends before the tensor (truncated while open?)".to_string(),
                ),
                _ => Error::io(&self.path, e),
            }),
            Source::Remote { object, tag, .. } => object.read_into(offset as u64, out, tag.as_deref()),
        }
    }

    /// Fills `out` with the bytes at `offset` if the page cache holds every one of them, without
    /// ever waiting for a disk (`preadv2` with `RWF_NOWAIT`). `false` when it did not fill `out`
    /// whole: the bytes are not all cached, the file system cannot tell (tmpfs: then the file is
    /// not asked again), the file is an object of a store, or any error, which the ordinary read
    /// ([`DataFile::read_at`]) then reports.
    pub(crate) fn read_cached(&self, out: &mut [u8], offset: usize) -> bool {
        let Source::Local { file, nowait, .. } = &self.source else { return false };
        if out.is_empty() || !nowait.load(Ordering::Relaxed) {
            return false;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let Ok(at) = libc::off_t::try_from(offset) else { return false };
            let iovec = libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: out.len() };
            // SAFETY: the one buffer is `out`, borrowed mutably for this call, so the kernel writes
            // only memory this function may write; the descriptor is open as long as `self` is.
            let n = unsafe { libc::preadv2(file.as_raw_fd(), &raw const iovec, 1, at, libc::RWF_NOWAIT) };
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EOPNOTSUPP) {
                nowait.store(false, Ordering::Relaxed);
            }
            usize::try_from(n).is_ok_and(|n| n == out.len())
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (file, offset);
            false
        }
    }

    /// Fills each piece with the bytes at its offset: preads of the file, or ranged GETs of the
    /// object that join neighbouring pieces ([`Remote::read_scattered`]). On failure: the id of a
    /// piece that was not read, and the error.
    fn read_pieces(&self, pieces: Vec<Piece<'_>>) -> std::result::Result<(), (usize, Error)> {
        match &self.source {
            Source::Remote { object, tag, .. } => object.read_scattered(pieces, tag.as_deref()),
            Source::Local { file, .. } => {
                let local = LocalFile { data: self, file };
                runs(pieces).iter_mut().try_for_each(|run| local.read_run(run))
            }
        }
    }

    /// The open file of a data file on local disk (`None` for an object of a store).
    fn local(&self) -> Option<LocalFile<'_>> {
        match &self.source {
            Source::Local { file, .. } => Some(LocalFile { data: self, file }),
            Source::Remote { .. } => None,
        }
    }

    /// `len` bytes at `offset`: borrowed from the mapping, or fetched.
    fn range(&self, offset: usize, len: usize) -> Result<std::borrow::Cow<'_, [u8]>> {
        if self.is_remote() {
            let mut out = vec![0; len];
            self.read_at(&mut out, offset)?;
            return Ok(out.into());
        }
        Ok(self.bytes()[offset..offset + len].into())
    }

    /// Takes the pages of a range this process has finished with out of its resident set (they
    /// stay in the page cache): a conversion streaming through a large file then holds the pages
    /// of one tensor, not of the whole file. Only an optimisation; failures are ignored.
    pub fn release(&self, offset: usize, len: usize) {
        if let Source::Local { map: Some(map), .. } = &self.source {
            if offset.checked_add(len).is_some_and(|end| end <= map.len()) {
                // SAFETY: the mapping is read-only and backed by a file that is never written in
                // place, so MADV_DONTNEED only drops page-table entries: any later access (a numpy
                // view into the range, another read) faults the same file bytes back in.
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
            }
        }
    }

    /// Asks the kernel to read `len` bytes at `offset` into the page cache now, in large
    /// requests (`POSIX_FADV_WILLNEED`). Several threads reading chunks of one cold range (or
    /// faulting in its pages) look like random access to the kernel's per-file readahead, which
    /// then reads a little at a time. Cheap when the pages are already cached (a lookup); only an
    /// optimisation, so failures are ignored.
    pub fn prefetch(&self, offset: usize, len: usize) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let Source::Local { file, .. } = &self.source else { return };
            let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else { return };
            // SAFETY: posix_fadvise only reads its integer arguments; the descriptor is open
            // for as long as `self` is.
            let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
    }

    /// Whether the pages of a mapped range are in the page cache, judged by `mincore` on
    /// [`RESIDENCY_SAMPLES`] pages spread over it (nothing is read or faulted in). An object of a
    /// store, a failed call or a page not cached: `false`.
    pub(crate) fn cached(&self, offset: usize, len: usize) -> bool {
        let Source::Local { map: Some(map), .. } = &self.source else { return false };
        if len == 0 || offset.checked_add(len).is_none_or(|end| end > map.len()) {
            return false;
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: sysconf only reads its integer argument.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
            (0..RESIDENCY_SAMPLES).all(|i| {
                let at = offset + (len - 1) / (RESIDENCY_SAMPLES - 1) * i;
                let mut state = 0u8;
                // SAFETY: `at` lies inside the live mapping (checked above) and the mapping starts
                // on a page boundary, so the page-aligned address names one page of it; mincore
                // only looks the page up and writes one byte into `state`.
                let done =
                    unsafe { libc::mincore(map.as_ptr().add(at - at % page).cast_mut().cast(), 1, &raw mut state) };
                done == 0 && state & 1 == 1
            })
        }
        #[cfg(not(target_os = "linux"))]
        true
    }

    /// Touching mapped pages past the end of a file kills the process (SIGBUS), so before the
    /// engine reads a tensor's pages through the mapping (its crc32c, the first time it is handed
    /// out) the file is checked to still reach `end`: a file truncated in place after it was
    /// opened (by a writer that does not rename) gives an error instead. Pages handed out without
    /// being read are not checked: a view lives on after any check, so a later truncation can
    /// reach whoever touches it whatever was checked before, as with every mapped file (numpy's
    /// memmap, safetensors). Our own writers never truncate a file in place.
    pub(crate) fn check_still_holds(&self, key: &[u8], end: usize) -> Result<()> {
        let Source::Local { file, .. } = &self.source else { return Ok(()) };
        let len = file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        if (len as u128) < end as u128 {
            return Err(Error::corrupt(
                &self.path,
                format!("tensor '{}': the file was truncated to {len} bytes after it was opened", display_key(key)),
            ));
        }
        Ok(())
    }
}

/// A data file on local disk with its open descriptor: what runs of tensors are read from.
#[derive(Clone, Copy)]
struct LocalFile<'a> {
    data: &'a DataFile,
    file: &'a File,
}

impl LocalFile<'_> {
    /// Fills the pieces of one run (from [`runs`]: sorted, apart, at most [`RUN_GAP`] between
    /// neighbours) by `preadv`s from the first piece's offset to the last one's end, the gaps
    /// read into a scratch buffer: one call, more only when the kernel returns fewer bytes.
    ///
    /// ```text
    /// file   ..| piece a |gap| piece b | piece c |..
    /// iovecs     a.out    scr  b.out     c.out
    /// ```
    fn read_run(self, run: &mut [Piece<'_>]) -> std::result::Result<(), (usize, Error)> {
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;
        let Some(first) = run.first() else { return Ok(()) };
        let (start, first_id) = (first.offset, first.id);
        let path = self.data.path();
        let too_large = |id| (id, Error::corrupt(path, "offset too large"));
        let gaps = run
            .windows(2)
            .map(|w| usize::try_from(w[1].offset - w[0].end()).map_err(|_| too_large(w[1].id)))
            .collect::<std::result::Result<Vec<usize>, _>>()?;
        // Where each piece ends, for naming the one a failed read stopped in.
        let ends: Vec<(u64, usize)> = run.iter().map(|p| (p.end(), p.id)).collect();
        let piece_at = |at: u64| ends.iter().find(|&&(end, _)| end > at).map_or(first_id, |&(_, id)| id);
        let mut scratch = vec![0u8; gaps.iter().sum()];
        let mut rest = &mut scratch[..];
        let mut iovecs: Vec<IoSliceMut<'_>> = Vec::with_capacity(run.len() + gaps.len());
        for (i, piece) in run.iter_mut().enumerate() {
            if let Some(&gap) = i.checked_sub(1).and_then(|g| gaps.get(g)).filter(|&&g| g > 0) {
                let (dropped, tail) = std::mem::take(&mut rest).split_at_mut(gap);
                rest = tail;
                iovecs.push(IoSliceMut::new(dropped));
            }
            iovecs.push(IoSliceMut::new(&mut *piece.out));
        }
        let (mut left, mut at) = (&mut iovecs[..], start);
        while left.iter().any(|buf| !buf.is_empty()) {
            let offset = libc::off_t::try_from(at).map_err(|_| too_large(piece_at(at)))?;
            // Fewer buffers than asked for is still a correct read (1 only if 1024 did not fit).
            let count = libc::c_int::try_from(left.len().min(RUN_IOVECS)).unwrap_or(1);
            // SAFETY: `IoSliceMut` has the layout of `iovec` on Unix (std guarantees it) and
            // `count` is at most `left.len()`; each buffer is a distinct `&mut [u8]` borrowed for
            // this call, so the kernel writes only into memory this function may write. The
            // descriptor is open for as long as `self` is.
            let n = unsafe { libc::preadv(self.file.as_raw_fd(), left.as_ptr().cast(), count, offset) };
            match usize::try_from(n) {
                Ok(0) => {
                    let detail = "the data file ends before the tensor (truncated while open?)";
                    return Err((piece_at(at), Error::corrupt(path, detail)));
                }
                Ok(n) => {
                    at += n as u64;
                    IoSliceMut::advance_slices(&mut left, n);
                }
                Err(_) => {
                    let error = std::io::Error::last_os_error();
                    if error.kind() != std::io::ErrorKind::Interrupted {
                        return Err((piece_at(at), Error::io(path, error)));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The bytes of a tensor.
#[derive(Debug)]
pub enum TensorData {
    /// `len` bytes at `offset` of a mapped data file, usable in place.
    Mapped { file: Arc<DataFile>, offset: usize, len: usize },
    /// Bytes assembled, byte-swapped or copied into memory.
    Owned(Vec<u8>),
    /// DT_STRING elements, or the serialized protos of DT_VARIANT elements.
    Elements(Vec<Vec<u8>>),
}

impl TensorData {
    /// The raw bytes of a fixed-size tensor (`None` for elements).
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            TensorData::Mapped { file, offset, len } => Some(&file.bytes()[*offset..*offset + *len]),
            TensorData::Owned(v) => Some(v),
            TensorData::Elements(_) => None,
        }
    }
}

#[derive(Debug)]
pub struct Tensor {
    pub dtype: DataType,
    pub shape: Vec<usize>,
    pub data: TensorData,
}

/// The keys of an index in one buffer: key `i` is `bytes[ends[i - 1]..ends[i]]` (from 0 for the
/// first). One allocation for all of them instead of one per key, which was most of what opening
/// an index of many small tensors allocated.
#[derive(Debug, Default)]
struct Keys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Keys {
    fn push(&mut self, key: &[u8]) {
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len());
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.ends.len()).map(|i| self.get(i))
    }
}

/// An open checkpoint.
#[derive(Debug)]
pub struct BundleReader {
    prefix: PathBuf,
    index_path: PathBuf,
    header: BundleHeader,
    /// Every key but the header's, sorted, with its entry.
    keys: Keys,
    entries: Vec<BundleEntry>,
    /// Every entry's dims and element count, checked at open: reads borrow them.
    shapes: Shapes,
    /// Per entry: the position in `shards` of the data file its `shard_id` names.
    slots: Vec<usize>,
    /// Where each key is in `keys`: a read looks its name up here (a binary search over long
    /// shared prefixes was a twentieth of a steady 32 KiB `get_tensor(copy=True)`). The table
    /// holds entry indices, hashed by the keys they point at, so no key is copied for it.
    positions: HashTable<usize>,
    /// foldhash seeded per process: whoever wrote the file cannot know the seed, so crafted
    /// names cannot make the table slow, and a name costs a few dozen instructions where the std
    /// hasher (SipHash) took ~290, on every read and for every entry at open.
    hasher: foldhash::fast::RandomState,
    /// Keys of the per-slice entries of partitioned tensors, hidden from listings.
    slice_keys: HashSet<Vec<u8>>,
    verify: bool,
    verified: Vec<AtomicBool>,
    /// The data files, opened on first use: a slot per shard id some entry names, sorted by id.
    /// A read of a file already open takes no lock (the mutex and hash lookup it took were a
    /// tenth of the engine's instructions per steady `get_tensor`).
    shards: Vec<(i32, OnceLock<Arc<DataFile>>)>,
    /// Set once every slot of `shards` is filled: from then on no read waits to open a file.
    all_open: AtomicBool,
    /// Held while a data file is opened, so that threads asking for it at once open it once.
    opening: Mutex<()>,
    /// The prefix in an object store, for a remote checkpoint.
    remote: Option<RemoteBundle>,
}

/// Where a remote checkpoint lives, and the version of its index that was read.
#[derive(Debug)]
struct RemoteBundle {
    prefix: Remote,
    index_tag: Option<String>,
}

impl RemoteBundle {
    /// Opens data file `id`, then makes sure the index is still the one read at open: the data
    /// object's version seen now is then the index's own (see the module comment).
    fn open_data(&self, id: i32, num_shards: i32) -> Result<DataFile> {
        let file = DataFile::open_remote(self.prefix.with_suffix(&naming::data_suffix(id, num_shards)))?;
        let index = self.prefix.with_suffix(naming::INDEX_SUFFIX);
        let now = match index.head() {
            Ok((_, tag)) => Some(tag),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if self.index_tag.is_some() && now.as_ref() != Some(&self.index_tag) {
            return Err(Error::corrupt(
                &index.display_path(),
                "the checkpoint was saved over or deleted after it was opened; open it again",
            ));
        }
        Ok(file)
    }
}

impl BundleReader {
    /// Opens the checkpoint at `prefix` (the path without `.index`). With `verify`, every tensor's
    /// crc32c is checked the first time its bytes are handed out.
    /// A URL prefix opens the checkpoint in its object store ([`BundleReader::open_remote`]).
    pub fn open(prefix: impl AsRef<Path>, verify: bool) -> Result<Self> {
        if let Location::Remote(remote) = Location::of(prefix.as_ref())? {
            return Self::open_remote(remote, verify);
        }
        let prefix = prefix.as_ref().to_path_buf();
        let index_path = naming::index_path(&prefix);
        let index = std::fs::read(&index_path).map_err(|e| Error::io(&index_path, e))?;
        Self::from_index(prefix, index_path, &index, verify, None)
    }

    /// Opens the checkpoint at `prefix` in an object store: one GET of the `.index`; data is
    /// fetched by ranges when tensors are read.
    pub fn open_remote(prefix: Remote, verify: bool) -> Result<Self> {
        let (index, index_tag) = prefix.with_suffix(naming::INDEX_SUFFIX).get_tagged()?;
        let index_path = prefix.with_suffix(naming::INDEX_SUFFIX).display_path();
        let remote = RemoteBundle { prefix: prefix.clone(), index_tag };
        Self::from_index(prefix.display_path(), index_path, &index, verify, Some(remote))
    }

    fn from_index(
        prefix: PathBuf,
        index_path: PathBuf,
        index: &[u8],
        verify: bool,
        remote: Option<RemoteBundle>,
    ) -> Result<Self> {
        let table = Table::open(&index_path, index)?;
        let corrupt = |detail: String| Error::corrupt(&index_path, detail);

        let mut header = None;
        let mut keys = Keys::default();
        let mut entries = Vec::new();
        table.for_each(|key, value| {
            if key.is_empty() {
                let h = BundleHeader::decode(value).map_err(|e| corrupt(format!("unable to parse header: {}", e.0)))?;
                header = Some(h);
                return Ok(());
            }
            let entry = BundleEntry::decode(value)
                .map_err(|e| corrupt(format!("entry for tensor '{}' not parseable: {}", display_key(key), e.0)))?;
            keys.push(key);
            entries.push(entry);
            Ok(())
        })?;
        let header = header.ok_or_else(|| corrupt("no header entry (failed to seek to header entry)".into()))?;
        // A version this reader does not accept is no corruption: TensorFlow says InvalidArgument.
        header
            .version
            .check("Checkpoint", BUNDLE_VERSION, 0)
            .map_err(|detail| Error::Refused { path: index_path.clone(), detail })?;
        if header.num_shards < 1 {
            return Err(corrupt(format!("header declares {} data shards", header.num_shards)));
        }

        let mut slice_keys = HashSet::new();
        let mut shapes = Shapes::with_capacity(entries.len());
        for (key, entry) in keys.iter().zip(&entries) {
            validate_entry(entry, header.num_shards, &mut shapes)
                .map_err(|e| corrupt(format!("invalid entry for tensor '{}': {e}", display_key(key))))?;
            for slice in &entry.slices {
                slice_keys.insert(slices::slice_key(key, slice));
            }
        }
        let hasher = foldhash::fast::RandomState::default();
        let mut positions = HashTable::with_capacity(entries.len());
        for (i, key) in keys.iter().enumerate() {
            let hash = hasher.hash_one(key);
            if let hashbrown::hash_table::Entry::Vacant(slot) =
                positions.entry(hash, |&j| keys.get(j) == key, |&j| hasher.hash_one(keys.get(j)))
            {
                slot.insert(i);
            }
        }
        let verified = entries.iter().map(|_| AtomicBool::new(false)).collect();
        let mut shard_ids: Vec<i32> = entries.iter().map(|entry| entry.shard_id).collect();
        shard_ids.sort_unstable();
        shard_ids.dedup();
        // Every entry's id is in the list, so the search always finds it.
        let slots = entries.iter().map(|entry| shard_ids.binary_search(&entry.shard_id).unwrap_or(0)).collect();
        Ok(BundleReader {
            prefix,
            index_path,
            header,
            keys,
            entries,
            shapes,
            slots,
            positions,
            hasher,
            slice_keys,
            verify,
            verified,
            shards: shard_ids.into_iter().map(|id| (id, OnceLock::new())).collect(),
            all_open: AtomicBool::new(false),
            opening: Mutex::new(()),
            remote,
        })
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The `.index` file, named in errors about entries.
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    pub fn header(&self) -> &BundleHeader {
        &self.header
    }

    /// Tensor names as `tf.train.load_checkpoint` lists them: sorted, per-slice keys hidden.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.listing().map(|(name, _, _)| name)
    }

    /// Each listed tensor ([`BundleReader::names`]) with its dtype and checked dims, without a
    /// lookup or an allocation per tensor.
    pub fn listing(&self) -> impl Iterator<Item = (&[u8], DataType, &[usize])> {
        self.keys
            .iter()
            .zip(&self.entries)
            .enumerate()
            .filter(|(_, (key, _))| !self.slice_keys.contains(*key))
            .map(|(index, (key, entry))| (key, entry.dtype(), self.shapes.get(index).0))
    }

    /// Whether `name` is a listed tensor (per-slice keys are not).
    pub fn contains(&self, name: &[u8]) -> bool {
        self.position(name).is_some() && !self.slice_keys.contains(name)
    }

    /// Every key of the index but the header's, slice keys included.
    pub fn raw_entries(&self) -> impl Iterator<Item = (&[u8], &BundleEntry)> {
        self.keys.iter().zip(&self.entries)
    }

    fn position(&self, key: &[u8]) -> Option<usize> {
        self.positions.find(self.hasher.hash_one(key), |&i| self.keys.get(i) == key).copied()
    }

    pub fn entry(&self, key: &[u8]) -> Option<&BundleEntry> {
        self.position(key).map(|i| &self.entries[i])
    }

    fn not_found(&self, key: &[u8]) -> Error {
        Error::KeyNotFound { path: self.prefix.clone(), key: display_key(key) }
    }

    /// Dtype and validated dims of a tensor.
    pub fn dtype_and_shape(&self, key: &[u8]) -> Result<(DataType, Vec<usize>)> {
        let (_, dtype, dims, _) = self.lookup(key)?;
        Ok((dtype, dims.to_vec()))
    }

    /// The data file holding entry `index`'s bytes, opened on first use.
    fn data_file(&self, index: usize) -> Result<&Arc<DataFile>> {
        let (id, slot) = &self.shards[self.slots[index]];
        if let Some(file) = slot.get() {
            return Ok(file);
        }
        let _opening = self.opening.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = slot.get() {
            return Ok(file);
        }
        let file = match &self.remote {
            Some(remote) => remote.open_data(*id, self.header.num_shards)?,
            None => DataFile::open(naming::data_path(&self.prefix, *id, self.header.num_shards))?,
        };
        // Only a thread holding `opening` fills a slot, and this one was empty.
        let file = slot.get_or_init(|| Arc::new(file));
        if self.shards.iter().all(|(_, slot)| slot.get().is_some()) {
            self.all_open.store(true, Ordering::Release);
        }
        Ok(file)
    }

    /// Whether every data file is open, so that [`BundleReader::plan`] opens none, takes no lock
    /// and reads nothing: it is then a lookup in memory (the glue makes it without releasing the
    /// GIL).
    pub fn files_open(&self) -> bool {
        self.all_open.load(Ordering::Acquire)
    }

    /// The data file and range holding unpartitioned entry `index`'s bytes, bounds-checked.
    fn locate(&self, key: &[u8], index: usize) -> Result<(&Arc<DataFile>, usize, usize)> {
        let file = self.data_file(index)?;
        let entry = &self.entries[index];
        let span = usize::try_from(entry.offset).ok().zip(usize::try_from(entry.size).ok());
        let Some((offset, len)) = span.filter(|&(o, l)| o.checked_add(l).is_some_and(|end| end <= file.len())) else {
            return Err(Error::corrupt(
                file.path(),
                format!(
                    "tensor '{}' at offset {} with size {} runs past the end of the {}-byte data file",
                    display_key(key),
                    entry.offset,
                    entry.size,
                    file.len()
                ),
            ));
        };
        Ok((file, offset, len))
    }

    fn checksum_error(&self, file: &DataFile, key: &[u8], entry: &BundleEntry, computed: u32) -> Error {
        Error::Checksum {
            path: file.path().to_path_buf(),
            key: display_key(key),
            stored: crc::unmask(entry.crc32c),
            computed,
            offset: entry.offset as u64,
            size: entry.size as u64,
        }
    }

    /// Checks the crc32c of a mapped tensor once (when verification is on). A large tensor whose
    /// pages are not in the page cache is read in order through a small buffer rather than
    /// through the mapping: faults on a cold mapping wait for its pages a few at a time, while
    /// `pread`s in file order let the kernel's readahead stream the file as the crc runs. The view
    /// handed out afterwards maps the same pages, now cached (the file is never written in place).
    fn verify_mapped(&self, index: usize, key: &[u8], file: &DataFile, offset: usize, len: usize) -> Result<()> {
        if !self.needs_check(index) {
            return Ok(());
        }
        if len <= PREFETCH_MIN || file.cached(offset, len) {
            // The crc32c reads the pages: make sure they are still there first. A view of bytes
            // already verified (or not verified) is handed out unread, and the caller's touching
            // it is the hazard of any mapped file (see `DataFile::check_still_holds`), so it
            // costs no system call.
            file.check_still_holds(key, offset + len)?;
            return self.check_crc(index, file, key, crc::value_parallel(&file.bytes()[offset..offset + len]));
        }
        file.prefetch(offset, len);
        let mut buffer = vec![0u8; STREAM_CHUNK];
        let mut computed = 0;
        for start in (0..len).step_by(STREAM_CHUNK) {
            let chunk = &mut buffer[..STREAM_CHUNK.min(len - start)];
            file.read_at(chunk, offset + start).map_err(|e| in_tensor(e, key))?;
            computed = crc::extend(computed, chunk);
        }
        self.check_crc(index, file, key, computed)
    }

    /// A tensor, zero-copy where possible: `Mapped` for fixed-size types stored in the host's byte
    /// order, `Owned` for byte-swapped or assembled ones, `Elements` for strings and variants.
    pub fn tensor(&self, key: &[u8]) -> Result<Tensor> {
        let (index, dtype, shape, count) = self.lookup(key)?;
        let entry = &self.entries[index];
        let data = match dtype.layout() {
            Some(Layout::Fixed { swap, .. }) if self.is_mapped(entry, swap) => {
                let (file, offset, len) = self.locate(key, index)?;
                self.verify_mapped(index, key, file, offset, len)?;
                TensorData::Mapped { file: file.clone(), offset, len }
            }
            Some(Layout::Fixed { .. }) => TensorData::Owned(self.read_owned(key)?),
            _ if entry.slices.is_empty() => self.read_elements(index, key, count)?,
            _ => TensorData::Elements(self.assemble_elements(key, entry, shape, count)?),
        };
        Ok(Tensor { dtype, shape: shape.to_vec(), data })
    }

    /// The view [`BundleReader::tensor`] gives of `key` when making it reads nothing and takes no
    /// lock: a tensor handed out as `Mapped`, already verified (or not to be), in a data file
    /// already open. `None` otherwise and on any error, which `tensor` then reports.
    pub fn view_in_memory(&self, key: &[u8]) -> Option<Tensor> {
        let (index, dtype, shape, _) = self.lookup(key).ok()?;
        let entry = &self.entries[index];
        let Some(Layout::Fixed { swap, .. }) = dtype.layout() else { return None };
        if self.needs_check(index) || !self.is_mapped(entry, swap) || !self.files_open() {
            return None;
        }
        let (file, offset, len) = self.locate(key, index).ok()?;
        Some(Tensor { dtype, shape: shape.to_vec(), data: TensorData::Mapped { file: file.clone(), offset, len } })
    }

    /// Whether a fixed-size entry (elements of `swap` bytes) is handed out as a view of its data
    /// file: whole, in the host's byte order, in a local file.
    fn is_mapped(&self, entry: &BundleEntry, swap: usize) -> bool {
        entry.slices.is_empty() && !self.needs_swap(swap) && self.remote.is_none()
    }

    /// A tensor in memory of its own: fixed-size types are read (not mapped) into a new buffer.
    pub fn tensor_owned(&self, key: &[u8]) -> Result<Tensor> {
        let (_, dtype, shape, _) = self.lookup(key)?;
        match dtype.element_size() {
            Some(_) => Ok(Tensor { dtype, shape: shape.to_vec(), data: TensorData::Owned(self.read_owned(key)?) }),
            None => self.tensor(key),
        }
    }

    fn read_owned(&self, key: &[u8]) -> Result<Vec<u8>> {
        let plan = self.plan(key)?.ok_or_else(|| self.no_fixed_size(key))?;
        let mut out = vec![0u8; plan.byte_size()];
        self.read_planned(key, &plan, &mut out)?;
        Ok(out)
    }

    /// How a fixed-size tensor is read (`None` for strings and variants), resolved once: its
    /// entry, and for a partitioned tensor its stored slices, checked against the files. The size
    /// it gives is therefore backed by data on disk and a caller may allocate it, then hand the
    /// plan to [`BundleReader::read_planned`].
    pub fn plan(&self, key: &[u8]) -> Result<Option<ReadPlan<'_>>> {
        self.plan_read(key, true)
    }

    /// [`BundleReader::plan`]; without `whole`, for a read of part of the tensor, whose stored
    /// slices need not cover all of it (the read checks that they cover its part).
    fn plan_read(&self, key: &[u8], whole: bool) -> Result<Option<ReadPlan<'_>>> {
        let (index, dtype, shape, count) = self.lookup(key)?;
        let Some(Layout::Fixed { size, swap }) = dtype.layout() else { return Ok(None) };
        let entry = &self.entries[index];
        let stored = if entry.slices.is_empty() {
            let (file, offset, _) = self.locate(key, index)?;
            Stored::Whole { file, offset }
        } else if whole {
            Stored::Slices(self.whole_slices_of(key, entry, shape, count)?)
        } else {
            Stored::Slices(self.slices_of(key, entry, shape)?)
        };
        let byte_size = count
            .checked_mul(size)
            .ok_or_else(|| Error::corrupt(&self.index_path, format!("tensor '{}' is too large", display_key(key))))?;
        Ok(Some(ReadPlan { index, dtype, shape, byte_size, element: size, swap, stored }))
    }

    /// The byte size of a fixed-size tensor (`None` for strings and variants), backed by data
    /// on disk (see [`BundleReader::plan`]).
    pub fn byte_size(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.plan(key)?.map(|plan| plan.byte_size))
    }

    /// Many tensors at once, in parallel; results in the order of `keys`.
    pub fn tensors(&self, keys: &[Vec<u8>], owned: bool) -> Vec<Result<Tensor>> {
        pool::install(|| keys.par_iter().map(|k| if owned { self.tensor_owned(k) } else { self.tensor(k) }).collect())
    }

    /// Reads a fixed-size tensor into `out`, which must have exactly its size: verified, in the
    /// host's byte order, partitioned tensors assembled. Lets callers read into memory they
    /// allocated themselves (numpy arrays, for instance) without an intermediate copy.
    pub fn read_into(&self, key: &[u8], out: &mut [u8]) -> Result<()> {
        let plan = self.plan(key)?.ok_or_else(|| self.no_fixed_size(key))?;
        self.read_planned(key, &plan, out)
    }

    /// [`BundleReader::read_into`] of many tensors, each `(key, out)`: every one is planned and
    /// its buffer's size checked, in order, before any is read; then they are read together as
    /// [`BundleReader::read_planned_many`] reads.
    pub fn read_into_many(&self, reads: &mut [(&[u8], &mut [u8])]) -> Result<()> {
        let plans = reads
            .iter()
            .map(|(key, out)| {
                let plan = self.plan(key)?.ok_or_else(|| self.no_fixed_size(key))?;
                if out.len() != plan.byte_size {
                    return Err(self.wrong_size(key, &plan, out));
                }
                Ok(plan)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut planned: Vec<(&[u8], &ReadPlan, &mut [u8])> =
            reads.iter_mut().zip(&plans).map(|((key, out), plan)| (*key, plan, &mut **out)).collect();
        self.read_planned_many(&mut planned)
    }

    fn wrong_size(&self, key: &[u8], plan: &ReadPlan, out: &[u8]) -> Error {
        Error::InvalidArgument(format!(
            "tensor '{}' needs {} bytes, the buffer has {}",
            display_key(key),
            plan.byte_size,
            out.len()
        ))
    }

    /// [`BundleReader::read_into`] with the plan of `key` already made.
    pub fn read_planned(&self, key: &[u8], plan: &ReadPlan, out: &mut [u8]) -> Result<()> {
        if out.len() != plan.byte_size {
            return Err(self.wrong_size(key, plan, out));
        }
        let (file, offset) = match &plan.stored {
            Stored::Whole { file, offset } => (*file, *offset),
            Stored::Slices(parts) => return self.assemble_into(key, plan, parts, out),
        };
        self.pread_verified(plan.index, file, key, offset, out)?;
        let swap = plan.swap;
        if self.needs_swap(swap) {
            pool::install(|| {
                out.par_chunks_mut(COPY_CHUNK).for_each(|c| c.chunks_exact_mut(swap).for_each(<[u8]>::reverse))
            });
        }
        Ok(())
    }

    /// [`BundleReader::read_planned`] of a tensor when that cannot wait for a disk: a whole one
    /// of at most [`CACHED_READ_MAX`] bytes, in the host's byte order, of a local file, whose
    /// bytes the page cache holds ([`DataFile::read_cached`]), is read into `out` and checked;
    /// `Ok(true)` then. `Ok(false)`: `out` holds nothing of use and the caller reads the tensor
    /// with `read_planned`. A caller holding a lock others wait on (the glue, Python's GIL) reads
    /// this way first, and lets the lock go only for reads that may wait.
    pub fn read_planned_cached(&self, key: &[u8], plan: &ReadPlan, out: &mut [u8]) -> Result<bool> {
        let Some((file, offset)) = self.whole(plan, out) else { return Ok(false) };
        if out.len() > CACHED_READ_MAX || !file.read_cached(out, offset) {
            return Ok(false);
        }
        if self.needs_check(plan.index) {
            self.check_crc(plan.index, file, key, crc::value(out))?;
        }
        Ok(true)
    }

    /// [`BundleReader::read_planned`] of many tensors, each `(key, plan, out)`.
    ///
    /// Local files: the whole tensors of up to [`COPY_CHUNK`] bytes are read in runs of
    /// neighbours ([`runs`], one `preadv` each), in parallel, each tensor checksummed as its run
    /// arrives ([`BundleReader::read_runs`]); then the others (large ones in parallel chunks,
    /// partitioned, byte-swapped) in parallel one by one.
    ///
    /// The whole tensors of a remote checkpoint are fetched together, shard by shard: neighbouring
    /// tensors share ranged GETs, several requests are in flight and every response lands
    /// straight in the tensors' buffers; then each is checksummed.
    pub fn read_planned_many(&self, reads: &mut [(&[u8], &ReadPlan<'_>, &mut [u8])]) -> Result<()> {
        if self.remote.is_none() {
            return self.read_local_many(reads);
        }
        let keys: Vec<&[u8]> = reads.iter().map(|(key, _, _)| *key).collect();
        let mut fetched: HashMap<usize, (&DataFile, Vec<Piece<'_>>)> = HashMap::new();
        let mut whole = Vec::with_capacity(reads.len());
        for (i, (key, plan, out)) in reads.iter_mut().enumerate() {
            let Some((file, offset)) = self.whole(plan, out) else {
                self.read_planned(key, plan, out)?;
                continue;
            };
            let shard = fetched.entry(self.slots[plan.index]).or_insert_with(|| (file, Vec::new()));
            shard.1.push(Piece { id: i, offset: offset as u64, out: &mut out[..] });
            whole.push(i);
        }
        for (file, pieces) in fetched.into_values() {
            file.read_pieces(pieces).map_err(|(i, e)| in_tensor(e, keys[i]))?;
        }
        let reads = &*reads;
        pool::install(|| {
            whole.par_iter().try_for_each(|&i| {
                let (key, plan, out) = &reads[i];
                match self.whole(plan, out) {
                    Some((file, _)) if self.needs_check(plan.index) => {
                        self.check_crc(plan.index, file, key, crc::value(out))
                    }
                    _ => Ok(()),
                }
            })
        })
    }

    /// The data file and offset of a stored tensor whose bytes `out` takes as they are: not
    /// partitioned, not swapped, of its size (else [`BundleReader::read_planned`] assembles, swaps
    /// or refuses).
    fn whole<'r>(&self, plan: &ReadPlan<'r>, out: &[u8]) -> Option<(&'r DataFile, usize)> {
        match plan.stored {
            Stored::Whole { file, offset } if !self.needs_swap(plan.swap) && out.len() == plan.byte_size => {
                Some((file, offset))
            }
            _ => None,
        }
    }

    /// [`BundleReader::read_planned_many`] of a local checkpoint.
    fn read_local_many(&self, reads: &mut [(&[u8], &ReadPlan<'_>, &mut [u8])]) -> Result<()> {
        let asked: Vec<(&[u8], &ReadPlan<'_>)> = reads.iter().map(|(key, plan, _)| (*key, *plan)).collect();
        // Whole tensors up to COPY_CHUNK go in runs, the others alone.
        let mut by_shard: std::collections::BTreeMap<usize, (LocalFile<'_>, Vec<Piece<'_>>)> = Default::default();
        let mut alone = Vec::new();
        for (i, (key, plan, out)) in reads.iter_mut().enumerate() {
            let whole = self.whole(plan, out).filter(|_| out.len() <= COPY_CHUNK);
            let Some((file, offset)) = whole.and_then(|(file, offset)| Some((file.local()?, offset))) else {
                alone.push((*key, *plan, &mut **out));
                continue;
            };
            let shard = by_shard.entry(self.slots[plan.index]).or_insert_with(|| (file, Vec::new()));
            shard.1.push(Piece { id: i, offset: offset as u64, out });
        }
        let runs: Vec<(LocalFile<'_>, Vec<Piece<'_>>)> = by_shard
            .into_values()
            .flat_map(|(file, pieces)| runs(pieces).into_iter().map(move |run| (file, run)))
            .collect();
        self.read_runs(runs, &asked)?;
        if alone.is_empty() {
            // The usual batch of small tensors (or a single one): no trip to the pool.
            return Ok(());
        }
        pool::install(|| alone.par_iter_mut().try_for_each(|(key, plan, out)| self.read_planned(key, plan, out)))
    }

    /// Reads `runs` (each of one file, in file order) in parallel and checks the crc32c of each
    /// tensor (`asked[piece.id]`) right after its run arrives, still in the CPU's cache. The
    /// pool's threads split the list into contiguous shares (rayon halves it), so each reads in
    /// file order and the kernel sees one sequential stream per thread, which its readahead
    /// serves in large requests (1–3 MiB on this VM's disk). Tried and not kept: the threads
    /// taking runs one by one in file order (no faster), and `POSIX_FADV_WILLNEED` a few runs
    /// ahead (0.5 MiB requests, slower).
    fn read_runs(&self, runs: Vec<(LocalFile<'_>, Vec<Piece<'_>>)>, asked: &[(&[u8], &ReadPlan<'_>)]) -> Result<()> {
        let read = |(file, mut run): (LocalFile<'_>, Vec<Piece<'_>>)| -> Result<()> {
            file.read_run(&mut run).map_err(|(i, e)| in_tensor(e, asked[i].0))?;
            run.iter().try_for_each(|piece| {
                let (key, plan) = asked[piece.id];
                if !self.needs_check(plan.index) {
                    return Ok(());
                }
                self.check_crc(plan.index, file.data, key, crc::value(piece.out))
            })
        };
        if runs.len() == 1 {
            // Handing a single run to the pool would cost more than reading it here.
            return runs.into_iter().try_for_each(read);
        }
        pool::install(|| runs.into_par_iter().try_for_each(read))
    }

    /// Reads the box `region` of a fixed-size tensor (per dimension `(start, length)`) into `out`,
    /// row-major, verified and in the host's byte order, whatever slicing stored the tensor:
    /// how a process restores its own part of a partitioned variable. Only the stored pieces
    /// (the whole tensor, or the slices of a partitioned one) that meet the region are read, and
    /// as in TensorFlow they need cover the region only, not the whole tensor; with
    /// verification on, each of those is checksummed whole, as its crc32c covers all of it.
    pub fn read_region(&self, key: &[u8], region: &[(usize, usize)], out: &mut [u8]) -> Result<()> {
        let plan = self.plan_read(key, false)?.ok_or_else(|| self.no_fixed_size(key))?;
        let size = plan.element;
        let count = slices::checked_region(key, region, plan.shape, size, out.len())?;
        if count == 0 {
            return Ok(());
        }
        let mut copy = |src: &[u8], stored: &[(usize, usize)], filled: &mut Coverage| {
            slices::for_each_run(stored, region, |s, d, n| {
                out[d * size..(d + n) * size].copy_from_slice(&src[s * size..(s + n) * size]);
                filled.mark(d, n);
            })
        };
        let mut filled = Coverage::new(count);
        let Stored::Slices(parts) = &plan.stored else {
            let data = self.tensor(key)?.data;
            let whole: Vec<(usize, usize)> = plan.shape.iter().map(|&dim| (0, dim)).collect();
            copy(data.bytes().unwrap_or(&[]), &whole, &mut filled);
            return Ok(());
        };
        let entry = &self.entries[plan.index];
        for (i, part) in parts.iter().enumerate() {
            if !slices::overlap(&part.region, region) {
                continue;
            }
            let data = self.tensor(&part.key)?.data;
            copy(data.bytes().unwrap_or(&[]), &part.region, &mut filled);
            self.check_no_overlap(key, entry, &parts[..i], part, &filled)?;
        }
        filled.check().map_err(|_| slices::insufficient(&self.index_path, key, &slices::region_spec(region), ""))
    }

    fn no_fixed_size(&self, key: &[u8]) -> Error {
        let dtype = self.entry(key).map_or(DataType::INVALID, BundleEntry::dtype);
        Error::InvalidArgument(format!(
            "tensor '{}' of {} has no fixed element size",
            display_key(key),
            dtype.describe()
        ))
    }

    /// Dtype, dims and element count of a tensor, with its position.
    fn lookup(&self, key: &[u8]) -> Result<(usize, DataType, &[usize], usize)> {
        let index = self.position(key).ok_or_else(|| self.not_found(key))?;
        let (dims, count) = self.shapes.get(index);
        Ok((index, self.entries[index].dtype(), dims, count))
    }

    fn needs_swap(&self, swap: usize) -> bool {
        self.header.endianness != HOST_ENDIANNESS && swap > 1
    }

    /// The elements of a stored DT_STRING or DT_VARIANT entry.
    fn read_elements(&self, index: usize, key: &[u8], count: usize) -> Result<TensorData> {
        let entry = &self.entries[index];
        let (file, offset, len) = self.locate(key, index)?;
        let big_endian = self.header.endianness == Endianness::Big;
        if big_endian && entry.dtype() == DataType::VARIANT {
            // Valid data, but its elements are C++ objects of unknown layout: TensorFlow cannot
            // byte-swap them either (Unimplemented).
            return Err(Error::Unsupported(format!(
                "{}: variant tensor '{}' was written in big-endian byte order, and variant tensors \
                 cannot be byte-swapped",
                file.path().display(),
                display_key(key)
            )));
        }
        let bytes = &*file.range(offset, len)?;
        let expected = self.verify.then_some(entry.crc32c);
        let (decoded, what) = if entry.dtype() == DataType::STRING {
            (strings::decode(bytes, count, big_endian, expected), "string")
        } else {
            (variant::decode(bytes, count, expected), "variant")
        };
        decoded.map(TensorData::Elements).map_err(|e| match e {
            ElementsError::Checksum { computed, .. } => self.checksum_error(file, key, entry, computed),
            ElementsError::Malformed(detail) => {
                Error::corrupt(file.path(), format!("{what} tensor '{}': {detail}", display_key(key)))
            }
        })
    }

    /// Reads `out.len()` bytes at `offset` into `out`, checking the crc32c on the way when it has
    /// not been yet. Reading (rather than copying from the mapping) keeps the file's pages out of
    /// this process's resident set, so an owned restore needs memory for the copy only. Above
    /// [`SPLIT_MIN`] the pool's threads each read and checksum equal shares ([`split_piece`]).
    fn pread_verified(&self, index: usize, file: &DataFile, key: &[u8], offset: usize, out: &mut [u8]) -> Result<()> {
        let check = self.needs_check(index);
        if out.len() > PREFETCH_MIN {
            file.prefetch(offset, out.len());
        }
        let computed = if file.is_remote() {
            // The object's ranges are fetched concurrently by the store client.
            file.read_at(out, offset).map(|()| if check { crc::value_parallel(out) } else { 0 })
        } else if out.len() <= SPLIT_MIN {
            file.read_at(out, offset).map(|()| if check { crc::value(out) } else { 0 })
        } else {
            pool::install(|| {
                let piece = split_piece(out.len(), rayon::current_num_threads());
                out.par_chunks_mut(piece)
                    .enumerate()
                    .map(|(i, dst)| {
                        file.read_at(dst, offset + i * piece)?;
                        Ok((if check { crc::value(dst) } else { 0 }, dst.len()))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .map(crc::joined)
        }
        .map_err(|e| in_tensor(e, key))?;
        if check {
            self.check_crc(index, file, key, computed)?;
        }
        Ok(())
    }

    /// Whether tensor `index`'s crc32c is still to be checked: verification is on and no read
    /// has matched it yet ([`BundleReader::check_crc`] remembers a match).
    fn needs_check(&self, index: usize) -> bool {
        self.verify && !self.verified[index].load(Ordering::Acquire)
    }

    /// Compares the crc32c `computed` over tensor `index`'s bytes with its entry's, and remembers
    /// a match.
    fn check_crc(&self, index: usize, file: &DataFile, key: &[u8], computed: u32) -> Result<()> {
        let entry = &self.entries[index];
        if crc::mask(computed) != entry.crc32c {
            return Err(self.checksum_error(file, key, entry, computed));
        }
        self.verified[index].store(true, Ordering::Release);
        Ok(())
    }

    /// The stored slices of a partitioned tensor, each checked against the full shape and against
    /// its own entry and data. They may hold part of the tensor only: one shard of a sharded
    /// save, before the merge, holds its own slices.
    fn slices_of(&self, key: &[u8], entry: &BundleEntry, dims: &[usize]) -> Result<Vec<SlicePart>> {
        let mut parts = Vec::with_capacity(entry.slices.len());
        for (position, slice) in entry.slices.iter().enumerate() {
            let region = slices::resolve(slice, dims).map_err(|e| self.partition_error(key, e))?;
            let slice_key = slices::slice_key(key, slice);
            let index =
                self.position(&slice_key).ok_or_else(|| self.partition_error(key, "a stored slice has no entry"))?;
            let part = &self.entries[index];
            let (part_dims, part_count) = self.shapes.get(index);
            let expected: Vec<usize> = region.iter().map(|&(_, len)| len).collect();
            if part.dtype != entry.dtype || !part.slices.is_empty() || part_dims != expected.as_slice() {
                return Err(self.partition_error(
                    key,
                    format!(
                        "slice entry has dtype {} and shape {part_dims:?}, expected {} {expected:?}",
                        part.dtype().describe(),
                        entry.dtype().describe()
                    ),
                ));
            }
            if parts.iter().any(|p: &SlicePart| p.key == slice_key) {
                return Err(self.partition_error(key, "a slice is listed twice"));
            }
            self.locate(&slice_key, index)?;
            parts.push(SlicePart { slice: position, region, index, key: slice_key, count: part_count });
        }
        Ok(parts)
    }

    /// [`BundleReader::slices_of`] for a read of the whole tensor: refuses slices that cannot
    /// cover it before anything is allocated for it.
    fn whole_slices_of(&self, key: &[u8], entry: &BundleEntry, dims: &[usize], count: usize) -> Result<Vec<SlicePart>> {
        let parts = self.slices_of(key, entry, dims)?;
        let covered = parts.iter().fold(0usize, |sum, part| sum.saturating_add(part.count));
        if covered < count {
            let whole = vec!["-"; dims.len()].join(":");
            let held = format!(" (the stored slices hold {covered} of its {count} elements)");
            return Err(slices::insufficient(&self.index_path, key, &whole, &held));
        }
        // Every element takes at least one stored byte, so a tensor larger than the files holding
        // its slices is a lie (slice entries can share bytes); refusing it bounds what callers
        // allocate by the size of the files.
        let mut files = HashMap::new();
        for part in &parts {
            files.insert(self.entries[part.index].shard_id, self.data_file(part.index)?.len());
        }
        let stored: usize = files.values().sum();
        let element_size = entry.dtype().element_size().unwrap_or(1);
        if count.saturating_mul(element_size) > stored {
            return Err(self.partition_error(
                key,
                format!("{count} elements cannot come from the {stored} bytes of data files holding its slices"),
            ));
        }
        Ok(parts)
    }

    fn partition_error(&self, key: &[u8], detail: impl std::fmt::Display) -> Error {
        Error::corrupt(&self.index_path, format!("partitioned tensor '{}': {detail}", display_key(key)))
    }

    /// Copies every slice of a fixed-size partitioned tensor into place in `out`.
    fn assemble_into(&self, key: &[u8], plan: &ReadPlan<'_>, parts: &[SlicePart], out: &mut [u8]) -> Result<()> {
        let size = plan.element;
        let entry = &self.entries[plan.index];
        let mut filled = Coverage::new(out.len() / size.max(1));
        for (i, part) in parts.iter().enumerate() {
            let data = self.tensor(&part.key)?.data;
            let src = data.bytes().unwrap_or(&[]);
            slices::for_each_row(plan.shape, &part.region, |s, d, n| {
                out[d * size..(d + n) * size].copy_from_slice(&src[s * size..(s + n) * size]);
                filled.mark(d, n);
            });
            self.check_no_overlap(key, entry, &parts[..i], part, &filled)?;
        }
        filled.check().map_err(|e| self.partition_error(key, e))
    }

    /// Assembles a partitioned string or variant tensor.
    fn assemble_elements(&self, key: &[u8], entry: &BundleEntry, dims: &[usize], count: usize) -> Result<Vec<Vec<u8>>> {
        let parts = self.whole_slices_of(key, entry, dims, count)?;
        let mut out = vec![Vec::new(); count];
        let mut filled = Coverage::new(count);
        for (i, part) in parts.iter().enumerate() {
            let TensorData::Elements(mut elements) = self.read_elements(part.index, &part.key, part.count)? else {
                continue;
            };
            slices::for_each_row(dims, &part.region, |s, d, n| {
                for i in 0..n {
                    out[d + i] = std::mem::take(&mut elements[s + i]);
                }
                filled.mark(d, n);
            });
            self.check_no_overlap(key, entry, &parts[..i], part, &filled)?;
        }
        filled.check().map_err(|e| self.partition_error(key, e))?;
        Ok(out)
    }
}

impl BundleReader {
    /// Refuses a partitioned tensor whose slice `part` wrote over elements of an earlier one:
    /// its value would depend on the order of the slices (TensorFlow refuses it too).
    fn check_no_overlap(
        &self,
        key: &[u8],
        entry: &BundleEntry,
        earlier: &[SlicePart],
        part: &SlicePart,
        filled: &Coverage,
    ) -> Result<()> {
        if !filled.overwritten {
            return Ok(());
        }
        let slice_of = |p: &SlicePart| entry.slices.get(p.slice).cloned().unwrap_or_default();
        let existing = earlier.iter().find(|e| slices::overlap(&e.region, &part.region)).map(slice_of);
        Err(self.partition_error(key, slices::overlap_error(&existing.unwrap_or_default(), &slice_of(part))))
    }
}

/// How a fixed-size tensor is read: made by [`BundleReader::plan`], borrowing from the reader
/// what it worked out at open (a steady read allocates nothing to plan).
#[derive(Debug)]
pub struct ReadPlan<'r> {
    index: usize,
    dtype: DataType,
    shape: &'r [usize],
    byte_size: usize,
    element: usize,
    swap: usize,
    stored: Stored<'r>,
}

/// Where the bytes of a planned tensor are.
#[derive(Debug)]
enum Stored<'r> {
    /// An ordinary tensor: at `offset` of `file` (bounds checked when planned).
    Whole { file: &'r DataFile, offset: usize },
    /// A partitioned tensor: its stored slices.
    Slices(Vec<SlicePart>),
}

impl ReadPlan<'_> {
    pub fn dtype(&self) -> DataType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        self.shape
    }

    pub fn byte_size(&self) -> usize {
        self.byte_size
    }
}

/// The dims and element count of every entry of an index, checked once at open and kept in one
/// buffer (a read used to check and collect them into a new `Vec` each time).
#[derive(Debug)]
struct Shapes {
    /// Every entry's dims, one entry after the other.
    dims: Vec<usize>,
    /// Per entry: where its dims end in `dims` (they start where the previous entry's end), and
    /// its element count.
    ends: Vec<(usize, usize)>,
}

impl Shapes {
    fn with_capacity(entries: usize) -> Self {
        Shapes { dims: Vec::with_capacity(entries), ends: Vec::with_capacity(entries) }
    }

    /// Checks the next entry's shape ([`push_checked_dims`]) and keeps it; its dims and count.
    fn push(&mut self, shape: &TensorShape) -> Result<(&[usize], usize), String> {
        let start = self.dims.len();
        let count = push_checked_dims(shape, &mut self.dims)?;
        self.ends.push((self.dims.len(), count));
        Ok((&self.dims[start..], count))
    }

    /// Entry `index`'s dims and element count.
    fn get(&self, index: usize) -> (&[usize], usize) {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before].0);
        let (end, count) = self.ends[index];
        (&self.dims[start..end], count)
    }
}

/// One stored slice of a partitioned tensor.
#[derive(Debug)]
struct SlicePart {
    /// Position in the full entry's list of slices.
    slice: usize,
    region: Vec<(usize, usize)>,
    index: usize,
    key: Vec<u8>,
    count: usize,
}

/// Which elements of an assembled tensor some slice has written (one bit each), and whether one
/// was written twice.
struct Coverage {
    bits: Vec<u64>,
    count: usize,
    overwritten: bool,
}

impl Coverage {
    fn new(count: usize) -> Self {
        Coverage { bits: vec![0; count.div_ceil(64)], count, overwritten: false }
    }

    fn mark(&mut self, start: usize, n: usize) {
        for i in start..start + n {
            let bit = 1 << (i % 64);
            self.overwritten |= self.bits[i / 64] & bit != 0;
            self.bits[i / 64] |= bit;
        }
    }

    fn check(&self) -> Result<(), &'static str> {
        let complete = (0..self.count).all(|i| self.bits[i / 64] & (1 << (i % 64)) != 0);
        if complete {
            Ok(())
        } else {
            Err("the stored slices do not cover the whole tensor")
        }
    }
}

/// Groups pieces of one local file into runs for [`LocalFile::read_run`], in file order: a piece
/// joins the run before it when it starts at most [`RUN_GAP`] bytes after the run's end and the
/// run stays within [`RUN_BYTES`] (a larger piece is a run of its own) and [`RUN_IOVECS`]
/// buffers; a piece overlapping the run before it (tensors sharing bytes) starts a new one.
fn runs(mut pieces: Vec<Piece<'_>>) -> Vec<Vec<Piece<'_>>> {
    pieces.sort_by_key(|piece| piece.offset);
    let mut runs: Vec<Vec<Piece<'_>>> = Vec::new();
    for piece in pieces {
        let joins = runs.last().is_some_and(|run| {
            let (start, end) = (run[0].offset, run[run.len() - 1].end());
            piece.offset >= end
                && piece.offset - end <= RUN_GAP as u64
                && piece.end() - start <= RUN_BYTES as u64
                && 2 * run.len() < RUN_IOVECS
        });
        match runs.last_mut() {
            Some(run) if joins => run.push(piece),
            _ => runs.push(vec![piece]),
        }
    }
    runs
}

/// The size of the pieces a read of `len` bytes is split into for `threads` threads: as many
/// pieces as threads (a multiple of that when pieces would exceed [`COPY_CHUNK`]), so that each
/// thread gets an equal share, cut at multiples of [`SPLIT_ALIGN`] (what is left over makes one
/// more, smaller piece).
fn split_piece(len: usize, threads: usize) -> usize {
    let pieces = len.div_ceil(COPY_CHUNK).next_multiple_of(threads.max(1));
    (len / pieces / SPLIT_ALIGN * SPLIT_ALIGN).max(SPLIT_ALIGN)
}

/// Names the tensor in an error about reading its bytes.
fn in_tensor(error: Error, key: &[u8]) -> Error {
    match error {
        Error::Corrupt { path, detail } => {
            Error::Corrupt { path, detail: format!("tensor '{}': {detail}", display_key(key)) }
        }
        Error::Io { path, source } => Error::Io {
            source: std::io::Error::new(source.kind(), format!("reading tensor '{}': {source}", display_key(key))),
            path,
        },
        other => other,
    }
}

/// Entry checks done at open, so that reads never see an absurd entry; its checked shape goes to
/// `shapes`.
fn validate_entry(entry: &BundleEntry, num_shards: i32, shapes: &mut Shapes) -> Result<(), String> {
    let dtype = entry.dtype();
    let layout = dtype.layout().ok_or_else(|| format!("{} cannot be stored in a checkpoint", dtype.describe()))?;
    let (dims, count) = shapes.push(&entry.shape)?;
    if !entry.slices.is_empty() {
        for slice in &entry.slices {
            slices::resolve(slice, dims)?;
        }
        return Ok(());
    }
    if entry.shard_id < 0 || entry.shard_id >= num_shards {
        return Err(format!("shard id {} outside the {num_shards} shards of the checkpoint", entry.shard_id));
    }
    if entry.offset < 0 || entry.size < 0 || entry.offset.checked_add(entry.size).is_none() {
        return Err(format!("impossible data range (offset {}, size {})", entry.offset, entry.size));
    }
    if let Layout::Fixed { size, .. } = layout {
        let expected = count.checked_mul(size).ok_or("tensor too large")?;
        if entry.size as u64 != expected as u64 {
            return Err(format!("stored size {}; expected size {expected}", entry.size));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Drops the clean cached pages of `path` (after writing them back); `false` where the
    /// kernel keeps them (tmpfs, whose pages are the file, or not Linux).
    #[allow(clippy::useless_conversion, reason = "statfs.f_type is not i64 on every target")]
    fn evict(path: &Path) -> bool {
        let file = File::open(path).unwrap();
        file.sync_all().unwrap();
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            const TMPFS_MAGIC: i64 = 0x0102_1994;
            // SAFETY: statfs writes into the zeroed struct it is given; posix_fadvise only reads
            // its integer arguments; `file` is open.
            unsafe {
                let mut fs: libc::statfs = std::mem::zeroed();
                libc::fstatfs(file.as_raw_fd(), &raw mut fs) == 0
                    && i64::from(fs.f_type) != TMPFS_MAGIC
                    && libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) == 0
            }
        }
        #[cfg(not(target_os = "linux"))]
        false
    }

    #[test]
    fn cached_reads_never_wait() {
        let dir = std::env::temp_dir().join(format!("fastckpt-cached-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data");
        let data: Vec<u8> = (0..3 * 4096 + 5).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let evicted = evict(&path);
        let file = DataFile::open(path.clone()).unwrap();
        let mut out = vec![0u8; 5000];
        if evicted {
            assert!(!file.read_cached(&mut out, 100), "a read of evicted pages would wait for the disk");
        }
        let mut all = vec![0u8; data.len()];
        file.read_at(&mut all, 0).unwrap();
        let done = file.read_cached(&mut out, 100);
        let Source::Local { nowait, .. } = &file.source else { unreachable!() };
        // A file system that cannot tell (tmpfs) makes every later call give up at once.
        assert_eq!(done, nowait.load(Ordering::Relaxed));
        if done {
            assert_eq!(out, &data[100..5100]);
            assert!(!file.read_cached(&mut out, data.len() - 10), "past the end is a short read");
            assert!(file.read_cached(&mut out[..10], data.len() - 10));
            assert_eq!(&out[..10], &data[data.len() - 10..]);
        } else {
            assert!(!file.read_cached(&mut out, 100));
        }
        assert!(!file.read_cached(&mut [], 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn split_reads_give_every_thread_an_equal_share_of_whole_pages() {
        for threads in [1, 2, 3, 8] {
            for len in [SPLIT_MIN + 1, 1 << 20, (4 << 20) - 1, 4 << 20, (9 << 20) + 13, 60 << 20] {
                let piece = split_piece(len, threads);
                let pieces = len.div_ceil(piece);
                assert_eq!(piece % SPLIT_ALIGN, 0);
                assert!(piece <= COPY_CHUNK, "{len} bytes for {threads} threads: pieces of {piece}");
                // Work for every thread.
                assert!(pieces >= threads.min(len / SPLIT_ALIGN), "{len} bytes for {threads} threads: {pieces}");
            }
        }
        assert_eq!(split_piece(1 << 20, 2), 512 << 10);
        assert_eq!(split_piece(9 << 20, 2), (9 << 20) / 4);
        assert_eq!(split_piece((9 << 20) + 13, 2), (9 << 20) / 4, "13 bytes left for a fifth piece");
        assert_eq!(split_piece(60 << 20, 2), 15 << 18);
    }

    #[test]
    fn residency_is_sampled_without_reading() {
        let dir = std::env::temp_dir().join(format!("fastckpt-resident-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data");
        let len = 3 * PREFETCH_MIN + 123;
        std::fs::write(&path, vec![7u8; len]).unwrap();
        let evicted = evict(&path);
        let file = DataFile::open(path.clone()).unwrap();
        if evicted {
            assert!(!file.cached(0, len), "evicted pages counted as cached");
            assert!(!file.cached(0, len), "looking must not read them in");
        }
        let mut all = vec![0u8; len];
        file.read_at(&mut all, 0).unwrap();
        assert!(file.cached(0, len) && file.cached(len - 1, 1) && file.cached(PREFETCH_MIN, 5));
        assert!(!file.cached(len - 1, 2) && !file.cached(0, 0) && !file.cached(usize::MAX, 2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
