//! The protobuf binary format for [`Message`]s, written the way TensorFlow writes it with
//! deterministic serialization (`saved_model.pb`, `.meta`, binary `write_graph`), so that bytes
//! TensorFlow wrote decode and encode back to the same bytes.
//!
//! ```text
//! record   tag varint (number << 3 | wire) + payload       wire 0 varint | 1 8 bytes LE
//!                                                           2 varint length + bytes | 5 4 bytes LE
//! GraphDef 0A <len> [NodeDef: 0A 01 'a' 12 05 'C' 'o' 'n' 's' 't' 2A <len> [0A 01 'T' 12 02 30 01] ...]
//!          22 <len> [VersionDef: 08 <producer>]
//! ```
//! Writing: fields in number order; proto3 scalars at their default omitted; messages and oneof
//! members written whenever set; repeated numbers packed into one record; map entries with both
//! key and value (`attr {"": {}}` → `2A 04 0A 00 12 00`), in TensorFlow's order ([`MapOrder`]) or
//! as read; negative int32, int64 and enum values as ten-byte varints; unknown records last, as
//! read.
//!
//! Reading first checks the whole input, every nested message included, for everything below that
//! refuses it; then it decodes the top message's own records and leaves each sub-message encoded
//! (a slice of the input, decoded on first read, see [`message`](super::message)). Errors are
//! thus found at parse, as protobuf finds them, and a failed [`merge`] changes nothing.
//!
//! Reading accepts what protobuf accepts: any field order, packed or unpacked numbers (several
//! packed records concatenate), a singular message given twice merges, a scalar or oneof given
//! twice keeps the last, map entries without key or value, a known field with an unexpected wire
//! type kept as unknown; a `string` field that is not UTF-8 is refused in proto3 messages (all
//! but [`PROTO2_MESSAGES`](super::schema::PROTO2_MESSAGES)), as protobuf refuses it. Lengths are checked against the buffer (no 2 GiB limit), nesting is
//! capped at [`MAX_DEPTH`], and every element decoded consumes input, so memory stays in
//! proportion to the input. Strings and bytes are slices of the input [`Bytes`], not copies.

use std::cmp::Ordering;
use std::fmt;
use std::io::Write;

use bytes::Bytes;

use super::message::{Elem, List, Map, MapKey, Message, Value};
use super::schema::{FieldDesc, Kind, Label, MessageDesc};
use super::wire::{varint_to_i32, varint_to_u32, FIXED32, FIXED64, LEN, VARINT};
use crate::varint::{get_varint, put_varint, varint_len};

/// How deep messages may nest (protobuf's default recursion limit).
pub const MAX_DEPTH: usize = 100;

const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;

/// Why bytes are not a valid message of the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The message type being decoded at the top.
    pub message: &'static str,
    /// Field names from the top message down to where decoding failed.
    pub path: Vec<&'static str>,
    pub what: &'static str,
    /// Offset in the input.
    pub offset: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}", self.message)?;
        if !self.path.is_empty() {
            write!(f, " in field {}", self.path.join("."))?;
        }
        write!(f, ": {} at byte {}", self.what, self.offset)
    }
}

impl std::error::Error for DecodeError {}

type DecodeResult<T> = Result<T, DecodeError>;

/// What a step of reading found wrong, and where: kept this small because every step returns
/// it; the [`DecodeError`] (message type, field path) is built only once reading has failed.
#[derive(Debug, Clone, Copy)]
struct Fail {
    at: usize,
    what: &'static str,
}

impl Fail {
    fn new(at: usize, what: &'static str) -> Self {
        Self { at, what }
    }

    /// The error for a message of type `top`, `path` its fields down to where reading failed.
    #[cold]
    fn into_error(self, top: &MessageDesc, path: Vec<&'static str>) -> DecodeError {
        DecodeError { message: top.name, path, what: self.what, offset: self.at }
    }
}

type ReadResult<T> = Result<T, Fail>;

/// Decodes a message of type `desc`. Strings and bytes in the result share `data`'s buffer;
/// sub-messages stay encoded until first read (see [`message`](super::message)).
pub fn decode(desc: &'static MessageDesc, data: Bytes) -> DecodeResult<Message> {
    let mut msg = Message::new(desc);
    merge(&mut msg, data)?;
    Ok(msg)
}

/// Decodes `data` into `msg` as protobuf merges: scalars replaced, lists appended, messages
/// merged. The whole input is checked first, so that an error leaves `msg` as it was and what
/// stays encoded is known to decode.
pub fn merge(msg: &mut Message, data: Bytes) -> DecodeResult<()> {
    let reader = Reader { buf: &data, src: &data };
    reader.check(msg.desc())?;
    reader.message(msg, 0, data.len()).map_err(|e| e.into_error(msg.desc(), Vec::new()))
}

/// Decodes the fields of a message left encoded by [`merge`], which checked them.
pub(crate) fn decode_checked(desc: &'static MessageDesc, data: &Bytes) -> Message {
    let mut msg = Message::new(desc);
    if let Err(e) = (Reader { buf: data, src: data }).message(&mut msg, 0, data.len()) {
        // Cannot happen: `check` accepts only what decodes. Should it ever, the bytes are kept
        // whole as unknown, so that nothing is lost.
        debug_assert!(false, "checked bytes of a {} do not decode: {e:?}", desc.name);
        msg = Message::new(desc);
        msg.unknown_mut().push(data.clone());
    }
    msg
}

