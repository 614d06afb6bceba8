//! A dynamic protobuf message: the values of one message of any type described in
//! [`schema`](super::schema), plus the fields that type does not know, kept verbatim.
//!
//! ```text
//! Message { desc: &NODE_DEF,
//!           slots: [ (0 name, Bytes "a"), (2 input, List::Bytes ["b", "^c"]),
//!                    (4 attr, Map { "T": Message AttrValue { (5 type, Enum 1) } }) ],
//!           unknown: [ raw records (tag + payload) in the order read ] }
//! ```
//! Slots are sorted by the field's position in the descriptor, which is field-number order, so
//! writing and printing walk them front to back. Strings and bytes are [`Bytes`] slices of the
//! buffer a message was decoded from: a 500 MB `tensor_content` in a mapped file is never copied.
//!
//! Sub-messages are decoded on first use. Parsing checks the whole input (structure, UTF-8,
//! nesting) as protobuf does, decodes the top message's own fields, and leaves each sub-message
//! as the slice of the input holding its fields; the first read decodes that slice (one level),
//! the first change also forgets it. A 100,000-node graph is one list of 100,000 slices until
//! its nodes are looked at.
//!
//! ```text
//! GraphDef { slots: [(0 node, List::Message [Message { encoded: bytes 12..57, body: unset },
//!                                            Message { encoded: bytes 59..101, body: unset }, …])] }
//!                    gd.node[1].name ──▶ body of node 1 decoded from bytes 59..101, kept
//! ```
//!
//! Proto3 semantics: a field without presence (a plain scalar) that holds its default, an empty
//! list and an empty map all count as absent — [`Message::get`] returns `None`, nothing is
//! written or printed, and equality ignores them. Message fields, oneof members and proto2
//! scalars ([`FieldDesc::explicit`]) are present once set, even when empty or zero. Setting one
//! member of a oneof clears the others.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use super::binary;
use super::schema::{FieldDesc, Kind, Label, MessageDesc};
use super::wire::{varint_to_i32, varint_to_u32};
use crate::error::{Error, Result};

/// A message of the type `desc`.
#[derive(Clone)]
pub struct Message {
    desc: &'static MessageDesc,
    /// While `body` is unset: the message's encoded fields, already checked by the parse that
    /// produced them (see the module notes). Empty once the body may have changed.
    encoded: Bytes,
    /// The decoded fields: set from the start for a message built in memory, on first read for
    /// one left encoded. A `OnceLock`, so that readers on several threads share one decoding.
    body: OnceLock<Body>,
}

/// The decoded fields of a message.
#[derive(Clone, Default)]
struct Body {
    slots: Vec<Slot>,
    /// Boxed, and absent until a message has some: TensorFlow's files rarely hold any, and a
    /// 100,000-node graph holds a few hundred thousand messages.
    #[allow(clippy::box_collection, reason = "8 bytes in every message instead of a 24-byte Vec")]
    unknown: Option<Box<Vec<Bytes>>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Slot {
    /// Position of the field in `desc.fields`.
    index: u16,
    value: Value,
}

/// The value of one field. The field's kind decides the variant: `int32` → `I32`, `int64` and
/// `sint64` → `I64`, `uint32` and `fixed32` → `U32`, `uint64` and `fixed64` → `U64`, `float` →
/// `F32`, `double` → `F64`, enums → `Enum`, `string` and `bytes` → `Bytes`; repeated fields hold a
/// [`List`], maps a [`Map`].
#[derive(Clone, Debug)]
pub enum Value {
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    Bool(bool),
    F32(f32),
    F64(f64),
    /// The enum's number; names live in the descriptor. Numbers it does not list are kept.
    Enum(i32),
    /// `string` (UTF-8 by contract, not checked) and `bytes` fields.
    Bytes(Bytes),
    Message(Box<Message>),
    List(List),
    /// Inline: a [`Map`] is as small as a list, so a node's attrs cost no allocation of their own.
    Map(Map),
}

/// The values of a repeated field.
#[derive(Clone, Debug)]
pub enum List {
    I32(Vec<i32>),
    I64(Vec<i64>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Enum(Vec<i32>),
    Bytes(Vec<Bytes>),
    Message(Vec<Message>),
}

/// A map field. Entries keep the order they were read or inserted in (replacing a value keeps
/// its place), so that bytes any writer produced encode back identically; the binary codec can
/// also write them in TensorFlow's deterministic order, and the text format sorts them. Small
/// maps (attrs) are one vector searched in place; bigger ones add a hash index.
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(MapKey, Value)>,
    /// Boxed so that a map is 32 bytes and fits in a [`Value`] inline.
    #[allow(clippy::box_collection, reason = "8 bytes in every map instead of a 48-byte HashMap")]
    index: Option<Box<HashMap<MapKey, usize>>>,
}

// A value is a tag and at most 32 bytes (a `Bytes`, a `Vec`, a `Map`): every slot of every message
// pays for the largest variant.
const _: () = assert!(std::mem::size_of::<Value>() == 40);

/// From this many entries on, a map keeps a hash index.
const INDEXED: usize = 16;

/// A map key: signed integer kinds → `I64`, unsigned and fixed → `U64`, `string` → `Bytes`.
/// Keys of one map share a variant, so the derived order is numeric or bytewise (the text
/// format's order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MapKey {
    Bool(bool),
    I64(i64),
    U64(u64),
    Bytes(Bytes),
}

