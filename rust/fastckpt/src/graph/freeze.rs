//! Freezing: a TF1 `GraphDef` plus a name-based checkpoint become one self-contained `GraphDef`
//! whose variables are `Const` nodes, as `tf.compat.v1.graph_util.convert_variables_to_constants`
//! builds it.
//!
//! ```text
//! prune    keep what `outputs` reach through data inputs, control inputs (`^x`) and colocation
//!          (`_class: "loc:@x"`), in the original order (`subgraph::reachable`); library and
//!          versions are kept
//! convert  Variable / VariableV2 / VarHandleOp "v"  ──▶  Const "v" { dtype, value = checkpoint["v"] }
//!            (or the name and slice the graph's own Saver writes v under, when its SaveV2 node
//!            is in the GraphDef: a renamed variable, one partition of a partitioned variable)
//!          then along data edges out of the variable:
//!            Identity, Enter, Exit, Switch, _SwitchN, NextIteration: T[i] = dtype, go on
//!            ReadVariableOp r  ──▶ Identity r (input 0, T = r.dtype)
//!            ResourceGather g  ──▶ GatherV2 g (params, indices, Const "g/axis" = 0)
//!            ResourceGatherNd  ──▶ GatherNd
//!            function calls (If, While, PartitionedCall, …): a resource handle passed in
//!              becomes the value, in the call and in the functions (freeze_calls.rs); any
//!              other value needs nothing
//! ```
//! Constant values are encoded by `graph::tensor::make_tensor_proto`, as TensorFlow's freezing
//! encodes them with `make_tensor_proto`.
//! `tensor_content` of a tensor mapped from the checkpoint is a slice of the mapping: nothing is
//! copied until the graph is written. Unlike TensorFlow (which clears them), device fields of the
//! converted nodes are kept.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;

use super::freeze_calls::{convert_call_input, CallKind};
use super::subgraph::{node_name, reachable};
use crate::bundle::{DataFile, TensorData};
use crate::dtype::{DataType, Layout};
use crate::error::{display_key, Error, Result};
use crate::graph::tensor::{make_tensor_proto, ProtoValues};
use crate::proto::schema::{ATTR_VALUE, FUNCTION_DEF_LIBRARY, GRAPH_DEF, NODE_DEF};
use crate::proto::{List, MapKey, Message, Value};
use crate::reader::CheckpointReader;

/// Ops whose output is a variable, read from the checkpoint under the node's name.
const VARIABLE_OPS: [&str; 3] = ["Variable", "VariableV2", "VarHandleOp"];

/// Ops that pass their input through: their `T` is retyped and conversion goes on past them.
const PASS_THROUGH_OPS: [&str; 6] = ["Enter", "Exit", "Identity", "NextIteration", "Switch", "_SwitchN"];

/// The frozen `GraphDef`: `graph_def` pruned to what `outputs` (node names; `name:0` and `^name`
/// are accepted) need, every variable left in it replaced by a `Const` holding its value in
/// `checkpoint`, and the readers of resource variables rewired onto the constants.
pub fn freeze_graph(graph_def: &Message, checkpoint: &CheckpointReader, outputs: &[String]) -> Result<Message> {
    let saved = saved_as(graph_def.messages("node"));
    let mut nodes = reachable(graph_def.messages("node"), outputs)?;
    let index: HashMap<Vec<u8>, usize> = nodes.iter().enumerate().map(|(i, n)| (n.bytes("name").to_vec(), i)).collect();
    let consumers = consumers(&nodes, &index);
    let variables: Vec<usize> =
        (0..nodes.len()).filter(|&i| VARIABLE_OPS.contains(&nodes[i].str("op").unwrap_or(""))).collect();
    let mut extra = Vec::new();
    let mut library = match graph_def.get("library") {
        Some(Value::Message(library)) => (**library).clone(),
        _ => Message::new(&FUNCTION_DEF_LIBRARY),
    };
    for v in variables {
        let dtype = DataType(u32::try_from(attr_int(&nodes[v], "dtype", "type")).unwrap_or(0));
        let resource = nodes[v].str("op")? == "VarHandleOp";
        let value = read_variable(&nodes[v], dtype, checkpoint, saved.get(nodes[v].bytes("name")))?;
        let shape = value.0.clone();
        nodes[v] = constant(&nodes[v], dtype, value)?;
        let mut seen = HashSet::new();
        let mut stack: Vec<(usize, usize)> = consumers[v].clone();
        while let Some((n, input)) = stack.pop() {
            if !seen.insert((n, input)) {
                continue;
            }
            let op = nodes[n].str("op")?.to_owned();
            if PASS_THROUGH_OPS.contains(&op.as_str()) {
                set_type(&mut nodes[n], "T", input, dtype)?;
                nodes[n].map_mut("attr")?.remove(&key("_output_shapes"));
                stack.extend(consumers[n].iter().copied());
            } else if op == "ReadVariableOp" {
                nodes[n] = read_to_identity(&nodes[n])?;
            } else if op == "ResourceGather" {
                let axis = axis_name(&nodes[n]);
                let (gather, axis) = resource_gather(&nodes[n], Bytes::from(axis.clone()), !index.contains_key(&axis))?;
                nodes[n] = gather;
                extra.extend(axis);
            } else if op == "ResourceGatherNd" {
                nodes[n] = resource_gather_nd(&nodes[n])?;
            } else if let Some(kind) = CallKind::of(&op) {
                if resource {
                    convert_call_input(&mut nodes[n], &kind, input, dtype, &shape, &mut library)?;
                }
            }
        }
    }
    nodes.extend(extra);
    let mut out = Message::new(&GRAPH_DEF);
    out.set("node", Value::List(List::Message(nodes)))?;
    if graph_def.has("library") {
        out.set("library", library.into())?;
    }
    if let Some(versions) = graph_def.get("versions") {
        out.set("versions", versions.clone())?;
    }
    Ok(out)
}

