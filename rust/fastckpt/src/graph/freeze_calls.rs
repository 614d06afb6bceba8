//! Freezing through function calls: a resource variable's handle passed to a function becomes
//! its value, as TensorFlow's `convert_variables_to_constants_v2` rewrites it.
//!
//! ```text
//! call op (graph or function body)   input i: DT_RESOURCE ──▶ the value's dtype
//!   PartitionedCall, StatefulPartitionedCall   Tin[i]      f
//!   If, StatelessIf, Case, StatelessCase       Tin[i - 1]  then_branch/else_branch, branches
//!   While, StatelessWhile                      T[i]        cond, body (body's output i too),
//!                                                          output_shapes[i] = the value's shape
//! called function, argument k          input_arg[k].type = dtype; _input_shapes[k] and the
//!                                      argument's _output_shapes made unknown
//!   inside, along the argument's uses  ReadVariableOp r ──▶ Identity r (T = dtype), and every
//!                                        "r:value:N" reference becomes "r:output:N"
//!                                      Identity: T retyped, its uses followed
//!                                      ResourceGather g ──▶ GatherV2 g reading a new
//!                                        Const "g/axis" = 0 as "g/axis:output:0"
//!                                      ResourceGatherNd ──▶ GatherNd
//!                                      a nested call: the same rewrite, one level down
//! ```
//! A value that is not a resource (a ref variable's, or one read before the call) needs nothing:
//! the function receives the constant as it received the variable's value. Function names are
//! kept (TensorFlow renames converted functions); a function called with a variable at an
//! argument by one caller and with something else by another is rewritten for all of them, as
//! TensorFlow does too.

use std::collections::HashSet;

use bytes::Bytes;

use super::freeze::{axis_name, key, read_to_identity, resource_gather, resource_gather_nd, set_type};
use crate::dtype::DataType;
use crate::error::{display_key, Error, Result};
use crate::proto::schema::{TENSOR_SHAPE_PROTO, TENSOR_SHAPE_PROTO_DIM};
use crate::proto::{List, Message, Value};

/// How an op that runs functions passes its inputs on.
pub(super) struct CallKind {
    /// Inputs before this one are not function arguments (an `If`'s condition).
    first_argument: usize,
    /// The attr listing the arguments' types.
    type_attr: &'static str,
    /// The attrs naming the functions called (`func` or a list of them).
    function_attrs: &'static [&'static str],
    /// A loop: the body returns argument `k` as output `k`.
    is_while: bool,
}

impl CallKind {
    pub(super) fn of(op: &str) -> Option<CallKind> {
        let kind = |first_argument, type_attr, function_attrs, is_while| {
            Some(CallKind { first_argument, type_attr, function_attrs, is_while })
        };
        match op {
            "PartitionedCall" | "StatefulPartitionedCall" => kind(0, "Tin", &["f"], false),
            "If" | "StatelessIf" => kind(1, "Tin", &["then_branch", "else_branch"], false),
            "Case" | "StatelessCase" => kind(1, "Tin", &["branches"], false),
            "While" | "StatelessWhile" => kind(0, "T", &["cond", "body"], true),
            _ => None,
        }
    }
}

/// One function argument that receives the value instead of a handle.
struct ArgumentToConvert {
    function: Bytes,
    argument: usize,
    /// The function returns it as the output of the same index (a loop body).
    returned: bool,
}

/// Rewrites `call`, whose data input `input` receives the value of a resource variable of
/// `dtype` and `shape`, and the functions it calls (in `library`, a `FunctionDefLibrary`).
pub(super) fn convert_call_input(
    call: &mut Message,
    kind: &CallKind,
    input: usize,
    dtype: DataType,
    shape: &[usize],
    library: &mut Message,
) -> Result<()> {
    let mut pending = Vec::new();
    retype_call(call, kind, input, dtype, shape, &mut pending)?;
    let mut done = HashSet::new();
    while let Some(next) = pending.pop() {
        if done.insert((next.function.clone(), next.argument)) {
            convert_argument(library, &next, dtype, shape, &mut pending)?;
        }
    }
    Ok(())
}