/// One record's payload, located in the input.
#[derive(Clone, Copy)]
enum Raw {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(usize, usize),
    Group,
}

/// A message the check pass is inside.
struct Frame {
    scope: Scope,
    /// Where its records end.
    end: usize,
    /// The field holding it, for error paths (none for the top and a map entry's value).
    field: Option<&'static FieldDesc>,
}

/// What the records of a message the check pass is inside are.
#[derive(Clone, Copy)]
enum Scope {
    /// The fields of a message of this type.
    Message(&'static MessageDesc),
    /// An entry `{key = 1; value = 2}` of this map field (of the message one frame out).
    Entry(&'static FieldDesc),
}

impl Scope {
    /// The kind of field `number`, and the field unless it is a map entry's key or value.
    #[inline]
    fn field(self, number: u32) -> Option<(Kind, Option<&'static FieldDesc>)> {
        match self {
            Scope::Message(desc) => desc.field_by_number(number).map(|f| (f.kind, Some(f))),
            Scope::Entry(map) => match (number, map.label) {
                (1, Label::Map(key)) => Some((key, None)),
                (2, _) => Some((map.kind, None)),
                _ => None,
            },
        }
    }
}

/// Whether the `string` records of `here` must be UTF-8: those of a proto3 message, and of a
/// map entry of one (the message one frame out).
#[cold]
fn checks_utf8(outer: &[Frame], here: &Frame) -> bool {
    match (here.scope, outer.last().map(|f| f.scope)) {
        (Scope::Message(desc), _) | (Scope::Entry(_), Some(Scope::Message(desc))) => desc.checks_utf8(),
        (Scope::Entry(_), _) => true,
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    src: &'a Bytes,
}

impl Reader<'_> {
    // --- checking: every error a message can hold, found without building anything ---------
    //
    // One loop over every record of the input, nested messages included. Instead of recursing
    // it keeps a stack of the messages it is inside; the field names on that stack are the path
    // of an error, built only on failure.

    /// Checks the whole buffer as a message of type `desc`, and every message inside it.
    fn check(&self, desc: &'static MessageDesc) -> DecodeResult<()> {
        let mut outer: Vec<Frame> = Vec::with_capacity(8);
        let mut here = Frame { scope: Scope::Message(desc), end: self.buf.len(), field: None };
        let mut pos = 0;
        // The error for a failure in the current message (`field`: inside that field's record).
        let fail = |outer: &[Frame], here: &Frame, field: Option<&'static FieldDesc>, fail: Fail| {
            let path = outer.iter().chain([here]).filter_map(|f| f.field).chain(field).map(|f| f.name).collect();
            fail.into_error(desc, path)
        };
        loop {
            while pos >= here.end {
                match outer.pop() {
                    Some(frame) => here = frame,
                    None => return Ok(()),
                }
            }
            let (number, wire) = self.tag(&mut pos, here.end).map_err(|e| fail(&outer, &here, None, e))?;
            if wire == VARINT {
                varint(self.buf, &mut pos, here.end).map_err(|e| fail(&outer, &here, None, e))?;
                continue;
            }
            if wire != LEN {
                // Fixed-width numbers and groups: nothing in them to check beyond reading them.
                self.payload(&mut pos, here.end, number, wire, outer.len())
                    .map_err(|e| fail(&outer, &here, None, e))?;
                continue;
            }
            let (start, end) = self.len_payload(&mut pos, here.end).map_err(|e| fail(&outer, &here, None, e))?;
            let Some((kind, field)) = here.scope.field(number) else { continue };
            let scope = match (field, kind) {
                (Some(map @ FieldDesc { label: Label::Map(_), .. }), _) => Scope::Entry(map),
                (_, Kind::Message(inner)) => Scope::Message(inner),
                (Some(FieldDesc { label: Label::Repeated, .. }), kind) if kind.is_packable() => {
                    check_packed(kind, &self.buf[start..end], start).map_err(|e| fail(&outer, &here, field, e))?;
                    continue;
                }
                (_, Kind::String) => {
                    let text = &self.buf[start..end];
                    if !is_ascii(text) && std::str::from_utf8(text).is_err() && checks_utf8(&outer, &here) {
                        let e = Fail::new(start, "string field is not valid UTF-8");
                        return Err(fail(&outer, &here, field, e));
                    }
                    continue;
                }
                _ => continue,
            };
            if outer.len() >= MAX_DEPTH {
                return Err(fail(&outer, &here, field, Fail::new(start, "messages nested too deeply")));
            }
            outer.push(std::mem::replace(&mut here, Frame { scope, end, field }));
            pos = start;
        }
    }

    // --- decoding one level of checked bytes ------------------------------------------------

    /// Decodes the records in `pos..end` into `msg`; sub-messages are left encoded, except one
    /// given again for a singular field, which merges into the first.
    fn message(&self, msg: &mut Message, mut pos: usize, end: usize) -> ReadResult<()> {
        let desc = msg.desc();
        msg.begin_decode();
        while pos < end {
            let start = pos;
            let (number, wire) = self.tag(&mut pos, end)?;
            let raw = self.payload(&mut pos, end, number, wire, 0)?;
            let known = match desc.index_of_number(number) {
                Some(index) => self.field(msg, index, raw)?,
                None => false,
            };
            if !known {
                msg.unknown_mut().push(self.src.slice(start..pos));
            }
        }
        msg.end_decode();
        Ok(())
    }

    /// A sub-message left encoded.
    fn encoded(&self, desc: &'static MessageDesc, start: usize, end: usize) -> Message {
        Message::encoded(desc, self.src.slice(start..end))
    }

    /// Stores one record of a known field; `false` when its wire type does not fit the field.
    fn field(&self, msg: &mut Message, index: usize, raw: Raw) -> ReadResult<bool> {
        let field = msg.field_at(index);
        match field.label {
            Label::Singular => match (field.kind, raw) {
                (Kind::Message(desc), Raw::Len(start, end)) => match msg.slot_mut(index) {
                    Some(Value::Message(m)) if m.desc() == desc => self.message(m, start, end)?,
                    _ => msg.put(index, Value::from(self.encoded(desc, start, end))),
                },
                (kind, raw) => match self.scalar(kind, raw) {
                    Some(value) => msg.put(index, value),
                    None => return Ok(false),
                },
            },
            Label::Repeated => {
                let slot = msg.entry(index);
                if !matches!(slot, Value::List(_)) {
                    *slot = Value::default_for(field);
                }
                let Value::List(list) = slot else { return Ok(false) };
                match (field.kind, raw, list) {
                    (Kind::Message(desc), Raw::Len(start, end), List::Message(list)) => {
                        list.push(self.encoded(desc, start, end));
                    }
                    (kind, Raw::Len(start, end), list) if kind.is_packable() => {
                        packed(list, kind, &self.buf[start..end], start)?;
                    }
                    (kind, raw, list) => {
                        let pushed = self.scalar(kind, raw).map(|value| list.push(value));
                        if !matches!(pushed, Some(Ok(()))) {
                            return Ok(false);
                        }
                    }
                }
            }
            Label::Map(key_kind) => {
                let Raw::Len(start, end) = raw else { return Ok(false) };
                let (key, value) = self.entry(field, key_kind, start, end)?;
                let slot = msg.entry(index);
                if !matches!(slot, Value::Map(_)) {
                    *slot = Value::default_for(field);
                }
                if let Value::Map(map) = slot {
                    map.insert(key, value);
                }
            }
        }
        Ok(true)
    }

    /// A map entry `{key = 1; value = 2}`; missing parts are defaults.
    fn entry(&self, field: &FieldDesc, key_kind: Kind, mut pos: usize, end: usize) -> ReadResult<(MapKey, Value)> {
        let mut key = MapKey::zero(key_kind);
        let mut value = None;
        while pos < end {
            let (number, wire) = self.tag(&mut pos, end)?;
            let raw = self.payload(&mut pos, end, number, wire, 0)?;
            match (number, field.kind, raw) {
                (1, _, raw) => {
                    if let Some(k) = self.scalar(key_kind, raw).and_then(MapKey::from_value) {
                        key = k;
                    }
                }
                (2, Kind::Message(desc), Raw::Len(start, end)) => match &mut value {
                    Some(Value::Message(m)) => self.message(m, start, end)?,
                    _ => value = Some(Value::from(self.encoded(desc, start, end))),
                },
                (2, kind, raw) => {
                    if let Some(v) = self.scalar(kind, raw) {
                        value = Some(v);
                    }
                }
                _ => {}
            }
        }
        Ok((key, value.unwrap_or_else(|| Value::zero(field.kind))))
    }

    fn scalar(&self, kind: Kind, raw: Raw) -> Option<Value> {
        Some(match (kind, raw) {
            // int32 and enums keep the low 32 bits, as protobuf does.
            (Kind::Int32, Raw::Varint(v)) => Value::I32(varint_to_i32(v)),
            (Kind::Int64, Raw::Varint(v)) => Value::I64(v as i64),
            (Kind::Uint32, Raw::Varint(v)) => Value::U32(varint_to_u32(v)),
            (Kind::Uint64, Raw::Varint(v)) => Value::U64(v),
            (Kind::Sint64, Raw::Varint(v)) => Value::I64(unzigzag(v)),
            (Kind::Bool, Raw::Varint(v)) => Value::Bool(v != 0),
            (Kind::Enum(_), Raw::Varint(v)) => Value::Enum(varint_to_i32(v)),
            (Kind::Float, Raw::Fixed32(v)) => Value::F32(f32::from_bits(v)),
            (Kind::Fixed32, Raw::Fixed32(v)) => Value::U32(v),
            (Kind::Double, Raw::Fixed64(v)) => Value::F64(f64::from_bits(v)),
            (Kind::Fixed64, Raw::Fixed64(v)) => Value::U64(v),
            (Kind::String | Kind::Bytes, Raw::Len(start, end)) => Value::Bytes(self.src.slice(start..end)),
            _ => return None,
        })
    }

    #[inline]
    fn tag(&self, pos: &mut usize, end: usize) -> ReadResult<(u32, u8)> {
        let at = *pos;
        let tag = varint(self.buf, pos, end)?;
        let number = u32::try_from(tag >> 3).ok().filter(|&n| n != 0 && n < 1 << 29);
        let number = number.ok_or(Fail::new(at, "invalid field number"))?;
        Ok((number, (tag & 7) as u8))
    }

    /// Reads a record's payload; groups (wire types 3/4, unused by TensorFlow) are skipped whole.
    fn payload(&self, pos: &mut usize, end: usize, number: u32, wire: u8, depth: usize) -> ReadResult<Raw> {
        let at = *pos;
        Ok(match wire {
            VARINT => Raw::Varint(varint(self.buf, pos, end)?),
            FIXED64 => Raw::Fixed64(u64::from_le_bytes(self.take::<8>(pos, end)?)),
            FIXED32 => Raw::Fixed32(u32::from_le_bytes(self.take::<4>(pos, end)?)),
            LEN => {
                let (start, stop) = self.len_payload(pos, end)?;
                Raw::Len(start, stop)
            }
            START_GROUP => {
                if depth >= MAX_DEPTH {
                    return Err(Fail::new(at, "groups nested too deeply"));
                }
                loop {
                    if *pos >= end {
                        return Err(Fail::new(at, "group without end"));
                    }
                    let (inner, inner_wire) = self.tag(pos, end)?;
                    if inner_wire == END_GROUP {
                        if inner != number {
                            return Err(Fail::new(at, "group ends with another field's number"));
                        }
                        break Raw::Group;
                    }
                    self.payload(pos, end, inner, inner_wire, depth + 1)?;
                }
            }
            END_GROUP => return Err(Fail::new(at, "end of a group that was not started")),
            _ => return Err(Fail::new(at, "invalid wire type")),
        })
    }

    /// Reads the length of a length-delimited record and steps over its bytes: their range.
    #[inline]
    fn len_payload(&self, pos: &mut usize, end: usize) -> ReadResult<(usize, usize)> {
        let at = *pos;
        let len = varint(self.buf, pos, end)?;
        let len = usize::try_from(len).ok().filter(|&n| n <= end - *pos);
        let len = len.ok_or(Fail::new(at, "length runs past the end of the message"))?;
        *pos += len;
        Ok((*pos - len, *pos))
    }

    fn take<const N: usize>(&self, pos: &mut usize, end: usize) -> ReadResult<[u8; N]> {
        let bytes = self.buf.get(*pos..*pos + N).filter(|_| *pos + N <= end);
        let bytes = bytes.ok_or(Fail::new(*pos, "truncated fixed-width value"))?;
        *pos += N;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

#[inline]
fn varint(buf: &[u8], pos: &mut usize, end: usize) -> ReadResult<u64> {
    if let Some(&b) = buf[..end].get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return Ok(u64::from(b));
        }
    }
    let (v, n) = get_varint(&buf[*pos..end]).map_err(|e| Fail::new(*pos, e.0))?;
    *pos += n;
    Ok(v)
}

/// Whether `text` is ASCII: a word at a time, short strings (most names) in two loads.
#[inline]
fn is_ascii(text: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = text.len();
    let word = |at: usize| text.get(at..at + 8).map_or(0, |w| u64::from_le_bytes(eight(w)));
    let half = |at: usize| text.get(at..at + 4).map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    match n {
        0 => true,
        1..=3 => text.iter().fold(0, |high, &b| high | b) < 0x80,
        // The first and the last four bytes, overlapping when fewer than eight.
        4..=8 => (half(0) | half(n - 4)) & 0x8080_8080 == 0,
        _ => {
            let mut high = word(n - 8);
            let mut at = 0;
            while at + 8 <= n {
                high |= word(at);
                at += 8;
            }
            high & HIGH == 0
        }
    }
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Appends the values of one packed record (`offset` locates `data` for errors).
fn packed(list: &mut List, kind: Kind, data: &[u8], offset: usize) -> ReadResult<()> {
    let width = packed_width(kind, data, offset)?;
    // Every varint ends with a byte below 0x80: counting them sizes the list exactly.
    let count = data.len().checked_div(width).unwrap_or_else(|| data.iter().filter(|&&b| b < 0x80).count());
    match (list, kind) {
        (List::I32(v), Kind::Int32) | (List::Enum(v), Kind::Enum(_)) => varints(data, offset, count, v, varint_to_i32),
        (List::I64(v), Kind::Int64) => varints(data, offset, count, v, |x| x as i64),
        (List::I64(v), Kind::Sint64) => varints(data, offset, count, v, unzigzag),
        (List::U32(v), Kind::Uint32) => varints(data, offset, count, v, varint_to_u32),
        (List::U64(v), Kind::Uint64) => varints(data, offset, count, v, |x| x),
        (List::Bool(v), Kind::Bool) => varints(data, offset, count, v, |x| x != 0),
        (List::U32(v), Kind::Fixed32) => {
            v.extend(data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            Ok(())
        }
        (List::F32(v), Kind::Float) => {
            v.extend(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            Ok(())
        }
        (List::U64(v), Kind::Fixed64) => {
            v.extend(data.chunks_exact(8).map(|c| u64::from_le_bytes(eight(c))));
            Ok(())
        }
        (List::F64(v), Kind::Double) => {
            v.extend(data.chunks_exact(8).map(|c| f64::from_le_bytes(eight(c))));
            Ok(())
        }
        _ => Err(Fail::new(offset, "list holds values of another kind")),
    }
}

/// The width of one packed fixed-width value (0 for varints), after checking that `data` holds
/// whole values.
fn packed_width(kind: Kind, data: &[u8], offset: usize) -> ReadResult<usize> {
    let width = match kind {
        Kind::Float | Kind::Fixed32 => 4,
        Kind::Double | Kind::Fixed64 => 8,
        _ => 0,
    };
    if width > 0 && data.len() % width != 0 {
        return Err(Fail::new(offset, "packed fixed-width values of a broken length"));
    }
    Ok(width)
}

/// Checks one packed record as [`packed`] reads it.
fn check_packed(kind: Kind, data: &[u8], offset: usize) -> ReadResult<()> {
    if packed_width(kind, data, offset)? == 0 {
        // A list of `()` never allocates: this only walks the varints.
        varints(data, offset, 0, &mut Vec::new(), |_| ())?;
    }
    Ok(())
}

/// Appends the `count` varints of `data`, converted.
fn varints<T>(
    data: &[u8],
    offset: usize,
    count: usize,
    out: &mut Vec<T>,
    convert: impl Fn(u64) -> T,
) -> ReadResult<()> {
    out.reserve(count);
    let mut pos = 0;
    while pos < data.len() {
        let (v, n) = get_varint(&data[pos..]).map_err(|e| Fail::new(offset + pos, e.0))?;
        out.push(convert(v));
        pos += n;
    }
    Ok(())
}

fn eight(c: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(c);
    out
}

// ------------------------------------------------------------------------------------------
// Writing: a first pass computes the length of every nested message, map entry and packed record
// in visiting order; the second pass writes, taking the lengths back in the same order.

/// The order in which map entries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapOrder {
    /// What TensorFlow 2.21 writes (`saved_model.pb`, `.meta`, binary `write_graph`: Python
    /// protobuf's deterministic serialization, upb): numeric keys descending; string keys by
    /// their bytes, a key before its own prefixes (`"B" "abc" "ab" "a" "b" ""`).
    #[default]
    TensorFlow,
    /// The order entries were read or inserted in: bytes from any writer (C++ protobuf sorts
    /// keys ascending, or not at all) encode back as they were.
    Stored,
}

/// The encoded message, maps in TensorFlow's deterministic order.
pub fn encode(msg: &Message) -> Vec<u8> {
    encode_with(msg, MapOrder::TensorFlow)
}

pub fn encode_with(msg: &Message, order: MapOrder) -> Vec<u8> {
    let mut sizer = Sizer { order, lens: Vec::new() };
    let total = sizer.message(msg);
    let mut w = Writer { order, lens: &sizer.lens, next: 0, out: Out { buf: Vec::with_capacity(total), sink: None } };
    // Writing into a Vec cannot fail.
    let _ = w.message(msg);
    w.out.buf
}

/// How many bytes [`encode`] produces.
pub fn encoded_len(msg: &Message) -> usize {
    Sizer { order: MapOrder::Stored, lens: Vec::new() }.message(msg)
}

/// Encodes into a writer; large strings and bytes (a big `tensor_content`) go straight from the
/// message to the writer, without a second copy in memory.
pub fn encode_to(msg: &Message, order: MapOrder, writer: &mut dyn Write) -> std::io::Result<()> {
    let mut sizer = Sizer { order, lens: Vec::new() };
    sizer.message(msg);
    let out = Out { buf: Vec::with_capacity(CHUNK), sink: Some(writer) };
    let mut w = Writer { order, lens: &sizer.lens, next: 0, out };
    w.message(msg)?;
    w.out.flush()
}

const CHUNK: usize = 1 << 16;

/// A map's entries in the order they are written.
fn entries(map: &Map, order: MapOrder) -> Vec<(&MapKey, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    if order == MapOrder::TensorFlow {
        entries.sort_by(|a, b| tensorflow_order(a.0, b.0));
    }
    entries
}

fn tensorflow_order(a: &MapKey, b: &MapKey) -> Ordering {
    match (a, b) {
        (MapKey::Bytes(a), MapKey::Bytes(b)) => {
            let n = a.len().min(b.len());
            a[..n].cmp(&b[..n]).then(b.len().cmp(&a.len()))
        }
        _ => b.cmp(a),
    }
}

/// One element in wire form.
enum Wire<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64(u64),
    Len(&'a [u8]),
    Message(&'a Message),
}

impl Wire<'_> {
    fn wire_type(&self) -> u8 {
        match self {
            Wire::Varint(_) => VARINT,
            Wire::Fixed32(_) => FIXED32,
            Wire::Fixed64(_) => FIXED64,
            Wire::Len(_) | Wire::Message(_) => LEN,
        }
    }
}

/// An element of `kind` in wire form; `None` when the value does not fit the kind.
fn wire(kind: Kind, elem: Elem<'_>) -> Option<Wire<'_>> {
    Some(match (kind, elem) {
        // Negative int32 and enum values are sign-extended: ten bytes.
        (Kind::Int32, Elem::I32(v)) | (Kind::Enum(_), Elem::Enum(v)) => Wire::Varint(i64::from(v) as u64),
        (Kind::Int64, Elem::I64(v)) => Wire::Varint(v as u64),
        (Kind::Sint64, Elem::I64(v)) => Wire::Varint(zigzag(v)),
        (Kind::Uint32, Elem::U32(v)) => Wire::Varint(u64::from(v)),
        (Kind::Uint64, Elem::U64(v)) => Wire::Varint(v),
        (Kind::Bool, Elem::Bool(v)) => Wire::Varint(u64::from(v)),
        (Kind::Float, Elem::F32(v)) => Wire::Fixed32(v.to_bits()),
        (Kind::Fixed32, Elem::U32(v)) => Wire::Fixed32(v),
        (Kind::Double, Elem::F64(v)) => Wire::Fixed64(v.to_bits()),
        (Kind::Fixed64, Elem::U64(v)) => Wire::Fixed64(v),
        (Kind::String | Kind::Bytes, Elem::Bytes(b)) => Wire::Len(b),
        (Kind::Message(desc), Elem::Message(m)) if m.desc() == desc => Wire::Message(m),
        _ => return None,
    })
}

fn tag_len(number: u32) -> usize {
    varint_len(u64::from(number) << 3)
}

/// The first pass.
struct Sizer {
    order: MapOrder,
    /// Body lengths of messages, map entries and packed records, in visiting order.
    lens: Vec<usize>,
}

impl Sizer {
    fn message(&mut self, msg: &Message) -> usize {
        let mut n = 0;
        for (field, value) in msg.fields() {
            n += self.field(field, value);
        }
        n + msg.unknown().iter().map(Bytes::len).sum::<usize>()
    }

    fn field(&mut self, field: &FieldDesc, value: &Value) -> usize {
        match (field.label, value) {
            (Label::Singular, value) => value.elem().map_or(0, |e| self.record(field.number, field.kind, e)),
            (Label::Repeated, Value::List(list)) if field.kind.is_packable() => {
                let body = packed_len(field.kind, list);
                self.lens.push(body);
                tag_len(field.number) + varint_len(body as u64) + body
            }
            (Label::Repeated, Value::List(list)) => list.iter().map(|e| self.record(field.number, field.kind, e)).sum(),
            (Label::Map(key_kind), Value::Map(map)) => {
                let mut n = 0;
                for (key, value) in entries(map, self.order) {
                    let slot = self.lens.len();
                    self.lens.push(0);
                    let body = self.record(1, key_kind, key.elem(key_kind))
                        + value.elem().map_or(0, |e| self.record(2, field.kind, e));
                    self.lens[slot] = body;
                    n += tag_len(field.number) + varint_len(body as u64) + body;
                }
                n
            }
            _ => 0,
        }
    }

    fn record(&mut self, number: u32, kind: Kind, elem: Elem<'_>) -> usize {
        let body = match wire(kind, elem) {
            None => return 0,
            Some(Wire::Varint(v)) => varint_len(v),
            Some(Wire::Fixed32(_)) => 4,
            Some(Wire::Fixed64(_)) => 8,
            Some(Wire::Len(b)) => varint_len(b.len() as u64) + b.len(),
            Some(Wire::Message(m)) => {
                let slot = self.lens.len();
                self.lens.push(0);
                let n = self.message(m);
                self.lens[slot] = n;
                varint_len(n as u64) + n
            }
        };
        tag_len(number) + body
    }
}

fn packed_len(kind: Kind, list: &List) -> usize {
    match (kind, list) {
        (Kind::Float, List::F32(v)) => 4 * v.len(),
        (Kind::Fixed32, List::U32(v)) => 4 * v.len(),
        (Kind::Double, List::F64(v)) => 8 * v.len(),
        (Kind::Fixed64, List::U64(v)) => 8 * v.len(),
        (Kind::Int64, List::I64(v)) => v.iter().map(|&x| varint_len(x as u64)).sum(),
        _ => list
            .iter()
            .map(|e| match wire(kind, e) {
                Some(Wire::Varint(v)) => varint_len(v),
                _ => 0,
            })
            .sum(),
    }
}

/// Where the second pass writes.
struct Out<'w> {
    buf: Vec<u8>,
    /// Where to stream to; `None` collects everything in `buf`.
    sink: Option<&'w mut dyn Write>,
}

impl Out<'_> {
    fn varint(&mut self, v: u64) {
        put_varint(&mut self.buf, v);
    }

    fn tag(&mut self, number: u32, wire: u8) {
        self.varint(u64::from(number) << 3 | u64::from(wire));
    }

    fn bytes(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.sink {
            Some(sink) if data.len() >= CHUNK => {
                sink.write_all(&self.buf)?;
                self.buf.clear();
                sink.write_all(data)
            }
            _ => {
                self.buf.extend_from_slice(data);
                self.spill()
            }
        }
    }

    /// Hands the buffer to the sink once it is big enough.
    fn spill(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Some(sink) if self.buf.len() >= CHUNK => {
                sink.write_all(&self.buf)?;
                self.buf.clear();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(sink) = &mut self.sink {
            sink.write_all(&self.buf)?;
            self.buf.clear();
            sink.flush()?;
        }
        Ok(())
    }
}

/// The second pass.
struct Writer<'a, 'w> {
    order: MapOrder,
    lens: &'a [usize],
    next: usize,
    out: Out<'w>,
}

impl Writer<'_, '_> {
    fn len(&mut self) -> u64 {
        let n = self.lens.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        n as u64
    }

    fn message(&mut self, msg: &Message) -> std::io::Result<()> {
        for (field, value) in msg.fields() {
            self.field(field, value)?;
        }
        for record in msg.unknown() {
            self.out.bytes(record)?;
        }
        Ok(())
    }

    fn field(&mut self, field: &FieldDesc, value: &Value) -> std::io::Result<()> {
        match (field.label, value) {
            (Label::Singular, value) => match value.elem() {
                Some(e) => self.record(field.number, field.kind, e),
                None => Ok(()),
            },
            (Label::Repeated, Value::List(list)) if field.kind.is_packable() => {
                self.out.tag(field.number, LEN);
                let len = self.len();
                self.out.varint(len);
                write_packed(field.kind, list, &mut self.out.buf);
                self.out.spill()
            }
            (Label::Repeated, Value::List(list)) => {
                for e in list.iter() {
                    self.record(field.number, field.kind, e)?;
                }
                Ok(())
            }
            (Label::Map(key_kind), Value::Map(map)) => {
                for (key, value) in entries(map, self.order) {
                    self.out.tag(field.number, LEN);
                    let len = self.len();
                    self.out.varint(len);
                    self.record(1, key_kind, key.elem(key_kind))?;
                    if let Some(e) = value.elem() {
                        self.record(2, field.kind, e)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn record(&mut self, number: u32, kind: Kind, elem: Elem<'_>) -> std::io::Result<()> {
        let Some(w) = wire(kind, elem) else { return Ok(()) };
        self.out.tag(number, w.wire_type());
        match w {
            Wire::Varint(v) => self.out.varint(v),
            Wire::Fixed32(v) => self.out.buf.extend_from_slice(&v.to_le_bytes()),
            Wire::Fixed64(v) => self.out.buf.extend_from_slice(&v.to_le_bytes()),
            Wire::Len(b) => {
                self.out.varint(b.len() as u64);
                return self.out.bytes(b);
            }
            Wire::Message(m) => {
                let len = self.len();
                self.out.varint(len);
                return self.message(m);
            }
        }
        self.out.spill()
    }
}

/// The body of a packed record; writes exactly [`packed_len`] bytes.
fn write_packed(kind: Kind, list: &List, buf: &mut Vec<u8>) {
    match (kind, list) {
        (Kind::Float, List::F32(v)) => v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes())),
        (Kind::Fixed32, List::U32(v)) => v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes())),
        (Kind::Double, List::F64(v)) => v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes())),
        (Kind::Fixed64, List::U64(v)) => v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes())),
        (Kind::Int64, List::I64(v)) => v.iter().for_each(|&x| put_varint(buf, x as u64)),
        _ => {
            for e in list.iter() {
                if let Some(Wire::Varint(v)) = wire(kind, e) {
                    put_varint(buf, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::schema::{
        ATTR_VALUE, GRAPH_DEBUG_INFO, GRAPH_DEBUG_INFO_FILE_LINE_COL, GRAPH_DEF, NODE_DEF, TENSOR_PROTO,
    };

    fn parse(desc: &'static MessageDesc, data: &[u8]) -> DecodeResult<Message> {
        decode(desc, Bytes::copy_from_slice(data))
    }

    #[test]
    fn proto3_strings_must_be_utf8() {
        let e = parse(&NODE_DEF, b"\x0a\x02\xff\xfe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid tensorflow.NodeDef in field name: string field is not valid UTF-8 at byte 2"
        );
        // repeated (input), a map key (attr), a string inside a nested message (node.device)
        assert!(parse(&NODE_DEF, b"\x1a\x01a\x1a\x01\x80").is_err());
        assert!(parse(&NODE_DEF, b"\x2a\x07\x0a\x01\xc3\x12\x02\x18\x01").is_err());
        let e = parse(&GRAPH_DEF, b"\x0a\x03\x22\x01\xff").unwrap_err();
        assert_eq!(e.path, ["node", "device"]);
        // bytes fields take anything; valid multi-byte UTF-8 is text
        assert!(parse(&ATTR_VALUE, b"\x12\x02\xff\xfe").is_ok());
        assert_eq!(parse(&NODE_DEF, "\x0a\x02é".as_bytes()).unwrap().bytes("name"), "é".as_bytes());
    }

    /// Two nodes `a` (op `Const`) and `b`, and `versions {producer: 5}` given in two records
    /// (`producer`, then `min_consumer: 3`), which merge.
    const TWO_NODES: &[u8] = b"\x0a\x0a\x0a\x01a\x12\x05Const\x0a\x03\x0a\x01b\x22\x02\x08\x05\x22\x02\x10\x03";

    #[test]
    fn sub_messages_stay_encoded_until_read() {
        let graph = parse(&GRAPH_DEF, TWO_NODES).unwrap();
        let nodes = graph.messages("node");
        assert!(!nodes[0].is_decoded() && !nodes[1].is_decoded());
        assert_eq!(nodes[1].str("name").unwrap(), "b");
        assert!(!nodes[0].is_decoded() && nodes[1].is_decoded(), "only the node read is decoded");
        let versions = graph.message("versions").unwrap();
        assert_eq!((versions.int("producer"), versions.int("min_consumer")), (5, 3), "given twice, merged");
        assert_eq!(
            encode_with(&graph, MapOrder::Stored),
            b"\x0a\x0a\x0a\x01a\x12\x05Const\x0a\x03\x0a\x01b\x22\x04\x08\x05\x10\x03"
        );
    }

    #[test]
    fn first_reads_from_many_threads_agree() {
        let mut data = Vec::new();
        for i in 0..200u8 {
            data.extend_from_slice(&[
                0x0a,
                0x09,
                0x0a,
                0x03,
                b'n',
                b'0' + i / 100,
                b'0' + i / 10 % 10,
                0x1a,
                0x02,
                b'x',
                i % 10 + b'0',
            ]);
        }
        let graph = parse(&GRAPH_DEF, &data).unwrap();
        let read = || {
            graph
                .messages("node")
                .iter()
                .map(|n| (n.str("name").unwrap().to_owned(), n.strings("input").to_vec()))
                .collect::<Vec<_>>()
        };
        let all = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8).map(|_| s.spawn(read)).collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
        });
        assert!(all.iter().all(|names| *names == all[0]));
        assert_eq!(all[0][123], ("n12".to_owned(), vec![Bytes::from_static(b"x3")]));
    }

    #[test]
    fn changing_an_encoded_sub_message_is_written_back() {
        let mut graph = parse(&GRAPH_DEF, TWO_NODES).unwrap();
        graph.messages_mut("node").unwrap()[1].set("op", "NoOp".into()).unwrap();
        let again = parse(&GRAPH_DEF, &encode(&graph)).unwrap();
        assert_eq!(again.messages("node")[1].str("op").unwrap(), "NoOp");
        assert_eq!(again.messages("node")[0], graph.messages("node")[0]);
        assert_eq!(again, graph);
    }

    #[test]
    fn a_failed_merge_leaves_the_message_as_it_was() {
        let mut graph = parse(&GRAPH_DEF, TWO_NODES).unwrap();
        let before = graph.clone();
        // a third node, then a node whose device is not UTF-8
        let e = merge(&mut graph, Bytes::from_static(b"\x0a\x03\x0a\x01c\x0a\x03\x22\x01\xff")).unwrap_err();
        assert_eq!(e.path, ["node", "device"]);
        assert_eq!(graph, before);
    }

    #[test]
    fn ascii_test_agrees_with_std() {
        for len in 0..40 {
            let text = vec![b'a'; len];
            assert!(is_ascii(&text));
            for at in 0..len {
                let mut bad = text.clone();
                bad[at] = 0x80;
                assert!(!is_ascii(&bad), "len {len}, non-ASCII byte at {at}");
            }
        }
    }

    /// `levels` TensorProtos, each but the innermost holding the next as the only tensor of
    /// its only variant value: a message at depth `2 * (levels - 1)`.
    fn nested_tensors(levels: usize) -> Vec<u8> {
        let record = |tag: u8, payload: &[u8]| {
            let mut out = vec![tag];
            put_varint(&mut out, payload.len() as u64);
            out.extend_from_slice(payload);
            out
        };
        // TensorProto.variant_val (15) holds a VariantTensorDataProto, its tensors (3) TensorProtos.
        (1..levels).fold(Vec::new(), |inner, _| record(0x7a, &record(0x1a, &inner)))
    }

    #[test]
    fn nesting_is_capped_and_errors_name_the_path() {
        // The top message is at depth 0; a message at depth MAX_DEPTH is the deepest allowed.
        assert!(parse(&TENSOR_PROTO, &nested_tensors(MAX_DEPTH / 2 + 1)).is_ok());
        let e = parse(&TENSOR_PROTO, &nested_tensors(MAX_DEPTH / 2 + 2)).unwrap_err();
        assert_eq!(e.what, "messages nested too deeply");
        assert_eq!(e.path.len(), MAX_DEPTH + 1);
        assert_eq!(e.path[..3], ["variant_val", "tensors", "variant_val"]);
        // An error deep down names every field on the way; a map entry adds only the map's name.
        let e = parse(&NODE_DEF, b"\x2a\x0a\x0a\x01a\x12\x05\x52\x03\x0a\x01\xff").unwrap_err();
        assert_eq!((e.path.join("."), e.offset), ("attr.func.name".to_owned(), 11));
    }

    #[test]
    fn proto2_strings_are_taken_as_they_are() {
        let m = parse(&GRAPH_DEBUG_INFO_FILE_LINE_COL, b"\x22\x02\xff\xfe").unwrap();
        assert_eq!(m.bytes("func"), b"\xff\xfe");
        assert!(parse(&GRAPH_DEBUG_INFO, b"\x0a\x01\xff").is_ok());
        assert!(NODE_DEF.checks_utf8() && !GRAPH_DEBUG_INFO.checks_utf8());
    }
}
