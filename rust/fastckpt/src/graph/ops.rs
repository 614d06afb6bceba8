//! TensorFlow's op registry, without TensorFlow: what importing a graph must know about each op.
//!
//! A NodeDef names its op and sets attrs; how many outputs the node has and of which dtypes, which
//! dtypes its inputs take, which attrs it must have and of which kinds, and which defaults fill
//! the ones left out, all come from the op's `OpDef`. `ops.pb` is the `OpList` of every op
//! registered in TensorFlow 2.21 (summaries and descriptions dropped, sorted by name), written by
//! `make_op_registry.py` beside this file; it is embedded, and each op is decoded when first
//! looked up ([`OpRegistry`]). The functions of a graph's library extend it: a
//! `FunctionDef.signature` is an `OpDef` too.
//!
//! ```text
//! OpDef Split   input_arg  split_dim: int32 | value: T          attrs  num_split: int >= 1
//!               output_arg output: num_split * T                       T: type
//! NodeDef {op: "Split", attr {num_split: 3, T: float}}  →  inputs (int32, float), outputs 3 × float
//! ```
//!
//! Validation follows TensorFlow's checks in its order and with its messages, because users
//! compare them with what TensorFlow says; the summaries in those messages (`Op<name=…>`, attr
//! values) are rendered the way TensorFlow renders them.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::dtype::DataType;
use crate::error::{Error, Result};
use crate::proto::binary::decode;
use crate::proto::schema::OP_DEF;
use crate::proto::text::c_escape;
use crate::proto::wire::{Decoder, Value as WireValue, WireError};
use crate::proto::{List, Map, MapKey, Message, Value};

/// The version of TensorFlow whose registry and graph version this engine reproduces.
pub const TF_VERSION: &str = "2.21.0";
/// `TF_GRAPH_DEF_VERSION` of TensorFlow 2.21.0: what graphs are produced at and consumed up to.
pub const GRAPH_DEF_VERSION: i32 = 2474;
/// `TF_GRAPH_DEF_VERSION_MIN_PRODUCER`.
pub const GRAPH_DEF_VERSION_MIN_PRODUCER: i32 = 0;
/// `TF_GRAPH_DEF_VERSION_MIN_CONSUMER`.
pub const GRAPH_DEF_VERSION_MIN_CONSUMER: i32 = 0;

static OPS_PB: &[u8] = include_bytes!("ops.pb");

/// The most inputs or outputs one `number_attr` may ask for.
const MAX_ARGS: i64 = 1 << 24;

/// One input or output argument of an op.
#[derive(Debug, Clone)]
pub struct ArgDef {
    pub name: String,
    /// A fixed dtype (`DataType::INVALID` when an attr decides).
    pub dtype: DataType,
    pub type_attr: String,
    pub number_attr: String,
    pub type_list_attr: String,
    pub is_ref: bool,
}

/// One attr of an op.
#[derive(Debug, Clone)]
pub struct AttrDef {
    pub name: String,
    /// `"int"`, `"type"`, `"list(shape)"`, …
    pub kind: String,
    /// `name` as a key of a NodeDef's attr map.
    pub key: MapKey,
    pub default: Option<Message>,
    pub minimum: Option<i64>,
    pub allowed: Option<Message>,
}

/// An op's signature, parsed from its `OpDef` for quick use.
#[derive(Debug, Clone)]
pub struct OpDef {
    pub name: String,
    pub inputs: Vec<ArgDef>,
    pub outputs: Vec<ArgDef>,
    pub attrs: Vec<AttrDef>,
    /// `(version, explanation)`: the op is gone from graphs produced at `version` or later.
    pub deprecation: Option<(i32, String)>,
    flags: Flags,
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    is_commutative: bool,
    is_aggregate: bool,
    is_stateful: bool,
    allows_uninitialized_input: bool,
    is_distributed_communication: bool,
}