/// For each node, the `(node, input position)` pairs that read one of its outputs as data.
fn consumers(nodes: &[Message], index: &HashMap<Vec<u8>, usize>) -> Vec<Vec<(usize, usize)>> {
    let mut out = vec![Vec::new(); nodes.len()];
    for (n, node) in nodes.iter().enumerate() {
        for (position, input) in node.strings("input").iter().enumerate() {
            if input.starts_with(b"^") {
                continue;
            }
            if let Some(&source) = index.get(node_name(input)) {
                out[source].push((n, position));
            }
        }
    }
    out
}

pub(super) fn key(name: &str) -> MapKey {
    MapKey::Bytes(Bytes::copy_from_slice(name.as_bytes()))
}

/// An integer-like field (`type`, `i`, `b`) of a node's attr; 0 when absent.
fn attr_int(node: &Message, attr: &str, field: &str) -> i64 {
    match node.map_get("attr", &key(attr)) {
        Some(Value::Message(a)) => a.int(field),
        _ => 0,
    }
}

fn type_attr(dtype: DataType) -> Result<Value> {
    let mut attr = Message::new(&ATTR_VALUE);
    attr.set("type", Value::Enum(dtype.0 as i32))?;
    Ok(attr.into())
}

/// Sets the type of input `position` in a `type` or `list(type)` attr, as TensorFlow's
/// `update_dtype` does.
pub(super) fn set_type(node: &mut Message, attr: &str, position: usize, dtype: DataType) -> Result<()> {
    let name = display_key(node.bytes("name"));
    let out_of_range = |count: usize| {
        Error::InvalidArgument(format!(
            "input {position} is out of range for node({name}).attr({attr}), which has {count} elements"
        ))
    };
    let attrs = node.map_mut("attr")?;
    let Some(Value::Message(value)) = attrs.get_mut(&key(attr)) else { return Err(out_of_range(0)) };
    if value.has("list") {
        let Value::List(List::Enum(types)) = value.message_mut("list")?.get_mut("type")? else {
            return Err(out_of_range(0));
        };
        let count = types.len();
        *types.get_mut(position).ok_or_else(|| out_of_range(count))? = dtype.0 as i32;
        return Ok(());
    }
    if position != 0 {
        return Err(out_of_range(1));
    }
    value.set("type", Value::Enum(dtype.0 as i32))
}

/// A node of `op` named like `like`, with its device and the attrs listed in `copied` (renamed
/// as given); inputs are the caller's.
fn rewrite(like: &Message, op: &str, inputs: &[Bytes], copied: &[(&str, &str)]) -> Result<Message> {
    let mut node = Message::new(&NODE_DEF);
    node.set("name", Value::Bytes(like.get("name").map_or_else(Bytes::new, bytes_of)))?;
    node.set("op", op.into())?;
    node.set("input", Value::List(List::Bytes(inputs.to_vec())))?;
    if let Some(device) = like.get("device") {
        node.set("device", device.clone())?;
    }
    for (from, to) in copied {
        if let Some(value) = like.map_get("attr", &key(from)) {
            node.map_insert("attr", key(to), value.clone())?;
        }
    }
    Ok(node)
}

