//! Block handles and the footer.
//!
//! ```text
//! handle  varint64 offset, varint64 size          (size excludes the 5-byte trailer)
//! footer  metaindex handle, index handle, zero padding to byte 40,
//!         magic 57 FB 80 8B 24 75 47 DB           (0xdb4775248b80fb57, low word first)
//! ```

use crate::varint::{get_varint, put_varint};

pub const FOOTER_LEN: usize = 48;
pub const MAGIC: u64 = 0xdb47_7524_8b80_fb57;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    pub offset: u64,
    pub size: u64,
}

impl BlockHandle {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.offset);
        put_varint(out, self.size);
    }

    /// Decodes a handle from the start of `buf`; trailing bytes are ignored, as TensorFlow does.
    pub fn decode(buf: &[u8]) -> Option<(BlockHandle, usize)> {
        let (offset, a) = get_varint(buf).ok()?;
        let (size, b) = get_varint(&buf[a..]).ok()?;
        Some((BlockHandle { offset, size }, a + b))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub metaindex: BlockHandle,
    pub index: BlockHandle,
}

impl Footer {
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut buf = Vec::with_capacity(FOOTER_LEN);
        self.metaindex.encode(&mut buf);
        self.index.encode(&mut buf);
        buf.resize(FOOTER_LEN - 8, 0);
        buf.extend_from_slice(&MAGIC.to_le_bytes());
        let mut out = [0u8; FOOTER_LEN];
        out.copy_from_slice(&buf);
        out
    }

    pub fn decode(buf: &[u8; FOOTER_LEN]) -> Result<Footer, &'static str> {
        let magic = u64::from_le_bytes(buf[40..].try_into().map_err(|_| "short footer")?);
        if magic != MAGIC {
            return Err("not an sstable (bad magic number)");
        }
        let (metaindex, n) = BlockHandle::decode(&buf[..40]).ok_or("bad block handle in footer")?;
        let (index, _) = BlockHandle::decode(&buf[n..40]).ok_or("bad block handle in footer")?;
        Ok(Footer { metaindex, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_footer() {
        // tensor-bundle.md §10: metaindex (62, 8), index (75, 14).
        let f = Footer { metaindex: BlockHandle { offset: 62, size: 8 }, index: BlockHandle { offset: 75, size: 14 } };
        let bytes = f.encode();
        assert_eq!(&bytes[..4], &[0x3E, 0x08, 0x4B, 0x0E]);
        assert!(bytes[4..40].iter().all(|&b| b == 0));
        assert_eq!(&bytes[40..], &[0x57, 0xFB, 0x80, 0x8B, 0x24, 0x75, 0x47, 0xDB]);
        assert_eq!(Footer::decode(&bytes), Ok(f));
    }
}
