//! Protocol-buffer wire primitives, written by hand so that the build needs no protoc.
//!
//! ```text
//! varint   7 bits a byte, low group first, bit 7 = "more follows" (at most 10 bytes)
//! tag      varint (field_number << 3 | wire_type)
//! wire 0   varint          wire 1   8 bytes LE
//! wire 2   varint length + bytes    wire 5   4 bytes LE
//! ```
//! Varints themselves are the crate's ([`crate::varint`]). Decoders never trust a length: every
//! read is bounds-checked and fails with [`WireError`].

use crate::varint::{get_varint, put_varint, varint_len, VarintError};

/// Why a byte string is not a valid protobuf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub &'static str);

pub type WireResult<T> = Result<T, WireError>;

pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// An `int32` or enum field's value from its varint: the low 32 bits, as protobuf's parsers keep.
#[allow(clippy::cast_possible_truncation, reason = "protobuf keeps the low 32 bits")]
pub fn varint_to_i32(v: u64) -> i32 {
    v as i32
}

/// A `uint32` field's value from its varint: the low 32 bits, as protobuf's parsers keep.
#[allow(clippy::cast_possible_truncation, reason = "protobuf keeps the low 32 bits")]
pub fn varint_to_u32(v: u64) -> u32 {
    v as u32
}

impl From<VarintError> for WireError {
    fn from(e: VarintError) -> Self {
        WireError(e.0)
    }
}

/// Encodes protobuf fields in the order the caller emits them (callers emit in field-number order,
/// as TensorFlow's serializers do).
#[derive(Debug, Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn tag(&mut self, field: u32, wire: u8) {
        put_varint(&mut self.buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// A varint field, written even when zero (for oneof members and map entries).
    pub fn varint_always(&mut self, field: u32, v: u64) {
        self.tag(field, VARINT);
        put_varint(&mut self.buf, v);
    }

    /// A proto3 scalar varint field: omitted when zero.
    pub fn varint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.varint_always(field, v);
        }
    }

    /// An int32/int64/enum field: negative values take ten bytes, as in C++ protobuf.
    pub fn int64(&mut self, field: u32, v: i64) {
        self.varint(field, v as u64);
    }

    pub fn fixed32(&mut self, field: u32, v: u32) {
        if v != 0 {
            self.tag(field, FIXED32);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub fn bytes_always(&mut self, field: u32, data: &[u8]) {
        self.tag(field, LEN);
        put_varint(&mut self.buf, data.len() as u64);
        self.buf.extend_from_slice(data);
    }

    /// A proto3 string/bytes field: omitted when empty.
    pub fn bytes(&mut self, field: u32, data: &[u8]) {
        if !data.is_empty() {
            self.bytes_always(field, data);
        }
    }

    /// An embedded message, written even when empty.
    pub fn message(&mut self, field: u32, body: &Encoder) {
        self.bytes_always(field, &body.buf);
    }

    /// A packed repeated varint field: omitted when empty.
    pub fn packed_varints(&mut self, field: u32, values: impl Iterator<Item = u64> + Clone) {
        let len: usize = values.clone().map(varint_len).sum();
        if len == 0 {
            return;
        }
        self.tag(field, LEN);
        put_varint(&mut self.buf, len as u64);
        for v in values {
            put_varint(&mut self.buf, v);
        }
    }
}

/// One decoded field value.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    pub fn as_u64(self) -> WireResult<u64> {
        match self {
            Value::Varint(v) | Value::Fixed64(v) => Ok(v),
            Value::Fixed32(v) => Ok(u64::from(v)),
            Value::Len(_) => Err(WireError("expected a number, found a length-delimited field")),
        }
    }

    /// int32 fields are varints whose value must fit 32 bits once sign-extended.
    pub fn as_i32(self) -> WireResult<i32> {
        let v = self.as_u64()? as i64;
        i32::try_from(v).map_err(|_| WireError("int32 field out of range"))
    }

    pub fn as_i64(self) -> WireResult<i64> {
        Ok(self.as_u64()? as i64)
    }

    pub fn as_fixed32(self) -> WireResult<u32> {
        match self {
            Value::Fixed32(v) => Ok(v),
            _ => Err(WireError("expected a fixed32 field")),
        }
    }

    pub fn as_bytes(self) -> WireResult<&'a [u8]> {
        match self {
            Value::Len(b) => Ok(b),
            _ => Err(WireError("expected a length-delimited field")),
        }
    }

    /// A repeated varint field, packed (one LEN record) or not (one varint): calls `f` per value.
    pub fn for_each_varint(self, mut f: impl FnMut(u64) -> WireResult<()>) -> WireResult<()> {
        match self {
            Value::Len(mut b) => {
                while !b.is_empty() {
                    let (v, n) = get_varint(b)?;
                    f(v)?;
                    b = &b[n..];
                }
                Ok(())
            }
            other => f(other.as_u64()?),
        }
    }
}

/// Iterates the fields of one message.
#[derive(Debug)]
pub struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The next `(field_number, value)`, `None` at the end of the message.
    pub fn next_field(&mut self) -> WireResult<Option<(u32, Value<'a>)>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let (tag, n) = get_varint(self.buf)?;
        self.buf = &self.buf[n..];
        let field = u32::try_from(tag >> 3).map_err(|_| WireError("field number too large"))?;
        if field == 0 {
            return Err(WireError("field number 0"));
        }
        let value = match (tag & 7) as u8 {
            VARINT => {
                let (v, n) = get_varint(self.buf)?;
                self.buf = &self.buf[n..];
                Value::Varint(v)
            }
            FIXED64 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| WireError("short"))?)),
            LEN => {
                let (len, n) = get_varint(self.buf)?;
                self.buf = &self.buf[n..];
                let len = usize::try_from(len).map_err(|_| WireError("length too large"))?;
                Value::Len(self.take(len)?)
            }
            FIXED32 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| WireError("short"))?)),
            _ => return Err(WireError("unsupported wire type")),
        };
        Ok(Some((field, value)))
    }

    fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(WireError("field runs past the end of the message"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_int64_takes_ten_bytes() {
        let mut e = Encoder::new();
        e.int64(1, -1);
        assert_eq!(e.buf.len(), 11);
        let (_, v) = Decoder::new(&e.buf).next_field().unwrap().unwrap();
        assert_eq!(v.as_i64().unwrap(), -1);
    }
}