fn bytes_of(value: &Value) -> Bytes {
    match value {
        Value::Bytes(b) => b.clone(),
        _ => Bytes::new(),
    }
}

pub(super) fn read_to_identity(read: &Message) -> Result<Message> {
    let input = read.strings("input").first().cloned().unwrap_or_default();
    rewrite(read, "Identity", &[input], &[("dtype", "T"), ("_class", "_class")])
}

/// The name of the `Const` node holding the axis of a `ResourceGather` turned into `GatherV2`.
pub(super) fn axis_name(gather: &Message) -> Vec<u8> {
    [gather.bytes("name"), b"/axis"].concat()
}

/// `ResourceGather` as `GatherV2` on the constant, with the axis as a new `Const` named
/// `axis_name(gather)` (when `add_axis`, i.e. no node of that name exists yet), which the gather
/// reads as `axis_input` (the name in a graph, `name:output:0` in a function body).
pub(super) fn resource_gather(
    gather: &Message,
    axis_input: Bytes,
    add_axis: bool,
) -> Result<(Message, Option<Message>)> {
    let batch_dims = attr_int(gather, "batch_dims", "i");
    if batch_dims != 0 {
        return Err(Error::InvalidArgument(format!(
            "batch_dims must be 0 for freeze_graph, but got node({}).attr('batch_dims') = {batch_dims}",
            display_key(gather.bytes("name"))
        )));
    }
    let inputs = gather.strings("input");
    let (params, indices) = match inputs {
        [p, i, ..] => (p.clone(), i.clone()),
        _ => return Err(Error::InvalidArgument(format!("{} needs two inputs", display_key(gather.bytes("name"))))),
    };
    let node = rewrite(
        gather,
        "GatherV2",
        &[params, indices, axis_input],
        &[("dtype", "Tparams"), ("Tindices", "Tindices"), ("Tindices", "Taxis"), ("_class", "_class")],
    )?;
    if !add_axis {
        return Ok((node, None));
    }
    // Tindices is int32 or int64 (the op's constraint).
    let axis_type = match DataType::from_proto(attr_int(gather, "Tindices", "type")) {
        DataType::INT64 => DataType::INT64,
        _ => DataType::INT32,
    };
    let zero = vec![0u8; axis_type.element_size().unwrap_or(4)];
    let value = ProtoValues::Fixed(Bytes::from(zero));
    let mut axis = Message::new(&NODE_DEF);
    axis.set("name", Value::Bytes(Bytes::from(axis_name(gather))))?;
    let axis = constant(&axis, axis_type, (Vec::new(), value))?;
    Ok((node, Some(axis)))
}

pub(super) fn resource_gather_nd(gather: &Message) -> Result<Message> {
    let inputs: Vec<Bytes> = gather.strings("input").iter().take(2).cloned().collect();
    rewrite(gather, "GatherNd", &inputs, &[("dtype", "Tparams"), ("Tindices", "Tindices"), ("_class", "_class")])
}

/// The slice of a mapped data file that holds one tensor: lets `tensor_content` point into the
/// mapping.
struct MappedSlice {
    file: Arc<DataFile>,
    offset: usize,
    len: usize,
}

impl AsRef<[u8]> for MappedSlice {
    fn as_ref(&self) -> &[u8] {
        &self.file.bytes()[self.offset..self.offset + self.len]
    }
}

/// The string values of the `Const` node `name`.
fn const_strings<'a>(index: &HashMap<&[u8], &'a Message>, name: &[u8]) -> &'a [Bytes] {
    let tensor = index.get(node_name(name)).and_then(|n| match n.map_get("attr", &key("value")) {
        Some(Value::Message(value)) => value.message("tensor"),
        _ => None,
    });
    tensor.map_or(&[], |t| t.strings("string_val"))
}