impl MapKey {
    /// The key for a scalar value of a key kind (integers, bool, string); `None` for the rest.
    pub fn from_value(value: Value) -> Option<MapKey> {
        Some(match value {
            Value::I32(v) => MapKey::I64(i64::from(v)),
            Value::I64(v) => MapKey::I64(v),
            Value::U32(v) => MapKey::U64(u64::from(v)),
            Value::U64(v) => MapKey::U64(v),
            Value::Bool(v) => MapKey::Bool(v),
            Value::Bytes(b) => MapKey::Bytes(b),
            _ => return None,
        })
    }
}

/// One element borrowed from a singular field, a list or a map: what codecs and printers work
/// on.
#[derive(Clone, Copy, Debug)]
pub enum Elem<'a> {
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    Bool(bool),
    F32(f32),
    F64(f64),
    Enum(i32),
    Bytes(&'a Bytes),
    Message(&'a Message),
}

impl Message {
    pub fn new(desc: &'static MessageDesc) -> Self {
        Self { desc, encoded: Bytes::new(), body: OnceLock::from(Body::default()) }
    }

    /// A message left encoded: `encoded` holds its fields and must have passed the parse's
    /// checks ([`binary::decode_checked`] relies on them).
    pub(crate) fn encoded(desc: &'static MessageDesc, encoded: Bytes) -> Self {
        Self { desc, encoded, body: OnceLock::new() }
    }

    pub fn desc(&self) -> &'static MessageDesc {
        self.desc
    }

    fn body(&self) -> &Body {
        self.body.get_or_init(|| binary::decode_checked(self.desc, &self.encoded).into_body())
    }

    /// The body, decoded if still encoded; the encoded bytes are dropped since the caller may
    /// change the body.
    fn body_mut(&mut self) -> &mut Body {
        self.body();
        self.encoded = Bytes::new();
        self.body.get_mut().expect("the body was decoded just above")
    }

    /// Whether the fields are decoded (see the module notes).
    #[cfg(test)]
    pub(crate) fn is_decoded(&self) -> bool {
        self.body.get().is_some()
    }

    fn into_body(self) -> Body {
        match self.body.into_inner() {
            Some(body) => body,
            None => binary::decode_checked(self.desc, &self.encoded).into_body(),
        }
    }

    /// The fields that are set, in field-number order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static FieldDesc, &Value)> {
        let fields: &'static [FieldDesc] = self.desc.fields;
        let slots = self.body().slots.iter();
        slots.map(move |s| (&fields[usize::from(s.index)], &s.value)).filter(|(f, v)| !v.is_unset(f))
    }

    /// Fields this message's type does not know: each a raw record (tag and payload) as read,
    /// written back after the known fields.
    pub fn unknown(&self) -> &[Bytes] {
        self.body().unknown.as_deref().map_or(&[], Vec::as_slice)
    }

    pub fn unknown_mut(&mut self) -> &mut Vec<Bytes> {
        self.body_mut().unknown.get_or_insert_default()
    }

    // --- by name or number -------------------------------------------------------------------

    /// The value of a set field; `None` when absent (or default, for fields without presence)
    /// or when the type has no such field.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.get_at(self.desc.index_of_name(name)?)
    }

    pub fn get_by_number(&self, number: u32) -> Option<&Value> {
        self.get_at(self.desc.index_of_number(number)?)
    }

    /// The value of a field, created (zero, empty list, empty map or empty message) when absent;
    /// for a oneof member, creating it clears the other members. Keep the variant: a value of
    /// another variant is not written.
    pub fn get_mut(&mut self, name: &str) -> Result<&mut Value> {
        let index = self.index(name)?;
        Ok(self.entry(index))
    }

    pub fn get_mut_by_number(&mut self, number: u32) -> Result<&mut Value> {
        let index = self.index_by_number(number)?;
        Ok(self.entry(index))
    }

    /// Sets a field after checking that the value fits its kind and label.
    pub fn set(&mut self, name: &str, value: Value) -> Result<()> {
        let index = self.index(name)?;
        self.set_at(index, value)
    }

    pub fn set_by_number(&mut self, number: u32, value: Value) -> Result<()> {
        let index = self.index_by_number(number)?;
        self.set_at(index, value)
    }

    pub fn clear(&mut self, name: &str) -> Result<()> {
        let index = self.index(name)?;
        self.remove(index);
        Ok(())
    }

    pub fn clear_by_number(&mut self, number: u32) -> Result<()> {
        let index = self.index_by_number(number)?;
        self.remove(index);
        Ok(())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The member of `oneof` that is set.
    pub fn which_oneof(&self, oneof: &str) -> Option<&'static FieldDesc> {
        self.fields().map(|(f, _)| f).find(|f| f.oneof == Some(oneof))
    }

    /// Appends one element to a repeated field.
    pub fn push(&mut self, name: &str, value: Value) -> Result<()> {
        let desc = self.desc;
        let index = self.index(name)?;
        let field = self.field_at(index);
        if !field.is_repeated() || !value.fits(field.kind) {
            return Err(mismatch(desc, field, &value));
        }
        match self.entry(index) {
            Value::List(list) => list.push(value).map_err(|v| mismatch(desc, field, &v)),
            _ => Err(mismatch(desc, field, &value)),
        }
    }

    /// Inserts or replaces a map entry, returning the value it replaced.
    pub fn map_insert(&mut self, name: &str, key: MapKey, value: Value) -> Result<Option<Value>> {
        let desc = self.desc;
        let index = self.index(name)?;
        let field = self.field_at(index);
        let fits = matches!(field.label, Label::Map(k) if key.fits(k)) && value.fits(field.kind);
        if !fits {
            return Err(mismatch(desc, field, &value));
        }
        match self.entry(index) {
            Value::Map(map) => Ok(map.insert(key, value)),
            _ => Err(mismatch(desc, field, &value)),
        }
    }

    pub fn map_get(&self, name: &str, key: &MapKey) -> Option<&Value> {
        self.map(name)?.get(key)
    }

    // --- typed conveniences: defaults when absent --------------------------------------------

    /// A string field; `""` when absent.
    pub fn str(&self, name: &str) -> Result<&str> {
        std::str::from_utf8(self.bytes(name))
            .map_err(|_| Error::InvalidArgument(format!("field {}.{name} is not valid UTF-8", self.desc.name)))
    }

    /// A string or bytes field; empty when absent.
    pub fn bytes(&self, name: &str) -> &[u8] {
        match self.get(name) {
            Some(Value::Bytes(b)) => b,
            _ => &[],
        }
    }

    /// An integer, enum or bool field widened to i64 (u64 values above i64::MAX wrap); 0 when
    /// absent.
    pub fn int(&self, name: &str) -> i64 {
        match self.get(name) {
            Some(Value::I32(v) | Value::Enum(v)) => i64::from(*v),
            Some(Value::I64(v)) => *v,
            Some(Value::U32(v)) => i64::from(*v),
            Some(Value::U64(v)) => *v as i64,
            Some(Value::Bool(v)) => i64::from(*v),
            _ => 0,
        }
    }

    /// An `int32` or enum field; 0 when absent.
    pub fn int32(&self, name: &str) -> i32 {
        match self.get(name) {
            Some(Value::I32(v) | Value::Enum(v)) => *v,
            _ => 0,
        }
    }

    /// An unsigned integer field; 0 when absent.
    pub fn uint(&self, name: &str) -> u64 {
        match self.get(name) {
            Some(Value::U32(v)) => u64::from(*v),
            Some(Value::U64(v)) => *v,
            _ => self.int(name) as u64,
        }
    }

    /// A float or double field; 0.0 when absent.
    pub fn float(&self, name: &str) -> f64 {
        match self.get(name) {
            Some(Value::F32(v)) => f64::from(*v),
            Some(Value::F64(v)) => *v,
            _ => 0.0,
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }

    /// A singular message field, `None` when absent.
    pub fn message(&self, name: &str) -> Option<&Message> {
        match self.get(name) {
            Some(Value::Message(m)) => Some(m),
            _ => None,
        }
    }

    /// A singular message field, created empty when absent (protobuf's `mutable_x()`).
    pub fn message_mut(&mut self, name: &str) -> Result<&mut Message> {
        let desc = self.desc;
        let index = self.index(name)?;
        let field = self.field_at(index);
        match self.entry(index) {
            Value::Message(m) => Ok(m),
            _ => Err(not(desc, field, "a singular message field")),
        }
    }

    /// A repeated message field; empty when absent.
    pub fn messages(&self, name: &str) -> &[Message] {
        match self.get(name) {
            Some(Value::List(List::Message(v))) => v,
            _ => &[],
        }
    }

    pub fn messages_mut(&mut self, name: &str) -> Result<&mut Vec<Message>> {
        let desc = self.desc;
        let index = self.index(name)?;
        let field = self.field_at(index);
        match self.entry(index) {
            Value::List(List::Message(v)) => Ok(v),
            _ => Err(not(desc, field, "a repeated message field")),
        }
    }

    /// A repeated string or bytes field; empty when absent.
    pub fn strings(&self, name: &str) -> &[Bytes] {
        match self.get(name) {
            Some(Value::List(List::Bytes(v))) => v,
            _ => &[],
        }
    }

    pub fn list(&self, name: &str) -> Option<&List> {
        match self.get(name) {
            Some(Value::List(l)) => Some(l),
            _ => None,
        }
    }

    pub fn map(&self, name: &str) -> Option<&Map> {
        match self.get(name) {
            Some(Value::Map(m)) => Some(m),
            _ => None,
        }
    }

    pub fn map_mut(&mut self, name: &str) -> Result<&mut Map> {
        let desc = self.desc;
        let index = self.index(name)?;
        let field = self.field_at(index);
        match self.entry(index) {
            Value::Map(m) => Ok(m),
            _ => Err(not(desc, field, "a map field")),
        }
    }

    // --- by descriptor position: what the codecs use -----------------------------------------

    pub(crate) fn field_at(&self, index: usize) -> &'static FieldDesc {
        let fields: &'static [FieldDesc] = self.desc.fields;
        &fields[index]
    }

    fn get_at(&self, index: usize) -> Option<&Value> {
        let slots = &self.body().slots;
        let slot = &slots[find(slots, index).ok()?];
        (!slot.value.is_unset(self.field_at(index))).then_some(&slot.value)
    }

    fn set_at(&mut self, index: usize, value: Value) -> Result<()> {
        let desc = self.desc;
        let field = self.field_at(index);
        if !value.fits_field(field) {
            return Err(mismatch(desc, field, &value));
        }
        *self.entry(index) = value;
        Ok(())
    }

    /// The slot of a field, inserted with the field's default when absent. Inserting a oneof
    /// member drops the other members.
    pub(crate) fn entry(&mut self, index: usize) -> &mut Value {
        let field = self.field_at(index);
        self.entry_or(index, || Value::default_for(field))
    }

    /// The slot of a field, inserted with `value()` when absent (see [`Message::entry`]).
    pub(crate) fn entry_or(&mut self, index: usize, value: impl FnOnce() -> Value) -> &mut Value {
        let field = self.field_at(index);
        let fields = self.desc.fields;
        let slots = &mut self.body_mut().slots;
        let pos = match find(slots, index) {
            Ok(pos) => pos,
            Err(pos) => {
                #[allow(clippy::cast_possible_truncation, reason = "our schemas have a few dozen fields")]
                let slot = Slot { index: index as u16, value: value() };
                if field.oneof.is_none() {
                    slots.insert(pos, slot);
                    pos
                } else {
                    slots.retain(|s| fields[usize::from(s.index)].oneof != field.oneof);
                    let pos = find(slots, index).unwrap_or_else(|p| p);
                    slots.insert(pos, slot);
                    pos
                }
            }
        };
        &mut slots[pos].value
    }

    /// The value of a field when it has a slot (set or not), for merging into it.
    pub(crate) fn slot_mut(&mut self, index: usize) -> Option<&mut Value> {
        let slots = &mut self.body_mut().slots;
        let pos = find(slots, index).ok()?;
        Some(&mut slots[pos].value)
    }

    /// Starts decoding into this message: room for every field, so that slots are not moved
    /// while records come in.
    pub(crate) fn begin_decode(&mut self) {
        let fields = self.desc.fields.len();
        self.body_mut().slots.reserve(fields);
    }

    /// Ends decoding: lists, maps and slots shrink to their size (in place, for the allocator).
    pub(crate) fn end_decode(&mut self) {
        let body = self.body_mut();
        for slot in &mut body.slots {
            match &mut slot.value {
                Value::List(list) => list.shrink_to_fit(),
                Value::Map(map) => map.entries.shrink_to_fit(),
                _ => {}
            }
        }
        body.slots.shrink_to_fit();
    }

    /// Sets a field's value as decoded (of the field's kind by construction), clearing the
    /// other members of its oneof.
    pub(crate) fn put(&mut self, index: usize, value: Value) {
        match self.slot_mut(index) {
            Some(slot) => *slot = value,
            None => {
                self.entry_or(index, || value);
            }
        }
    }

    pub(crate) fn remove(&mut self, index: usize) {
        let slots = &mut self.body_mut().slots;
        if let Ok(pos) = find(slots, index) {
            slots.remove(pos);
        }
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.desc
            .index_of_name(name)
            .ok_or_else(|| Error::InvalidArgument(format!("{} has no field '{name}'", self.desc.name)))
    }

    fn index_by_number(&self, number: u32) -> Result<usize> {
        self.desc
            .index_of_number(number)
            .ok_or_else(|| Error::InvalidArgument(format!("{} has no field number {number}", self.desc.name)))
    }
}

