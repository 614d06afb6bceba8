//! Writing a bundle, streaming: each tensor is appended to the data file as it is added (memory
//! for one tensor at most), the sorted index is written at `finish`.
//!
//! Both files are written under temporary names in the target folder and renamed into place at the
//! end, data file first ([`crate::atomic_file`]): until then an earlier checkpoint at the same prefix
//! stays whole, and a reader that mapped the old files keeps valid pages. Dropping an unfinished
//! writer deletes the temporary files. Between the two renames (microseconds) the folder holds the
//! new data file beside the old index, as it does with TensorFlow's writer.
//!
//! A URL prefix writes to an object store ([`crate::storage`]), where objects cannot be renamed:
//! the data file is a multipart upload fed by the same staging buffers, and the index is the
//! commit point. So that no reader ever finds an index beside data that is not its own, even when
//! saving over an existing checkpoint, `finish` goes:
//!
//! ```text
//! 1. stage the data object: every part sent, the object not yet visible   (old checkpoint whole)
//! 2. DELETE P.index                                                       (no checkpoint)
//! 3. complete the data object: it replaces the old one in one step        (no checkpoint)
//! 4. PUT P.index                                                          (new checkpoint whole)
//! ```
//! A failure or a crash in 1 (or before) aborts the upload and leaves the earlier checkpoint as it
//! was; one in 2–4 leaves no index at the prefix, never a mismatched one. Readers also check that
//! the objects they read are still those of the index they opened ([`super::reader`]).
//!
//! Object stores cannot rename, so a checkpoint with several data objects is written as parts
//! that upload their data under its final names from the start ([`BundleWriter::create_part`]);
//! [`merge_bundles`](super::merge_bundles) then only joins the parts' indexes:
//!
//! ```text
//! part T/part-0  ─data─▶ P.data-00000-of-00002    T/part-0.index (entries of shard 0)
//! part T/part-1  ─data─▶ P.data-00001-of-00002    T/part-1.index (entries of shard 1)
//! merge                                           P.index = both, PUT last (the commit point)
//! ```
//! Each part takes step 2 on `P.index` (not its own index), so saving several data objects over
//! an existing checkpoint keeps the same guarantee.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::entry::{checked_shape, BundleEntry};
use super::header::BundleHeader;
use super::{naming, slices, strings, variant};
use crate::atomic_file::{self, AtomicFile};
use crate::crc;
use crate::dtype::{DataType, Layout};
use crate::error::{display_key, Error, Result};
use crate::proto::{Extent, TensorShape, TensorSlice};
use crate::storage::{Location, Upload};
use crate::table::TableBuilder;

/// The index file buffer.
const WRITE_BUFFER: usize = 1 << 20;

/// Size of each of the data file's two staging buffers. Tensor bytes are copied into one, its
/// checksum is computed from that copy, and that same copy is written: whatever another thread does
/// to the caller's array meanwhile, the file holds exactly the bytes its checksum covers. Small
/// enough that the copy is still in the CPU cache (L2) when it is checksummed and written.
const STAGING: usize = 1 << 20;

/// The most one `write()` of a local data file hands the kernel. Larger calls let the page cache
/// allocate larger folios (up to 2 MiB), and on the busy development VM filling those was up to
/// 12× slower per byte (`copy_folio_from_iter_atomic` in `perf`; large free blocks there are the
/// ones the balloon hands back to the host): W1 saves took 0.23–0.89 s with 1 MiB calls against
/// 0.23–0.29 s with 256 KiB calls, interleaved in one run.
const WRITE_CALL: usize = 256 << 10;

#[derive(Debug)]
pub struct BundleWriter {
    prefix: PathBuf,
    alignment: u64,
    sync: bool,
    allow_partial_slices: bool,
    data: Option<DataSink>,
    /// The data file this writer fills, as the index numbers it: 0 of 1 unless it writes a part.
    shard_id: i32,
    num_shards: i32,
    offset: u64,
    entries: BTreeMap<Vec<u8>, BundleEntry>,
}

/// The bytes of one tensor to add.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// Raw element bytes of a fixed-size dtype, row-major, little-endian.
    Fixed(&'a [u8]),
    /// DT_STRING elements, row-major.
    Strings(&'a [&'a [u8]]),
    /// DT_VARIANT elements as serialized `VariantTensorDataProto`s.
    Variants(&'a [&'a [u8]]),
}

