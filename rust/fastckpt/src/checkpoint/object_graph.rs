//! `TrackableObjectGraph`: the serialized object tree of a TF2 checkpoint, stored as the scalar
//! string tensor `_CHECKPOINTABLE_OBJECT_GRAPH` (spec/protos.md §5, semantics §4).
//!
//! ```text
//! TrackableObjectGraph { nodes* }                     node id = position; node 0 is the root
//!   TrackableObject    1 children*        { 1 node_id, 2 local_name }        the edges
//!                      2 attributes*      { 1 name, 2 full_name, 3 checkpoint_key }
//!                      3 slot_variables*  { 1 original_variable_node_id, 2 slot_name,
//!                                           3 slot_variable_node_id }        (on optimizers)
//!                      4 registered_saver { 1 name, 2 object_name }
//!                      5 has_checkpoint_values  BoolValue { 1 value }
//! ```
//! Node ids follow a breadth-first walk from the root (children in declaration order); slot
//! variables come after every node reachable through children. A node's *path* is the escaped
//! edge names of the walk's first route to it, joined by `/`; its tensors are stored under
//! `<path>/.ATTRIBUTES/<escaped attribute name>`, a variable's under
//! `<path>/.ATTRIBUTES/VARIABLE_VALUE`, and a slot variable's path is
//! `<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<escaped slot name>`.

use std::collections::{HashMap, VecDeque};

use crate::error::{Error, Result};
use crate::proto::wire::{self, Decoder, Encoder, WireError};

/// The tensor that holds the serialized graph.
pub const OBJECT_GRAPH_KEY: &str = "_CHECKPOINTABLE_OBJECT_GRAPH";
/// The attribute under which a variable's value is stored.
pub const VARIABLE_VALUE: &str = "VARIABLE_VALUE";
const ATTRIBUTES: &str = ".ATTRIBUTES";
const OPTIMIZER_SLOT: &str = ".OPTIMIZER_SLOT";

/// One edge: the child's node id and the name its parent gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub node_id: usize,
    pub local_name: String,
}

/// One saved tensor of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// `VARIABLE_VALUE` for variables; other objects choose their own names.
    pub name: String,
    /// The variable's name in the program that wrote it (what a TF1 `Saver` would use).
    pub full_name: String,
    pub checkpoint_key: String,
}

/// A slot (optimizer state such as Adam's `m`) of one variable, declared on the optimizer node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotVariable {
    pub original_variable_node_id: usize,
    pub slot_name: String,
    pub slot_variable_node_id: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub children: Vec<Child>,
    pub attributes: Vec<Attribute>,
    pub slot_variables: Vec<SlotVariable>,
    /// `(name, object_name)` of a registered saver that saves this object itself.
    pub registered_saver: Option<(String, String)>,
    /// `None` when the field is absent (older writers).
    pub has_checkpoint_values: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectGraph {
    pub nodes: Vec<Node>,
}

/// An object to put in a new graph ([`ObjectGraph::build`]): indices refer to other specs, spec 0
/// is the root.
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    /// `(local name, spec index)` in declaration order.
    pub children: Vec<(String, usize)>,
    /// Names of the tensors this object saves (`VARIABLE_VALUE` for a variable).
    pub attributes: Vec<String>,
    /// `(original variable's path, slot name, slot variable spec)`; only on optimizers.
    pub slot_variables: Vec<(String, String, usize)>,
}

/// The escaping of edge and attribute names in keys: `.` → `..`, `/` → `.S`.
pub fn escape(name: &str) -> String {
    name.replace('.', "..").replace('/', ".S")
}

/// The key under which the attribute `attribute` of the object at `object_path` is stored.
pub fn attribute_key(object_path: &str, attribute: &str) -> String {
    format!("{object_path}/{ATTRIBUTES}/{}", escape(attribute))
}

/// How people name the attribute `attribute` of the object at `object_path`: a variable's value
/// by the object's path itself, other attributes by their key (without a leading `/` at the root).
pub fn attribute_path(object_path: &str, attribute: &str) -> String {
    if attribute == VARIABLE_VALUE {
        object_path.to_owned()
    } else if object_path.is_empty() {
        format!("{ATTRIBUTES}/{}", escape(attribute))
    } else {
        attribute_key(object_path, attribute)
    }
}

