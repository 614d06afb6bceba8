//! Reading one block.
//!
//! ```text
//! entry*                  shared varint32 | non_shared varint32 | value_len varint32
//!                         | key bytes after the shared prefix | value
//! restart[R]              fixed32 LE: offsets of entries stored with shared = 0
//! R                       fixed32 LE
//! ```
//! Every offset and length is checked against the block before use.

use crate::varint::get_varint;

/// A block's contents (without trailer), validated just enough to find its restart array.
#[derive(Debug)]
pub struct Block<'a> {
    data: &'a [u8],
    /// Where the entries end and the restart array begins.
    restarts_at: usize,
    num_restarts: usize,
}

/// One entry: full key and value.
pub type Entry<'a> = (Vec<u8>, &'a [u8]);

impl<'a> Block<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self, &'static str> {
        if data.len() < 4 {
            return Err("bad block contents (shorter than 4 bytes)");
        }
        let num_restarts = read_u32(data, data.len() - 4) as usize;
        let max_restarts = (data.len() - 4) / 4;
        if num_restarts > max_restarts {
            return Err("bad block contents (restart count does not fit the block)");
        }
        if num_restarts == 0 {
            return Err("bad block contents (no restart points)");
        }
        let restarts_at = data.len() - 4 - 4 * num_restarts;
        // Restart points: the first entry, then strictly increasing offsets inside the entries.
        // (Iteration checks that each one starts an entry stored without a shared prefix.)
        let mut previous = None;
        for i in 0..num_restarts {
            let offset = read_u32(data, restarts_at + 4 * i) as usize;
            let valid = match previous {
                None => offset == 0,
                Some(p) => offset > p && offset < restarts_at,
            };
            if !valid {
                return Err("bad restart point in block (out of order or outside the entries)");
            }
            previous = Some(offset);
        }
        Ok(Block { data, restarts_at, num_restarts })
    }

    /// Decodes the entry at `pos` given the previous key; returns the next position.
    fn entry_at(&self, pos: usize, key: &mut Vec<u8>) -> Result<(usize, &'a [u8]), &'static str> {
        const BAD: &str = "bad entry in block";
        let entries = &self.data[..self.restarts_at];
        let mut p = pos;
        let mut next = || -> Result<usize, &'static str> {
            let (v, n) = get_varint(entries.get(p..).ok_or(BAD)?).map_err(|_| BAD)?;
            p += n;
            usize::try_from(v).ok().filter(|&v| v <= u32::MAX as usize).ok_or(BAD)
        };
        let shared = next()?;
        let non_shared = next()?;
        let value_len = next()?;
        if shared > key.len() {
            return Err(BAD);
        }
        let key_end = p.checked_add(non_shared).ok_or(BAD)?;
        let value_end = key_end.checked_add(value_len).ok_or(BAD)?;
        if value_end > entries.len() {
            return Err(BAD);
        }
        key.truncate(shared);
        key.extend_from_slice(&entries[p..key_end]);
        Ok((value_end, &entries[key_end..value_end]))
    }

    /// All entries in order.
    pub fn iter(&self) -> BlockIter<'a, '_> {
        BlockIter { block: self, pos: 0, key: Vec::new(), next_restart: 0 }
    }

    fn restart(&self, i: usize) -> Result<usize, &'static str> {
        let offset = read_u32(self.data, self.restarts_at + 4 * i) as usize;
        if offset >= self.restarts_at {
            return Err("bad restart point in block (points past the entries)");
        }
        Ok(offset)
    }

    /// The first entry whose key is `>= target`, found by binary search over the restart points
    /// and a scan within the last restart interval before it.
    pub fn seek(&self, target: &[u8]) -> Result<Option<Entry<'a>>, &'static str> {
        if self.num_restarts == 0 {
            return Ok(None);
        }
        // Find the last restart whose key is < target.
        let (mut lo, mut hi) = (0usize, self.num_restarts - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            // Starting from an empty key, an entry that claims a shared prefix is refused.
            let mut key = Vec::new();
            self.entry_at(self.restart(mid)?, &mut key)?;
            if key.as_slice() < target {
                lo = mid
            } else {
                hi = mid - 1
            }
        }
        let mut pos = self.restart(lo)?;
        let mut key = Vec::new();
        while pos < self.restarts_at {
            let (next, value) = self.entry_at(pos, &mut key)?;
            if key.as_slice() >= target {
                return Ok(Some((key, value)));
            }
            pos = next;
        }
        Ok(None)
    }
}

fn read_u32(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[at..at + 4]);
    u32::from_le_bytes(b)
}

#[derive(Debug)]
pub struct BlockIter<'a, 'b> {
    block: &'b Block<'a>,
    pos: usize,
    key: Vec<u8>,
    /// Index of the next restart point the iteration must land on.
    next_restart: usize,
}

impl<'a> BlockIter<'a, '_> {
    fn step(&mut self) -> Result<Entry<'a>, &'static str> {
        let restart_offset = |i: usize| read_u32(self.block.data, self.block.restarts_at + 4 * i) as usize;
        if self.next_restart < self.block.num_restarts && restart_offset(self.next_restart) == self.pos {
            // A restart entry shares nothing: with the key cleared, a claimed prefix is refused.
            self.key.clear();
            self.next_restart += 1;
        }
        let (next, value) = self.block.entry_at(self.pos, &mut self.key)?;
        if self.next_restart < self.block.num_restarts && restart_offset(self.next_restart) < next {
            return Err("bad restart point in block (points inside an entry)");
        }
        self.pos = next;
        Ok((self.key.clone(), value))
    }
}

impl<'a> Iterator for BlockIter<'a, '_> {
    type Item = Result<Entry<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.block.restarts_at {
            return None;
        }
        let step = self.step();
        if step.is_err() {
            self.pos = self.block.restarts_at;
        }
        Some(step)
    }
}
