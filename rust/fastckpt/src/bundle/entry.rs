//! `BundleEntryProto`: where one tensor lives.
//!
//! ```text
//! 1 dtype varint | 2 shape TensorShapeProto (always written, `12 00` for a scalar)
//! 3 shard_id | 4 offset | 5 size          (omitted when 0)
//! 6 crc32c fixed32 (masked)               | 7 slices: repeated TensorSliceProto
//! ```
//! `"a"`, float32 `[3]` at offset 0: `08 01 12 04 12 02 08 03 28 0C 35 73 5B 89 71`.

use crate::dtype::DataType;
use crate::proto::wire::{varint_to_u32, Decoder, Encoder, WireResult};
use crate::proto::{TensorShape, TensorSlice};

/// TensorFlow's limit on the rank of a tensor.
pub const MAX_RANK: usize = 254;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleEntry {
    pub dtype: u32,
    pub shape: TensorShape,
    pub shard_id: i32,
    pub offset: i64,
    pub size: i64,
    /// Masked crc32c of the stored bytes.
    pub crc32c: u32,
    /// Non-empty for a partitioned tensor: the slices stored under their own keys.
    pub slices: Vec<TensorSlice>,
}

impl BundleEntry {
    pub fn dtype(&self) -> DataType {
        DataType(self.dtype)
    }

    pub fn decode(buf: &[u8]) -> WireResult<Self> {
        let mut e = BundleEntry::default();
        let mut d = Decoder::new(buf);
        while let Some((field, value)) = d.next_field()? {
            match field {
                // An enum keeps the low 32 bits, as protobuf (and so TensorFlow) reads it.
                1 => e.dtype = varint_to_u32(value.as_u64()?),
                2 => e.shape = TensorShape::decode(value.as_bytes()?)?,
                3 => e.shard_id = value.as_i32()?,
                4 => e.offset = value.as_i64()?,
                5 => e.size = value.as_i64()?,
                6 => e.crc32c = value.as_fixed32()?,
                7 => e.slices.push(TensorSlice::decode(value.as_bytes()?)?),
                _ => {}
            }
        }
        Ok(e)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.varint(1, u64::from(self.dtype));
        let mut shape = Encoder::new();
        self.shape.encode(&mut shape);
        e.message(2, &shape);
        e.int64(3, i64::from(self.shard_id));
        e.int64(4, self.offset);
        e.int64(5, self.size);
        e.fixed32(6, self.crc32c);
        for slice in &self.slices {
            let mut s = Encoder::new();
            slice.encode(&mut s);
            e.message(7, &s);
        }
        e.buf
    }
}

/// Validates a shape read from a file and returns its dims and element count, or why it is
/// invalid (negative dim, too many dims, element count overflowing i64).
pub fn checked_shape(shape: &TensorShape) -> Result<(Vec<usize>, usize), String> {
    let mut dims = Vec::new();
    let count = push_checked_dims(shape, &mut dims)?;
    Ok((dims, count))
}

/// [`checked_shape`] appending the dims to `dims` (a reader keeps every entry's in one buffer);
/// returns the element count. After an error `dims` may hold some of them.
pub fn push_checked_dims(shape: &TensorShape, dims: &mut Vec<usize>) -> Result<usize, String> {
    if shape.dims.len() > MAX_RANK {
        return Err(format!("shape has {} dimensions, more than the {MAX_RANK} allowed", shape.dims.len()));
    }
    if shape.unknown_rank && !shape.dims.is_empty() {
        return Err("shape has unknown rank but lists dimensions".into());
    }
    let mut count: i64 = 1;
    dims.reserve(shape.dims.len());
    for &d in &shape.dims {
        if d < 0 {
            return Err(format!("shape {:?} has a negative dimension", shape.dims));
        }
        count = count.checked_mul(d).ok_or_else(|| format!("shape {:?} has too many elements", shape.dims))?;
        dims.push(usize::try_from(d).map_err(|_| "dimension too large".to_string())?);
    }
    usize::try_from(count).map_err(|_| format!("shape {:?} has too many elements", shape.dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crc;
    use crate::proto::Extent;

    #[test]
    fn golden_entries() {
        let a = BundleEntry {
            dtype: 1,
            shape: TensorShape::new(vec![3]),
            size: 12,
            crc32c: 0x7189_5B73,
            ..Default::default()
        };
        assert_eq!(
            a.encode(),
            [0x08, 0x01, 0x12, 0x04, 0x12, 0x02, 0x08, 0x03, 0x28, 0x0C, 0x35, 0x73, 0x5B, 0x89, 0x71]
        );
        assert_eq!(BundleEntry::decode(&a.encode()).unwrap(), a);
        // testdata.md §3.6: float [0,3], no data.
        let empty =
            BundleEntry { dtype: 1, shape: TensorShape::new(vec![0, 3]), crc32c: crc::mask(0), ..Default::default() };
        assert_eq!(
            empty.encode(),
            [0x08, 0x01, 0x12, 0x06, 0x12, 0x00, 0x12, 0x02, 0x08, 0x03, 0x35, 0xD8, 0xEA, 0x82, 0xA2]
        );
        // testdata.md §3.3: partitioned `part` with [0:2, full] and [2:4, full].
        let part = BundleEntry {
            dtype: 1,
            shape: TensorShape::new(vec![4, 6]),
            slices: vec![
                TensorSlice { extents: vec![Extent { start: 0, length: 2 }, Extent::FULL] },
                TensorSlice { extents: vec![Extent { start: 2, length: 2 }, Extent::FULL] },
            ],
            ..Default::default()
        };
        assert_eq!(
            part.encode(),
            [
                0x08, 0x01, 0x12, 0x08, 0x12, 0x02, 0x08, 0x04, 0x12, 0x02, 0x08, 0x06, 0x3A, 0x06, 0x0A, 0x02, 0x10,
                0x02, 0x0A, 0x00, 0x3A, 0x08, 0x0A, 0x04, 0x08, 0x02, 0x10, 0x02, 0x0A, 0x00
            ]
        );
        assert_eq!(BundleEntry::decode(&part.encode()).unwrap(), part);
    }

    #[test]
    fn shapes() {
        assert_eq!(checked_shape(&TensorShape::new(vec![])), Ok((vec![], 1)));
        assert_eq!(checked_shape(&TensorShape::new(vec![2, 0, 3])), Ok((vec![2, 0, 3], 0)));
        assert!(checked_shape(&TensorShape::new(vec![-1])).is_err());
        assert!(checked_shape(&TensorShape::new(vec![1 << 40, 1 << 40])).is_err());
        assert!(checked_shape(&TensorShape::new(vec![1; 255])).is_err());
    }
}