fn slot_path(variable_path: &str, optimizer_path: &str, slot_name: &str) -> String {
    format!("{variable_path}/{OPTIMIZER_SLOT}/{optimizer_path}/{}", escape(slot_name))
}

fn join(parent: &str, local_name: &str) -> String {
    let name = escape(local_name);
    if parent.is_empty() {
        name
    } else {
        format!("{parent}/{name}")
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Decode(format!("{what} is not valid UTF-8")))
}

fn wire_error(e: WireError) -> Error {
    Error::Decode(format!("invalid TrackableObjectGraph: {}", e.0))
}

/// The fields of one embedded message: `(number, value)` pairs, unknown ones included.
fn fields(data: &[u8]) -> impl Iterator<Item = Result<(u32, wire::Value<'_>)>> {
    let mut decoder = Decoder::new(data);
    std::iter::from_fn(move || decoder.next_field().map_err(wire_error).transpose())
}

/// Node ids as stored (children's, then slots' `(variable, slot)`), checked against the node
/// count once every node is known.
type RawIds = (Vec<i64>, Vec<(i64, i64)>);

fn decode_node(data: &[u8]) -> Result<(Node, RawIds)> {
    let mut node = Node::default();
    let (mut child_ids, mut slot_ids) = (Vec::new(), Vec::new());
    for field in fields(data) {
        let (number, value) = field?;
        let body = || value.as_bytes().map_err(wire_error);
        match number {
            1 => {
                let mut child = Child { node_id: 0, local_name: String::new() };
                let mut id = 0;
                for f in fields(body()?) {
                    match f? {
                        (1, v) => id = v.as_i64().map_err(wire_error)?,
                        (2, v) => child.local_name = utf8(v.as_bytes().map_err(wire_error)?, "a child's local_name")?,
                        _ => {}
                    }
                }
                child_ids.push(id);
                node.children.push(child);
            }
            2 => {
                let mut attribute =
                    Attribute { name: String::new(), full_name: String::new(), checkpoint_key: String::new() };
                for f in fields(body()?) {
                    let (n, v) = f?;
                    let text = || v.as_bytes().map_err(wire_error);
                    match n {
                        1 => attribute.name = utf8(text()?, "an attribute name")?,
                        2 => attribute.full_name = utf8(text()?, "an attribute's full_name")?,
                        3 => attribute.checkpoint_key = utf8(text()?, "a checkpoint_key")?,
                        _ => {}
                    }
                }
                node.attributes.push(attribute);
            }
            3 => {
                let mut slot =
                    SlotVariable { original_variable_node_id: 0, slot_name: String::new(), slot_variable_node_id: 0 };
                let (mut original, mut slot_id) = (0, 0);
                for f in fields(body()?) {
                    match f? {
                        (1, v) => original = v.as_i64().map_err(wire_error)?,
                        (2, v) => slot.slot_name = utf8(v.as_bytes().map_err(wire_error)?, "a slot_name")?,
                        (3, v) => slot_id = v.as_i64().map_err(wire_error)?,
                        _ => {}
                    }
                }
                slot_ids.push((original, slot_id));
                node.slot_variables.push(slot);
            }
            4 => {
                let (mut name, mut object_name) = (String::new(), String::new());
                for f in fields(body()?) {
                    match f? {
                        (1, v) => name = utf8(v.as_bytes().map_err(wire_error)?, "a registered saver name")?,
                        (2, v) => {
                            object_name = utf8(v.as_bytes().map_err(wire_error)?, "a registered saver object_name")?
                        }
                        _ => {}
                    }
                }
                node.registered_saver = Some((name, object_name));
            }
            5 => {
                let mut has = false;
                for f in fields(body()?) {
                    if let (1, v) = f? {
                        has = v.as_u64().map_err(wire_error)? != 0;
                    }
                }
                node.has_checkpoint_values = Some(has);
            }
            _ => {}
        }
    }
    Ok((node, (child_ids, slot_ids)))
}

