//! Static descriptors of the TensorFlow messages: for every message its full name and its fields
//! (number, name, kind, label, oneof), for every enum its values. The dynamic [`Message`] of
//! `proto::message`, the binary codec and the text format are driven by these tables, so that a
//! message type is added by describing it here, not by writing code for it.
//!
//! ```text
//! MessageDesc "tensorflow.NodeDef"
//!   fields (sorted by number)  1 name string | 2 op string | 3 input repeated string | ...
//!                              5 attr map<string, tensorflow.AttrValue> | ...
//! ```
//! Tables reference each other (`AttrValue` holds a `TensorProto`, which holds a
//! `VariantTensorDataProto`, which holds `TensorProto`s), which statics allow. Field tables are kept
//! in field-number order because that is the order in which messages are written and printed; a
//! test checks this, and that every table matches the descriptors compiled into TensorFlow 2.21.
//!
//! [`Message`]: super::message::Message

mod checkpoint;
mod graph;
mod meta_graph;
mod saved_model;
mod tensor;

use std::fmt;

pub use checkpoint::*;
pub use graph::*;
pub use meta_graph::*;
pub use saved_model::*;
pub use tensor::*;

/// One message type.
pub struct MessageDesc {
    /// The full name, `tensorflow.NodeDef`, as in `Any` type URLs.
    pub name: &'static str,
    /// Sorted by field number.
    pub fields: &'static [FieldDesc],
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub struct FieldDesc {
    pub number: u32,
    pub name: &'static str,
    /// The element kind (for maps: the value kind).
    pub kind: Kind,
    pub label: Label,
    /// The oneof this field belongs to.
    pub oneof: Option<&'static str>,
    /// Explicit presence for a scalar (proto2 `optional`): set at zero differs from absent. For
    /// a map: its entries' key and value are present even at zero (maps of proto2 messages),
    /// which the text format shows.
    pub explicit: bool,
}

/// What a field holds; the protobuf type decides the wire encoding.
#[derive(Clone, Copy)]
pub enum Kind {
    Int32,
    Int64,
    Uint32,
    Uint64,
    /// Zig-zag varint.
    Sint64,
    Bool,
    Float,
    Double,
    Fixed32,
    Fixed64,
    /// UTF-8 text, kept as bytes; parsing checks it except in [`PROTO2_MESSAGES`].
    String,
    Bytes,
    Enum(&'static EnumDesc),
    Message(&'static MessageDesc),
}

/// How many values a field holds.
#[derive(Debug, Clone, Copy)]
pub enum Label {
    /// One value; absent means default unless the field is a message, a oneof member or
    /// [`explicit`](FieldDesc::explicit).
    Singular,
    /// A list; numbers are written packed.
    Repeated,
    /// `map<key, kind>`: entries `{key = 1; value = 2}` with this key kind.
    Map(Kind),
}

/// One enum type. Values are sorted by number; proto3 enums are open, so numbers that are not
/// listed are valid and kept.
pub struct EnumDesc {
    pub name: &'static str,
    pub values: &'static [(&'static str, i32)],
}

impl MessageDesc {
    /// The position in [`fields`](Self::fields) of the field with this number.
    #[inline]
    pub fn index_of_number(&self, number: u32) -> Option<usize> {
        // Most messages number their fields 1, 2, 3, ...: try the direct slot first.
        let guess = (number as usize).wrapping_sub(1);
        match self.fields.get(guess) {
            Some(f) if f.number == number => Some(guess),
            _ => self.fields.binary_search_by_key(&number, |f| f.number).ok(),
        }
    }

    /// The position in [`fields`](Self::fields) of the field with this name.
    pub fn index_of_name(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn field(&self, name: &str) -> Option<&'static FieldDesc> {
        let fields: &'static [FieldDesc] = self.fields;
        fields.iter().find(|f| f.name == name)
    }

    pub fn field_by_number(&self, number: u32) -> Option<&'static FieldDesc> {
        let fields: &'static [FieldDesc] = self.fields;
        self.index_of_number(number).map(|i| &fields[i])
    }
}

