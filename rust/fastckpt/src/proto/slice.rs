//! `TensorSliceProto { repeated Extent extent = 1; }`,
//! `Extent { int64 start = 1; oneof { int64 length = 2; } }`.
//!
//! One extent per dimension. A full dimension is an empty `Extent` (`0A 00`); a partial one has
//! `start` (omitted when 0) and `length` (always written: it sits in a oneof). `[0:2, full]` is
//! `0A 02 10 02 0A 00`.

use super::wire::{Decoder, Encoder, WireError, WireResult};

/// `length` of an extent that covers its whole dimension.
pub const FULL_LENGTH: i64 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub start: i64,
    /// [`FULL_LENGTH`] for the whole dimension.
    pub length: i64,
}

impl Extent {
    pub const FULL: Extent = Extent { start: 0, length: FULL_LENGTH };

    pub fn is_full(&self) -> bool {
        self.length == FULL_LENGTH
    }

    /// `(start, length)` within a dimension of `dim` elements.
    pub fn resolve(&self, dim: i64) -> (i64, i64) {
        if self.is_full() {
            (0, dim)
        } else {
            (self.start, self.length)
        }
    }
}

/// The part of a tensor a slice entry holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TensorSlice {
    pub extents: Vec<Extent>,
}

impl TensorSlice {
    pub fn decode(buf: &[u8]) -> WireResult<Self> {
        let mut extents = Vec::new();
        let mut d = Decoder::new(buf);
        while let Some((field, value)) = d.next_field()? {
            if field != 1 {
                continue;
            }
            if extents.len() >= super::shape::MAX_DECODED_DIMS {
                return Err(WireError("slice has too many extents"));
            }
            let mut extent = Extent::FULL;
            let mut e = Decoder::new(value.as_bytes()?);
            while let Some((f, v)) = e.next_field()? {
                match f {
                    1 => extent.start = v.as_i64()?,
                    2 => extent.length = v.as_i64()?,
                    _ => {}
                }
            }
            extents.push(extent);
        }
        Ok(TensorSlice { extents })
    }

    pub fn encode(&self, out: &mut Encoder) {
        for extent in &self.extents {
            let mut e = Encoder::new();
            if !extent.is_full() {
                e.int64(1, extent.start);
                e.varint_always(2, extent.length as u64);
            }
            out.message(1, &e);
        }
    }
}