/// One whole tensor for [`BundleWriter::add_many`]: the arguments of [`BundleWriter::add`].
#[derive(Debug, Clone, Copy)]
pub struct NewTensor<'a> {
    pub key: &'a [u8],
    pub dtype: DataType,
    pub shape: &'a [i64],
    pub payload: Payload<'a>,
}

impl BundleWriter {
    /// Starts a checkpoint at `prefix`, creating its folder if needed. `alignment` (≥ 1) pads
    /// every tensor's start to a multiple of that many bytes; 1 writes what TensorFlow writes.
    pub fn create(prefix: impl AsRef<Path>, alignment: usize) -> Result<Self> {
        let prefix = checked_prefix(prefix.as_ref(), alignment)?;
        let data = match Location::of(&prefix)? {
            Location::Remote(remote) => Destination::Remote {
                upload: remote.with_suffix(&naming::data_suffix(0, 1)).upload(),
                replaced_index: remote.with_suffix(naming::INDEX_SUFFIX),
            },
            Location::Local(_) => {
                if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                Destination::Local(AtomicFile::create(&naming::data_path(&prefix, 0, 1))?)
            }
        };
        Ok(Self::writing(prefix, alignment, data, 0, 1))
    }

    /// Starts part `shard` of `num_shards` of the checkpoint at `merged`, both on object storage:
    /// the data goes straight to the object `merged.data-<shard>-of-<num_shards>` (there is no
    /// rename to move it there later), and [`finish`](Self::finish) PUTs this part's index at
    /// `prefix`, its entries pointing at that data object, for
    /// [`merge_bundles`](super::merge_bundles) to join into `merged.index`.
    pub fn create_part(
        prefix: impl AsRef<Path>,
        alignment: usize,
        merged: impl AsRef<Path>,
        shard: i32,
        num_shards: i32,
    ) -> Result<Self> {
        let (prefix, merged) = (checked_prefix(prefix.as_ref(), alignment)?, merged.as_ref());
        if !(0..num_shards).contains(&shard) {
            return Err(Error::InvalidArgument(format!(
                "{}: shard {shard} is not one of the {num_shards} data files of {}",
                prefix.display(),
                merged.display()
            )));
        }
        let (Location::Remote(_), Location::Remote(merged)) = (Location::of(&prefix)?, Location::of(merged)?) else {
            return Err(Error::InvalidArgument(format!(
                "{}: parts that write under the merged checkpoint's data names ({}) are for object storage; \
                 on a local path write each part under its own name and merge_bundles renames its data file",
                prefix.display(),
                merged.display()
            )));
        };
        let data = Destination::Remote {
            upload: merged.with_suffix(&naming::data_suffix(shard, num_shards)).upload(),
            replaced_index: merged.with_suffix(naming::INDEX_SUFFIX),
        };
        Ok(Self::writing(prefix, alignment, data, shard, num_shards))
    }

    fn writing(prefix: PathBuf, alignment: usize, data: Destination, shard_id: i32, num_shards: i32) -> Self {
        BundleWriter {
            prefix,
            alignment: alignment as u64,
            sync: false,
            allow_partial_slices: false,
            data: Some(DataSink::new(data)),
            shard_id,
            num_shards,
            offset: 0,
            entries: BTreeMap::new(),
        }
    }

