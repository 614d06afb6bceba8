//! Opening a table held in memory (a mapped or read file): footer, index block, then data blocks
//! on demand, each checked against its trailer crc before use.
//!
//! The table's ordering is checked as it is read, since lookups depend on it:
//! ```text
//! index block   sep[0] < sep[1] < … < sep[k]              (checked at open)
//! data block i  sep[i-1] < first key < … < last key <= sep[i]
//! ```
//! A file that breaks it would have TensorFlow look for a key in the wrong block (or give an entry
//! back under a damaged name), so it is refused as corrupt.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::block::Block;
use super::handle::{BlockHandle, Footer, FOOTER_LEN};
use super::{BLOCK_TRAILER_LEN, NO_COMPRESSION, SNAPPY_COMPRESSION};
use crate::crc;
use crate::error::{display_key, Error, Result};

/// Largest expansion a raw Snappy block can claim for its size (a 3-byte copy op emits at most
/// 64 bytes); a claim beyond it is a lie and is refused before allocating.
const MAX_SNAPPY_RATIO: usize = 32;

#[derive(Debug)]
pub struct Table<'a> {
    path: PathBuf,
    file: &'a [u8],
    index: Cow<'a, [u8]>,
}

impl<'a> Table<'a> {
    pub fn open(path: &Path, file: &'a [u8]) -> Result<Self> {
        let corrupt = |d: &str| Error::corrupt(path, d);
        let footer_at =
            file.len().checked_sub(FOOTER_LEN).ok_or_else(|| corrupt("file is too short to be an sstable"))?;
        let footer_bytes: &[u8; FOOTER_LEN] =
            file[footer_at..].try_into().map_err(|_| corrupt("file is too short to be an sstable"))?;
        let footer = Footer::decode(footer_bytes).map_err(corrupt)?;
        let mut table = Table { path: path.to_path_buf(), file, index: Cow::Borrowed(&[]) };
        table.index = table.read_block(footer.index, "index")?;
        table.check_index_order()?;
        Ok(table)
    }

    /// A table of `file` whose index block `index` was taken from [`Table::index`] of an earlier
    /// [`Table::open`] of the same bytes, and so is not checked again: a reader that looks up
    /// many keys opens the table once and keeps its index.
    pub fn with_index(path: &Path, file: &'a [u8], index: &'a [u8]) -> Self {
        Table { path: path.to_path_buf(), file, index: Cow::Borrowed(index) }
    }

    /// The index block's contents, checked (crc, key order).
    pub fn index(&self) -> &[u8] {
        &self.index
    }

    fn corrupt(&self, detail: String) -> Error {
        Error::corrupt(&self.path, detail)
    }