/// For each variable a `SaveV2` node of the graph saves: the checkpoint key and the
/// `shape_and_slices` entry it is saved under. `SaveV2(prefix, tensor_names, shape_and_slices,
/// tensors…)` reads a ref variable itself, a resource variable through its `ReadVariableOp`,
/// either possibly through `Identity` nodes.
fn saved_as(all: &[Message]) -> HashMap<Vec<u8>, (Bytes, Bytes)> {
    let index: HashMap<&[u8], &Message> = all.iter().map(|n| (n.bytes("name"), n)).collect();
    let mut saved = HashMap::new();
    for save in all.iter().filter(|n| n.str("op").is_ok_and(|op| op == "SaveV2")) {
        let inputs = save.strings("input");
        let (Some(names), Some(slices)) = (inputs.get(1), inputs.get(2)) else { continue };
        let (names, slices) = (const_strings(&index, names), const_strings(&index, slices));
        for (i, tensor) in inputs.iter().skip(3).enumerate() {
            let mut node = index.get(node_name(tensor)).copied();
            while let Some(n) = node.filter(|n| n.str("op").is_ok_and(|op| op == "Identity" || op == "ReadVariableOp"))
            {
                node = n.strings("input").first().and_then(|input| index.get(node_name(input)).copied());
            }
            let Some(variable) = node.filter(|n| VARIABLE_OPS.contains(&n.str("op").unwrap_or(""))) else { continue };
            if let Some(name) = names.get(i) {
                let slice = slices.get(i).cloned().unwrap_or_default();
                saved.insert(variable.bytes("name").to_vec(), (name.clone(), slice));
            }
        }
    }
    saved
}

/// The box a `shape_and_slices` entry (`"4 3 0,2:-"`: the full shape, then `start,length` or
/// `-` per dimension) selects, or `None` for the whole tensor (an empty entry, or a box that
/// covers it all).
fn slice_box(entry: &[u8], full: &[usize]) -> Result<Option<Vec<(usize, usize)>>> {
    let text = std::str::from_utf8(entry).unwrap_or("");
    if text.is_empty() {
        return Ok(None);
    }
    let bad =
        || Error::InvalidArgument(format!("invalid shape_and_slices entry '{text}' for a tensor of shape {full:?}"));
    let parts: Vec<&str> = text.split(' ').collect();
    let (dims, spec) = parts.split_at(parts.len().saturating_sub(1));
    let dims: Vec<usize> = dims.iter().map(|d| d.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    let extents: Vec<&str> = spec.first().map(|s| s.split(':').collect()).unwrap_or_default();
    if dims != full || extents.len() != full.len() {
        return Err(bad());
    }
    let mut region = Vec::with_capacity(full.len());
    for (extent, &size) in extents.iter().zip(full) {
        if *extent == "-" {
            region.push((0, size));
            continue;
        }
        let (start, length) = extent.split_once(',').ok_or_else(bad)?;
        let (start, length): (usize, usize) = (start.parse().map_err(|_| bad())?, length.parse().map_err(|_| bad())?);
        if start.checked_add(length).is_none_or(|end| end > size) {
            return Err(bad());
        }
        region.push((start, length));
    }
    Ok((region.iter().zip(full).any(|(&(start, length), &size)| start != 0 || length != size)).then_some(region))
}

/// The variable a partition `w/part_3` is part of (`w`), by TensorFlow's naming of partitions.
fn partitioned_whole(name: &[u8]) -> Option<&[u8]> {
    let slash = name.iter().rposition(|&b| b == b'/')?;
    let digits = name[slash + 1..].strip_prefix(b"part_")?;
    (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit)).then_some(&name[..slash])
}