/// The messages of proto2 files (`graph_debug_info.proto`). Protobuf checks the `string` fields of
/// every other message here (all proto3) for UTF-8 when parsing, and refuses the message when one
/// is not; in proto2 messages they are taken as they are.
pub static PROTO2_MESSAGES: &[&MessageDesc] =
    &[&GRAPH_DEBUG_INFO, &GRAPH_DEBUG_INFO_FILE_LINE_COL, &GRAPH_DEBUG_INFO_STACK_TRACE];

impl MessageDesc {
    /// Whether binary parsing refuses a `string` field that is not valid UTF-8 (proto3).
    pub fn checks_utf8(&self) -> bool {
        !PROTO2_MESSAGES.iter().any(|m| std::ptr::eq(*m, self))
    }
}

impl EnumDesc {
    /// The name of a value, `None` for numbers the enum does not list.
    pub fn name_of(&self, number: i32) -> Option<&'static str> {
        let values: &'static [(&'static str, i32)] = self.values;
        values.binary_search_by_key(&number, |v| v.1).ok().map(|i| values[i].0)
    }

    pub fn number_of(&self, name: &str) -> Option<i32> {
        self.values.iter().find(|v| v.0 == name).map(|v| v.1)
    }
}

impl FieldDesc {
    /// Whether "set to the default" and "absent" differ: message fields and oneof members.
    /// Other singular fields (proto3 implicit presence) are absent when default.
    pub fn has_presence(&self) -> bool {
        matches!(self.label, Label::Singular)
            && (self.explicit || self.oneof.is_some() || matches!(self.kind, Kind::Message(_)))
    }

    pub fn is_repeated(&self) -> bool {
        matches!(self.label, Label::Repeated)
    }

    pub fn is_map(&self) -> bool {
        matches!(self.label, Label::Map(_))
    }
}

impl Kind {
    /// Numeric kinds that repeated fields write packed.
    pub fn is_packable(self) -> bool {
        !matches!(self, Kind::String | Kind::Bytes | Kind::Message(_))
    }

    /// The name used in `.proto` files (`int64`, `tensorflow.AttrValue`, ...).
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Int32 => "int32",
            Kind::Int64 => "int64",
            Kind::Uint32 => "uint32",
            Kind::Uint64 => "uint64",
            Kind::Sint64 => "sint64",
            Kind::Bool => "bool",
            Kind::Float => "float",
            Kind::Double => "double",
            Kind::Fixed32 => "fixed32",
            Kind::Fixed64 => "fixed64",
            Kind::String => "string",
            Kind::Bytes => "bytes",
            Kind::Enum(e) => e.name,
            Kind::Message(m) => m.name,
        }
    }
}

// The tables are cyclic: Debug prints names instead of following the references.
impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

impl fmt::Debug for MessageDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageDesc({})", self.name)
    }
}

impl fmt::Debug for EnumDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnumDesc({})", self.name)
    }
}