/// The call op's own part: its type attr (and a loop's output shape); the functions it calls
/// are queued in `pending`.
fn retype_call(
    call: &mut Message,
    kind: &CallKind,
    input: usize,
    dtype: DataType,
    shape: &[usize],
    pending: &mut Vec<ArgumentToConvert>,
) -> Result<()> {
    let Some(argument) = input.checked_sub(kind.first_argument) else { return Ok(()) };
    set_type(call, kind.type_attr, argument, dtype)?;
    if kind.is_while {
        if let Some(Value::Message(attr)) = call.map_get("attr", &key("output_shapes")) {
            let mut attr = attr.clone();
            if let Ok(Value::List(List::Message(shapes))) = attr.message_mut("list")?.get_mut("shape") {
                if let Some(slot) = shapes.get_mut(argument) {
                    *slot = shape_proto(shape)?;
                }
            }
            call.map_insert("attr", key("output_shapes"), Value::Message(attr))?;
        }
    }
    for attr in kind.function_attrs {
        let Some(Value::Message(value)) = call.map_get("attr", &key(attr)) else { continue };
        let mut functions: Vec<Bytes> =
            value.message("func").map(|f| f.bytes("name")).into_iter().map(Bytes::copy_from_slice).collect();
        if let Some(list) = value.message("list") {
            functions.extend(list.messages("func").iter().map(|f| Bytes::copy_from_slice(f.bytes("name"))));
        }
        for function in functions {
            pending.push(ArgumentToConvert { function, argument, returned: kind.is_while && *attr == "body" });
        }
    }
    Ok(())
}

fn shape_proto(shape: &[usize]) -> Result<Message> {
    let mut proto = Message::new(&TENSOR_SHAPE_PROTO);
    for &size in shape {
        let mut dim = Message::new(&TENSOR_SHAPE_PROTO_DIM);
        dim.set("size", Value::I64(size as i64))?;
        proto.push("dim", dim.into())?;
    }
    Ok(proto)
}

/// A shape list entry made unknown (`unknown_rank: true`, no dims), as TensorFlow clears the
/// shape facts a handle argument carried.
fn forget_shape(shapes: &mut Message, index: usize) -> Result<()> {
    let Ok(Value::List(List::Message(list))) = shapes.message_mut("list")?.get_mut("shape") else { return Ok(()) };
    if let Some(shape) = list.get_mut(index) {
        let mut unknown = Message::new(&TENSOR_SHAPE_PROTO);
        unknown.set("unknown_rank", Value::Bool(true))?;
        *shape = unknown;
    }
    Ok(())
}

fn convert_argument(
    library: &mut Message,
    target: &ArgumentToConvert,
    dtype: DataType,
    shape: &[usize],
    pending: &mut Vec<ArgumentToConvert>,
) -> Result<()> {
    let missing = || {
        Error::InvalidArgument(format!(
            "function '{}' called with a variable is not in the graph's library",
            display_key(&target.function)
        ))
    };
    let Ok(Value::List(List::Message(functions))) = library.get_mut("function") else { return Err(missing()) };
    let function = functions
        .iter_mut()
        .find(|f| f.message("signature").is_some_and(|s| s.bytes("name") == target.function.as_ref()))
        .ok_or_else(missing)?;
    let k = target.argument;
    let out_of_range =
        || Error::InvalidArgument(format!("function '{}' has no argument {k}", display_key(&target.function)));
    let signature = function.message_mut("signature")?;
    let Ok(Value::List(List::Message(inputs))) = signature.get_mut("input_arg") else { return Err(out_of_range()) };
    let argument = inputs.get_mut(k).ok_or_else(out_of_range)?;
    argument.set("type", Value::Enum(dtype.0 as i32))?;
    let argument_name = Bytes::copy_from_slice(argument.bytes("name"));
    if target.returned {
        if let Ok(Value::List(List::Message(outputs))) = signature.get_mut("output_arg") {
            if let Some(output) = outputs.get_mut(k) {
                output.set("type", Value::Enum(dtype.0 as i32))?;
            }
        }
    }
    if let Some(Value::Message(shapes)) = function.map_get("attr", &key("_input_shapes")) {
        let mut shapes = shapes.clone();
        forget_shape(&mut shapes, k)?;
        function.map_insert("attr", key("_input_shapes"), Value::Message(shapes))?;
    }
    let arg_key = crate::proto::MapKey::U64(k as u64);
    if let Some(Value::Message(arg_attrs)) = function.map_get("arg_attr", &arg_key) {
        let mut arg_attrs = arg_attrs.clone();
        if let Some(Value::Message(shapes)) = arg_attrs.map_get("attr", &key("_output_shapes")) {
            let mut shapes = shapes.clone();
            forget_shape(&mut shapes, 0)?;
            arg_attrs.map_insert("attr", key("_output_shapes"), Value::Message(shapes))?;
        }
        function.map_insert("arg_attr", arg_key, Value::Message(arg_attrs))?;
    }
    convert_uses(function, argument_name, dtype, shape, pending)
}

