//! Writing a table exactly as TensorFlow's `TableBuilder` does for bundles (256 KiB blocks,
//! restart interval 16 in data blocks and 1 in the index block, no compression, shortened index
//! keys), so that our `.index` files are byte-identical to TensorFlow's.

use std::io::Write;

use super::block_builder::BlockBuilder;
use super::handle::{BlockHandle, Footer};
use super::NO_COMPRESSION;
use crate::crc;

pub const BLOCK_SIZE: usize = 256 * 1024;
pub const RESTART_INTERVAL: usize = 16;
/// Entries (key + value) must stay below this, so that every block stays far below the 4 GiB its
/// 32-bit restart offsets can address. (Index entries are tensor names and small protos.)
pub const MAX_ENTRY: usize = 1 << 30;

#[derive(Debug)]
pub struct TableBuilder<W: Write> {
    out: W,
    offset: u64,
    block_size: usize,
    data: BlockBuilder,
    index: BlockBuilder,
    last_key: Vec<u8>,
    num_entries: u64,
    /// Handle of the last flushed data block, waiting for the next key to choose its separator.
    pending: Option<BlockHandle>,
}

impl<W: Write> TableBuilder<W> {
    pub fn new(out: W) -> Self {
        Self::with_block_size(out, BLOCK_SIZE)
    }

    /// A builder with another block size (tests use tiny blocks to exercise multi-block tables).
    pub fn with_block_size(out: W, block_size: usize) -> Self {
        TableBuilder {
            out,
            offset: 0,
            block_size,
            data: BlockBuilder::new(RESTART_INTERVAL),
            index: BlockBuilder::new(1),
            last_key: Vec::new(),
            num_entries: 0,
            pending: None,
        }
    }

    /// Adds an entry. Keys must be strictly increasing (callers sort them).
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        debug_assert!(self.num_entries == 0 || key > self.last_key.as_slice());
        if key.len().saturating_add(value.len()) >= MAX_ENTRY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "an index entry of {} bytes (key of {} bytes) is too large",
                    key.len() + value.len(),
                    key.len()
                ),
            ));
        }
        if self.num_entries > 0 && key.len() + value.len() >= 2 * self.block_size {
            self.flush()?;
        }
        if let Some(handle) = self.pending.take() {
            let separator = shortest_separator(&self.last_key, key);
            self.add_index_entry(&separator, handle);
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.num_entries += 1;
        self.data.add(key, value);
        if self.data.size_estimate() >= self.block_size {
            self.flush()?;
        }
        Ok(())
    }

    fn add_index_entry(&mut self, key: &[u8], handle: BlockHandle) {
        let mut value = Vec::with_capacity(20);
        handle.encode(&mut value);
        self.index.add(key, &value);
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let contents = self.data.finish();
        self.pending = Some(self.write_block(&contents)?);
        Ok(())
    }

    fn write_block(&mut self, contents: &[u8]) -> std::io::Result<BlockHandle> {
        let handle = BlockHandle { offset: self.offset, size: contents.len() as u64 };
        let mut trailer = [NO_COMPRESSION, 0, 0, 0, 0];
        let checksum = crc::mask(crc::extend(crc::value(contents), &[NO_COMPRESSION]));
        trailer[1..].copy_from_slice(&checksum.to_le_bytes());
        self.out.write_all(contents)?;
        self.out.write_all(&trailer)?;
        self.offset += (contents.len() + trailer.len()) as u64;
        Ok(handle)
    }

    /// Writes the remaining data block, the empty metaindex block, the index block and the footer;
    /// returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.flush()?;
        let metaindex = self.write_block(&BlockBuilder::new(RESTART_INTERVAL).finish())?;
        if let Some(handle) = self.pending.take() {
            let successor = short_successor(&self.last_key);
            self.add_index_entry(&successor, handle);
        }
        let index_contents = self.index.finish();
        let index = self.write_block(&index_contents)?;
        self.out.write_all(&Footer { metaindex, index }.encode())?;
        Ok(self.out)
    }
}

/// A key `s` with `start <= s < limit`, shortened where one byte can be bumped.
fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let common = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
    if common < start.len().min(limit.len()) {
        let byte = start[common];
        if byte < 0xFF && byte + 1 < limit[common] {
            let mut s = start[..=common].to_vec();
            s[common] += 1;
            return s;
        }
    }
    start.to_vec()
}

/// A short key `>= key`: the first byte that is not 0xFF, bumped, and nothing after it.
fn short_successor(key: &[u8]) -> Vec<u8> {
    match key.iter().position(|&b| b != 0xFF) {
        Some(i) => {
            let mut s = key[..=i].to_vec();
            s[i] += 1;
            s
        }
        None => key.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::reader::Table;
    use super::*;

    #[test]
    fn separators() {
        assert_eq!(shortest_separator(b"abc", b"abe"), b"abd");
        assert_eq!(shortest_separator(b"abc", b"abd"), b"abc");
        assert_eq!(shortest_separator(b"ab", b"abc"), b"ab");
        assert_eq!(shortest_separator(b"layer_05222/k", b"layer_05223/k"), b"layer_05222/k");
        assert_eq!(short_successor(b"sc/.ATTRIBUTES/VARIABLE_VALUE"), b"t");
        assert_eq!(short_successor(b"\xFF\xFFa"), b"\xFF\xFFb");
        assert_eq!(short_successor(b"\xFF"), b"\xFF");
    }

    #[test]
    fn multi_block_round_trip() {
        let mut b = TableBuilder::with_block_size(Vec::new(), 256);
        let keys: Vec<Vec<u8>> = (0..500).map(|i| format!("k{i:05}").into_bytes()).collect();
        for k in &keys {
            b.add(k, &[7u8; 13]).unwrap();
        }
        let file = b.finish().unwrap();
        let path = std::path::Path::new("mem");
        let t = Table::open(path, &file).unwrap();
        let mut seen = Vec::new();
        t.for_each(|k, v| {
            assert_eq!(v, &[7u8; 13]);
            seen.push(k.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, keys);
        for k in &keys {
            assert!(t.get(k).unwrap().is_some());
        }
        assert!(t.get(b"k00100x").unwrap().is_none());
        assert!(t.get(b"zzz").unwrap().is_none());
    }
}
