//! `TensorShapeProto { repeated Dim dim = 2; bool unknown_rank = 3; }`,
//! `Dim { int64 size = 1; string name = 2; }`.
//!
//! A scalar has no dims and encodes as nothing; `[3]` encodes as `12 02 08 03`; a dim of size 0
//! still gets its sub-message (`12 00`).

use smallvec::SmallVec;

use super::wire::{Decoder, Encoder, WireError, WireResult};

/// A shape as stored in files. Sizes are kept as read (possibly negative = unknown); callers
/// validate before using them to size anything. Dims up to rank 4 are held inline, so decoding
/// the entries of an index allocates nothing per shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TensorShape {
    pub dims: SmallVec<[i64; 4]>,
    pub unknown_rank: bool,
}

/// More dims than any real tensor has; bounds the work a hostile shape can cause.
pub const MAX_DECODED_DIMS: usize = 1024;

impl TensorShape {
    pub fn new(dims: Vec<i64>) -> Self {
        Self { dims: dims.into(), unknown_rank: false }
    }

    pub fn decode(buf: &[u8]) -> WireResult<Self> {
        let mut shape = TensorShape::default();
        let mut d = Decoder::new(buf);
        while let Some((field, value)) = d.next_field()? {
            match field {
                2 => {
                    if shape.dims.len() >= MAX_DECODED_DIMS {
                        return Err(WireError("shape has too many dimensions"));
                    }
                    let mut size = 0;
                    let mut dim = Decoder::new(value.as_bytes()?);
                    while let Some((f, v)) = dim.next_field()? {
                        if f == 1 {
                            size = v.as_i64()?;
                        }
                    }
                    shape.dims.push(size);
                }
                3 => shape.unknown_rank = value.as_u64()? != 0,
                _ => {}
            }
        }
        Ok(shape)
    }

    pub fn encode(&self, out: &mut Encoder) {
        for &size in &self.dims {
            let mut dim = Encoder::new();
            dim.int64(1, size);
            out.message(2, &dim);
        }
        out.varint(3, u64::from(self.unknown_rank));
    }
}
