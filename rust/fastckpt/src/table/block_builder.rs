//! Building one block with prefix-compressed keys and a restart point every `restart_interval`
//! entries (the layout is drawn in [`super::block`]).

use crate::varint::put_varint;

#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries since the last restart point.
    counter: usize,
    last_key: Vec<u8>,
}

/// Restart offsets and counts are 32-bit in the format.
#[allow(
    clippy::cast_possible_truncation,
    reason = "blocks stay below 4 GiB: TableBuilder flushes after BLOCK_SIZE and refuses entries of MAX_ENTRY (1 GiB) or more"
)]
fn offset32(n: usize) -> u32 {
    n as u32
}

impl BlockBuilder {
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder { buf: Vec::new(), restarts: vec![0], restart_interval, counter: 0, last_key: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The size the block will have once finished (entries, restart array and count).
    pub fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Adds an entry; keys must arrive in strictly increasing order.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.restart_interval {
            self.last_key.iter().zip(key).take_while(|(a, b)| a == b).count()
        } else {
            self.restarts.push(offset32(self.buf.len()));
            self.counter = 0;
            0
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.counter += 1;
    }

    /// Appends the restart array and returns the block contents; the builder is reset.
    pub fn finish(&mut self) -> Vec<u8> {
        for r in &self.restarts {
            self.buf.extend_from_slice(&r.to_le_bytes());
        }
        self.buf.extend_from_slice(&offset32(self.restarts.len()).to_le_bytes());
        let out = std::mem::take(&mut self.buf);
        self.restarts = vec![0];
        self.counter = 0;
        self.last_key.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::Block;
    use super::*;

    #[test]
    fn empty_block_is_eight_bytes() {
        assert_eq!(BlockBuilder::new(16).finish(), [0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn round_trip_and_seek() {
        let mut b = BlockBuilder::new(4);
        let keys: Vec<Vec<u8>> = (0..50).map(|i| format!("key{i:03}").into_bytes()).collect();
        for k in &keys {
            b.add(k, k);
        }
        let data = b.finish();
        let block = Block::new(&data).unwrap();
        let read: Vec<_> = block.iter().map(|e| e.unwrap().0).collect();
        assert_eq!(read, keys);
        for k in &keys {
            assert_eq!(block.seek(k).unwrap().unwrap().0, *k);
        }
        assert_eq!(block.seek(b"key0105").unwrap().unwrap().0, b"key011");
        assert!(block.seek(b"zzz").unwrap().is_none());
        assert_eq!(block.seek(b"").unwrap().unwrap().0, b"key000");
    }
}