/// The shape and value of variable `node` in the checkpoint, checked against the node's dtype
/// (and its shape, where the node states a full one).
/// `saved`: the name and slice the graph's Saver saves it under.
fn read_variable(
    node: &Message,
    dtype: DataType,
    checkpoint: &CheckpointReader,
    saved: Option<&(Bytes, Bytes)>,
) -> Result<(Vec<usize>, ProtoValues)> {
    let node_name = node.bytes("name");
    // The Saver's name when the checkpoint has it (it may come from another program, by node names).
    let saved = saved.filter(|(name, _)| checkpoint.contains(name));
    let name = saved.map_or(node_name, |(name, _)| &name[..]);
    let what = || format!("variable '{}' ({})", display_key(node_name), node.str("op").unwrap_or("?"),);
    if !checkpoint.contains(name) {
        let part_of = partitioned_whole(node_name).filter(|whole| checkpoint.contains(whole)).map(|whole| {
            format!(
                ", a part of the partitioned variable '{}' (the graph's Saver, which says which slice it holds, is not in the graph)",
                display_key(whole)
            )
        });
        return Err(Error::KeyNotFound {
            path: checkpoint.prefix().to_path_buf(),
            key: format!("{}: no value for {}{}", display_key(name), what(), part_of.unwrap_or_default()),
        });
    }
    let mut tensor = checkpoint.tensor(name)?;
    if let Some(region) = saved.map(|(_, slice)| slice_box(slice, &tensor.shape)).transpose()?.flatten() {
        // One partition of a partitioned variable: its box of the checkpoint's tensor.
        let Some(Layout::Fixed { size, .. }) = tensor.dtype.layout() else {
            return Err(unsupported(&what(), tensor.dtype));
        };
        let count: usize = region.iter().map(|&(_, length)| length).product();
        let mut out = vec![0u8; count * size];
        checkpoint.read_region(name, &region, &mut out)?;
        tensor.shape = region.iter().map(|&(_, length)| length).collect();
        tensor.data = TensorData::Owned(out);
    }
    if tensor.dtype != dtype {
        return Err(Error::InvalidArgument(format!(
            "{} has dtype {} but checkpoint {} holds it as {}",
            what(),
            dtype.describe(),
            checkpoint.prefix().display(),
            tensor.dtype.describe()
        )));
    }
    if let Some(Value::Message(shape)) = node.map_get("attr", &key("shape")) {
        if let Some(shape) = shape.message("shape") {
            let dims: Vec<i64> = shape.messages("dim").iter().map(|d| d.int("size")).collect();
            let full = !shape.bool("unknown_rank") && dims.iter().all(|&d| d >= 0);
            let matches = dims.len() == tensor.shape.len()
                && dims.iter().zip(&tensor.shape).all(|(&d, &s)| usize::try_from(d).is_ok_and(|d| d == s));
            if full && !matches {
                return Err(Error::InvalidArgument(format!(
                    "{} has shape {dims:?} but checkpoint {} holds a value of shape {:?}",
                    what(),
                    checkpoint.prefix().display(),
                    tensor.shape
                )));
            }
        }
    }
    let value = match (tensor.data, dtype.layout()) {
        (TensorData::Elements(values), Some(Layout::String)) => {
            ProtoValues::Strings(values.into_iter().map(Bytes::from).collect())
        }
        (data, Some(Layout::Fixed { swap, .. })) => {
            let bytes = match data {
                TensorData::Mapped { file, offset, len } => Bytes::from_owner(MappedSlice { file, offset, len }),
                TensorData::Owned(v) => Bytes::from(v),
                TensorData::Elements(_) => return Err(unsupported(&what(), dtype)),
            };
            ProtoValues::Fixed(little_endian(bytes, swap))
        }
        _ => return Err(unsupported(&what(), dtype)),
    };
    Ok((tensor.shape, value))
}

fn unsupported(what: &str, dtype: DataType) -> Error {
    Error::Unsupported(format!("cannot freeze {what}: constants of dtype {} are not supported", dtype.describe()))
}

/// Host-order element bytes in little-endian order (a no-op on little-endian hosts).
fn little_endian(bytes: Bytes, swap: usize) -> Bytes {
    if cfg!(target_endian = "little") || swap < 2 {
        return bytes;
    }
    let mut owned = bytes.to_vec();
    owned.chunks_exact_mut(swap).for_each(<[u8]>::reverse);
    Bytes::from(owned)
}