impl ObjectGraph {
    /// Parses the serialized graph (unknown fields are skipped); every node id it holds must
    /// name a node.
    pub fn decode(data: &[u8]) -> Result<Self> {
        let mut decoded = Vec::new();
        for field in fields(data) {
            if let (1, value) = field? {
                decoded.push(decode_node(value.as_bytes().map_err(wire_error)?)?);
            }
        }
        let count = decoded.len();
        let id = |v: i64, what: &str| -> Result<usize> {
            usize::try_from(v)
                .ok()
                .filter(|&i| i < count)
                .ok_or_else(|| Error::Decode(format!("{what} {v} is not a node of the {count}-node object graph")))
        };
        let mut nodes = Vec::with_capacity(count);
        for (mut node, (child_ids, slot_ids)) in decoded {
            for (child, raw) in node.children.iter_mut().zip(child_ids) {
                child.node_id = id(raw, "child")?;
            }
            for (slot, (original, slot_id)) in node.slot_variables.iter_mut().zip(slot_ids) {
                slot.original_variable_node_id = id(original, "slot's variable")?;
                slot.slot_variable_node_id = id(slot_id, "slot variable")?;
            }
            nodes.push(node);
        }
        Ok(ObjectGraph { nodes })
    }

    /// The serialized graph, fields in number order and defaults omitted, as TensorFlow writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut graph = Encoder::new();
        for node in &self.nodes {
            let mut body = Encoder::new();
            for child in &node.children {
                let mut reference = Encoder::new();
                reference.varint(1, child.node_id as u64);
                reference.bytes(2, child.local_name.as_bytes());
                body.message(1, &reference);
            }
            for attribute in &node.attributes {
                let mut tensor = Encoder::new();
                tensor.bytes(1, attribute.name.as_bytes());
                tensor.bytes(2, attribute.full_name.as_bytes());
                tensor.bytes(3, attribute.checkpoint_key.as_bytes());
                body.message(2, &tensor);
            }
            for slot in &node.slot_variables {
                let mut reference = Encoder::new();
                reference.varint(1, slot.original_variable_node_id as u64);
                reference.bytes(2, slot.slot_name.as_bytes());
                reference.varint(3, slot.slot_variable_node_id as u64);
                body.message(3, &reference);
            }
            if let Some((name, object_name)) = &node.registered_saver {
                let mut saver = Encoder::new();
                saver.bytes(1, name.as_bytes());
                saver.bytes(2, object_name.as_bytes());
                body.message(4, &saver);
            }
            if let Some(has) = node.has_checkpoint_values {
                let mut flag = Encoder::new();
                flag.varint(1, u64::from(has));
                body.message(5, &flag);
            }
            graph.message(1, &body);
        }
        graph.buf
    }

    /// Every node's path (escaped edge names joined by `/`; the root's is empty): the first route
    /// of a breadth-first walk through children, or for a slot variable reached only through its
    /// optimizer, the slot path. `None` for nodes that neither reaches.
    pub fn paths(&self) -> Vec<Option<String>> {
        self.walk(|_| true)
    }

    /// Paths for people: like [`paths`](Self::paths), but avoiding optimizers where the graph
    /// offers another route, so that a Keras 3 model's kernel reached first through
    /// `optimizer/_trainable_variables/0` is named by its route through the model.
    pub fn friendly_paths(&self) -> Vec<Option<String>> {
        let avoiding = self.walk(|node| !self.is_optimizer(node));
        let all = self.paths();
        avoiding.into_iter().zip(all).map(|(friendly, path)| friendly.or(path)).collect()
    }

    /// The friendly name of every saved tensor, as `(checkpoint key, name)`: its object's
    /// [friendly path](Self::friendly_paths), the path alone for a variable's value, else followed
    /// by `/.ATTRIBUTES/<escaped attribute name>`. Objects no route reaches are left out.
    pub fn friendly_names(&self) -> Vec<(String, String)> {
        let paths = self.friendly_paths();
        self.nodes
            .iter()
            .zip(paths)
            .filter_map(|(node, path)| Some((node, path?)))
            .flat_map(|(node, path)| {
                node.attributes.iter().map(move |a| (a.checkpoint_key.clone(), attribute_path(&path, &a.name)))
            })
            .collect()
    }

    /// An optimizer: it declares slot variables (TF and Keras 2) or counts its steps in
    /// `_iterations` (Keras 3, whose slots are plain children).
    fn is_optimizer(&self, node: usize) -> bool {
        let node = &self.nodes[node];
        !node.slot_variables.is_empty() || node.children.iter().any(|c| c.local_name == "_iterations")
    }

    /// Breadth-first paths through children, entering only nodes `enter` accepts (the root always),
    /// then slot paths for slot variables not reached.
    fn walk(&self, enter: impl Fn(usize) -> bool) -> Vec<Option<String>> {
        let mut paths: Vec<Option<String>> = vec![None; self.nodes.len()];
        if self.nodes.is_empty() {
            return paths;
        }
        paths[0] = Some(String::new());
        let mut queue = VecDeque::from([0usize]);
        while let Some(parent) = queue.pop_front() {
            let parent_path = paths[parent].clone().unwrap_or_default();
            for child in &self.nodes[parent].children {
                if paths[child.node_id].is_none() {
                    paths[child.node_id] = Some(join(&parent_path, &child.local_name));
                    if enter(child.node_id) {
                        queue.push_back(child.node_id);
                    }
                }
            }
        }
        // Slot variables hang off their variable (an optimizer is named even when not entered).
        for (optimizer, node) in self.nodes.iter().enumerate() {
            for slot in &node.slot_variables {
                if paths[slot.slot_variable_node_id].is_none() {
                    if let (Some(variable), Some(optimizer)) =
                        (&paths[slot.original_variable_node_id], &paths[optimizer])
                    {
                        let path = slot_path(variable, optimizer, &slot.slot_name);
                        paths[slot.slot_variable_node_id] = Some(path);
                    }
                }
            }
        }
        paths
    }

    /// A new graph for the objects `specs` (spec 0 is the root), numbered as TensorFlow numbers
    /// them, with keys for every attribute. Returns the graph and, per spec, its node id.
    pub fn build(specs: &[NodeSpec]) -> Result<(ObjectGraph, Vec<usize>)> {
        let count = specs.len();
        let check = |i: usize| {
            if i < count {
                Ok(i)
            } else {
                Err(Error::InvalidArgument(format!("object {i} does not exist ({count} objects)")))
            }
        };
        // Node ids: breadth-first through children, then slot variables in declaration order.
        let mut id_of: Vec<Option<usize>> = vec![None; count];
        let mut order = Vec::with_capacity(count);
        if count > 0 {
            id_of[0] = Some(0);
            order.push(0);
        }
        let mut next = 0;
        while next < order.len() {
            let spec = order[next];
            next += 1;
            for (_, child) in &specs[spec].children {
                let child = check(*child)?;
                if id_of[child].is_none() {
                    id_of[child] = Some(order.len());
                    order.push(child);
                }
            }
        }
        let regular = order.len();
        for spec in order.clone() {
            for (_, _, slot) in &specs[spec].slot_variables {
                let slot = check(*slot)?;
                if id_of[slot].is_none() {
                    id_of[slot] = Some(order.len());
                    order.push(slot);
                }
            }
        }
        if order.len() != count {
            return Err(Error::InvalidArgument(format!(
                "{} of {count} objects are not reachable from the root",
                count - order.len()
            )));
        }
        let id = |spec: usize| id_of[spec].unwrap_or(0);
        let mut graph = ObjectGraph {
            nodes: order
                .iter()
                .map(|&spec| Node {
                    children: specs[spec]
                        .children
                        .iter()
                        .map(|(name, child)| Child { node_id: id(*child), local_name: name.clone() })
                        .collect(),
                    ..Node::default()
                })
                .collect(),
        };
        // Slots name their variable by path, known now that the regular nodes are in place.
        let regular_paths = graph.paths();
        let by_path: HashMap<&str, usize> =
            regular_paths[..regular].iter().enumerate().filter_map(|(i, p)| Some((p.as_deref()?, i))).collect();
        for (node, &spec) in order.iter().enumerate() {
            for (variable_path, slot_name, slot) in &specs[spec].slot_variables {
                let original = *by_path.get(variable_path.as_str()).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "slot '{slot_name}' of the optimizer at '{}' names variable '{variable_path}', \
                         which is not an object of the checkpoint",
                        regular_paths[node].as_deref().unwrap_or_default()
                    ))
                })?;
                graph.nodes[node].slot_variables.push(SlotVariable {
                    original_variable_node_id: original,
                    slot_name: slot_name.clone(),
                    slot_variable_node_id: id(*slot),
                });
            }
        }
        let paths = graph.paths();
        let names = graph.readable_names();
        for (node, &spec) in order.iter().enumerate() {
            let path = paths[node].clone().unwrap_or_default();
            graph.nodes[node].attributes = specs[spec]
                .attributes
                .iter()
                .map(|attribute| Attribute {
                    name: attribute.clone(),
                    full_name: names[node].clone(),
                    checkpoint_key: attribute_key(&path, attribute),
                })
                .collect();
        }
        let holds = graph.holds_values();
        for (node, holds) in graph.nodes.iter_mut().zip(holds) {
            node.has_checkpoint_values = Some(holds);
        }
        Ok((graph, (0..count).map(id).collect()))
    }

    /// Unescaped `/`-joined names along each node's path, used as variable names (`full_name`).
    fn readable_names(&self) -> Vec<String> {
        let mut names = vec![String::new(); self.nodes.len()];
        let mut seen = vec![false; self.nodes.len()];
        let mut queue = VecDeque::from([0usize]);
        if !self.nodes.is_empty() {
            seen[0] = true;
        }
        while let Some(parent) = queue.pop_front() {
            for child in &self.nodes[parent].children {
                if !seen[child.node_id] {
                    seen[child.node_id] = true;
                    names[child.node_id] = if names[parent].is_empty() {
                        child.local_name.clone()
                    } else {
                        format!("{}/{}", names[parent], child.local_name)
                    };
                    queue.push_back(child.node_id);
                }
            }
        }
        for node in &self.nodes {
            for slot in &node.slot_variables {
                let id = slot.slot_variable_node_id;
                if !seen[id] {
                    names[id] = format!("{}/{}", names[slot.original_variable_node_id], slot.slot_name);
                }
            }
        }
        names
    }

    /// The graph of a checkpoint whose tensors were renamed or left out: each attribute's
    /// `checkpoint_key` becomes what `key` makes of it and attributes it maps to `None` are
    /// dropped (TensorFlow's restore reads every key the graph names, even with
    /// `expect_partial`); `has_checkpoint_values`, where present, is recomputed.
    pub fn rekeyed(&self, key: impl Fn(&str) -> Option<String>) -> ObjectGraph {
        let mut graph = self.clone();
        for node in &mut graph.nodes {
            node.attributes = std::mem::take(&mut node.attributes)
                .into_iter()
                .filter_map(|a| Some(Attribute { checkpoint_key: key(&a.checkpoint_key)?, ..a }))
                .collect();
        }
        let holds = graph.holds_values();
        for (node, holds) in graph.nodes.iter_mut().zip(holds) {
            if node.has_checkpoint_values.is_some() {
                node.has_checkpoint_values = Some(holds);
            }
        }
        graph
    }

    /// Per node, whether it or anything below it (children, slot variables) holds attributes:
    /// TensorFlow's `has_checkpoint_values`, computed rather than trusted.
    pub fn holds_values(&self) -> Vec<bool> {
        let mut has: Vec<bool> = self.nodes.iter().map(|n| !n.attributes.is_empty()).collect();
        // Propagate upwards until nothing changes (graphs may share nodes or hold cycles).
        let mut changed = true;
        while changed {
            changed = false;
            for (node, n) in self.nodes.iter().enumerate() {
                if has[node] {
                    continue;
                }
                let mut below = n
                    .children
                    .iter()
                    .map(|c| c.node_id)
                    .chain(n.slot_variables.iter().map(|s| s.slot_variable_node_id));
                if below.any(|c| has[c]) {
                    has[node] = true;
                    changed = true;
                }
            }
        }
        has
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(children: &[(&str, usize)], attributes: &[&str]) -> NodeSpec {
        NodeSpec {
            children: children.iter().map(|(n, i)| (n.to_string(), *i)).collect(),
            attributes: attributes.iter().map(|a| a.to_string()).collect(),
            slot_variables: Vec::new(),
        }
    }

    #[test]
    fn escapes_as_tensorflow() {
        assert_eq!(escape("k/x.y"), "k.Sx..y");
        assert_eq!(attribute_key("a/b", VARIABLE_VALUE), "a/b/.ATTRIBUTES/VARIABLE_VALUE");
    }

    #[test]
    fn builds_breadth_first_with_slots_last() {
        // Specs in an arbitrary order: 0 root, 1 slot m, 2 model, 3 optimizer, 4 kernel.
        let mut specs = vec![
            spec(&[("model", 2), ("optimizer", 3)], &[]),
            spec(&[], &[VARIABLE_VALUE]),
            spec(&[("kernel", 4)], &[]),
            spec(&[], &[]),
            spec(&[], &[VARIABLE_VALUE]),
        ];
        specs[3].slot_variables.push(("model/kernel".into(), "m".into(), 1));
        let (graph, ids) = ObjectGraph::build(&specs).unwrap();
        assert_eq!(ids, [0, 4, 1, 2, 3]);
        assert_eq!(graph.nodes[3].attributes[0].checkpoint_key, "model/kernel/.ATTRIBUTES/VARIABLE_VALUE");
        assert_eq!(graph.nodes[3].attributes[0].full_name, "model/kernel");
        assert_eq!(
            graph.nodes[4].attributes[0].checkpoint_key,
            "model/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"
        );
        assert_eq!(graph.nodes[2].has_checkpoint_values, Some(true));
        let round = ObjectGraph::decode(&graph.encode()).unwrap();
        assert_eq!(round, graph);
    }

    #[test]
    fn rekeys_and_drops_attributes() {
        // Root → model → kernel, and a second variable "b" under the root.
        let (graph, _) = ObjectGraph::build(&[
            spec(&[("model", 1), ("b", 2)], &[]),
            spec(&[("kernel", 3)], &[]),
            spec(&[], &[VARIABLE_VALUE]),
            spec(&[], &[VARIABLE_VALUE]),
        ])
        .unwrap();
        let rekeyed = graph.rekeyed(|key| key.strip_prefix("model/").map(|rest| format!("net/{rest}")));
        assert_eq!(rekeyed.nodes[3].attributes[0].checkpoint_key, "net/kernel/.ATTRIBUTES/VARIABLE_VALUE");
        assert!(rekeyed.nodes[2].attributes.is_empty());
        assert_eq!(rekeyed.nodes[2].has_checkpoint_values, Some(false));
        assert_eq!(rekeyed.nodes[1].has_checkpoint_values, Some(true));
        assert_eq!(graph.rekeyed(|key| Some(key.to_owned())), graph);
    }

    #[test]
    fn encodes_tensorflow_bytes() {
        // Root with child "v" (node 1), a variable: bytes as TF 2.21 serializes them.
        let (graph, _) = ObjectGraph::build(&[spec(&[("v", 1)], &[]), spec(&[], &[VARIABLE_VALUE])]).unwrap();
        let mut expected = vec![0x0a, 0x0b, 0x0a, 0x05, 0x08, 0x01, 0x12, 0x01, b'v', 0x2a, 0x02, 0x08, 0x01];
        let key = b"v/.ATTRIBUTES/VARIABLE_VALUE";
        let attribute_len = 2 + 14 + 2 + 1 + 2 + key.len();
        expected.extend([
            0x0a,
            u8::try_from(2 + attribute_len + 4).unwrap(),
            0x12,
            u8::try_from(attribute_len).unwrap(),
        ]);
        expected.extend([0x0a, 14]);
        expected.extend(b"VARIABLE_VALUE");
        expected.extend([0x12, 1, b'v', 0x1a, u8::try_from(key.len()).unwrap()]);
        expected.extend(key);
        expected.extend([0x2a, 0x02, 0x08, 0x01]);
        assert_eq!(graph.encode(), expected);
    }

    #[test]
    fn refuses_dangling_ids_and_unreachable_objects() {
        // One node whose child is node 7.
        let error = ObjectGraph::decode(&[0x0a, 0x04, 0x0a, 0x02, 0x08, 0x07]).unwrap_err();
        assert!(error.to_string().contains("child 7 is not a node of the 1-node object graph"), "{error}");
        assert!(ObjectGraph::decode(&[0x0a, 0x05]).is_err());
        // Unknown fields are skipped; fields may come in any order.
        let node = [0x1a, 0x04, 0x08, 0x00, 0x18, 0x00, 0x78, 0x05, 0x0a, 0x02, 0x12, 0x00];
        let graph =
            ObjectGraph::decode(&[&[0x0a, u8::try_from(node.len()).unwrap()][..], &node[..], &[0x10, 0x01]].concat())
                .unwrap();
        assert_eq!(graph.nodes[0].slot_variables.len(), 1);
        assert_eq!(graph.nodes[0].children, [c(0, "")]);
        assert!(ObjectGraph::build(&[spec(&[], &[]), spec(&[], &[])]).is_err());
        assert!(ObjectGraph::build(&[spec(&[("x", 9)], &[])]).is_err());
        let mut optimizer = spec(&[("opt", 1)], &[]);
        optimizer.slot_variables.push(("nowhere".into(), "m".into(), 1));
        assert!(ObjectGraph::build(&[optimizer]).is_err());
    }

    #[test]
    fn friendly_paths_avoid_optimizers() {
        // Keras 3: root → model → dense → _kernel; root → optimizer (with _iterations) →
        // _trainable_variables → 0 = the kernel, discovered first through the optimizer.
        let graph = ObjectGraph {
            nodes: vec![
                Node { children: vec![c(2, "optimizer"), c(1, "model")], ..Node::default() },
                Node { children: vec![c(3, "dense")], ..Node::default() },
                Node { children: vec![c(4, "_iterations"), c(5, "_trainable_variables")], ..Node::default() },
                Node { children: vec![c(6, "_kernel")], ..Node::default() },
                Node::default(),
                Node { children: vec![c(6, "0")], ..Node::default() },
                Node::default(),
            ],
        };
        assert_eq!(graph.paths()[6].as_deref(), Some("optimizer/_trainable_variables/0"));
        let friendly = graph.friendly_paths();
        assert_eq!(friendly[6].as_deref(), Some("model/dense/_kernel"));
        assert_eq!(friendly[4].as_deref(), Some("optimizer/_iterations"));

        let mut graph = graph;
        let value =
            |key: &str| Attribute { name: VARIABLE_VALUE.into(), full_name: String::new(), checkpoint_key: key.into() };
        graph.nodes[6].attributes.push(value("optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE"));
        graph.nodes[4].attributes.push(value("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"));
        graph.nodes[0].attributes.push(Attribute {
            name: "a/b".into(),
            full_name: String::new(),
            checkpoint_key: ".ATTRIBUTES/a.Sb".into(),
        });
        let mut names = graph.friendly_names();
        names.sort();
        let pairs: Vec<(&str, &str)> = names.iter().map(|(k, n)| (k.as_str(), n.as_str())).collect();
        assert_eq!(
            pairs,
            [
                (".ATTRIBUTES/a.Sb", ".ATTRIBUTES/a.Sb"),
                ("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE", "optimizer/_iterations"),
                ("optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE", "model/dense/_kernel"),
            ]
        );
    }

    fn c(node_id: usize, name: &str) -> Child {
        Child { node_id, local_name: name.into() }
    }
}