    /// Reads a block's contents, verifying the trailer crc and decompressing Snappy blocks.
    fn read_block(&self, handle: BlockHandle, what: &str) -> Result<Cow<'a, [u8]>> {
        let start = usize::try_from(handle.offset).ok();
        let size = usize::try_from(handle.size).ok();
        let end = start
            .zip(size)
            .and_then(|(s, n)| s.checked_add(n)?.checked_add(BLOCK_TRAILER_LEN))
            .filter(|&end| end <= self.file.len())
            .ok_or_else(|| {
                self.corrupt(format!(
                    "truncated block read: {what} block at offset {} size {} runs past the end of the {}-byte file",
                    handle.offset,
                    handle.size,
                    self.file.len()
                ))
            })?;
        let (start, size) = (end - BLOCK_TRAILER_LEN - size.unwrap_or(0), size.unwrap_or(0));
        let file: &'a [u8] = self.file;
        let contents = &file[start..start + size];
        let kind = file[start + size];
        let stored = u32::from_le_bytes([
            file[start + size + 1],
            file[start + size + 2],
            file[start + size + 3],
            file[start + size + 4],
        ]);
        let actual = crc::extend(crc::value(contents), &[kind]);
        if crc::unmask(stored) != actual {
            return Err(self.corrupt(format!("block checksum mismatch in {what} block at offset {start}")));
        }
        match kind {
            NO_COMPRESSION => Ok(Cow::Borrowed(contents)),
            SNAPPY_COMPRESSION => {
                let len = snap::raw::decompress_len(contents)
                    .map_err(|e| self.corrupt(format!("{what} block at offset {start}: bad Snappy data: {e}")))?;
                if len > contents.len().saturating_mul(MAX_SNAPPY_RATIO) + 64 {
                    return Err(self.corrupt(format!(
                        "{what} block at offset {start}: Snappy header claims {len} bytes from {size}"
                    )));
                }
                let out = snap::raw::Decoder::new()
                    .decompress_vec(contents)
                    .map_err(|e| self.corrupt(format!("{what} block at offset {start}: bad Snappy data: {e}")))?;
                Ok(Cow::Owned(out))
            }
            other => Err(self.corrupt(format!("bad block type {other} for {what} block at offset {start}"))),
        }
    }

    /// Separator keys strictly increasing: the binary search over the index relies on it.
    fn check_index_order(&self) -> Result<()> {
        let mut previous: Option<Vec<u8>> = None;
        for entry in self.index_block()?.iter() {
            let (separator, _) = entry.map_err(|e| self.corrupt(format!("index block: {e}")))?;
            if previous.as_ref().is_some_and(|p| p.as_slice() >= separator.as_slice()) {
                return Err(
                    self.corrupt(format!("index block keys out of order (at separator '{}')", display_key(&separator)))
                );
            }
            previous = Some(separator);
        }
        Ok(())
    }

    fn index_block(&self) -> Result<Block<'_>> {
        Block::new(&self.index).map_err(|e| self.corrupt(format!("index block: {e}")))
    }

    fn data_block_handle(&self, value: &[u8]) -> Result<BlockHandle> {
        BlockHandle::decode(value).map(|(h, _)| h).ok_or_else(|| self.corrupt("bad block handle in index block".into()))
    }

    /// Calls `f` with every entry in key order. Keys must be strictly increasing across the whole
    /// table and each data block must hold exactly the keys its index separator stands for: above
    /// the previous block's separator, at most its own.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        let mut last: Option<Vec<u8>> = None;
        let mut previous_separator: Option<Vec<u8>> = None;
        for index_entry in self.index_block()?.iter() {
            let (separator, handle) = index_entry.map_err(|e| self.corrupt(format!("index block: {e}")))?;
            let handle = self.data_block_handle(handle)?;
            let contents = self.read_block(handle, "data")?;
            let block = Block::new(&contents).map_err(|e| self.corrupt(format!("data block: {e}")))?;
            let out_of_place = |key: &[u8], why: &str| {
                self.corrupt(format!("key '{}' in data block at offset {} {why}", display_key(key), handle.offset))
            };
            for (i, entry) in block.iter().enumerate() {
                let (key, value) =
                    entry.map_err(|e| self.corrupt(format!("data block at offset {}: {e}", handle.offset)))?;
                if last.as_ref().is_some_and(|l| l.as_slice() >= key.as_slice()) {
                    return Err(out_of_place(&key, "is out of order (keys must be strictly increasing)"));
                }
                if i == 0 && previous_separator.as_ref().is_some_and(|p| p.as_slice() >= key.as_slice()) {
                    return Err(out_of_place(&key, "is not above the previous block's index separator"));
                }
                if key.as_slice() > separator.as_slice() {
                    return Err(out_of_place(
                        &key,
                        &format!("is above the block's index separator '{}'", display_key(&separator)),
                    ));
                }
                f(&key, value)?;
                last = Some(key);
            }
            previous_separator = Some(separator);
        }
        Ok(())
    }

    /// The value stored under exactly `key`, found by binary search in the index block and then in
    /// one data block.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_in(key, <[u8]>::to_vec)
    }

    /// `f` of the value stored under exactly `key`, without copying it out of its block (which
    /// lies in the file's mapping, unless the block was compressed).
    pub fn get_in<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let index = self.index_block()?;
        let Some((_, handle)) = index.seek(key).map_err(|e| self.corrupt(format!("index block: {e}")))? else {
            return Ok(None);
        };
        let handle = self.data_block_handle(handle)?;
        let contents = self.read_block(handle, "data")?;
        let block = Block::new(&contents).map_err(|e| self.corrupt(format!("data block: {e}")))?;
        match block.seek(key).map_err(|e| self.corrupt(format!("data block: {e}")))? {
            Some((found, value)) if found == key => Ok(Some(f(value))),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::block_builder::BlockBuilder;
    use super::super::handle::BlockHandle;
    use super::*;

    fn write_block(file: &mut Vec<u8>, contents: &[u8]) -> BlockHandle {
        let handle = BlockHandle { offset: file.len() as u64, size: contents.len() as u64 };
        let checksum = crc::mask(crc::extend(crc::value(contents), &[NO_COMPRESSION]));
        file.extend_from_slice(contents);
        file.push(NO_COMPRESSION);
        file.extend_from_slice(&checksum.to_le_bytes());
        handle
    }

    /// A table of these data blocks under these index keys, every block checksum valid.
    fn table(blocks: &[&[&str]], separators: &[&str]) -> Vec<u8> {
        let mut file = Vec::new();
        let mut index = BlockBuilder::new(1);
        for (keys, separator) in blocks.iter().zip(separators) {
            let mut block = BlockBuilder::new(16);
            keys.iter().for_each(|k| block.add(k.as_bytes(), b"v"));
            let mut handle = Vec::new();
            write_block(&mut file, &block.finish()).encode(&mut handle);
            index.add(separator.as_bytes(), &handle);
        }
        let metaindex = write_block(&mut file, &BlockBuilder::new(16).finish());
        let index = write_block(&mut file, &index.finish());
        file.extend_from_slice(&Footer { metaindex, index }.encode());
        file
    }

    fn keys(file: &[u8]) -> Result<Vec<String>> {
        let table = Table::open(Path::new("t.index"), file)?;
        let mut keys = Vec::new();
        table.for_each(|k, _| {
            keys.push(String::from_utf8_lossy(k).into_owned());
            Ok(())
        })?;
        Ok(keys)
    }

    fn refusal(file: &[u8]) -> String {
        let message = keys(file).unwrap_err().to_string();
        assert!(message.starts_with("corrupt checkpoint file t.index: "), "{message}");
        message
    }

    #[test]
    fn separators_bound_their_blocks() {
        assert_eq!(keys(&table(&[&["a", "b"], &["c"]], &["b", "c"])).unwrap(), ["a", "b", "c"]);
        assert_eq!(keys(&table(&[&["a", "b"], &["c"]], &["bz", "d"])).unwrap(), ["a", "b", "c"]);
        let message = refusal(&table(&[&["a", "b"]], &["a"]));
        assert!(message.contains("key 'b' in data block at offset 0 is above the block's index separator 'a'"));
        let message = refusal(&table(&[&["a"], &["c"]], &["c", "d"]));
        assert!(message.contains("key 'c' in data block at offset 18 is not above the previous block's"));
        let message = refusal(&table(&[&["b", "a"]], &["z"]));
        assert!(message.contains("key 'a' in data block at offset 0 is out of order"), "{message}");
    }

    #[test]
    fn separators_increase() {
        for separators in [["z", "d"], ["d", "d"]] {
            let message = refusal(&table(&[&["a"], &["c"]], &separators));
            assert!(message.contains("index block keys out of order (at separator 'd')"), "{message}");
        }
    }
}