/// Descriptors are statics: one address per type.
impl PartialEq for MessageDesc {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for MessageDesc {}

/// Every message type described here, for resolving `Any` type URLs.
pub static MESSAGES: &[&MessageDesc] = &[
    &ANY,
    &BOOL_VALUE,
    &ASSET_FILE_DEF,
    &ATTR_VALUE,
    &ATTR_VALUE_LIST_VALUE,
    &BOUNDED_TENSOR_SPEC_PROTO,
    &BUNDLE_ENTRY_PROTO,
    &BUNDLE_HEADER_PROTO,
    &CAPTURED_TENSOR,
    &CHECKPOINT_STATE,
    &COLLECTION_DEF,
    &COLLECTION_DEF_ANY_LIST,
    &COLLECTION_DEF_BYTES_LIST,
    &COLLECTION_DEF_FLOAT_LIST,
    &COLLECTION_DEF_INT64_LIST,
    &COLLECTION_DEF_NODE_LIST,
    &DICT_VALUE,
    &FINGERPRINT_DEF,
    &FULL_TYPE_DEF,
    &FUNCTION_DEF,
    &FUNCTION_DEF_ARG_ATTRS,
    &FUNCTION_DEF_LIBRARY,
    &FUNCTION_SPEC,
    &GRADIENT_DEF,
    &GRAPH_DEBUG_INFO,
    &GRAPH_DEBUG_INFO_FILE_LINE_COL,
    &GRAPH_DEBUG_INFO_STACK_TRACE,
    &GRAPH_DEF,
    &LIST_VALUE,
    &META_GRAPH_DEF,
    &META_GRAPH_DEF_META_INFO_DEF,
    &NAME_ATTR_LIST,
    &NAMED_TUPLE_VALUE,
    &NODE_DEF,
    &NODE_DEF_EXPERIMENTAL_DEBUG_INFO,
    &NONE_VALUE,
    &OP_DEF,
    &OP_DEF_ARG_DEF,
    &OP_DEF_ATTR_DEF,
    &OP_DEPRECATION,
    &OP_LIST,
    &PAIR_VALUE,
    &REGISTERED_GRADIENT,
    &REGISTERED_SAVER,
    &RESOURCE_HANDLE_PROTO,
    &RESOURCE_HANDLE_PROTO_DTYPE_AND_SHAPE,
    &SAVE_SLICE_INFO_DEF,
    &SAVEABLE_OBJECT,
    &SAVED_ASSET,
    &SAVED_BARE_CONCRETE_FUNCTION,
    &SAVED_CONCRETE_FUNCTION,
    &SAVED_CONSTANT,
    &SAVED_FUNCTION,
    &SAVED_MODEL,
    &SAVED_OBJECT,
    &SAVED_OBJECT_GRAPH,
    &SAVED_RESOURCE,
    &SAVED_SLICE,
    &SAVED_SLICE_META,
    &SAVED_TENSOR_SLICE_META,
    &SAVED_TENSOR_SLICES,
    &SAVED_USER_OBJECT,
    &SAVED_VARIABLE,
    &SAVER_DEF,
    &SERIALIZED_DTYPE,
    &SIGNATURE_DEF,
    &STRUCTURED_VALUE,
    &TENSOR_INFO,
    &TENSOR_INFO_COMPOSITE_TENSOR,
    &TENSOR_INFO_COO_SPARSE,
    &TENSOR_PROTO,
    &TENSOR_SHAPE_PROTO,
    &TENSOR_SHAPE_PROTO_DIM,
    &TENSOR_SLICE_PROTO,
    &TENSOR_SLICE_PROTO_EXTENT,
    &TENSOR_SPEC_PROTO,
    &TRACKABLE_OBJECT_GRAPH,
    &TRACKABLE_OBJECT,
    &TRACKABLE_OBJECT_OBJECT_REFERENCE,
    &TRACKABLE_OBJECT_SERIALIZED_TENSOR,
    &TRACKABLE_OBJECT_SLOT_VARIABLE_REFERENCE,
    &TUPLE_VALUE,
    &TYPE_SPEC_PROTO,
    &VARIABLE_DEF,
    &VARIANT_TENSOR_DATA_PROTO,
    &VERSION_DEF,
];

/// Every enum type described here.
pub static ENUMS: &[&EnumDesc] = &[
    &BUNDLE_HEADER_PROTO_ENDIANNESS,
    &DATA_TYPE,
    &FULL_TYPE_ID,
    &FUNCTION_SPEC_JIT_COMPILE,
    &SAVER_DEF_CHECKPOINT_FORMAT_VERSION,
    &TYPE_SPEC_PROTO_TYPE_SPEC_CLASS,
    &VARIABLE_AGGREGATION,
    &VARIABLE_SYNCHRONIZATION,
];

/// The message type with this full name (`tensorflow.GraphDef`).
pub fn find_message(name: &str) -> Option<&'static MessageDesc> {
    MESSAGES.iter().copied().find(|m| m.name == name)
}

// Short constructors that keep the tables one line per field.

const fn field(number: u32, name: &'static str, kind: Kind) -> FieldDesc {
    FieldDesc { number, name, kind, label: Label::Singular, oneof: None, explicit: false }
}

const fn repeated(number: u32, name: &'static str, kind: Kind) -> FieldDesc {
    FieldDesc { number, name, kind, label: Label::Repeated, oneof: None, explicit: false }
}

