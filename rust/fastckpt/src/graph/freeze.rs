//! Freezing: a TF1 `GraphDef` plus a name-based checkpoint become one self-contained `GraphDef`
//! whose variables are `Const` nodes, as `tf.compat.v1.graph_util.convert_variables_to_constants`
//! builds it.
//!
//! ```text
//! prune    keep what `outputs` reach through data inputs, control inputs (`^x`) and colocation
//!          (`_class: "loc:@x"`), in the original order; library and versions are kept
//! convert  Variable / VariableV2 / VarHandleOp "v"  ──▶  Const "v" { dtype, value = checkpoint["v"] }
//!          (a part of a partitioned variable, "w/part_1": the slice of checkpoint["w"] that the
//!          graph's Saver restores into it, `RestoreV2` shape_and_slices "5 3 3,2:0,3")
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
use crate::bundle::{DataFile, TensorData};
use crate::dtype::{DataType, Layout};
use crate::error::{display_key, Error, Result};
use crate::graph::tensor::{make_tensor_proto, ProtoValues};
use crate::proto::schema::{ATTR_VALUE, FUNCTION_DEF_LIBRARY, GRAPH_DEF, NODE_DEF};
use crate::proto::{List, MapKey, Message, Value};
use crate::reader::CheckpointReader;
use crate::Tensor;

/// Ops whose output is a variable, read from the checkpoint under the node's name.
const VARIABLE_OPS: [&str; 3] = ["Variable", "VariableV2", "VarHandleOp"];

/// Ops through which a Saver's restored value reaches a variable.
const ASSIGN_OPS: [&str; 2] = ["Assign", "AssignVariableOp"];

/// Ops that pass their input through: their `T` is retyped and conversion goes on past them.
const PASS_THROUGH_OPS: [&str; 6] = ["Enter", "Exit", "Identity", "NextIteration", "Switch", "_SwitchN"];

