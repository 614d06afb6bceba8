//! Writing a bundle, streaming: each tensor is appended to the data file as it is added (memory
//! for one tensor at most), the sorted index is written at `finish`.
//!
//! Both files are written under temporary names in the target folder and renamed into place at the
//! end, data file first: until then an earlier checkpoint at the same prefix stays whole, and a
//! reader that mapped the old files keeps valid pages. Dropping an unfinished writer deletes the
//! temporary files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IoSlice, Write};
use std::path::{Path, PathBuf};

use super::entry::{checked_shape, BundleEntry};
use super::header::BundleHeader;
use super::{naming, slices, strings, variant};
use crate::crc;
use crate::dtype::{DataType, Layout};
use crate::error::{display_key, Error, Result};
use crate::proto::{Extent, TensorShape, TensorSlice};
use crate::table::TableBuilder;

/// The index file buffer.
const WRITE_BUFFER: usize = 1 << 20;

/// Pieces of the data file smaller than this are gathered in memory; larger ones go to the kernel
/// straight from the caller's buffer (one copy instead of two).
const GATHER_BELOW: usize = 8 << 10;

/// Gathered bytes are written once there are this many.
const GATHER_LIMIT: usize = 1 << 20;

/// From this size on, a tensor is written in chunks of this size, each checksummed on another
/// thread while the next is written; below it, handing work to another thread costs more than it
/// saves.
const OVERLAP_CRC_FROM: usize = 4 << 20;

#[derive(Debug)]
pub struct BundleWriter {
    prefix: PathBuf,
    alignment: u64,
    data_tmp: PathBuf,
    data: Option<DataSink>,
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

impl BundleWriter {
    /// Starts a checkpoint at `prefix`, creating its folder if needed. `alignment` (≥ 1) pads
    /// every tensor's start to a multiple of that many bytes; 1 writes what TensorFlow writes.
    pub fn create(prefix: impl AsRef<Path>, alignment: usize) -> Result<Self> {
        let prefix = prefix.as_ref().to_path_buf();
        if alignment == 0 {
            return Err(Error::InvalidArgument("alignment must be at least 1".into()));
        }
        if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let data_tmp = naming::temp_path(&naming::data_path(&prefix, 0, 1));
        let file = File::create(&data_tmp).map_err(|e| Error::io(&data_tmp, e))?;
        Ok(BundleWriter {
            prefix,
            alignment: alignment as u64,
            data_tmp,
            data: Some(DataSink { file, gathered: Vec::with_capacity(GATHER_LIMIT) }),
            offset: 0,
            entries: BTreeMap::new(),
        })
    }

    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    fn invalid(&self, key: &[u8], what: String) -> Error {
        Error::InvalidArgument(format!("cannot add tensor '{}' to {}: {what}", display_key(key), self.prefix.display()))
    }