/// Follows the uses of the handle named `source` (an argument, then what passes it on) through
/// the body of `function`.
fn convert_uses(
    function: &mut Message,
    source: Bytes,
    dtype: DataType,
    shape: &[usize],
    pending: &mut Vec<ArgumentToConvert>,
) -> Result<()> {
    let Ok(Value::List(List::Message(nodes))) = function.get_mut("node_def") else { return Ok(()) };
    let mut handles = vec![source];
    let mut reads = Vec::new();
    let mut axes = Vec::new();
    let mut names: HashSet<Vec<u8>> = nodes.iter().map(|node| node.bytes("name").to_vec()).collect();
    let mut seen = HashSet::new();
    while let Some(handle) = handles.pop() {
        for (n, node) in nodes.iter_mut().enumerate() {
            let uses: Vec<usize> = node
                .strings("input")
                .iter()
                .enumerate()
                .filter(|(_, input)| refers_to(input, &handle))
                .map(|(position, _)| position)
                .collect();
            for position in uses {
                if !seen.insert((n, position)) {
                    continue;
                }
                let op = node.str("op")?.to_owned();
                let name = Bytes::copy_from_slice(node.bytes("name"));
                if op == "ReadVariableOp" {
                    *node = read_to_identity(node)?;
                    reads.push(name);
                } else if op == "Identity" {
                    set_type(node, "T", position, dtype)?;
                    node.map_mut("attr")?.remove(&key("_output_shapes"));
                    handles.push(Bytes::from([name.as_ref(), b":output:0"].concat()));
                } else if let Some(kind) = CallKind::of(&op) {
                    retype_call(node, &kind, position, dtype, shape, pending)?;
                } else if op == "ResourceGather" {
                    // GatherV2's output is named `output` as ResourceGather's: references stay.
                    let axis = axis_name(node);
                    let reference = Bytes::from([axis.as_slice(), b":output:0"].concat());
                    let (gather, axis_node) = resource_gather(node, reference, !names.contains(&axis))?;
                    *node = gather;
                    names.insert(axis);
                    axes.extend(axis_node);
                } else if op == "ResourceGatherNd" {
                    *node = resource_gather_nd(node)?;
                }
            }
        }
    }
    nodes.extend(axes);
    // Identity names its output `output` where ReadVariableOp named it `value`.
    for read in reads {
        let old = [read.as_ref(), b":value:"].concat();
        let new = [read.as_ref(), b":output:"].concat();
        let rename =
            |input: &Bytes| input.strip_prefix(old.as_slice()).map(|rest| Bytes::from([new.as_slice(), rest].concat()));
        if let Ok(Value::List(List::Message(nodes))) = function.get_mut("node_def") {
            for node in nodes.iter_mut() {
                if let Ok(Value::List(List::Bytes(inputs))) = node.get_mut("input") {
                    for input in inputs.iter_mut() {
                        if let Some(renamed) = rename(input) {
                            *input = renamed;
                        }
                    }
                }
            }
        }
        let returns: Vec<_> = match function.get("ret") {
            Some(Value::Map(map)) => map
                .iter()
                .filter_map(|(k, v)| match v {
                    Value::Bytes(b) => rename(b).map(|r| (k.clone(), r)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for (k, renamed) in returns {
            function.map_insert("ret", k, Value::Bytes(renamed))?;
        }
    }
    Ok(())
}

/// Whether a function body input (`x`, `x:0`, `node:output:0`) reads the handle `handle`.
fn refers_to(input: &[u8], handle: &[u8]) -> bool {
    input == handle || (input.strip_prefix(handle) == Some(b":0") && !handle.contains(&b':'))
}
