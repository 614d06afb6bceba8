//! GraphDef-to-GraphDef edits of `tf.compat.v1.graph_util`, on node names and input strings only:
//!
//! ```text
//! extract_sub_graph      keep what the destinations reach through inputs (`x`, `x:1`, `^x`) and
//!                        colocations (`_class: "loc:@x"`), in GraphDef order; library and
//!                        versions copied (always present in the result, as TensorFlow's)
//! remove_training_nodes  drop CheckNumerics (and inputs naming one); splice out Identity and
//!                        StopGradient unless protected, colocated with, given or used as a
//!                        control input; the result has nodes only
//! ```
//! Freezing prunes with [`reachable`] too.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use crate::error::{display_key, Error, Result};
use crate::proto::schema::{FUNCTION_DEF_LIBRARY, GRAPH_DEF, VERSION_DEF};
use crate::proto::{List, MapKey, Message, Value};

/// The name of the node an input refers to: `^x`, `x:1` and `x` all name `x`.
pub(super) fn node_name(input: &[u8]) -> &[u8] {
    if let Some(rest) = input.strip_prefix(b"^") {
        return rest;
    }
    match input.iter().position(|&b| b == b':') {
        Some(colon) => &input[..colon],
        None => input,
    }
}

/// The `s` entries of a node's `_class` attr (its colocations, `loc:@x`).
fn colocations(node: &Message) -> &[Bytes] {
    match node.map_get("attr", &MapKey::Bytes(Bytes::from_static(b"_class"))) {
        Some(Value::Message(attr)) => attr.message("list").map_or(&[], |list| list.strings("s")),
        _ => &[],
    }
}

/// The node a colocation entry names: `loc:@x` is `x` (TensorFlow takes any other entry whole).
fn colocated_name(entry: &[u8]) -> &[u8] {
    entry.strip_prefix(b"loc:@").unwrap_or(entry)
}

/// Copies of the nodes `outputs` reach (TensorFlow's `extract_sub_graph`), in graph order.
/// Outputs are node names; `name:0` and `^name` are accepted for the node `name`.
pub(super) fn reachable(all: &[Message], outputs: &[String]) -> Result<Vec<Message>> {
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
        let inputs = node.strings("input").iter().map(|s| node_name(s));
        let colocated = colocations(node).iter().map(|s| colocated_name(s));
        queue.extend(inputs.chain(colocated).filter_map(|name| index.get(name).copied()).filter(|&j| !keep[j]));
    }
    Ok(all.iter().zip(keep).filter(|(_, k)| *k).map(|(n, _)| n.clone()).collect())
}

/// `tf.compat.v1.graph_util.extract_sub_graph`: the nodes `dest_nodes` reach, with the library
/// and versions of `graph_def`.
pub fn extract_sub_graph(graph_def: &Message, dest_nodes: &[String]) -> Result<Message> {
    let mut out = Message::new(&GRAPH_DEF);
    out.set("node", Value::List(List::Message(reachable(graph_def.messages("node"), dest_nodes)?)))?;
    let library = graph_def.get("library").cloned();
    out.set("library", library.unwrap_or_else(|| Message::new(&FUNCTION_DEF_LIBRARY).into()))?;
    let versions = graph_def.get("versions").cloned();
    out.set("versions", versions.unwrap_or_else(|| Message::new(&VERSION_DEF).into()))?;
    Ok(out)
}

/// An input without its control mark: `^x` → `x`, anything else as is (`x:1` stays).
fn unmarked(input: &[u8]) -> &[u8] {
    input.strip_prefix(b"^").unwrap_or(input)
}