/// The position of a field's slot, or where it would go.
fn find(slots: &[Slot], index: usize) -> std::result::Result<usize, usize> {
    // Decoding and building fill fields in order: the new one usually goes last.
    match slots.last() {
        None => Err(0),
        Some(last) if usize::from(last.index) < index => Err(slots.len()),
        _ => slots.binary_search_by_key(&index, |s| usize::from(s.index)),
    }
}

fn mismatch(desc: &MessageDesc, field: &FieldDesc, value: &Value) -> Error {
    let label = match field.label {
        Label::Singular => String::new(),
        Label::Repeated => "repeated ".into(),
        Label::Map(key) => format!("map<{}, _> of ", key.type_name()),
    };
    Error::InvalidArgument(format!(
        "field {}.{} ({label}{}) cannot hold {}",
        desc.name,
        field.name,
        field.kind.type_name(),
        value.describe()
    ))
}

fn not(desc: &MessageDesc, field: &FieldDesc, what: &str) -> Error {
    Error::InvalidArgument(format!("field {}.{} is not {what}", desc.name, field.name))
}

impl Value {
    /// The default of a field: zero, empty list, empty map or empty message.
    pub fn default_for(field: &FieldDesc) -> Value {
        match field.label {
            Label::Singular => Value::zero(field.kind),
            Label::Repeated => Value::List(List::empty(field.kind)),
            Label::Map(_) => Value::Map(Map::default()),
        }
    }