/// Ops by name. Each op is one `OpDef` record of an `OpList`'s bytes: making the registry only
/// locates the records and reads their names; an op is decoded on its first lookup, so a process
/// that imports a graph of a few dozen op types decodes a few dozen of TensorFlow's ~1,500.
///
/// ```text
/// OpList  0A <len> [OpDef: 0A 03 'A' 'b' 's' 12 <len> [input_arg] ...]  0A <len> [OpDef: 0A 06 'A' 'c' 'o' 's' ...] ...
///              └─ record ─────────────────────────────────────────┘   entries sorted by name
/// ```
#[derive(Debug, Default)]
pub struct OpRegistry {
    list: Bytes,
    ops: Vec<OpEntry>,
}

#[derive(Debug)]
struct OpEntry {
    /// The op's name, in `list`.
    name: Range<usize>,
    /// The `OpDef` record's payload, in `list`.
    record: Range<usize>,
    /// The decoded record; `None` if it does not decode (the embedded list is checked by a test).
    def: OnceLock<Option<OpDef>>,
}

/// TensorFlow 2.21's registry over the embedded `ops.pb`, indexed on first use.
pub fn registry() -> Result<&'static OpRegistry> {
    static REGISTRY: OnceLock<std::result::Result<OpRegistry, String>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| OpRegistry::from_op_list(Bytes::from_static(OPS_PB)).map_err(|e| e.0.to_string()))
        .as_ref()
        .map_err(|e| Error::InvalidArgument(format!("the embedded op registry is damaged: {e}")))
}

impl OpRegistry {
    /// Indexes the ops of an encoded `OpList` by name (when a name is given twice, the first
    /// record counts).
    pub fn from_op_list(list: Bytes) -> std::result::Result<Self, WireError> {
        let mut ops = Vec::new();
        let mut records = Decoder::new(&list);
        while let Some((number, value)) = records.next_field()? {
            let WireValue::Len(record) = value else { continue };
            if number != OP_LIST_OP {
                continue;
            }
            let mut name: &[u8] = &[];
            let mut fields = Decoder::new(record);
            while let Some((number, value)) = fields.next_field()? {
                if number == OP_DEF_NAME {
                    name = value.as_bytes()?;
                }
            }
            ops.push(OpEntry { name: range_in(&list, name), record: range_in(&list, record), def: OnceLock::new() });
        }
        ops.sort_by(|a, b| list[a.name.clone()].cmp(&list[b.name.clone()]));
        ops.dedup_by(|later, first| list[later.name.clone()] == list[first.name.clone()]);
        Ok(Self { list, ops })
    }

    /// The op called `name`, decoded on its first lookup.
    pub fn get(&self, name: &str) -> Option<&OpDef> {
        let entry = self.entry(name)?;
        entry.def.get_or_init(|| OpDef::from_proto(&self.message(entry)?).ok()).as_ref()
    }

    /// The `OpDef` message of the op called `name`, as TensorFlow registers it.
    pub fn op_def_message(&self, name: &str) -> Option<Message> {
        self.message(self.entry(name)?)
    }

    fn entry(&self, name: &str) -> Option<&OpEntry> {
        let at = self.ops.binary_search_by(|e| self.list[e.name.clone()].cmp(name.as_bytes())).ok()?;
        Some(&self.ops[at])
    }