/// The frozen `GraphDef`: `graph_def` pruned to what `outputs` (node names; `name:0` and `^name`
/// are accepted) need, every variable left in it replaced by a `Const` holding its value in
/// `checkpoint`, and the readers of resource variables rewired onto the constants.
pub fn freeze_graph(graph_def: &Message, checkpoint: &CheckpointReader, outputs: &[String]) -> Result<Message> {
    let slices = saver_slices(graph_def.messages("node"));
    let mut nodes = prune(graph_def.messages("node"), outputs)?;
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
        let value = read_variable(&nodes[v], dtype, checkpoint, &slices)?;
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
                let (gather, axis) = resource_gather(&nodes[n], !index.contains_key(&axis_name(&nodes[n])))?;
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

/// The name of the node an input refers to: `^x`, `x:1` and `x` all name `x`.
fn node_name(input: &[u8]) -> &[u8] {
    if let Some(rest) = input.strip_prefix(b"^") {
        return rest;
    }
    match input.iter().position(|&b| b == b':') {
        Some(colon) => &input[..colon],
        None => input,
    }
}

/// Copies of the nodes `outputs` reach (TensorFlow's `extract_sub_graph`), in graph order.
fn prune(all: &[Message], outputs: &[String]) -> Result<Vec<Message>> {
    let index: HashMap<&[u8], usize> = all.iter().enumerate().map(|(i, n)| (n.bytes("name"), i)).collect();
    let mut keep = vec![false; all.len()];
    let mut queue = Vec::with_capacity(outputs.len());
    for output in outputs {
        let name = node_name(output.as_bytes());
        let Some(&i) = index.get(name) else {
            return Err(Error::InvalidArgument(format!("{} is not in graph", display_key(name))));
        };
        queue.push(i);
    }
    while let Some(i) = queue.pop() {
        if std::mem::replace(&mut keep[i], true) {
            continue;
        }
        let node = &all[i];
        let colocated = node
            .map_get("attr", &key("_class"))
            .and_then(|a| attr_list(a, "s"))
            .into_iter()
            .flatten()
            .filter_map(|s| s.strip_prefix(b"loc:@"));
        let inputs = node.strings("input").iter().map(|s| node_name(s));
        queue.extend(inputs.chain(colocated).filter_map(|name| index.get(name).copied()).filter(|&j| !keep[j]));
    }
    Ok(all.iter().zip(keep).filter(|(_, k)| *k).map(|(n, _)| n.clone()).collect())
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

/// A list field (`s`, `type`, …) of an `AttrValue` holding a list.
fn attr_list<'a>(attr: &'a Value, field: &str) -> Option<&'a [Bytes]> {
    match attr {
        Value::Message(a) => Some(a.message("list")?.strings(field)),
        _ => None,
    }
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

fn axis_name(gather: &Message) -> Vec<u8> {
    [gather.bytes("name"), b"/axis"].concat()
}

/// `ResourceGather` as `GatherV2` on the constant, with the axis as a new `Const` (when
/// `add_axis`, i.e. no node of that name exists yet).
fn resource_gather(gather: &Message, add_axis: bool) -> Result<(Message, Option<Message>)> {
    let batch_dims = attr_int(gather, "batch_dims", "i");
    if batch_dims != 0 {
        return Err(Error::InvalidArgument(format!(
            "batch_dims must be 0 for freeze_graph, but got node({}).attr('batch_dims') = {batch_dims}",
            display_key(gather.bytes("name"))
        )));
    }
    let axis_name = Bytes::from(axis_name(gather));
    let inputs = gather.strings("input");
    let (params, indices) = match inputs {
        [p, i, ..] => (p.clone(), i.clone()),
        _ => return Err(Error::InvalidArgument(format!("{} needs two inputs", display_key(gather.bytes("name"))))),
    };
    let node = rewrite(
        gather,
        "GatherV2",
        &[params, indices, axis_name.clone()],
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
    axis.set("name", Value::Bytes(axis_name))?;
    let axis = constant(&axis, axis_type, (Vec::new(), value))?;
    Ok((node, Some(axis)))
}

fn resource_gather_nd(gather: &Message) -> Result<Message> {
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

/// A variable the graph's Saver restores from a slice of a checkpoint tensor.
struct SavedSlice {
    key: Bytes,
    /// The `shape_and_slices` entry: `"5 3 3,2:0,3"`.
    spec: Bytes,
}

/// The variables the graph's Saver restores from slices (the parts of partitioned variables), by
/// node name. Found as TensorFlow's restore runs: an `Assign`/`AssignVariableOp` of the variable
/// whose value comes, through `Identity` nodes, from output `i` of a `RestoreV2`, whose
/// `tensor_names[i]` and `shape_and_slices[i]` (not empty) say what to read.
fn saver_slices(all: &[Message]) -> HashMap<Vec<u8>, SavedSlice> {
    let index: HashMap<&[u8], &Message> = all.iter().map(|n| (n.bytes("name"), n)).collect();
    let op = |input: &[u8]| index.get(node_name(input)).and_then(|n| n.str("op").ok());
    let const_strings = |input: &[u8]| -> &[Bytes] {
        match index.get(node_name(input)).and_then(|n| n.map_get("attr", &key("value"))) {
            Some(Value::Message(value)) => value.message("tensor").map_or(&[], |t| t.strings("string_val")),
            _ => &[],
        }
    };
    let mut slices = HashMap::new();
    for node in all.iter().filter(|n| ASSIGN_OPS.contains(&n.str("op").unwrap_or(""))) {
        let [variable, value, ..] = node.strings("input") else { continue };
        let mut value: &[u8] = value;
        // Bounded: a malformed graph may hold a cycle of Identity nodes.
        for _ in 0..all.len() {
            match (op(value), index.get(node_name(value)).and_then(|n| n.strings("input").first())) {
                (Some("Identity"), Some(input)) => value = input,
                _ => break,
            }
        }
        if op(value) != Some("RestoreV2") {
            continue;
        }
        let output = match value.iter().position(|&b| b == b':') {
            Some(colon) => std::str::from_utf8(&value[colon + 1..]).ok().and_then(|i| i.parse().ok()),
            None => Some(0usize),
        };
        let restore = index[node_name(value)].strings("input");
        let (Some(output), [_, names, specs, ..]) = (output, restore) else { continue };
        if let (Some(key), Some(spec)) = (const_strings(names).get(output), const_strings(specs).get(output)) {
            if !spec.is_empty() {
                slices.insert(node_name(variable).to_vec(), SavedSlice { key: key.clone(), spec: spec.clone() });
            }
        }
    }
    slices
}

/// Per dimension, `(start, length)`.
type Region = Vec<(usize, usize)>;

/// A `shape_and_slices` entry, `"5 3 3,2:0,3"`: the full shape, then per dimension
/// `start,length` or `-` for all of it; as `(full shape, region)`, the region within the shape.
fn parse_slice_spec(spec: &str) -> Option<(Vec<usize>, Region)> {
    let mut words: Vec<&str> = spec.split_whitespace().collect();
    let slice = words.pop()?;
    let full: Vec<usize> = words.iter().map(|w| w.parse().ok()).collect::<Option<_>>()?;
    let region: Region = slice
        .split(':')
        .zip(&full)
        .map(|(extent, &dim)| match extent.split_once(',') {
            None if extent == "-" => Some((0, dim)),
            Some((start, length)) => Some((start.parse().ok()?, length.parse().ok()?)),
            None => None,
        })
        .collect::<Option<_>>()?;
    let fits = region
        .iter()
        .zip(&full)
        .all(|(&(start, length), &dim)| start.checked_add(length).is_some_and(|end| end <= dim));
    (region.len() == full.len() && fits).then_some((full, region))
}

/// `w` for `w/part_3`, the naming of TensorFlow's partitioned variables.
fn partitioned_whole(name: &[u8]) -> Option<&[u8]> {
    let slash = name.iter().rposition(|&b| b == b'/')?;
    let index = name[slash + 1..].strip_prefix(b"part_")?;
    (!index.is_empty() && index.iter().all(u8::is_ascii_digit)).then_some(&name[..slash])
}

/// The value of a variable that the Saver restores from `slice`: that region of the tensor.
fn read_slice(checkpoint: &CheckpointReader, slice: &SavedSlice, what: &str) -> Result<Tensor> {
    let key = &slice.key[..];
    let spec = String::from_utf8_lossy(&slice.spec);
    let source = || format!("{what}, which the graph's Saver restores from slice '{spec}' of '{}'", display_key(key));
    if !checkpoint.contains(key) {
        return Err(Error::KeyNotFound {
            path: checkpoint.prefix().to_path_buf(),
            key: format!("{}: no value for {}", display_key(key), source()),
        });
    }
    let (full, region) = parse_slice_spec(&spec)
        .ok_or_else(|| Error::InvalidArgument(format!("{}: '{spec}' is not a slice spec", source())))?;
    let (dtype, shape) = checkpoint.dtype_and_shape(key)?;
    if shape != full {
        return Err(Error::InvalidArgument(format!(
            "{}: checkpoint {} holds '{}' with shape {shape:?}",
            source(),
            checkpoint.prefix().display(),
            display_key(key)
        )));
    }
    let size = dtype.element_size().ok_or_else(|| unsupported(what, dtype))?;
    let shape: Vec<usize> = region.iter().map(|&(_, length)| length).collect();
    let mut out = vec![0; shape.iter().product::<usize>() * size];
    checkpoint.read_region(key, &region, &mut out)?;
    Ok(Tensor { dtype, shape, data: TensorData::Owned(out) })
}

/// The shape and value of variable `node` in the checkpoint (or the slice the graph's Saver
/// restores into it), checked against the node's dtype (and its shape, where the node states a
/// full one).
fn read_variable(
    node: &Message,
    dtype: DataType,
    checkpoint: &CheckpointReader,
    slices: &HashMap<Vec<u8>, SavedSlice>,
) -> Result<(Vec<usize>, ProtoValues)> {
    let name = node.bytes("name");
    let what = || format!("variable '{}' ({})", display_key(name), node.str("op").unwrap_or("?"),);
    let tensor = match slices.get(name) {
        Some(slice) => read_slice(checkpoint, slice, &what())?,
        None if checkpoint.contains(name) => checkpoint.tensor(name)?,
        None => {
            // A part of a partitioned variable has a value only as a slice of the whole one.
            let whole = partitioned_whole(name).filter(|whole| checkpoint.contains(whole));
            let hint = whole.map_or(String::new(), |whole| {
                format!(
                    "; it is a part of the partitioned variable '{}', and the graph has no Saver (RestoreV2) that restores a slice of it into the part",
                    display_key(whole)
                )
            });
            return Err(Error::KeyNotFound {
                path: checkpoint.prefix().to_path_buf(),
                key: format!("{}: no value for {}{hint}", display_key(name), what()),
            });
        }
    };
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
    /// rewritten, `r:value:0` references (inputs and returns) become `r:output:0`.
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
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn parses_the_slice_specs_a_saver_writes() {
        // shape_and_slices of TF 2.21's Saver for w [5, 3] in two parts and v [4, 6] in three.
        assert_eq!(parse_slice_spec("5 3 3,2:0,3"), Some((vec![5, 3], vec![(3, 2), (0, 3)])));
        assert_eq!(parse_slice_spec("4 6 0,4:2,2"), Some((vec![4, 6], vec![(0, 4), (2, 2)])));
        assert_eq!(parse_slice_spec("4 6 -:4,2"), Some((vec![4, 6], vec![(0, 4), (4, 2)])));
        assert_eq!(parse_slice_spec("4 6 0,4:5,2"), None, "past the end");
        assert_eq!(parse_slice_spec("4 6 0,4"), None, "an extent per dimension");
        assert_eq!(partitioned_whole(b"layer/w/part_12"), Some(&b"layer/w"[..]));
        assert_eq!(partitioned_whole(b"layer/w/part_"), None);
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
}