    /// The zero value of one element of this kind.
    pub fn zero(kind: Kind) -> Value {
        match kind {
            Kind::Int32 => Value::I32(0),
            Kind::Int64 | Kind::Sint64 => Value::I64(0),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(0),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(0),
            Kind::Bool => Value::Bool(false),
            Kind::Float => Value::F32(0.0),
            Kind::Double => Value::F64(0.0),
            Kind::Enum(_) => Value::Enum(0),
            Kind::String | Kind::Bytes => Value::Bytes(Bytes::new()),
            Kind::Message(desc) => Value::Message(Box::new(Message::new(desc))),
        }
    }

    /// Whether the field counts as absent holding this value (see the module notes). Zero is
    /// judged by bits, as protobuf does: -0.0 is set.
    pub fn is_unset(&self, field: &FieldDesc) -> bool {
        match self {
            Value::List(l) => l.is_empty(),
            Value::Map(m) => m.is_empty(),
            _ if field.has_presence() => false,
            Value::I32(v) | Value::Enum(v) => *v == 0,
            Value::I64(v) => *v == 0,
            Value::U32(v) => *v == 0,
            Value::U64(v) => *v == 0,
            Value::Bool(v) => !v,
            Value::F32(v) => v.to_bits() == 0,
            Value::F64(v) => v.to_bits() == 0,
            Value::Bytes(b) => b.is_empty(),
            Value::Message(_) => false,
        }
    }