    fn message(&self, entry: &OpEntry) -> Option<Message> {
        decode(&OP_DEF, self.list.slice(entry.record.clone())).ok()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// `OpList.op` and `OpDef.name`.
const OP_LIST_OP: u32 = 1;
const OP_DEF_NAME: u32 = 1;

/// Where `part`, a slice of `whole`, lies in it.
fn range_in(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

fn text(m: &Message, field: &str) -> String {
    String::from_utf8_lossy(m.bytes(field)).into_owned()
}

impl ArgDef {
    fn from_proto(m: &Message) -> Self {
        Self {
            name: text(m, "name"),
            dtype: DataType::from_proto(m.int("type")),
            type_attr: text(m, "type_attr"),
            number_attr: text(m, "number_attr"),
            type_list_attr: text(m, "type_list_attr"),
            is_ref: m.bool("is_ref"),
        }
    }
}

impl OpDef {
    /// Parses an `OpDef` message (of the registry or a function's signature).
    pub fn from_proto(m: &Message) -> Result<Self> {
        let attrs = m
            .messages("attr")
            .iter()
            .map(|a| AttrDef {
                name: text(a, "name"),
                key: MapKey::Bytes(Bytes::copy_from_slice(a.bytes("name"))),
                kind: text(a, "type"),
                default: a.message("default_value").cloned(),
                minimum: a.bool("has_minimum").then(|| a.int("minimum")),
                allowed: a.message("allowed_values").cloned(),
            })
            .collect();
        Ok(Self {
            name: text(m, "name"),
            inputs: m.messages("input_arg").iter().map(ArgDef::from_proto).collect(),
            outputs: m.messages("output_arg").iter().map(ArgDef::from_proto).collect(),
            attrs,
            deprecation: m.message("deprecation").map(|d| (d.int32("version"), text(d, "explanation"))),
            flags: Flags {
                is_commutative: m.bool("is_commutative"),
                is_aggregate: m.bool("is_aggregate"),
                is_stateful: m.bool("is_stateful"),
                allows_uninitialized_input: m.bool("allows_uninitialized_input"),
                is_distributed_communication: m.bool("is_distributed_communication"),
            },
        })
    }

    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn is_stateful(&self) -> bool {
        self.flags.is_stateful
    }

    /// `Op<name=Placeholder; signature= -> output:dtype; attr=dtype:type; …>`, as TensorFlow
    /// shows an op in error messages.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Op<name={}; signature={} -> {}",
            self.name,
            summarize_args(&self.inputs),
            summarize_args(&self.outputs)
        );
        for a in &self.attrs {
            let _ = write!(s, "; attr={}:{}", a.name, a.kind);
            if let Some(d) = &a.default {
                let _ = write!(s, ",default={}", summarize_attr_value(d));
            }
            if let Some(min) = a.minimum {
                let _ = write!(s, ",min={min}");
            }
            if let Some(allowed) = &a.allowed {
                let _ = write!(s, ",allowed={}", summarize_attr_value(allowed));
            }
        }
        let f = self.flags;
        for (on, what) in [
            (f.is_commutative, "is_commutative"),
            (f.is_aggregate, "is_aggregate"),
            (f.is_stateful, "is_stateful"),
            (f.allows_uninitialized_input, "allows_uninitialized_input"),
            (f.is_distributed_communication, "is_distributed_communication"),
        ] {
            if on {
                let _ = write!(s, "; {what}=true");
            }
        }
        s.push('>');
        s
    }

    /// The dtypes of a node's inputs (`inputs = true`) or outputs, from its attrs.
    pub fn arg_types(&self, attrs: &Map, inputs: bool) -> std::result::Result<Vec<DataType>, String> {
        let mut sig = Vec::new();
        for arg in if inputs { &self.inputs } else { &self.outputs } {
            add_arg_types(arg, attrs, &mut sig)?;
        }
        Ok(sig)
    }

    /// TensorFlow's `ValidateNodeDef` for a node whose attrs already hold the op's defaults:
    /// attr kinds and constraints, missing attrs, the number of data inputs; gives the input and
    /// output dtypes. The error text is TensorFlow's; `node` shows the node as messages do
    /// (`{{node import/x}}`) and is only called for an error.
    pub fn validate_node(
        &self,
        node: impl Fn() -> String,
        attrs: &Map,
        num_inputs: usize,
    ) -> std::result::Result<(Vec<DataType>, Vec<DataType>), String> {
        let context = || format!("; NodeDef: {}", node());
        let mut missing: Vec<&AttrDef> = self.attrs.iter().collect();
        for (key, value) in attrs.iter() {
            let MapKey::Bytes(key) = key else { continue };
            if key.starts_with(b"_") {
                continue;
            }
            let Some(pos) = missing.iter().position(|a| a.name.as_bytes() == &key[..]) else {
                // Attrs the op does not know are ignored (TensorFlow logs them).
                continue;
            };
            let Value::Message(value) = value else { continue };
            if value.bytes("placeholder").is_empty() {
                validate_attr_value(value, missing[pos])
                    .map_err(|e| format!("{e}\n\t{}; {}", context(), self.summary()))?;
            }
            missing.remove(pos);
        }
        if !missing.is_empty() {
            // TensorFlow walks a hash map here; for ops of a few attrs that is the reverse of the
            // OpDef's order.
            let names: Vec<&str> = missing.iter().rev().map(|a| a.name.as_str()).collect();
            return Err(format!(
                "NodeDef missing attr{} '{}' from {}{}",
                if names.len() > 1 { "s" } else { "" },
                names.join("', '"),
                self.summary(),
                context()
            ));
        }
        let inputs = self.arg_types(attrs, true)?;
        let outputs = self.arg_types(attrs, false)?;
        if inputs.len() != num_inputs {
            let names: Vec<String> = inputs.iter().map(|t| t.type_string()).collect();
            return Err(format!(
                "NodeDef expected inputs '{}' do not match {num_inputs} inputs specified; {}{}",
                names.join(", "),
                self.summary(),
                context()
            ));
        }
        Ok((inputs, outputs))
    }
}

/// The attr `name` of a NodeDef's attr map (found without building a key).
pub fn attr_of<'a>(attrs: &'a Map, name: &str) -> Option<&'a Message> {
    attrs.iter().find_map(|(k, v)| match (k, v) {
        (MapKey::Bytes(k), Value::Message(m)) if &k[..] == name.as_bytes() => Some(&**m),
        _ => None,
    })
}