const fn oneof(number: u32, name: &'static str, kind: Kind, oneof: &'static str) -> FieldDesc {
    FieldDesc { number, name, kind, label: Label::Singular, oneof: Some(oneof), explicit: false }
}

const fn map(number: u32, name: &'static str, key: Kind, value: Kind) -> FieldDesc {
    FieldDesc { number, name, kind: value, label: Label::Map(key), oneof: None, explicit: false }
}

/// A field of a proto2 message: explicit presence (see [`FieldDesc::explicit`]).
const fn proto2(field: FieldDesc) -> FieldDesc {
    FieldDesc { explicit: true, ..field }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the tables in the format of `tests/data/tf_schema.txt`, which
    /// `tests/data/make_proto_goldens.py` writes from TensorFlow's own descriptors.
    fn render() -> String {
        let mut out = String::new();
        let mut messages: Vec<_> = MESSAGES.to_vec();
        messages.sort_by_key(|m| m.name);
        for m in messages {
            out += &format!("message {}\n", m.name);
            for f in m.fields {
                let ty = match f.label {
                    Label::Map(key) => format!("map<{},{}>", key.type_name(), f.kind.type_name()),
                    _ => f.kind.type_name().to_string(),
                };
                let label = match (f.label, f.oneof) {
                    (Label::Repeated, _) => " repeated".to_string(),
                    (_, Some(o)) => format!(" oneof {o}"),
                    (Label::Map(_), _) if f.explicit => " optional".to_string(),
                    (_, _) if f.explicit && !matches!(f.kind, Kind::Message(_)) => " optional".to_string(),
                    _ => String::new(),
                };
                out += &format!("  {} {} {}{}\n", f.number, f.name, ty, label);
            }
        }
        let mut enums: Vec<_> = ENUMS.to_vec();
        enums.sort_by_key(|e| e.name);
        for e in enums {
            let mut values = e.values.to_vec();
            values.sort_by_key(|v| v.1);
            out += &format!("enum {}", e.name);
            for (name, number) in values {
                out += &format!(" {name}={number}");
            }
            out += "\n";
        }
        out
    }

    #[test]
    fn tables_match_tensorflow_descriptors() {
        let golden = include_str!("../../../tests/data/tf_schema.txt");
        let ours = render();
        for (i, (a, b)) in golden.lines().zip(ours.lines()).enumerate() {
            assert_eq!(a, b, "line {}", i + 1);
        }
        assert_eq!(golden.lines().count(), ours.lines().count());
    }

    #[test]
    fn tables_are_sorted_and_unique() {
        for m in MESSAGES {
            assert!(m.fields.windows(2).all(|w| w[0].number < w[1].number), "{}", m.name);
            for (i, f) in m.fields.iter().enumerate() {
                assert_eq!(m.index_of_number(f.number), Some(i));
                assert_eq!(m.index_of_name(f.name), Some(i));
                assert!(f.number > 0 && f.number < (1 << 29));
                if let Label::Map(key) = f.label {
                    assert!(matches!(
                        key,
                        Kind::Int32
                            | Kind::Int64
                            | Kind::Uint32
                            | Kind::Uint64
                            | Kind::Sint64
                            | Kind::Bool
                            | Kind::Fixed32
                            | Kind::Fixed64
                            | Kind::String
                    ));
                }
            }
            assert_eq!(find_message(m.name), Some(*m));
        }
        for e in ENUMS {
            assert!(e.values.windows(2).all(|w| w[0].1 < w[1].1), "{}", e.name);
            assert_eq!(e.values.first().map(|v| v.1), Some(0), "{}", e.name);
        }
        assert_eq!(DATA_TYPE.name_of(101), Some("DT_FLOAT_REF"));
        assert_eq!(DATA_TYPE.number_of("DT_FLOAT4_E2M1FN_REF"), Some(133));
        assert_eq!(FULL_TYPE_ID.name_of(999), None);
        assert_eq!(NODE_DEF.field_by_number(5).map(|f| f.name), Some("attr"));
        assert_eq!(OP_DEF.field_by_number(16).map(|f| f.name), Some("is_aggregate"));
        assert!(OP_DEF.field_by_number(7).is_none());
    }
}