    /// A singular value as an element; `None` for lists and maps.
    pub fn elem(&self) -> Option<Elem<'_>> {
        Some(match self {
            Value::I32(v) => Elem::I32(*v),
            Value::I64(v) => Elem::I64(*v),
            Value::U32(v) => Elem::U32(*v),
            Value::U64(v) => Elem::U64(*v),
            Value::Bool(v) => Elem::Bool(*v),
            Value::F32(v) => Elem::F32(*v),
            Value::F64(v) => Elem::F64(*v),
            Value::Enum(v) => Elem::Enum(*v),
            Value::Bytes(b) => Elem::Bytes(b),
            Value::Message(m) => Elem::Message(m),
            Value::List(_) | Value::Map(_) => return None,
        })
    }

    fn fits_field(&self, field: &FieldDesc) -> bool {
        match (field.label, self) {
            (Label::Singular, _) => self.fits(field.kind),
            (Label::Repeated, Value::List(list)) => list.fits(field.kind),
            (Label::Map(key), Value::Map(map)) => map.iter().all(|(k, v)| k.fits(key) && v.fits(field.kind)),
            _ => false,
        }
    }

    /// Whether this is a single element of `kind`.
    pub fn fits(&self, kind: Kind) -> bool {
        match (kind, self) {
            (Kind::Int32, Value::I32(_))
            | (Kind::Int64 | Kind::Sint64, Value::I64(_))
            | (Kind::Uint32 | Kind::Fixed32, Value::U32(_))
            | (Kind::Uint64 | Kind::Fixed64, Value::U64(_))
            | (Kind::Bool, Value::Bool(_))
            | (Kind::Float, Value::F32(_))
            | (Kind::Double, Value::F64(_))
            | (Kind::Enum(_), Value::Enum(_))
            | (Kind::String | Kind::Bytes, Value::Bytes(_)) => true,
            (Kind::Message(desc), Value::Message(m)) => m.desc == desc,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Value::I32(_) => "an I32".into(),
            Value::I64(_) => "an I64".into(),
            Value::U32(_) => "a U32".into(),
            Value::U64(_) => "a U64".into(),
            Value::Bool(_) => "a Bool".into(),
            Value::F32(_) => "an F32".into(),
            Value::F64(_) => "an F64".into(),
            Value::Enum(_) => "an Enum".into(),
            Value::Bytes(_) => "Bytes".into(),
            Value::Message(m) => format!("a {} message", m.desc.name),
            Value::List(_) => "a List".into(),
            Value::Map(_) => "a Map".into(),
        }
    }
}