fn add_arg_types(arg: &ArgDef, attrs: &Map, sig: &mut Vec<DataType>) -> std::result::Result<(), String> {
    let start = sig.len();
    let missing = |name: &str| format!("No attr named '{name}' in NodeDef:");
    if !arg.number_attr.is_empty() {
        let n = attr_of(attrs, &arg.number_attr).ok_or_else(|| missing(&arg.number_attr))?.int("i");
        // TensorFlow refuses more than fit an int32; beyond MAX_ARGS it would exhaust memory.
        if i32::try_from(n).is_err() || n > MAX_ARGS {
            return Err(format!("Number of outputs is too big: {n}"));
        }
        let Ok(count) = usize::try_from(n) else {
            return Err(format!("Value for number_attr() {n} < 0"));
        };
        let dtype = if !arg.type_attr.is_empty() {
            DataType::from_proto(attr_of(attrs, &arg.type_attr).ok_or_else(|| missing(&arg.type_attr))?.int("type"))
        } else if arg.dtype != DataType::INVALID {
            arg.dtype
        } else {
            return Err(format!("Missing type or type_attr field in arg '{}'", arg.name));
        };
        sig.extend(std::iter::repeat_n(dtype, count));
    } else if !arg.type_attr.is_empty() {
        sig.push(DataType::from_proto(
            attr_of(attrs, &arg.type_attr).ok_or_else(|| missing(&arg.type_attr))?.int("type"),
        ));
    } else if !arg.type_list_attr.is_empty() {
        let list = attr_of(attrs, &arg.type_list_attr).ok_or_else(|| missing(&arg.type_list_attr))?;
        if let Some(Value::List(List::Enum(types))) = list.message("list").and_then(|l| l.get("type")) {
            sig.extend(types.iter().map(|t| DataType::from_proto(i64::from(*t))));
        }
    } else if arg.dtype != DataType::INVALID {
        sig.push(arg.dtype);
    } else {
        return Err(format!("No type fields in arg '{}'", arg.name));
    }
    if arg.is_ref {
        for t in &mut sig[start..] {
            *t = t.to_ref().ok_or_else(|| format!("Requested reference to a reference type: arg '{}'", arg.name))?;
        }
    }
    Ok(())
}