    /// With `sync`, [`finish`](Self::finish) flushes both files to the device before renaming them
    /// and the folder after: a finished checkpoint survives a power loss.
    pub fn with_sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// With `allow`, [`finish`](Self::finish) accepts partitioned tensors whose slices hold only
    /// part of them: the shards of a sharded save, each holding the slices of one device, which a
    /// merge then joins. By default such a bundle is refused, as TensorFlow could not restore it.
    pub fn with_partial_slices(mut self, allow: bool) -> Self {
        self.allow_partial_slices = allow;
        self
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    fn invalid(&self, key: &[u8], what: String) -> Error {
        Error::InvalidArgument(format!("cannot add tensor '{}' to {}: {what}", display_key(key), self.prefix.display()))
    }

    /// Adds a whole tensor.
    pub fn add(&mut self, key: &[u8], dtype: DataType, shape: &[i64], payload: Payload<'_>) -> Result<()> {
        self.check_new_key(key)?;
        let entry = self.append(key, dtype, shape, payload)?;
        self.entries.insert(key.to_vec(), entry);
        Ok(())
    }

    /// Adds whole tensors in order, as [`add`](Self::add) of each would (with the same errors,
    /// the tensors before a refused one added), but consecutive fixed-size tensors are staged as
    /// one stream: while one full staging buffer is written, the next tensors are copied into the
    /// other and checksummed, where `add` would wait for every write of a small tensor.
    pub fn add_many(&mut self, tensors: &[NewTensor<'_>]) -> Result<()> {
        let mut rest = tensors;
        while let Some(first) = rest.first() {
            let fixed = rest.iter().take_while(|t| matches!(t.payload, Payload::Fixed(_))).count();
            if fixed == 0 {
                self.add(first.key, first.dtype, first.shape, first.payload)?;
                rest = &rest[1..];
            } else {
                self.add_fixed(&rest[..fixed])?;
                rest = &rest[fixed..];
            }
        }
        Ok(())
    }

    /// [`add_many`](Self::add_many) of tensors with [`Payload::Fixed`] bytes: each is checked and
    /// given its place in the file, then all their bytes go through the staging buffers at once,
    /// then each entry gets the checksum of its staged copy.
    fn add_fixed(&mut self, tensors: &[NewTensor<'_>]) -> Result<()> {
        let mut placed: Vec<(&[u8], usize)> = Vec::with_capacity(tensors.len());
        let start = self.offset;
        let mut refused = Ok(());
        for t in tensors {
            let Payload::Fixed(bytes) = t.payload else { break };
            match self.check_new_key(t.key).and_then(|()| self.fixed_entry(t.key, t.dtype, t.shape, bytes)) {
                Ok(entry) => {
                    self.entries.insert(t.key.to_vec(), entry);
                    placed.push((bytes, self.advance(bytes.len())));
                }
                Err(e) => {
                    refused = Err(e);
                    break;
                }
            }
        }
        let added = &tensors[..placed.len()];
        let staged = match self.data.as_mut() {
            Some(data) => data.append_many(start, &placed),
            None => Err(Error::InvalidArgument("writer already finished".into())),
        };
        match staged {
            Ok(crcs) => {
                for (t, crc32c) in added.iter().zip(crcs) {
                    if let Some(entry) = self.entries.get_mut(t.key) {
                        entry.crc32c = crc::mask(crc32c);
                    }
                }
                refused
            }
            Err(e) => {
                for t in added {
                    self.entries.remove(t.key);
                }
                Err(e)
            }
        }
    }

    fn check_new_key(&self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(self.invalid(key, "the empty name is reserved for the header".into()));
        }
        if self.entries.contains_key(key) {
            return Err(self.invalid(key, "a tensor with this name was already added".into()));
        }
        Ok(())
    }

    /// Adds one slice of the partitioned tensor `name` of shape `full_shape`. A slice that covers
    /// the whole tensor is stored as an ordinary tensor, as TensorFlow does.
    pub fn add_slice(
        &mut self,
        name: &[u8],
        full_shape: &[i64],
        slice: &TensorSlice,
        dtype: DataType,
        payload: Payload<'_>,
    ) -> Result<()> {
        if let Some(bad) = slice.extents.iter().find(|e| !(*e == &Extent::FULL || (e.start >= 0 && e.length > 0))) {
            return Err(self.invalid(
                name,
                format!(
                    "slice extents need a non-negative start and a positive length, got {},{}",
                    bad.start, bad.length
                ),
            ));
        }
        if name.is_empty() {
            return Err(self.invalid(name, "the empty name is reserved for the header".into()));
        }
        let full = TensorShape::new(full_shape.to_vec());
        let (full_dims, _) = checked_shape(&full).map_err(|e| self.invalid(name, e))?;
        let region = slices::resolve(slice, &full_dims).map_err(|e| self.invalid(name, e))?;
        let slice_shape: Vec<i64> = region.iter().map(|&(_, len)| len as i64).collect();
        if slice_shape.as_slice() == full_shape {
            return self.add(name, dtype, full_shape, payload);
        }
        match self.entries.get(name) {
            Some(existing) if existing.slices.is_empty() => {
                return Err(self.invalid(name, "a whole tensor with this name was already added".into()));
            }
            Some(existing) if existing.dtype != dtype.0 || existing.shape != full => {
                return Err(self.invalid(name, "slices of one tensor must agree on dtype and full shape".into()));
            }
            Some(existing) if existing.slices.contains(slice) => {
                return Err(self.invalid(name, "this slice was already added".into()));
            }
            Some(existing) => {
                // Extents were resolved against this same full shape when they were added.
                let taken = existing
                    .slices
                    .iter()
                    .find(|s| slices::resolve(s, &full_dims).is_ok_and(|other| slices::overlap(&other, &region)));
                if let Some(taken) = taken {
                    return Err(self.invalid(name, slices::overlap_error(taken, slice)));
                }
            }
            None => {}
        }
        let key = slices::slice_key(name, slice);
        let entry = self.append(name, dtype, &slice_shape, payload)?;
        self.entries.insert(key, entry);
        let full_entry = self.entries.entry(name.to_vec()).or_insert_with(|| BundleEntry {
            dtype: dtype.0,
            shape: full,
            ..BundleEntry::default()
        });
        full_entry.slices.push(slice.clone());
        Ok(())
    }

    /// Writes the payload to the data file and returns its entry, whose checksum covers the bytes
    /// as they were staged for the file.
    fn append(&mut self, key: &[u8], dtype: DataType, shape: &[i64], payload: Payload<'_>) -> Result<BundleEntry> {
        let encoded;
        let (mut entry, bytes, crc32c): (BundleEntry, &[u8], u32) = match payload {
            Payload::Fixed(bytes) => (self.fixed_entry(key, dtype, shape, bytes)?, bytes, 0), // computed while staging
            Payload::Strings(elements) | Payload::Variants(elements) => {
                let (entry, count) = self.entry(key, dtype, shape)?;
                encoded = match (dtype.layout(), payload) {
                    (Some(Layout::String), Payload::Strings(_)) if elements.len() == count => {
                        strings::encode(elements.iter().copied())
                    }
                    (Some(Layout::Variant), Payload::Variants(_)) if elements.len() == count => {
                        variant::check(elements).map_err(|e| self.invalid(key, e))?;
                        variant::encode(elements)
                    }
                    (layout, _) => return Err(self.mismatch(key, dtype, count, layout)),
                };
                (entry, &encoded.0, encoded.1)
            }
        };
        entry.size = bytes.len() as i64;
        let start = self.offset;
        let padding = self.advance(bytes.len());
        let data = self.data.as_mut().ok_or_else(|| Error::InvalidArgument("writer already finished".into()))?;
        let staged = data.append(start, bytes, padding)?;
        // Strings and variants were encoded into our own buffer, whose checksum (a different
        // formula over the same bytes) the encoder computed.
        entry.crc32c = if let Payload::Fixed(_) = payload { crc::mask(staged) } else { crc32c };
        Ok(entry)
    }

    /// The entry of a tensor of `shape` about to be appended at the end of the data file (size and
    /// checksum still 0), and its element count.
    fn entry(&self, key: &[u8], dtype: DataType, shape: &[i64]) -> Result<(BundleEntry, usize)> {
        let shape = TensorShape::new(shape.to_vec());
        let (_, count) = checked_shape(&shape).map_err(|e| self.invalid(key, e))?;
        let entry = BundleEntry {
            dtype: dtype.0,
            shape,
            shard_id: self.shard_id,
            offset: self.offset as i64,
            ..BundleEntry::default()
        };
        Ok((entry, count))
    }

    /// The entry of a fixed-size tensor whose `bytes` are about to be appended (checksum still 0),
    /// once they are checked to be its elements.
    fn fixed_entry(&self, key: &[u8], dtype: DataType, shape: &[i64], bytes: &[u8]) -> Result<BundleEntry> {
        let (mut entry, count) = self.entry(key, dtype, shape)?;
        match dtype.layout() {
            Some(Layout::Fixed { size, .. }) if Some(bytes.len()) == count.checked_mul(size) => {}
            Some(Layout::Fixed { .. }) => {
                return Err(self
                    .invalid(key, format!("{} bytes given for {count} elements of {}", bytes.len(), dtype.describe())))
            }
            layout => return Err(self.mismatch(key, dtype, count, layout)),
        }
        entry.size = bytes.len() as i64;
        Ok(entry)
    }

    /// The error for a payload that is not of `dtype`'s kind, or a dtype no checkpoint holds.
    fn mismatch(&self, key: &[u8], dtype: DataType, count: usize, layout: Option<Layout>) -> Error {
        match layout {
            None => self.invalid(key, format!("{} cannot be stored in a checkpoint", dtype.describe())),
            Some(_) => self.invalid(key, format!("the data does not match {} with {count} elements", dtype.describe())),
        }
    }

    /// Moves the end of the data file past `size` bytes just placed and returns the zeros that
    /// must follow them so that the next tensor starts aligned.
    fn advance(&mut self, size: usize) -> usize {
        self.offset += size as u64;
        let padding = (self.alignment - self.offset % self.alignment) % self.alignment;
        self.offset += padding;
        #[allow(clippy::cast_possible_truncation, reason = "padding < alignment, which was a usize")]
        let padding = padding as usize;
        padding
    }

    /// Writes the index and renames both files into place. On failure both temporary files are
    /// removed and whatever was at the prefix before is left as it was.
    pub fn finish(mut self) -> Result<()> {
        let data = self.data.take().ok_or_else(|| Error::InvalidArgument("writer already finished".into()))?;
        if !self.allow_partial_slices {
            self.check_partitions_complete()?;
        }
        let header = BundleHeader::new(self.num_shards);
        match data.into_destination()? {
            Destination::Local(data) => {
                let index = write_index(&naming::index_path(&self.prefix), &header, &self.entries)?;
                atomic_file::commit_all(vec![data, index], self.sync)
            }
            Destination::Remote { upload, replaced_index } => {
                let index_location = Location::of(&self.prefix)?.with_suffix(naming::INDEX_SUFFIX);
                let mut index = Vec::new();
                encode_index(&mut index, &header, &self.entries)
                    .map_err(|e| Error::io(naming::index_path(&self.prefix), e))?;
                let staged = upload.stage()?;
                replaced_index.delete()?;
                staged.complete()?;
                index_location.write(&index, false)
            }
        }
    }
}

/// `prefix` as a writer's: a path plus a file name stem, and `alignment` at least 1.
fn checked_prefix(prefix: &Path, alignment: usize) -> Result<PathBuf> {
    if alignment == 0 {
        return Err(Error::InvalidArgument("alignment must be at least 1".into()));
    }
    let raw = prefix.as_os_str().as_encoded_bytes();
    let stem = raw.rsplit(|&b| std::path::is_separator(char::from(b))).next().unwrap_or_default();
    if matches!(stem, b"" | b"." | b"..") {
        return Err(Error::InvalidArgument(format!(
            "checkpoint prefix {} names a folder; a prefix is a path plus a file name stem, such as {}",
            prefix.display(),
            prefix.join("ckpt").display()
        )));
    }
    Ok(prefix.to_path_buf())
}

impl BundleWriter {
    /// Every partitioned tensor must be whole: its slices (which do not overlap) must hold all of
    /// its elements, or TensorFlow refuses to restore it ("Does not have sufficient slices").
    fn check_partitions_complete(&self) -> Result<()> {
        for (name, entry) in self.entries.iter().filter(|(_, e)| !e.slices.is_empty()) {
            let (dims, count) = checked_shape(&entry.shape).map_err(|e| self.invalid(name, e))?;
            let covered: usize = entry
                .slices
                .iter()
                .filter_map(|s| slices::resolve(s, &dims).ok())
                .map(|region| region.iter().map(|&(_, len)| len).product::<usize>())
                .sum();
            if covered != count {
                let added: Vec<String> = entry.slices.iter().map(slices::spec).collect();
                return Err(Error::InvalidArgument(format!(
                    "cannot finish {}: the slices of partitioned tensor '{}' hold {covered} of its {count} \
                     elements (slices added: {}); TensorFlow could not restore it",
                    self.prefix.display(),
                    display_key(name),
                    added.join(" ")
                )));
            }
        }
        Ok(())
    }
}

/// The data file, written through staging buffers: tensor bytes are copied into a buffer of
/// [`STAGING`] bytes and checksummed there, and that same buffer is what reaches the file.
///
/// Payloads come in batches (one tensor, or the tensors of one `add_many`), each staged as one
/// stream. A large batch is written by two threads, so that the kernel's copy into the page cache
/// (the slower half) runs all the time: this one copies and checksums chunk after chunk while a
/// second thread writes the full ones, up to [`PIPELINE_DEPTH`] chunks behind.
///
/// ```text
/// caller's array ──copy──▶ chunk ──crc32c──▶ full ═══▶ writer thread ──write──▶ file
///                           ▲                                 │
///                           └────────── empty chunk ◀─────────┘
/// ```
/// The writer thread lives for one batch (a scoped thread, so nothing outlives the call and a
/// `fork()`ed child inherits no half-used pipeline); it hands each chunk back once written, so
/// the buffers are allocated once per sink and their pages touched once.
#[derive(Debug)]
struct DataSink {
    file: Destination,
    /// The chunk being filled; what a payload leaves here is written with the next ones.
    staging: Vec<u8>,
    /// Empty chunks for the pipeline, kept between payloads.
    spare: Vec<Vec<u8>>,
}

/// A batch at least this large is written by two threads ([`DataSink`]); below it a second
/// thread costs more to start than it saves.
const PIPELINE_MIN: usize = 4 * STAGING;

/// Full chunks waiting for the writer thread at most, which bounds a sink's memory to
/// `(PIPELINE_DEPTH + 2) * STAGING` and lets either thread run ahead through a short stall of the other.
const PIPELINE_DEPTH: usize = 4;

/// Where the staged chunks of the data file go.
#[derive(Debug)]
enum Destination {
    Local(AtomicFile),
    /// `replaced_index`: the index that points at the data object this upload would replace (the
    /// checkpoint's own, or for a part the merged checkpoint's), deleted before the upload completes.
    Remote {
        upload: Upload,
        replaced_index: crate::storage::Remote,
    },
}

/// A batch at least this large has its range of a local data file reserved before it is written
/// ([`AtomicFile::preallocate`]: on ext4 that takes a quarter to a third off the kernel's time in
/// the writes; in one call for the whole batch, so it does not contend with the writer thread).
const PREALLOCATE_MIN: usize = STAGING;

impl Destination {
    /// Reserves the `len` bytes from `start` that are about to be written, where that is cheaper.
    fn preallocate(&mut self, start: u64, len: u64) {
        if let Destination::Local(file) = self {
            file.preallocate(start, len);
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Destination::Local(file) => {
                let written = bytes.chunks(WRITE_CALL).try_for_each(|call| file.file().write_all(call));
                written.map_err(|e| Error::io(file.path(), e))
            }
            Destination::Remote { upload, .. } => upload.write(bytes),
        }
    }
}

impl DataSink {
    fn new(file: Destination) -> Self {
        DataSink { file, staging: Vec::with_capacity(STAGING), spare: Vec::new() }
    }

    /// Appends `bytes` followed by `padding` zeros at `start` (the end of what was appended
    /// before), and returns the crc32c (unmasked) of the copy of `bytes` that will reach the file.
    fn append(&mut self, start: u64, bytes: &[u8], padding: usize) -> Result<u32> {
        Ok(self.append_many(start, &[(bytes, padding)])?[0])
    }

    /// Appends each payload followed by its padding of zeros, as one stream from `start` (the
    /// writer's offset before them: the end of what was appended before), and returns the crc32c
    /// (unmasked) of each payload's copy that will reach the file.
    fn append_many(&mut self, start: u64, payloads: &[(&[u8], usize)]) -> Result<Vec<u32>> {
        let total = payloads.iter().map(|&(bytes, padding)| bytes.len() + padding).sum::<usize>();
        if total >= PREALLOCATE_MIN {
            self.file.preallocate(start, total as u64);
        }
        let mut batch = Batch::new(payloads);
        if total >= PIPELINE_MIN {
            if let Some(written) = self.append_pipelined(&mut batch) {
                return written.map(|()| batch.crcs);
            }
        }
        loop {
            batch.stage(&mut self.staging);
            if batch.is_done() {
                return Ok(batch.crcs);
            }
            self.file.write_all(&self.staging)?;
            self.staging.clear();
        }
    }

    /// Stages the whole batch on this thread while a scoped thread writes the full chunks. `None`
    /// when that thread could not be started (nothing staged then: the caller goes on alone).
    fn append_pipelined(&mut self, batch: &mut Batch<'_>) -> Option<Result<()>> {
        self.spare.resize_with(PIPELINE_DEPTH + 1, || Vec::with_capacity(STAGING));
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(PIPELINE_DEPTH);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        let DataSink { file, staging, spare } = self;
        let (written, mut chunk) = std::thread::scope(|scope| {
            let writer = std::thread::Builder::new().name("fastckpt-write".into()).spawn_scoped(scope, move || {
                for mut chunk in full_rx {
                    file.write_all(&chunk)?; // returning drops `full_rx`: the stager stops
                    chunk.clear();
                    // Fails only once the stager is done and needs no more chunks.
                    let _ = empty_tx.send(chunk);
                }
                Ok(())
            });
            let writer = writer.ok()?;
            let mut chunk = std::mem::take(staging);
            loop {
                batch.stage(&mut chunk);
                if batch.is_done() {
                    break;
                }
                // Either failing means the writer stopped on an error, which its join returns.
                if let Err(mpsc::SendError(unsent)) = full_tx.send(chunk) {
                    chunk = unsent;
                    break;
                }
                match spare.pop().or_else(|| empty_rx.recv().ok()) {
                    Some(empty) => chunk = empty,
                    None => {
                        chunk = Vec::new();
                        break;
                    }
                }
            }
            drop(full_tx);
            let written = writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Some((written, chunk))
        })?;
        self.spare.extend(empty_rx.try_iter());
        if written.is_err() {
            chunk.clear(); // after a failed write the file is abandoned; what is left does not matter
        }
        self.staging = chunk;
        Some(written)
    }

    /// Writes what is staged and hands back the destination.
    fn into_destination(mut self) -> Result<Destination> {
        let DataSink { file, staging, .. } = &mut self;
        file.write_all(staging)?;
        Ok(self.file)
    }
}

/// Moves as much of `bytes` as fits into `buffer` and extends `crc` over the copy.
fn stage_bytes(buffer: &mut Vec<u8>, bytes: &mut &[u8], crc: &mut u32) {
    let n = (STAGING - buffer.len()).min(bytes.len());
    let start = buffer.len();
    buffer.extend_from_slice(&bytes[..n]);
    *crc = crc::extend(*crc, &buffer[start..]);
    *bytes = &bytes[n..];
}

/// The payloads of an [`DataSink::append_many`] batch on their way into the staging buffers:
/// each payload's bytes (checksummed as they are copied), then its padding of zeros.
struct Batch<'a> {
    waiting: std::slice::Iter<'a, (&'a [u8], usize)>,
    /// The payload being staged: bytes not yet copied, the crc32c of those copied, zeros to follow.
    current: Option<(&'a [u8], u32, usize)>,
    /// The crc32c of each payload staged whole.
    crcs: Vec<u32>,
}

impl<'a> Batch<'a> {
    fn new(payloads: &'a [(&'a [u8], usize)]) -> Self {
        let mut waiting = payloads.iter();
        let current = waiting.next().map(|&(bytes, padding)| (bytes, 0, padding));
        Batch { waiting, current, crcs: Vec::with_capacity(payloads.len()) }
    }

    fn is_done(&self) -> bool {
        self.current.is_none()
    }

    /// Moves as much of the batch as fits into `buffer`.
    fn stage(&mut self, buffer: &mut Vec<u8>) {
        while let Some((bytes, crc, padding)) = &mut self.current {
            stage_bytes(buffer, bytes, crc);
            let zeros = (STAGING - buffer.len()).min(*padding);
            buffer.resize(buffer.len() + zeros, 0);
            *padding -= zeros;
            if !bytes.is_empty() || *padding > 0 {
                return; // the buffer is full
            }
            self.crcs.push(*crc);
            self.current = self.waiting.next().map(|&(bytes, padding)| (bytes, 0, padding));
        }
    }
}

pub(super) fn write_index(
    path: &Path,
    header: &BundleHeader,
    entries: &BTreeMap<Vec<u8>, BundleEntry>,
) -> Result<AtomicFile> {
    let mut index = AtomicFile::create(path)?;
    encode_index(BufWriter::with_capacity(WRITE_BUFFER, index.file()), header, entries)
        .map_err(|e| Error::io(path, e))?;
    Ok(index)
}

/// The index table (header first, then the entries in key order) written to `out`.
pub(super) fn encode_index(
    out: impl Write,
    header: &BundleHeader,
    entries: &BTreeMap<Vec<u8>, BundleEntry>,
) -> std::io::Result<()> {
    let mut table = TableBuilder::new(out);
    table.add(b"", &header.encode())?;
    for (key, entry) in entries {
        table.add(key, &entry.encode())?;
    }
    table.finish()?.flush()
}
