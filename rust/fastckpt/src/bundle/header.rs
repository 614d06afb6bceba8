//! `BundleHeaderProto { int32 num_shards = 1; Endianness endianness = 2; VersionDef version = 3; }`,
//! stored under the empty key. A little-endian single-shard header is `08 01 1A 02 08 01`.

use crate::proto::wire::{Decoder, Encoder, WireResult};
use crate::proto::VersionDef;

/// Byte order of the tensor data (protos and the table are always little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endianness {
    Little,
    Big,
}

/// The bundle format version this library writes and accepts (`kTensorBundleVersion`).
pub const BUNDLE_VERSION: i32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleHeader {
    pub num_shards: i32,
    pub endianness: Endianness,
    pub version: VersionDef,
}

impl BundleHeader {
    pub fn new(num_shards: i32) -> Self {
        BundleHeader {
            num_shards,
            endianness: Endianness::Little,
            version: VersionDef { producer: BUNDLE_VERSION, ..VersionDef::default() },
        }
    }

    pub fn decode(buf: &[u8]) -> WireResult<Self> {
        let mut header = BundleHeader { num_shards: 0, endianness: Endianness::Little, version: VersionDef::default() };
        let mut d = Decoder::new(buf);
        while let Some((field, value)) = d.next_field()? {
            match field {
                1 => header.num_shards = value.as_i32()?,
                2 => header.endianness = if value.as_u64()? == 1 { Endianness::Big } else { Endianness::Little },
                3 => header.version = VersionDef::decode(value.as_bytes()?)?,
                _ => {}
            }
        }
        Ok(header)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.int64(1, i64::from(self.num_shards));
        e.varint(2, u64::from(self.endianness == Endianness::Big));
        let mut v = Encoder::new();
        self.version.encode(&mut v);
        e.message(3, &v);
        e.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_headers() {
        assert_eq!(BundleHeader::new(1).encode(), [0x08, 0x01, 0x1A, 0x02, 0x08, 0x01]);
        let be = BundleHeader { endianness: Endianness::Big, ..BundleHeader::new(1) };
        assert_eq!(be.encode(), [0x08, 0x01, 0x10, 0x01, 0x1A, 0x02, 0x08, 0x01]);
        assert_eq!(BundleHeader::decode(&be.encode()).unwrap(), be);
    }
}