impl List {
    /// An empty list for elements of `kind`.
    pub fn empty(kind: Kind) -> List {
        match kind {
            Kind::Int32 => List::I32(Vec::new()),
            Kind::Int64 | Kind::Sint64 => List::I64(Vec::new()),
            Kind::Uint32 | Kind::Fixed32 => List::U32(Vec::new()),
            Kind::Uint64 | Kind::Fixed64 => List::U64(Vec::new()),
            Kind::Bool => List::Bool(Vec::new()),
            Kind::Float => List::F32(Vec::new()),
            Kind::Double => List::F64(Vec::new()),
            Kind::Enum(_) => List::Enum(Vec::new()),
            Kind::String | Kind::Bytes => List::Bytes(Vec::new()),
            Kind::Message(_) => List::Message(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            List::I32(v) | List::Enum(v) => v.len(),
            List::I64(v) => v.len(),
            List::U32(v) => v.len(),
            List::U64(v) => v.len(),
            List::Bool(v) => v.len(),
            List::F32(v) => v.len(),
            List::F64(v) => v.len(),
            List::Bytes(v) => v.len(),
            List::Message(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shrink_to_fit(&mut self) {
        match self {
            List::I32(v) | List::Enum(v) => v.shrink_to_fit(),
            List::I64(v) => v.shrink_to_fit(),
            List::U32(v) => v.shrink_to_fit(),
            List::U64(v) => v.shrink_to_fit(),
            List::Bool(v) => v.shrink_to_fit(),
            List::F32(v) => v.shrink_to_fit(),
            List::F64(v) => v.shrink_to_fit(),
            List::Bytes(v) => v.shrink_to_fit(),
            List::Message(v) => v.shrink_to_fit(),
        }
    }

    pub fn get(&self, i: usize) -> Option<Elem<'_>> {
        Some(match self {
            List::I32(v) => Elem::I32(*v.get(i)?),
            List::I64(v) => Elem::I64(*v.get(i)?),
            List::U32(v) => Elem::U32(*v.get(i)?),
            List::U64(v) => Elem::U64(*v.get(i)?),
            List::Bool(v) => Elem::Bool(*v.get(i)?),
            List::F32(v) => Elem::F32(*v.get(i)?),
            List::F64(v) => Elem::F64(*v.get(i)?),
            List::Enum(v) => Elem::Enum(*v.get(i)?),
            List::Bytes(v) => Elem::Bytes(v.get(i)?),
            List::Message(v) => Elem::Message(v.get(i)?),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = Elem<'_>> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Appends a value of the list's element variant; gives the value back otherwise.
    pub fn push(&mut self, value: Value) -> std::result::Result<(), Value> {
        match (self, value) {
            (List::I32(v), Value::I32(x)) | (List::Enum(v), Value::Enum(x)) => v.push(x),
            (List::I64(v), Value::I64(x)) => v.push(x),
            (List::U32(v), Value::U32(x)) => v.push(x),
            (List::U64(v), Value::U64(x)) => v.push(x),
            (List::Bool(v), Value::Bool(x)) => v.push(x),
            (List::F32(v), Value::F32(x)) => v.push(x),
            (List::F64(v), Value::F64(x)) => v.push(x),
            (List::Bytes(v), Value::Bytes(x)) => v.push(x),
            (List::Message(v), Value::Message(x)) => v.push(*x),
            (_, value) => return Err(value),
        }
        Ok(())
    }

    fn fits(&self, kind: Kind) -> bool {
        match (kind, self) {
            (Kind::Int32, List::I32(_))
            | (Kind::Int64 | Kind::Sint64, List::I64(_))
            | (Kind::Uint32 | Kind::Fixed32, List::U32(_))
            | (Kind::Uint64 | Kind::Fixed64, List::U64(_))
            | (Kind::Bool, List::Bool(_))
            | (Kind::Float, List::F32(_))
            | (Kind::Double, List::F64(_))
            | (Kind::Enum(_), List::Enum(_))
            | (Kind::String | Kind::Bytes, List::Bytes(_)) => true,
            (Kind::Message(desc), List::Message(v)) => v.iter().all(|m| m.desc == desc),
            _ => false,
        }
    }
}

impl Map {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &MapKey) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    pub fn get(&self, key: &MapKey) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &MapKey) -> Option<&mut Value> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key(&self, key: &MapKey) -> bool {
        self.position(key).is_some()
    }

    /// Inserts an entry, or replaces the value of an existing key in its place; returns the
    /// value replaced.
    pub fn insert(&mut self, key: MapKey, value: Value) -> Option<Value> {
        if let Some(i) = self.position(&key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() >= INDEXED {
            self.reindex();
        }
        None
    }

    /// Removes an entry, keeping the order of the others.
    pub fn remove(&mut self, key: &MapKey) -> Option<Value> {
        let i = self.position(key)?;
        let (_, value) = self.entries.remove(i);
        if self.index.is_some() {
            self.reindex();
        }
        Some(value)
    }

    fn reindex(&mut self) {
        let index = self.entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        self.index = Some(Box::new(index));
    }

    /// Entries in stored order.
    pub fn iter(&self) -> impl Iterator<Item = (&MapKey, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &MapKey> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// Maps are equal when they hold the same entries, in any order.
impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl MapKey {
    /// The zero key of a key kind (what an entry without a key means).
    pub fn zero(kind: Kind) -> MapKey {
        match kind {
            Kind::Bool => MapKey::Bool(false),
            Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64 => MapKey::U64(0),
            Kind::String | Kind::Bytes => MapKey::Bytes(Bytes::new()),
            _ => MapKey::I64(0),
        }
    }

    /// Whether this key is valid for a key kind (variant and range).
    pub fn fits(&self, kind: Kind) -> bool {
        match (kind, self) {
            (Kind::Int32, MapKey::I64(v)) => i32::try_from(*v).is_ok(),
            (Kind::Uint32 | Kind::Fixed32, MapKey::U64(v)) => u32::try_from(*v).is_ok(),
            (Kind::Int64 | Kind::Sint64, MapKey::I64(_))
            | (Kind::Uint64 | Kind::Fixed64, MapKey::U64(_))
            | (Kind::Bool, MapKey::Bool(_))
            | (Kind::String, MapKey::Bytes(_)) => true,
            _ => false,
        }
    }

    /// The key as an element of its kind.
    pub fn elem(&self, kind: Kind) -> Elem<'_> {
        match (self, kind) {
            (MapKey::Bool(v), _) => Elem::Bool(*v),
            (MapKey::I64(v), Kind::Int32) => Elem::I32(varint_to_i32(*v as u64)),
            (MapKey::I64(v), _) => Elem::I64(*v),
            (MapKey::U64(v), Kind::Uint32 | Kind::Fixed32) => Elem::U32(varint_to_u32(*v)),
            (MapKey::U64(v), _) => Elem::U64(*v),
            (MapKey::Bytes(b), _) => Elem::Bytes(b),
        }
    }
}

impl From<&str> for MapKey {
    fn from(s: &str) -> Self {
        MapKey::Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Message> for Value {
    fn from(m: Message) -> Self {
        Value::Message(Box::new(m))
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct(self.desc.name);
        for (field, value) in self.fields() {
            s.field(field.name, value);
        }
        if !self.unknown().is_empty() {
            s.field("unknown", &self.unknown());
        }
        s.finish()
    }
}

/// Equal when of the same type with the same set fields and the same unknown records. Floats
/// compare by bits, so a message with NaNs equals its own copy.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.desc == other.desc
            && self.unknown() == other.unknown()
            && self.fields().map(|(f, v)| (f.number, v)).eq(other.fields().map(|(f, v)| (f.number, v)))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            _ => match (self.elem(), other.elem()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl PartialEq for Elem<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Elem::I32(a), Elem::I32(b)) | (Elem::Enum(a), Elem::Enum(b)) => a == b,
            (Elem::I64(a), Elem::I64(b)) => a == b,
            (Elem::U32(a), Elem::U32(b)) => a == b,
            (Elem::U64(a), Elem::U64(b)) => a == b,
            (Elem::Bool(a), Elem::Bool(b)) => a == b,
            (Elem::F32(a), Elem::F32(b)) => a.to_bits() == b.to_bits(),
            (Elem::F64(a), Elem::F64(b)) => a.to_bits() == b.to_bits(),
            (Elem::Bytes(a), Elem::Bytes(b)) => a == b,
            (Elem::Message(a), Elem::Message(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::schema::{ATTR_VALUE, NODE_DEF, SAVER_DEF, TENSOR_PROTO};

    #[test]
    fn set_get_and_defaults() {
        let mut node = Message::new(&NODE_DEF);
        node.set("name", "a".into()).unwrap();
        node.set("op", "".into()).unwrap();
        assert_eq!(node.str("name").unwrap(), "a");
        assert!(!node.has("op"), "an empty string is absent");
        assert_eq!(node.str("device").unwrap(), "");
        node.push("input", "b".into()).unwrap();
        node.push("input", "^c".into()).unwrap();
        assert_eq!(node.strings("input"), &[Bytes::from("b"), Bytes::from("^c")]);
        assert!(node.set("name", Value::I64(1)).is_err());
        assert!(node.set("nme", "x".into()).is_err());
        assert!(node.push("name", "x".into()).is_err());
        let names: Vec<_> = node.fields().map(|(f, _)| f.name).collect();
        assert_eq!(names, ["name", "input"]);
    }

    #[test]
    fn oneof_members_replace_each_other() {
        let mut attr = Message::new(&ATTR_VALUE);
        attr.set("i", Value::I64(0)).unwrap();
        assert!(attr.has("i"), "a oneof member is present even when zero");
        attr.set("f", Value::F32(1.5)).unwrap();
        assert!(!attr.has("i"));
        assert_eq!(attr.which_oneof("value").map(|f| f.name), Some("f"));
        attr.message_mut("list").unwrap().push("i", Value::I64(3)).unwrap();
        assert_eq!(attr.which_oneof("value").map(|f| f.name), Some("list"));
        assert_eq!(attr.fields().count(), 1);
    }

    #[test]
    fn maps_check_kinds() {
        let mut node = Message::new(&NODE_DEF);
        let mut attr = Message::new(&ATTR_VALUE);
        attr.set("type", Value::Enum(1)).unwrap();
        node.map_insert("attr", "T".into(), attr.clone().into()).unwrap();
        assert_eq!(node.map_get("attr", &"T".into()), Some(&Value::from(attr)));
        assert!(node.map_insert("attr", MapKey::I64(1), Message::new(&ATTR_VALUE).into()).is_err());
        assert!(node.map_insert("attr", "x".into(), Message::new(&NODE_DEF).into()).is_err());
        assert!(node.map_insert("input", "x".into(), "y".into()).is_err());
    }

    #[test]
    fn access_by_number_and_typed_helpers() {
        let mut t = Message::new(&TENSOR_PROTO);
        t.set_by_number(1, Value::Enum(9)).unwrap();
        t.set_by_number(3, Value::I32(-2)).unwrap();
        t.set("uint64_val", Value::List(List::U64(vec![u64::MAX]))).unwrap();
        assert_eq!(t.get_by_number(1), Some(&Value::Enum(9)));
        assert_eq!((t.int("dtype"), t.int("version_number")), (9, -2));
        assert_eq!(t.float("dtype"), 0.0);
        if let Value::List(List::U64(v)) = t.get_mut_by_number(17).unwrap() {
            v.push(5);
        }
        assert_eq!(t.list("uint64_val").map(List::len), Some(2));
        t.clear_by_number(17).unwrap();
        t.clear("version_number").unwrap();
        assert!(t.get("uint64_val").is_none() && !t.has("version_number"));
        assert!(t.set_by_number(99, Value::I32(0)).is_err());
        t.message_mut("tensor_shape")
            .unwrap()
            .messages_mut("dim")
            .unwrap()
            .push(Message::new(&crate::proto::schema::TENSOR_SHAPE_PROTO_DIM));
        assert_eq!(t.message("tensor_shape").map(|s| s.messages("dim").len()), Some(1));
        assert!(t.message_mut("dtype").is_err() && t.map_mut("float_val").is_err());
        let mut node = Message::new(&NODE_DEF);
        node.set("name", Value::Bytes(Bytes::from_static(b"\xff"))).unwrap();
        assert!(node.str("name").is_err());
        assert_eq!(node.bytes("name"), b"\xff");
    }

    #[test]
    fn unknown_records_are_allocated_only_when_kept() {
        let plain = Message::new(&NODE_DEF);
        let mut touched = Message::new(&NODE_DEF);
        assert!(touched.unknown_mut().is_empty());
        assert_eq!(plain, touched, "an empty list of unknown records is no list");
        touched.unknown_mut().push(Bytes::from_static(b"\x10\x05"));
        assert_ne!(plain, touched);
        assert_eq!(touched.clone().unknown(), [Bytes::from_static(b"\x10\x05")]);
    }

    #[test]
    fn map_keeps_order_and_indexes_big_maps() {
        let mut map = Map::new();
        for i in (0..40).rev() {
            assert_eq!(map.insert(MapKey::U64(i), Value::U32(u32::try_from(i).unwrap())), None);
        }
        assert_eq!(map.insert(MapKey::U64(7), Value::U32(70)), Some(Value::U32(7)));
        assert_eq!(map.remove(&MapKey::U64(39)), Some(Value::U32(39)));
        assert_eq!(map.remove(&MapKey::U64(39)), None);
        assert_eq!(map.len(), 39);
        assert_eq!(map.get(&MapKey::U64(7)), Some(&Value::U32(70)));
        assert_eq!(map.keys().next(), Some(&MapKey::U64(38)));
        assert_eq!(map.keys().nth(31), Some(&MapKey::U64(7)), "replacing kept the place");
        let mut small = Map::new();
        small.insert("b".into(), Value::I32(1));
        small.insert("a".into(), Value::I32(2));
        let mut other = Map::new();
        other.insert("a".into(), Value::I32(2));
        other.insert("b".into(), Value::I32(1));
        assert_eq!(small, other, "order does not matter for equality");
        assert!(small.contains_key(&"a".into()) && !small.contains_key(&"c".into()));
    }

    #[test]
    fn equality_ignores_defaults_and_compares_float_bits() {
        let mut a = Message::new(&SAVER_DEF);
        let b = Message::new(&SAVER_DEF);
        a.set("max_to_keep", Value::I32(0)).unwrap();
        assert_eq!(a, b);
        a.set("keep_checkpoint_every_n_hours", Value::F32(-0.0)).unwrap();
        assert_ne!(a, b, "-0.0 is not the default");
        a.set("keep_checkpoint_every_n_hours", Value::F32(f32::NAN)).unwrap();
        assert_eq!(a, a.clone());
        let mut t = Message::new(&TENSOR_PROTO);
        t.get_mut("float_val").unwrap();
        assert_eq!(t, Message::new(&TENSOR_PROTO), "an empty list is absent");
    }
}