    /// Adds a whole tensor.
    pub fn add(&mut self, key: &[u8], dtype: DataType, shape: &[i64], payload: Payload<'_>) -> Result<()> {
        if key.is_empty() {
            return Err(self.invalid(key, "the empty name is reserved for the header".into()));
        }
        if self.entries.contains_key(key) {
            return Err(self.invalid(key, "a tensor with this name was already added".into()));
        }
        let entry = self.append(key, dtype, shape, payload)?;
        self.entries.insert(key.to_vec(), entry);
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
            _ => {}
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

    /// Writes the payload to the data file (checksumming in parallel with the write) and returns
    /// its entry.
    fn append(&mut self, key: &[u8], dtype: DataType, shape: &[i64], payload: Payload<'_>) -> Result<BundleEntry> {
        let shape = TensorShape::new(shape.to_vec());
        let (_, count) = checked_shape(&shape).map_err(|e| self.invalid(key, e))?;
        let encoded;
        let (bytes, crc32c): (&[u8], u32) = match (dtype.layout(), payload) {
            (Some(Layout::Fixed { size, .. }), Payload::Fixed(bytes)) => {
                if Some(bytes.len()) != count.checked_mul(size) {
                    return Err(self.invalid(
                        key,
                        format!("{} bytes given for {count} elements of {}", bytes.len(), dtype.describe()),
                    ));
                }
                (bytes, 0)
            }
            (Some(Layout::String), Payload::Strings(elements)) if elements.len() == count => {
                encoded = strings::encode(elements.iter().copied());
                (&encoded.0, encoded.1)
            }
            (Some(Layout::Variant), Payload::Variants(elements)) if elements.len() == count => {
                encoded = variant::encode(elements);
                (&encoded.0, encoded.1)
            }
            (None, _) => {
                return Err(self.invalid(key, format!("{} cannot be stored in a checkpoint", dtype.describe())))
            }
            _ => {
                return Err(
                    self.invalid(key, format!("the data does not match {} with {count} elements", dtype.describe()))
                )
            }
        };
        let data = self.data.as_mut().ok_or_else(|| Error::InvalidArgument("writer already finished".into()))?;
        let write = match payload {
            Payload::Fixed(_) if bytes.len() >= OVERLAP_CRC_FROM => write_checksummed(data, bytes),
            Payload::Fixed(_) => data.write_all(bytes).map(|()| crc::mask(crc::value(bytes))),
            _ => data.write_all(bytes).map(|()| crc32c),
        };
        let crc32c = write.map_err(|e| Error::io(&self.data_tmp, e))?;
        let entry = BundleEntry {
            dtype: dtype.0,
            shape,
            shard_id: 0,
            offset: self.offset as i64,
            size: bytes.len() as i64,
            crc32c,
            slices: Vec::new(),
        };
        self.offset += bytes.len() as u64;
        let padding = (self.alignment - self.offset % self.alignment) % self.alignment;
        const ZEROS: [u8; 4096] = [0; 4096];
        let mut left = padding as usize;
        while left > 0 {
            let n = left.min(ZEROS.len());
            data.write_all(&ZEROS[..n]).map_err(|e| Error::io(&self.data_tmp, e))?;
            left -= n;
        }
        self.offset += padding;
        Ok(entry)
    }

    /// Writes the index and renames both files into place. On failure both temporary files are
    /// removed and whatever was at the prefix before is left as it was.
    pub fn finish(mut self) -> Result<()> {
        let data = self.data.take().ok_or_else(|| Error::InvalidArgument("writer already finished".into()))?;
        let index_path = naming::index_path(&self.prefix);
        let index_tmp = naming::temp_path(&index_path);
        let data_path = naming::data_path(&self.prefix, 0, 1);
        let result = data
            .into_file()
            .map_err(|e| Error::io(&self.data_tmp, e))
            .and_then(|_| write_index(&index_tmp, &BundleHeader::new(1), &self.entries))
            .and_then(|()| replace(&self.data_tmp, &data_path))
            .and_then(|()| std::fs::rename(&index_tmp, &index_path).map_err(|e| Error::io(&index_path, e)));
        if result.is_err() {
            let _ = std::fs::remove_file(&self.data_tmp);
            let _ = std::fs::remove_file(&index_tmp);
        }
        result
    }
}

/// Writes a large tensor in chunks while another thread checksums the chunk written just before,
/// which the copy into the page cache has left in the CPU cache: the checksum costs neither a
/// second pass over memory nor time on the writing thread. Returns the masked crc32c.
fn write_checksummed(data: &mut DataSink, bytes: &[u8]) -> std::io::Result<u32> {
    let mut crc = 0u32;
    let mut previous: &[u8] = &[];
    for chunk in bytes.chunks(OVERLAP_CRC_FROM) {
        let (extended, written) = rayon::join(|| crc::extend(crc, previous), || data.write_all(chunk));
        written?;
        crc = extended;
        previous = chunk;
    }
    Ok(crc::mask(crc::extend(crc, previous)))
}

/// The data file: small pieces (small tensors, padding) are gathered and written together; a
/// large tensor is written from the caller's memory along with what was gathered (one `writev`).
#[derive(Debug)]
struct DataSink {
    file: File,
    gathered: Vec<u8>,
}

impl DataSink {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.len() < GATHER_BELOW {
            self.gathered.extend_from_slice(bytes);
            if self.gathered.len() >= GATHER_LIMIT {
                self.file.write_all(&self.gathered)?;
                self.gathered.clear();
            }
            return Ok(());
        }
        let mut slices = [IoSlice::new(&self.gathered), IoSlice::new(bytes)];
        let mut remaining = &mut slices[..];
        while !remaining.is_empty() {
            let written = self.file.write_vectored(remaining)?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut remaining, written);
        }
        self.gathered.clear();
        Ok(())
    }

    /// Writes what is gathered and hands back the file.
    fn into_file(mut self) -> std::io::Result<File> {
        self.file.write_all(&self.gathered)?;
        Ok(self.file)
    }
}

/// Renames `from` over `to`. Freeing the blocks and cached pages of a large file that is replaced
/// can take longer than writing the new one; an open handle on the old file keeps that work off the
/// caller's path, and a background thread releases it.
fn replace(from: &Path, to: &Path) -> Result<()> {
    let previous = File::open(to).ok();
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))?;
    if let Some(previous) = previous {
        std::thread::spawn(move || drop(previous));
    }
    Ok(())
}

/// Writes an index file: the header under the empty key, then the entries in key order.
pub(super) fn write_index(path: &Path, header: &BundleHeader, entries: &BTreeMap<Vec<u8>, BundleEntry>) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut table = TableBuilder::new(BufWriter::with_capacity(WRITE_BUFFER, file));
    let io = |e| Error::io(path, e);
    table.add(b"", &header.encode()).map_err(io)?;
    for (key, entry) in entries {
        table.add(key, &entry.encode()).map_err(io)?;
    }
    table.finish().map_err(io)?.into_inner().map_err(|e| io(e.into_error()))?;
    Ok(())
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        if self.data.take().is_some() {
            let _ = std::fs::remove_file(&self.data_tmp);
        }
    }
}