/// `Const` named like `like` (keeping its device) with `dtype` and `value` of `shape`.
fn constant(like: &Message, dtype: DataType, (shape, values): (Vec<usize>, ProtoValues)) -> Result<Message> {
    let proto = make_tensor_proto(dtype, &shape, values)?;
    let mut tensor_attr = Message::new(&ATTR_VALUE);
    tensor_attr.set("tensor", proto.into())?;
    let mut node = rewrite(like, "Const", &[], &[])?;
    node.map_insert("attr", key("dtype"), type_attr(dtype)?)?;
    node.map_insert("attr", key("value"), tensor_attr.into())?;
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::writer::Payload;
    use crate::bundle::BundleWriter;

    fn node(name: &str, op: &str, inputs: &[&str], attrs: &[(&str, Value)]) -> Message {
        let mut n = Message::new(&NODE_DEF);
        n.set("name", name.into()).unwrap();
        n.set("op", op.into()).unwrap();
        for i in inputs {
            n.push("input", (*i).into()).unwrap();
        }
        for (k, v) in attrs {
            n.map_insert("attr", key(k), v.clone()).unwrap();
        }
        n
    }

    fn float() -> Value {
        type_attr(DataType::FLOAT).unwrap()
    }

    fn graph(nodes: Vec<Message>) -> Message {
        let mut g = Message::new(&GRAPH_DEF);
        g.set("node", Value::List(List::Message(nodes))).unwrap();
        g
    }

    fn checkpoint(dir: &str, tensors: &[(&str, &[f32], &[usize])]) -> (std::path::PathBuf, CheckpointReader) {
        let dir = std::env::temp_dir().join(format!("fastckpt-freeze-{dir}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let prefix = dir.join("ckpt");
        let mut w = BundleWriter::create(&prefix, 1).unwrap();
        for (name, values, shape) in tensors {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            w.add(name.as_bytes(), DataType::FLOAT, &shape, Payload::Fixed(&bytes)).unwrap();
        }
        w.finish().unwrap();
        let reader = CheckpointReader::open(&prefix, true).unwrap();
        (dir, reader)
    }

    fn names(g: &Message) -> Vec<String> {
        g.messages("node").iter().map(|n| format!("{}:{}", n.str("name").unwrap(), n.str("op").unwrap())).collect()
    }

    #[test]
    fn freezes_ref_and_resource_variables_and_prunes() {
        let (dir, reader) = checkpoint("ok", &[("w", &[1.0, 2.0], &[2]), ("r", &[3.0], &[])]);
        let g = graph(vec![
            node("w", "VariableV2", &[], &[("dtype", float())]),
            node("w/read", "Identity", &["w"], &[("T", float())]),
            node("w/Assign", "Assign", &["w", "init"], &[("T", float())]),
            node("init", "Const", &[], &[]),
            node("r", "VarHandleOp", &[], &[("dtype", float())]),
            node("r/read", "ReadVariableOp", &["r"], &[("dtype", float())]),
            node("x", "Placeholder", &[], &[]),
            node("out", "AddV2", &["w/read", "r/read", "^x"], &[("T", float())]),
        ]);
        let frozen = freeze_graph(&g, &reader, &["out:0".to_owned()]).unwrap();
        assert_eq!(
            names(&frozen),
            ["w:Const", "w/read:Identity", "r:Const", "r/read:Identity", "x:Placeholder", "out:AddV2"]
        );
        let nodes = frozen.messages("node");
        let Some(Value::Message(value)) = nodes[0].map_get("attr", &key("value")) else { panic!() };
        let tensor = value.message("tensor").unwrap();
        assert_eq!(tensor.bytes("tensor_content"), [1f32.to_le_bytes(), 2f32.to_le_bytes()].concat());
        let Some(Value::Message(value)) = nodes[2].map_get("attr", &key("value")) else { panic!() };
        assert!(matches!(value.message("tensor").unwrap().list("float_val"), Some(List::F32(v)) if v == &[3.0]));
        assert_eq!(attr_int(&nodes[3], "T", "type"), 1);
        assert_eq!(nodes[3].strings("input"), [Bytes::from_static(b"r")]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A handle captured by a call: the call's Tin, the function's argument and its reader are
    /// rewritten, `r:value:0` references (inputs and returns) become `r:output:0`; a gather from
    /// the handle becomes `GatherV2` reading a new axis `Const` of the body.
    #[test]
    fn freezes_a_handle_passed_to_a_function() {
        use crate::proto::schema::{FUNCTION_DEF, OP_DEF, OP_DEF_ARG_DEF};
        let (dir, reader) = checkpoint("call", &[("v", &[1.0, 2.0], &[2])]);
        let types = |t: &[DataType]| {
            let mut list = Message::new(&crate::proto::schema::ATTR_VALUE_LIST_VALUE);
            list.set("type", Value::List(List::Enum(t.iter().map(|d| d.0 as i32).collect()))).unwrap();
            let mut attr = Message::new(&ATTR_VALUE);
            attr.set("list", list.into()).unwrap();
            Value::from(attr)
        };
        let mut f = Message::new(&crate::proto::schema::NAME_ATTR_LIST);
        f.set("name", "fn".into()).unwrap();
        let mut f_attr = Message::new(&ATTR_VALUE);
        f_attr.set("func", f.into()).unwrap();
        let mut g = graph(vec![
            node("v", "VarHandleOp", &[], &[("dtype", float())]),
            node("x", "Placeholder", &[], &[("dtype", float())]),
            node(
                "call",
                "StatefulPartitionedCall",
                &["x", "v"],
                &[("Tin", types(&[DataType::FLOAT, DataType::RESOURCE])), ("f", f_attr.into())],
            ),
        ]);
        let mut signature = Message::new(&OP_DEF);
        signature.set("name", "fn".into()).unwrap();
        for (name, dtype) in [("a", DataType::FLOAT), ("h", DataType::RESOURCE)] {
            let mut arg = Message::new(&OP_DEF_ARG_DEF);
            arg.set("name", name.into()).unwrap();
            arg.set("type", Value::Enum(dtype.0 as i32)).unwrap();
            signature.push("input_arg", arg.into()).unwrap();
        }
        let mut function = Message::new(&FUNCTION_DEF);
        function.set("signature", signature.into()).unwrap();
        function.push("node_def", node("r", "ReadVariableOp", &["h"], &[("dtype", float())]).into()).unwrap();
        function.push("node_def", node("add", "AddV2", &["a", "r:value:0"], &[("T", float())]).into()).unwrap();
        let int32 = type_attr(DataType::INT32).unwrap();
        let gather = node("g", "ResourceGather", &["h", "a"], &[("dtype", float()), ("Tindices", int32)]);
        function.push("node_def", gather.into()).unwrap();
        function.map_insert("ret", key("out"), "r:value:0".into()).unwrap();
        let mut library = Message::new(&FUNCTION_DEF_LIBRARY);
        library.push("function", function.into()).unwrap();
        g.set("library", library.into()).unwrap();

        let frozen = freeze_graph(&g, &reader, &["call".to_owned()]).unwrap();
        let call = &frozen.messages("node")[2];
        let Some(Value::Message(tin)) = call.map_get("attr", &key("Tin")) else { panic!() };
        assert!(matches!(tin.message("list").unwrap().list("type"), Some(List::Enum(t)) if t == &[1, 1]));
        let function = &frozen.message("library").unwrap().messages("function")[0];
        assert_eq!(function.message("signature").unwrap().messages("input_arg")[1].int("type"), 1);
        let body = function.messages("node_def");
        assert_eq!((body[0].str("op").unwrap(), attr_int(&body[0], "T", "type")), ("Identity", 1));
        assert_eq!(body[1].strings("input")[1], Bytes::from_static(b"r:output:0"));
        assert!(matches!(function.map_get("ret", &key("out")), Some(Value::Bytes(b)) if b == "r:output:0"));
        assert_eq!((body[2].str("op").unwrap(), attr_int(&body[2], "Tparams", "type")), ("GatherV2", 1));
        assert_eq!(body[2].strings("input"), [b"h".as_slice(), b"a", b"g/axis:output:0"].map(Bytes::from_static));
        assert_eq!((body[3].str("name").unwrap(), body[3].str("op").unwrap()), ("g/axis", "Const"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_the_missing_variable_and_output() {
        let (dir, reader) = checkpoint("missing", &[("w", &[1.0], &[1])]);
        let g = graph(vec![node("v", "VariableV2", &[], &[("dtype", float())])]);
        let e = freeze_graph(&g, &reader, &["v".to_owned()]).unwrap_err().to_string();
        assert!(e.contains("'v") && e.contains(&reader.prefix().display().to_string()), "{e}");
        let e = freeze_graph(&g, &reader, &["nope".to_owned()]).unwrap_err().to_string();
        assert_eq!(e, "nope is not in graph");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_the_variable_a_partition_belongs_to() {
        assert_eq!(partitioned_whole(b"layer/w/part_12"), Some(&b"layer/w"[..]));
        for name in [&b"layer/w"[..], b"part_0", b"layer/w/part_", b"layer/w/part_1a", b"layer/w/parts_1"] {
            assert_eq!(partitioned_whole(name), None, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn reads_shape_and_slices_entries() {
        assert_eq!(slice_box(b"", &[4, 3]).unwrap(), None);
        assert_eq!(slice_box(b"4 3 0,4:-", &[4, 3]).unwrap(), None);
        assert_eq!(slice_box(b"4 3 2,2:-", &[4, 3]).unwrap(), Some(vec![(2, 2), (0, 3)]));
        for bad in [&b"4 3 3,2:-"[..], b"4 2 0,2:-", b"4 3 0,2", b"x 3 -:-", b"4 3 a,1:-"] {
            assert!(slice_box(bad, &[4, 3]).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