/// `tf.compat.v1.graph_util.remove_training_nodes`: `CheckNumerics` nodes removed, `Identity`
/// and `StopGradient` nodes spliced out (their consumers read their first input instead),
/// except the nodes in `protected`, nodes others are colocated with, nodes with control inputs
/// and nodes used as control inputs. A GraphDef of the remaining nodes, in order.
pub fn remove_training_nodes(graph_def: &Message, protected: &[String]) -> Result<Message> {
    let protected: HashSet<&[u8]> = protected.iter().map(|p| p.as_bytes()).collect();
    let free = |node: &Message, ops: &[&str]| {
        ops.contains(&node.str("op").unwrap_or("")) && !protected.contains(node.bytes("name"))
    };
    let removed: HashSet<&[u8]> =
        graph_def.messages("node").iter().filter(|n| free(n, &["CheckNumerics"])).map(|n| n.bytes("name")).collect();
    let mut nodes: Vec<Message> = Vec::new();
    for node in graph_def.messages("node") {
        if removed.contains(node.bytes("name")) {
            continue;
        }
        let mut kept = node.clone();
        let inputs = node.strings("input").iter().filter(|i| !removed.contains(unmarked(i))).cloned().collect();
        kept.set("input", Value::List(List::Bytes(inputs)))?;
        nodes.push(kept);
    }

    // TensorFlow takes an input with a `^` anywhere as a control input, `^` removed.
    let mut control_inputs: HashSet<Vec<u8>> = HashSet::new();
    let mut with_control_inputs: HashSet<&[u8]> = HashSet::new();
    let mut colocated: HashSet<&[u8]> = HashSet::new();
    for node in &nodes {
        for input in node.strings("input").iter().filter(|i| i.contains(&b'^')) {
            control_inputs.insert(input.iter().copied().filter(|&b| b != b'^').collect());
            with_control_inputs.insert(node.bytes("name"));
        }
        colocated.extend(colocations(node).iter().map(|s| colocated_name(s)));
    }
    let mut spliced: HashMap<&[u8], Bytes> = HashMap::new();
    for node in &nodes {
        let name = node.bytes("name");
        if !free(node, &["Identity", "StopGradient"])
            || colocated.contains(name)
            || with_control_inputs.contains(name)
            || control_inputs.contains(name)
        {
            continue;
        }
        let Some(first) = node.strings("input").first() else {
            return Err(Error::InvalidArgument(format!("{} node {} has no input", node.str("op")?, display_key(name))));
        };
        spliced.insert(name, first.clone());
    }

    let mut out_nodes = Vec::with_capacity(nodes.len() - spliced.len());
    for node in &nodes {
        if spliced.contains_key(node.bytes("name")) {
            continue;
        }
        let mut inputs = Vec::with_capacity(node.strings("input").len());
        for input in node.strings("input") {
            let mut input = input.clone();
            let mut hops = 0;
            while let Some(next) = spliced.get(unmarked(&input)) {
                hops += 1;
                if hops > spliced.len() {
                    return Err(Error::InvalidArgument(format!(
                        "Identity nodes form a cycle through {}",
                        display_key(unmarked(&input))
                    )));
                }
                input = next.clone();
            }
            inputs.push(input);
        }
        let mut kept = node.clone();
        kept.set("input", Value::List(List::Bytes(inputs)))?;
        out_nodes.push(kept);
    }
    let mut out = Message::new(&GRAPH_DEF);
    out.set("node", Value::List(List::Message(out_nodes)))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::schema::{ATTR_VALUE, NODE_DEF};

    fn node(name: &str, op: &str, inputs: &[&str]) -> Message {
        let mut n = Message::new(&NODE_DEF);
        n.set("name", name.into()).unwrap();
        n.set("op", op.into()).unwrap();
        let inputs = inputs.iter().map(|i| Bytes::copy_from_slice(i.as_bytes())).collect();
        n.set("input", Value::List(List::Bytes(inputs))).unwrap();
        n
    }

    fn graph(nodes: Vec<Message>) -> Message {
        let mut g = Message::new(&GRAPH_DEF);
        g.set("node", Value::List(List::Message(nodes))).unwrap();
        g
    }

    fn summary(g: &Message) -> Vec<(String, Vec<String>)> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        g.messages("node")
            .iter()
            .map(|n| (text(n.bytes("name")), n.strings("input").iter().map(|i| text(i)).collect()))
            .collect()
    }

    #[test]
    fn extracts_in_graph_order_through_loops_control_inputs_and_colocation() {
        let mut colocated = node("n6", "NoOp", &[]);
        let mut class = Message::new(&ATTR_VALUE);
        let mut list = Message::new(&crate::proto::schema::ATTR_VALUE_LIST_VALUE);
        list.set("s", Value::List(List::Bytes(vec![Bytes::from_static(b"loc:@n4")]))).unwrap();
        class.set("list", list.into()).unwrap();
        colocated.map_insert("attr", MapKey::Bytes(Bytes::from_static(b"_class")), class.into()).unwrap();
        let g = graph(vec![
            node("n1", "", &["n5"]),
            node("n2", "", &["n1:0"]),
            node("n3", "", &["^n2", "n6"]),
            node("n4", "", &[]),
            node("n5", "", &["n1"]),
            colocated,
            node("n7", "", &[]),
        ]);
        let names: Vec<String> =
            summary(&extract_sub_graph(&g, &["n3".into()]).unwrap()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["n1", "n2", "n3", "n4", "n5", "n6"]);
        assert!(extract_sub_graph(&g, &["zz".into()]).unwrap_err().to_string().contains("zz is not in graph"));
    }

    #[test]
    fn splices_identity_chains_and_keeps_control_edges() {
        let g = graph(vec![
            node("A", "Aop", &["B"]),
            node("B", "Identity", &["C"]),
            node("C", "StopGradient", &["D:1"]),
            node("D", "Dop", &["check"]),
            node("check", "CheckNumerics", &["E"]),
            node("E", "Eop", &["^I"]),
            node("I", "Identity", &["D"]),
        ]);
        let out = remove_training_nodes(&g, &[]).unwrap();
        let expected = [("A", vec!["D:1"]), ("D", vec![]), ("E", vec!["^I"]), ("I", vec!["D"])];
        let expected: Vec<(String, Vec<String>)> =
            expected.iter().map(|(n, i)| (n.to_string(), i.iter().map(|s| s.to_string()).collect())).collect();
        assert_eq!(summary(&out), expected);
        let kept = remove_training_nodes(&g, &["B".into()]).unwrap();
        assert_eq!(summary(&kept)[0].1, ["B"]);
    }
}