/// `DataTypeString` of an attr's raw `type` value (which may lie outside the enum).
fn type_string(t: i64) -> String {
    u32::try_from(t).map_or_else(|_| format!("unknown dtype enum ({t})"), |v| DataType(v).type_string())
}

/// The enum's names (`DT_FLOAT`, `DT_FLOAT_REF`) of an attr's raw `type` value; the number itself
/// outside the enum.
fn dtype_enum_name(t: i64) -> String {
    u32::try_from(t).ok().and_then(|v| DataType(v).enum_name()).unwrap_or_else(|| t.to_string())
}

/// Python's `"%g"` (and absl's `StrCat` of a float): six significant digits.
pub fn g_format(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

fn summarize_string(s: &[u8]) -> String {
    let escaped = c_escape(s);
    if escaped.len() >= 80 {
        format!("\"{}...{}\"", &escaped[..10], &escaped[escaped.len() - 10..])
    } else {
        format!("\"{escaped}\"")
    }
}

/// `[2,?]`, `<unknown>`: a partial shape as TensorFlow prints it.
pub fn shape_debug_string(shape: &Message) -> String {
    if shape.bool("unknown_rank") {
        return "<unknown>".into();
    }
    let dims: Vec<String> = shape
        .messages("dim")
        .iter()
        .map(|d| match d.int("size") {
            -1 => "?".to_string(),
            n => n.to_string(),
        })
        .collect();
    format!("[{}]", dims.join(","))
}

/// A small tensor as `Tensor<type: uint8 shape: [4] values: 255 0 0...>` (what TensorFlow shows
/// for an attr default; only numbers stored in the typed value fields are rendered).
fn summarize_tensor(t: &Message) -> String {
    let dtype = DataType::from_proto(t.int("dtype"));
    let shape = t.message("tensor_shape").map(shape_debug_string).unwrap_or_else(|| "[]".into());
    let mut values: Vec<String> = Vec::new();
    for field in ["int_val", "int64_val", "float_val", "double_val", "bool_val"] {
        match t.list(field) {
            Some(List::I32(v)) => values.extend(v.iter().map(i32::to_string)),
            Some(List::I64(v)) => values.extend(v.iter().map(i64::to_string)),
            Some(List::F32(v)) => values.extend(v.iter().map(|x| g_format(f64::from(*x)))),
            Some(List::F64(v)) => values.extend(v.iter().map(|x| g_format(*x))),
            Some(List::Bool(v)) => values.extend(v.iter().map(bool::to_string)),
            _ => {}
        }
    }
    let count: i64 =
        t.message("tensor_shape").map(|s| s.messages("dim").iter().map(|d| d.int("size")).product()).unwrap_or(1);
    // A proto may store fewer values than elements: the last one repeats.
    if let Some(last) = values.last().cloned() {
        while (values.len() as i64) < count.min(4) {
            values.push(last.clone());
        }
    }
    let mut shown = values.iter().take(3).cloned().collect::<Vec<_>>().join(" ");
    if count > 3 {
        shown.push_str("...");
    }
    format!("Tensor<type: {} shape: {shape} values: {shown}>", dtype.type_string())
}

fn summarize_func(f: &Message) -> String {
    let mut entries: Vec<String> = f
        .map("attr")
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| match (k, v) {
                    (MapKey::Bytes(k), Value::Message(v)) => {
                        Some(format!("{}={}", String::from_utf8_lossy(k), summarize_attr_value(v)))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    format!("{}[{}]", String::from_utf8_lossy(f.bytes("name")), entries.join(", "))
}

/// An attr value as TensorFlow shows it in messages (`SummarizeAttrValue`).
pub fn summarize_attr_value(v: &Message) -> String {
    let Some(field) = v.which_oneof("value") else { return "<Unknown AttrValue type>".into() };
    match field.name {
        "s" => summarize_string(v.bytes("s")),
        "i" => v.int("i").to_string(),
        "f" => g_format(v.float("f")),
        "b" => v.bool("b").to_string(),
        "type" => dtype_enum_name(v.int("type")),
        "shape" => v.message("shape").map(shape_debug_string).unwrap_or_default(),
        "tensor" => v.message("tensor").map(summarize_tensor).unwrap_or_default(),
        "func" => v.message("func").map(summarize_func).unwrap_or_default(),
        "placeholder" => format!("${}", String::from_utf8_lossy(v.bytes("placeholder"))),
        _ => {
            let empty = Message::new(v.desc());
            let list = v.message("list").unwrap_or(&empty);
            let pieces: Vec<String> = if let Some(List::Bytes(s)) = list.list("s") {
                s.iter().map(|x| summarize_string(x)).collect()
            } else if let Some(List::I64(i)) = list.list("i") {
                i.iter().map(i64::to_string).collect()
            } else if let Some(List::F32(f)) = list.list("f") {
                f.iter().map(|x| g_format(f64::from(*x))).collect()
            } else if let Some(List::Bool(b)) = list.list("b") {
                b.iter().map(bool::to_string).collect()
            } else if let Some(List::Enum(t)) = list.list("type") {
                t.iter().map(|x| dtype_enum_name(i64::from(*x))).collect()
            } else if !list.messages("shape").is_empty() {
                list.messages("shape").iter().map(shape_debug_string).collect()
            } else if !list.messages("tensor").is_empty() {
                list.messages("tensor").iter().map(summarize_tensor).collect()
            } else {
                list.messages("func").iter().map(summarize_func).collect()
            };
            format!("[{}]", pieces.join(", "))
        }
    }
}

fn summarize_args(args: &[ArgDef]) -> String {
    let mut out = String::new();
    for arg in args {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "{}:", arg.name);
        if arg.is_ref {
            out.push_str("Ref(");
        }
        if !arg.number_attr.is_empty() {
            let _ = write!(out, "{}*", arg.number_attr);
        }
        if arg.dtype != DataType::INVALID {
            out.push_str(&arg.dtype.type_string());
        } else {
            out.push_str(&arg.type_attr);
        }
        out.push_str(&arg.type_list_attr);
        if arg.is_ref {
            out.push(')');
        }
    }
    out
}

/// The list kinds of `AttrValue.ListValue`, in the order TensorFlow checks them, with the attr
/// type names they belong to.
const KINDS: [(&str, &str); 8] = [
    ("s", "string"),
    ("i", "int"),
    ("f", "float"),
    ("b", "bool"),
    ("type", "type"),
    ("shape", "shape"),
    ("tensor", "tensor"),
    ("func", "func"),
];

fn list_len(list: &Message, field: &str) -> usize {
    list.list(field).map_or(0, List::len)
}

/// Whether an attr value is of the attr type `kind` (`"int"`, `"list(type)"`, …); TensorFlow's
/// `AttrValueHasType`.
pub fn attr_value_has_type(v: &Message, kind: &str) -> std::result::Result<(), String> {
    let set = v.which_oneof("value").map(|f| f.name);
    let has_list = set == Some("list");
    let mut num_set = 0;
    for (field, name) in KINDS {
        if has_list {
            let list = v.message("list");
            if list.is_some_and(|l| list_len(l, field) > 0) {
                if kind != format!("list({name})") {
                    return Err(format!("AttrValue had value with type 'list({name})' when '{kind}' expected"));
                }
                num_set += 1;
            }
        } else if set == Some(field) {
            if kind != name {
                return Err(format!("AttrValue had value with type '{name}' when '{kind}' expected"));
            }
            num_set += 1;
        }
    }
    if set == Some("placeholder") {
        return Err("AttrValue had value with unexpected type 'placeholder'".into());
    }
    let is_list = kind.starts_with("list(");
    if is_list && !has_list {
        if num_set > 0 {
            return Err(format!("AttrValue missing value with expected type '{kind}'"));
        }
        num_set += 1;
    }
    if num_set == 0 && !is_list {
        return Err(format!("AttrValue missing value with expected type '{kind}'"));
    }
    let check = |t: i64, invalid: &str| -> std::result::Result<(), String> {
        let Some(dtype) = u32::try_from(t).ok().map(DataType).filter(|d| d.is_valid()) else {
            return Err(format!("AttrValue has invalid DataType enum: {t}"));
        };
        if dtype.is_ref() {
            return Err(format!("AttrValue must not have reference type value of {}", dtype.type_string()));
        }
        if dtype == DataType::INVALID {
            return Err(invalid.into());
        }
        Ok(())
    };
    if kind == "type" {
        check(v.int("type"), "AttrValue has invalid DataType")?;
    } else if kind == "list(type)" {
        if let Some(List::Enum(types)) = v.message("list").and_then(|l| l.list("type")) {
            for t in types {
                check(i64::from(*t), "AttrValue contains invalid DataType")?;
            }
        }
    }
    Ok(())
}

fn validate_attr_value(v: &Message, def: &AttrDef) -> std::result::Result<(), String> {
    attr_value_has_type(v, &def.kind).map_err(|e| format!("{e}\n\t for attr '{}'", def.name))?;
    let empty = Message::new(v.desc());
    let list = v.message("list").unwrap_or(&empty);
    if let Some(min) = def.minimum {
        if def.kind == "int" {
            let i = v.int("i");
            if i < min {
                return Err(format!("Value for attr '{}' of {i} must be at least minimum {min}", def.name));
            }
        } else {
            let len = KINDS
                .iter()
                .find(|(_, name)| def.kind == format!("list({name})"))
                .map_or(-1, |(field, _)| list_len(list, field) as i64);
            if len < min {
                return Err(format!("Length for attr '{}' of {len} must be at least minimum {min}", def.name));
            }
        }
    }
    if let Some(allowed) = &def.allowed {
        let allowed_list = allowed.message("list").unwrap_or(&empty);
        let allowed_types: &[i32] = match allowed_list.list("type") {
            Some(List::Enum(t)) => t,
            _ => &[],
        };
        let allowed_strings = allowed_list.strings("s");
        let type_ok = |t: i64| -> std::result::Result<(), String> {
            if allowed_types.iter().any(|a| i64::from(*a) == t) {
                return Ok(());
            }
            let names: Vec<String> = allowed_types.iter().map(|a| type_string(i64::from(*a))).collect();
            Err(format!(
                "Value for attr '{}' of {} is not in the list of allowed values: {}",
                def.name,
                type_string(t),
                names.join(", ")
            ))
        };
        let string_ok = |s: &[u8]| -> std::result::Result<(), String> {
            if allowed_strings.iter().any(|a| &a[..] == s) {
                return Ok(());
            }
            let names: Vec<String> =
                allowed_strings.iter().map(|a| format!("\"{}\"", String::from_utf8_lossy(a))).collect();
            Err(format!(
                "Value for attr '{}' of \"{}\" is not in the list of allowed values: {}",
                def.name,
                String::from_utf8_lossy(s),
                names.join(", ")
            ))
        };
        match def.kind.as_str() {
            "type" => type_ok(v.int("type"))?,
            "list(type)" => {
                if let Some(List::Enum(types)) = list.list("type") {
                    for t in types {
                        type_ok(i64::from(*t))?;
                    }
                }
            }
            "string" => string_ok(v.bytes("s"))?,
            "list(string)" => {
                for s in list.strings("s") {
                    string_ok(s)?;
                }
            }
            other => return Err(format!("Support for allowed_values not implemented for type {other}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_knows_tensorflow_ops() {
        let r = registry().unwrap();
        assert!(r.len() > 1500);
        let split = r.get("Split").unwrap();
        assert_eq!(split.inputs.len(), 2);
        assert_eq!(split.outputs[0].number_attr, "num_split");
        assert_eq!(
            r.get("Placeholder").unwrap().summary(),
            "Op<name=Placeholder; signature= -> output:dtype; attr=dtype:type; attr=shape:shape,default=<unknown>>"
        );
        assert!(r.get("BatchFFT").unwrap().deprecation.is_some());
        assert!(r.get("NoSuchOp").is_none());
    }

    #[test]
    fn every_embedded_op_decodes_under_its_name() {
        let r = registry().unwrap();
        let mut previous: &[u8] = &[];
        for entry in &r.ops {
            let name = &r.list[entry.name.clone()];
            assert!(previous < name, "names are sorted and unique");
            let def = r.get(std::str::from_utf8(name).unwrap()).unwrap();
            assert_eq!(def.name.as_bytes(), name);
            previous = name;
        }
    }

    #[test]
    fn lookups_decode_only_the_op_asked_for() {
        let mut list = Message::new(&crate::proto::schema::OP_LIST);
        for name in ["Zeta", "Alpha"] {
            let mut op = Message::new(&OP_DEF);
            op.set("name", Value::Bytes(Bytes::from_static(name.as_bytes()))).unwrap();
            list.push("op", Value::from(op)).unwrap();
        }
        let mut bytes = crate::proto::binary::encode(&list);
        // A third op, "B", whose input_arg is not a message: found by name, but does not decode.
        bytes.extend_from_slice(&[0x0A, 0x06, 0x0A, 0x01, b'B', 0x12, 0x01, 0xFF]);
        let r = OpRegistry::from_op_list(Bytes::from(bytes.clone())).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r.get("Zeta").unwrap().name, "Zeta");
        let decoded: Vec<bool> = r.ops.iter().map(|e| e.def.get().is_some()).collect();
        assert_eq!(decoded, [false, false, true]);
        assert_eq!(r.get("Alpha").unwrap().name, "Alpha");
        assert!(r.get("B").is_none());
        // A record whose name runs past its end is refused when the registry is made.
        bytes.extend_from_slice(&[0x0A, 0x02, 0x0A, 0x05]);
        assert!(OpRegistry::from_op_list(Bytes::from(bytes)).is_err());
    }

    #[test]
    fn formats_like_tensorflow() {
        assert_eq!(g_format(0.0001), "0.0001");
        assert_eq!(g_format(1e-7), "1e-07");
        assert_eq!(g_format(0.5), "0.5");
        assert_eq!(g_format(123456789.0), "1.23457e+08");
        assert_eq!(g_format(100.0), "100");
        assert_eq!(type_string(101), "float_ref");
        assert_eq!(type_string(-1), "unknown dtype enum (-1)");
        assert_eq!(dtype_enum_name(103), "DT_INT32_REF");
        assert_eq!(dtype_enum_name(100), "100");
        assert_eq!(c_escape(b"a\"\n\xff"), "a\\\"\\n\\377");
        assert_eq!(summarize_string(&[b'x'; 100]).len(), 25);
    }

    #[test]
    fn checks_attr_kinds() {
        let mut v = Message::new(&crate::proto::schema::ATTR_VALUE);
        assert_eq!(attr_value_has_type(&v, "list(int)"), Ok(()));
        assert!(attr_value_has_type(&v, "int").is_err());
        v.set("type", Value::Enum(101)).unwrap();
        assert_eq!(
            attr_value_has_type(&v, "type"),
            Err("AttrValue must not have reference type value of float_ref".into())
        );
        v.set("type", Value::Enum(77)).unwrap();
        assert_eq!(attr_value_has_type(&v, "type"), Err("AttrValue has invalid DataType enum: 77".into()));
        v.set("i", Value::I64(1)).unwrap();
        assert_eq!(
            attr_value_has_type(&v, "list(int)"),
            Err("AttrValue had value with type 'int' when 'list(int)' expected".into())
        );
    }
}
