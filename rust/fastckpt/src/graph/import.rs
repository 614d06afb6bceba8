//! `tf.compat.v1.import_graph_def`: a GraphDef's nodes become operations of a [`Graph`], with
//! TensorFlow 2.21's naming, input remapping, checks, error texts and creation order.
//!
//! TensorFlow splits the work between Python (`importer.py`) and C++ (`ImportGraphDef`); this
//! module does both halves, in their order:
//!
//! ```text
//! Python   default attrs filled in (also over empty values), producer_op_list stripping,
//!          name scope "import" → "import_1" …, input_map keys and return names parsed
//! C++      versions checked ─ prefix checked ─ node names, ops, control order (per node)
//!          ─ inputs resolved (pending counts; NextIteration→Merge back edges allowed)
//!          ─ library functions added ─ nodes created as they become ready, lowest GraphDef
//!            index first: remap inputs, colocation check, output index check, prefix and
//!            uniquify the name, look up the op, defaults, validate, edges with dtype checks,
//!            _output_shapes count ─ back edges ─ versions merged ─ return elements
//!          any error: the new operations are removed and the versions restored (functions
//!          already added stay, as in TensorFlow)
//! Python   names recorded, devices canonicalised through tf.device scopes and colocation,
//!          unused input_map keys reported (the operations stay), return elements gathered
//! ```
//! Shape inference is not run, so graphs TensorFlow rejects only for inconsistent shapes are
//! accepted here.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use bytes::Bytes;

use super::device::{apply_scopes, python_int, python_repr, DeviceSpec};
use super::model::{name_prefixes, Graph, OpId, Operation, TensorRef};
use super::ops::{
    attr_of, attr_value_has_type, registry, OpDef, OpRegistry, GRAPH_DEF_VERSION, GRAPH_DEF_VERSION_MIN_PRODUCER,
    TF_VERSION,
};
use crate::error::{Error, ImportErrorKind, Result};
use crate::proto::text::print;
use crate::proto::{List, Map, MapKey, Message, Value, VersionDef};

/// How to import; the defaults are `import_graph_def(graph_def)`'s.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The name scope of the imported nodes: `None` is `"import"` (made unique), `""` imports
    /// without prefix (names made unique), a name ending in `/` is used as is.
    pub name: Option<String>,
    /// input_map: GraphDef tensor names (`"x:1"`, `"x"`, or `"^x"` for control inputs) to tensors
    /// of the destination graph (for `^` keys, the tensor's operation is used). Later entries
    /// replace earlier ones with the same meaning.
    pub input_map: Vec<(String, TensorRef)>,
    /// Names in the GraphDef to return: tensors (with `:`) or operations.
    pub return_elements: Option<Vec<String>>,
    /// The producer's `OpList`: attrs this registry does not know are dropped when they hold the
    /// producer's default.
    pub producer_op_list: Option<Message>,
    /// The enclosing `tf.device` scopes, outermost first.
    pub device_scopes: Vec<String>,
    /// Whether `loc:@x` colocations must name nodes of the GraphDef (`import_graph_def` checks;
    /// `import_graph_def_for_function` does not).
    pub validate_colocation_constraints: bool,
    /// The machine named by "Op type not registered … in binary running on HOST." (TensorFlow
    /// uses the host name; the glue passes `socket.gethostname()`).
    pub host: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            name: None,
            input_map: Vec::new(),
            return_elements: None,
            producer_op_list: None,
            device_scopes: Vec::new(),
            validate_colocation_constraints: true,
            host: "localhost".into(),
        }
    }
}

/// A returned element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    Operation(OpId),
    Tensor(TensorRef),
}

/// A GraphDef tensor id: node name and output index, `-1` for a control input.
type TensorId = (String, i64);

/// What an input_map key maps to.
#[derive(Debug, Clone, Copy)]
enum Target {
    Tensor(TensorRef),
    Control(OpId),
}

/// A NodeDef taken apart; its strings borrow the GraphDef's.
struct NodeIn<'a> {
    name: Cow<'a, str>,
    op: Cow<'a, str>,
    inputs: Vec<Cow<'a, str>>,
    device: Cow<'a, str>,
    attrs: Map,
    extra: Option<Box<Message>>,
}

/// Where an input of a node being created comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A node of the GraphDef (by index); output `-1` is a control input.
    Gdef(usize, i64),
    Existing(OpId, i64),
}

fn value_err(message: impl Into<String>) -> Error {
    Error::import_value(message)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is_merge(op: &str) -> bool {
    matches!(op, "Merge" | "RefMerge" | "_XlaMerge")
}

fn is_next_iteration(op: &str) -> bool {
    matches!(op, "NextIteration" | "RefNextIteration")
}

/// TensorFlow's C++ `ParseTensorName`: `x:3` → (x, 3), `^x` → (x, -1), anything else → (it, 0).
fn parse_tensor_id(name: &str) -> (&str, i64) {
    let bytes = name.as_bytes();
    let mut p = bytes.len();
    let mut index: u32 = 0;
    let mut mul: u32 = 1;
    while p > 1 && bytes[p - 1].is_ascii_digit() {
        index = index.wrapping_add(u32::from(bytes[p - 1] - b'0').wrapping_mul(mul));
        mul = mul.wrapping_mul(10);
        p -= 1;
    }
    if p > 1 && bytes[p - 1] == b':' && p < bytes.len() {
        (&name[..p - 1], i64::from(index as i32))
    } else if let Some(rest) = name.strip_prefix('^') {
        (rest, -1)
    } else {
        (name, 0)
    }
}

/// `x:0`, or `^x` for a control input.
fn tensor_id_string(name: &str, index: i64) -> String {
    if index == -1 {
        format!("^{name}")
    } else {
        format!("{name}:{index}")
    }
}

/// Python's `_ParseTensorName` for input_map keys and return names.
fn python_tensor_name(name: &str) -> Result<(String, i64)> {
    let parts: Vec<&str> = name.split(':').collect();
    match parts.len() {
        1 => Ok((name.to_string(), 0)),
        2 => {
            let index = python_int(parts[1]).map_err(|_| {
                value_err(format!(
                    "Cannot convert {} to a tensor name. Second component of the name following the `:` should be \
                     an int. Got {}.",
                    python_repr(name),
                    parts[1]
                ))
            })?;
            Ok((parts[0].to_string(), index))
        }
        n => Err(value_err(format!(
            "Cannot convert '{name}' to a tensor name. Tensor names should not contain more than 1 `:`. Obtained {}",
            n - 1
        ))),
    }
}

/// TensorFlow's node-name grammar: `[A-Za-z0-9.][A-Za-z0-9_./-]*` pieces joined by `>`.
fn valid_node_name(name: &str) -> bool {
    name.split('>').all(|piece| {
        let b = piece.as_bytes();
        match b.split_first() {
            Some((first, rest)) => {
                (first.is_ascii_alphanumeric() || *first == b'.')
                    && rest.iter().all(|c| c.is_ascii_alphanumeric() || b"-./_".contains(c))
            }
            None => false,
        }
    })
}

/// `{{node x}}`, or the original locations recorded in the node's debug info.
fn node_for_error(name: &str, extra: Option<&Message>) -> String {
    let info = extra.and_then(|e| e.message("experimental_debug_info"));
    let nodes = info.map(|i| i.strings("original_node_names")).unwrap_or_default();
    if nodes.is_empty() {
        return format!("{{{{node {name}}}}}");
    }
    let funcs = info.map(|i| i.strings("original_func_names")).unwrap_or_default();
    let mut out = String::new();
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if let Some(f) = funcs.get(i) {
            out.push_str(&format!("{{{{function_node {}}}}}", lossy(f)));
        }
        out.push_str(&format!("{{{{node {}}}}}", lossy(node)));
    }
    out
}

impl<'a> NodeIn<'a> {
    fn new(node: &'a Message) -> Self {
        let has_extra =
            node.has("experimental_debug_info") || node.has("experimental_type") || !node.unknown().is_empty();
        let extra = has_extra.then(|| {
            let mut e = node.clone();
            for field in ["name", "op", "input", "device", "attr"] {
                let _ = e.clear(field);
            }
            Box::new(e)
        });
        Self {
            name: String::from_utf8_lossy(node.bytes("name")),
            op: String::from_utf8_lossy(node.bytes("op")),
            inputs: node.strings("input").iter().map(|i| String::from_utf8_lossy(i)).collect(),
            device: String::from_utf8_lossy(node.bytes("device")),
            attrs: node.map("attr").cloned().unwrap_or_default(),
            extra,
        }
    }
}

/// Imports `graph_def` into `graph` as `tf.compat.v1.import_graph_def` does. Returns the requested
/// elements (`None` when `return_elements` is `None`). On error the graph is as TensorFlow leaves
/// it: unchanged, except that functions added from the library stay, and that the nodes stay when
/// only unused input_map keys or a device string are at fault (TensorFlow raises after creating
/// them).
pub fn import_graph_def(
    graph: &mut Graph,
    graph_def: &Message,
    options: &ImportOptions,
) -> Result<Option<Vec<Element>>> {
    let registry = registry()?;
    let mut nodes: Vec<NodeIn> = graph_def.messages("node").iter().map(NodeIn::new).collect();
    python_defaults(&mut nodes, registry);
    if let Some(producer) = &options.producer_op_list {
        strip_producer_defaults(&mut nodes, registry, producer);
    }

    let saved_stack = graph.name_stack.clone();
    let scope = graph.name_scope(options.name.as_deref().unwrap_or("import"));
    graph.name_stack = saved_stack;
    let scope = scope?;
    let prefix = scope.strip_suffix('/').unwrap_or(&scope).to_string();

    let mut input_map: BTreeMap<TensorId, Target> = BTreeMap::new();
    for (key, tensor) in &options.input_map {
        check_tensor(graph, *tensor)?;
        if let Some(name) = key.strip_prefix('^') {
            input_map.insert((name.to_string(), -1), Target::Control(tensor.op));
        } else {
            input_map.insert(python_tensor_name(key)?, Target::Tensor(*tensor));
        }
    }
    let mut return_tensors = Vec::new();
    let mut return_ops = Vec::new();
    for name in options.return_elements.iter().flatten() {
        if name.contains(':') {
            return_tensors.push(python_tensor_name(name)?);
        } else {
            return_ops.push(name.clone());
        }
    }
    let scopes =
        options.device_scopes.iter().map(|s| DeviceSpec::parse(s).map_err(value_err)).collect::<Result<Vec<_>>>()?;

    let versions = graph_def.message("versions").map(|v| VersionDef {
        producer: v.int32("producer"),
        min_consumer: v.int32("min_consumer"),
        bad_consumers: match v.list("bad_consumers") {
            Some(List::I32(b)) => b.clone(),
            _ => Vec::new(),
        },
    });
    let versions = versions.unwrap_or_default();
    check_versions(&versions)?;

    let start = graph.ops.len();
    let original_versions = graph.versions.clone();
    let mut importer = Importer {
        graph,
        registry,
        options,
        nodes,
        prefix: if prefix.is_empty() || prefix.ends_with('/') { prefix } else { format!("{prefix}/") },
        input_map,
        used_keys: HashSet::new(),
        versions: &versions,
        library: graph_def.message("library"),
        gdef_index: HashMap::new(),
        gdef_prefixes: HashSet::new(),
        created: Vec::new(),
        uniquified: HashMap::new(),
        back_edges: Vec::new(),
    };
    let outcome = importer.try_import(&return_tensors, &return_ops);
    let graph = importer.graph;
    let (returned, missing) = match outcome {
        Ok(done) => done,
        Err(mut e) => {
            graph.ops.truncate(start);
            graph.versions = original_versions;
            if versions.producer - GRAPH_DEF_VERSION > 21 {
                if let Error::Import { message, .. } = &mut e {
                    *message = format!(
                        "Converting GraphDef to Graph has failed with an error: '{message}' The binary trying to \
                         import the GraphDef was built when GraphDef version was {GRAPH_DEF_VERSION}. The GraphDef \
                         was produced by a binary built when GraphDef version was {}. The difference between these \
                         versions is larger than TensorFlow's forward compatibility guarantee, and might be the root \
                         cause for failing to import the GraphDef.",
                        versions.producer
                    );
                }
            }
            return Err(e);
        }
    };

    process_new_ops(graph, start, &scopes)?;
    if let Some(library) = graph_def.message("library").filter(|l| !l.messages("function").is_empty()) {
        check_gradients(library)?;
    }
    if !missing.is_empty() {
        return Err(value_err(format!(
            "Attempted to map inputs that were not found in graph_def: [{}]",
            missing.join(", ")
        )));
    }
    Ok(options.return_elements.as_ref().map(|names| {
        let (mut tensors, mut ops) = (returned.0.into_iter(), returned.1.into_iter());
        names
            .iter()
            .filter_map(|n| if n.contains(':') { tensors.next() } else { ops.next().map(Element::Operation) })
            .collect()
    }))
}

fn check_tensor(graph: &Graph, t: TensorRef) -> Result<()> {
    if t.op.0 < graph.len() && t.index < graph.op(t.op).num_outputs() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("input_map value {t:?} is not a tensor of this graph")))
    }
}

/// Python fills the OpDef's defaults into the GraphDef first, also over attrs set to an empty
/// value; only ops of the registry (not functions) are known to it.
fn python_defaults(nodes: &mut [NodeIn], registry: &OpRegistry) {
    for node in nodes {
        let Some(def) = registry.get(&node.op) else { continue };
        for a in &def.attrs {
            let Some(default) = &a.default else { continue };
            let key = a.key.clone();
            let empty = match node.attrs.get(&key) {
                Some(Value::Message(v)) => v.which_oneof("value").is_none(),
                _ => true,
            };
            if empty {
                node.attrs.insert(key, Value::from(default.clone()));
            }
        }
    }
}

fn strip_producer_defaults(nodes: &mut [NodeIn], registry: &OpRegistry, producer: &Message) {
    let producer_ops: HashMap<&[u8], &Message> =
        producer.messages("op").iter().map(|op| (op.bytes("name"), op)).collect();
    for node in nodes {
        let Some(producer_op) = producer_ops.get(node.op.as_bytes()) else { continue };
        let Some(def) = registry.get(&node.op) else { continue };
        let keys: Vec<MapKey> = node.attrs.keys().cloned().collect();
        for key in keys {
            let MapKey::Bytes(name) = &key else { continue };
            if def.attrs.iter().any(|a| a.name.as_bytes() == &name[..]) {
                continue;
            }
            let producer_attr = producer_op.messages("attr").iter().find(|a| a.bytes("name") == &name[..]);
            let default = producer_attr.and_then(|a| a.message("default_value"));
            if let (Some(default), Some(Value::Message(value))) = (default, node.attrs.get(&key)) {
                if **value == *default {
                    node.attrs.remove(&key);
                }
            }
        }
    }
}

fn check_versions(v: &VersionDef) -> Result<()> {
    if v.producer < GRAPH_DEF_VERSION_MIN_PRODUCER {
        return Err(value_err(format!(
            "GraphDef producer version {} below min producer {GRAPH_DEF_VERSION_MIN_PRODUCER} supported by \
             TensorFlow {TF_VERSION}.  Please regenerate your graph.",
            v.producer
        )));
    }
    if v.min_consumer > GRAPH_DEF_VERSION {
        return Err(value_err(format!(
            "GraphDef min consumer version {} above current version {GRAPH_DEF_VERSION} for TensorFlow \
             {TF_VERSION}.  Please upgrade TensorFlow.",
            v.min_consumer
        )));
    }
    if v.bad_consumers.contains(&GRAPH_DEF_VERSION) {
        return Err(value_err(format!(
            "GraphDef disallows consumer version {GRAPH_DEF_VERSION}.  Please upgrade TensorFlow: this version is \
             likely buggy."
        )));
    }
    Ok(())
}

/// What a successful import returns: (return tensors, return ops), unused input_map keys.
type Imported = ((Vec<Element>, Vec<OpId>), Vec<String>);

struct Importer<'a> {
    graph: &'a mut Graph,
    registry: &'static OpRegistry,
    options: &'a ImportOptions,
    nodes: Vec<NodeIn<'a>>,
    /// Ends with `/` unless empty.
    prefix: String,
    input_map: BTreeMap<TensorId, Target>,
    used_keys: HashSet<TensorId>,
    versions: &'a VersionDef,
    library: Option<&'a Message>,
    gdef_index: HashMap<Cow<'a, str>, usize>,
    gdef_prefixes: HashSet<String>,
    /// GraphDef index → the operation made of it.
    created: Vec<Option<OpId>>,
    /// Prefixed name → the unique name given instead.
    uniquified: HashMap<String, String>,
    /// (source node, output or -1, destination, input position) for edges whose source came later.
    back_edges: Vec<(usize, i64, OpId, usize)>,
}

impl Importer<'_> {
    fn try_import(&mut self, return_tensors: &[TensorId], return_ops: &[String]) -> Result<Imported> {
        if !self.prefix.is_empty() {
            let bare = self.prefix.strip_suffix('/').unwrap_or(&self.prefix);
            if !valid_node_name(bare) {
                return Err(value_err(format!(
                    "Imported node name prefix '{}' would lead to invalid node names",
                    self.prefix
                )));
            }
        }
        self.build_node_index()?;
        let (mut pending, outputs, ready) = self.init_from_edges()?;
        self.convert(&mut pending, &outputs, ready)?;
        self.add_back_edges()?;
        self.update_versions();
        let tensors = self.return_tensors(return_tensors)?;
        let ops = self.return_nodes(return_ops)?;
        let missing = self.missing_unused_keys();
        self.update_uniquified_colocations();
        Ok(((tensors, ops), missing))
    }

    fn build_node_index(&mut self) -> Result<()> {
        self.gdef_index.reserve(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            if !valid_node_name(&node.name) {
                return Err(value_err(format!("Node '{}': Node name contains invalid characters", node.name)));
            }
            if self.gdef_index.insert(node.name.clone(), i).is_some() {
                return Err(value_err(format!("Node '{}' is not unique", node.name)));
            }
            if node.op.is_empty() {
                return Err(value_err(format!("Node '{}' does not specify an operation", node.name)));
            }
            let mut in_control = false;
            for input in &node.inputs {
                if input.starts_with('^') {
                    in_control = true;
                } else if in_control {
                    return Err(value_err(format!(
                        "Node '{}': Control dependencies must come after regular dependencies",
                        node.name
                    )));
                }
            }
            for p in name_prefixes(&node.name) {
                if !self.gdef_prefixes.contains(p) {
                    self.gdef_prefixes.insert(p.to_string());
                }
            }
        }
        self.created = vec![None; self.nodes.len()];
        Ok(())
    }

    /// Pending input counts, consumers of each node, and the nodes ready at once.
    #[allow(clippy::type_complexity)]
    fn init_from_edges(&self) -> Result<(Vec<usize>, Vec<Vec<usize>>, BinaryHeap<Reverse<usize>>)> {
        let next_iterations: HashSet<&str> =
            self.nodes.iter().filter(|n| is_next_iteration(&n.op)).map(|n| &*n.name).collect();
        let mut pending = Vec::with_capacity(self.nodes.len());
        let mut outputs: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        let mut ready = BinaryHeap::new();
        for (n, node) in self.nodes.iter().enumerate() {
            let mut count = node.inputs.len();
            if is_merge(&node.op) {
                let controls = node.inputs.iter().filter(|i| i.starts_with('^')).count();
                let back_edge = node
                    .inputs
                    .iter()
                    .filter(|i| !i.starts_with('^'))
                    .any(|i| next_iterations.contains(parse_tensor_id(i).0));
                if back_edge {
                    count = controls + 1;
                }
            }
            for input in &node.inputs {
                let (name, index) = parse_tensor_id(input);
                if self.input_map.contains_key(&(name.to_string(), index)) {
                    count = count.saturating_sub(1);
                    continue;
                }
                match self.gdef_index.get(name) {
                    Some(&src) => outputs[src].push(n),
                    None => {
                        return Err(value_err(format!("Node '{}': Unknown input node '{input}'", node.name)));
                    }
                }
            }
            if count == 0 {
                ready.push(Reverse(n));
            }
            pending.push(count);
        }
        Ok((pending, outputs, ready))
    }

    fn add_library(&mut self) -> Result<()> {
        let Some(library) = self.library else { return Ok(()) };
        let functions = library.messages("function");
        if !functions.is_empty() && self.graph.versions.min_consumer < 12 {
            self.graph.versions.min_consumer = 12;
        }
        let (functions_before, gradients_before) = (self.graph.functions.len(), self.graph.gradients.len());
        let result = (|| -> std::result::Result<(), String> {
            for f in functions {
                let name = f.message("signature").map(|s| s.bytes("name")).unwrap_or_default();
                let registry_has = self.registry.get(&String::from_utf8_lossy(name)).is_some();
                self.graph.add_function(f.clone(), registry_has)?;
            }
            for g in library.messages("gradient") {
                let (f, grad) = (lossy(g.bytes("function_name")), lossy(g.bytes("gradient_func")));
                match self.graph.gradients.iter().find(|(name, _)| *name == f) {
                    Some((_, old)) if *old != grad => {
                        return Err(format!(
                            "Cannot assign gradient function '{grad}' to '{f}' because it already has gradient \
                             function '{old}'"
                        ))
                    }
                    Some(_) => {}
                    None => self.graph.gradients.push((f, grad)),
                }
            }
            Ok(())
        })();
        result.map_err(|e| {
            self.graph.truncate_functions(functions_before);
            self.graph.gradients.truncate(gradients_before);
            value_err(e)
        })
    }

    fn op_def(&self, op: &str) -> Option<&OpDef> {
        match self.graph.function(op) {
            Some(f) => Some(&f.signature),
            None => self.registry.get(op),
        }
    }

    fn convert(
        &mut self,
        pending: &mut [usize],
        outputs: &[Vec<usize>],
        mut ready: BinaryHeap<Reverse<usize>>,
    ) -> Result<()> {
        self.add_library()?;
        let mut processed = 0;
        while let Some(Reverse(o)) = ready.pop() {
            processed += 1;
            let id = self.create(o)?;
            let is_next = is_next_iteration(&self.graph.op(id).op_type);
            for &out in &outputs[o] {
                if is_next && is_merge(&self.nodes[out].op) {
                    continue;
                }
                if pending[out] > 0 {
                    pending[out] -= 1;
                    if pending[out] == 0 {
                        ready.push(Reverse(out));
                    }
                }
            }
        }
        if processed < self.nodes.len() {
            return Err(value_err(format!("{} nodes in a cycle", self.nodes.len() - processed)));
        }
        Ok(())
    }

    /// Makes the operation of GraphDef node `o`, whose inputs all exist (but back edges).
    fn create(&mut self, o: usize) -> Result<OpId> {
        // Each NodeDef is used once: its attrs and extra fields move into the operation.
        let mut attrs = std::mem::take(&mut self.nodes[o].attrs);
        let extra = self.nodes[o].extra.take();
        let node = &self.nodes[o];
        // Inputs after input_map: (source, name used to order and deduplicate control inputs).
        let mut inputs: Vec<(Source, &str)> = Vec::with_capacity(node.inputs.len());
        let mut remapped_controls: Vec<OpId> = Vec::new();
        for input in &node.inputs {
            let (name, index) = parse_tensor_id(input);
            let target = if self.input_map.is_empty() {
                None
            } else {
                let key = (name.to_string(), index);
                let target = self.input_map.get(&key).copied();
                if target.is_some() {
                    self.used_keys.insert(key);
                }
                target
            };
            match target {
                Some(Target::Control(op)) => {
                    if remapped_controls.contains(&op) {
                        continue;
                    }
                    remapped_controls.push(op);
                    inputs.push((Source::Existing(op, -1), self.graph.op(op).name.as_str()));
                }
                Some(Target::Tensor(t)) => {
                    inputs.push((Source::Existing(t.op, t.index as i64), self.graph.op(t.op).name.as_str()))
                }
                None => {
                    // init_from_edges found every unmapped input among the GraphDef's nodes.
                    let src = self.gdef_index.get(name).copied().unwrap_or(0);
                    inputs.push((Source::Gdef(src, index), name));
                }
            }
        }
        if self.options.validate_colocation_constraints {
            if let Some(class) = attr_of(&attrs, "_class") {
                for c in class.message("list").map(|l| l.strings("s")).unwrap_or_default() {
                    if let Some(target) = c.strip_prefix(b"loc:@") {
                        let target = lossy(target);
                        if !self.gdef_index.contains_key(target.as_str()) {
                            return Err(value_err(format!(
                                "Node '{}' expects to be colocated with unknown node '{target}'",
                                node.name
                            )));
                        }
                    }
                }
            }
        }
        let mut has_back_edge = false;
        for (src, name) in &inputs {
            if let Source::Gdef(src, index) = *src {
                match self.created[src] {
                    None => has_back_edge = true,
                    Some(id) => {
                        let src_op = self.graph.op(id);
                        if index >= src_op.num_outputs() as i64 {
                            let mut msg = format!(
                                "Node '{}': Connecting to invalid output {index} of source node {name} which has {} \
                                 outputs.",
                                node.name,
                                src_op.num_outputs()
                            );
                            if matches!(src_op.op_type.as_str(), "If" | "StatelessIf" | "While" | "StatelessWhile") {
                                msg.push_str(" Try using tf.compat.v1.experimental.output_all_intermediates(True).");
                            }
                            return Err(value_err(msg));
                        }
                    }
                }
            }
        }
        if has_back_edge && !is_merge(&node.op) {
            return Err(value_err(format!(
                "Node '{}' had a back edge, but only Merge nodes can have back edges.",
                node.name
            )));
        }

        // The name: prefixed, then made unique against the graph as it was before this import.
        let mut name = format!("{}{}", self.prefix, node.name);
        if self.graph.name_exists(&name) {
            let unique = self.find_unique_name(&name);
            self.uniquified.insert(name, unique.clone());
            name = unique;
        }
        if !self.prefix.is_empty() {
            rewrite_colocations(&mut attrs, |target| Some(format!("{}{target}", self.prefix)));
        }

        let for_error = || node_for_error(&name, extra.as_deref());
        let Some(def) = self.op_def(&node.op) else {
            return Err(Error::Import {
                kind: ImportErrorKind::NotFoundError,
                message: format!(
                    "Op type not registered '{}' in binary running on {}. Make sure the Op and Kernel are \
                     registered in the binary running in this process. Note that if you are loading a saved graph \
                     which used ops from tf.contrib (e.g. `tf.contrib.resampler`), accessing should be done before \
                     importing the graph, as contrib ops are lazily registered when the module is first accessed.",
                    node.op, self.options.host
                ),
            });
        };
        for a in &def.attrs {
            if let Some(default) = &a.default {
                if !attrs.contains_key(&a.key) {
                    attrs.insert(a.key.clone(), Value::from(default.clone()));
                }
            }
        }
        let num_data =
            inputs.iter().filter(|(s, _)| !matches!(s, Source::Gdef(_, -1) | Source::Existing(_, -1))).count();
        let (input_types, output_types) = def.validate_node(for_error, &attrs, num_data).map_err(value_err)?;
        if let Some((version, explanation)) = &def.deprecation {
            if self.versions.producer >= *version {
                return Err(Error::Import {
                    kind: ImportErrorKind::UnimplementedError,
                    message: format!(
                        "Op {} is not available in GraphDef version {}. It has been removed in version {version}. \
                         {explanation}.",
                        def.name, self.versions.producer
                    ),
                });
            }
        }

        // Edges: data inputs in order, control inputs sorted by name without repeats.
        let (data, mut controls): (Vec<_>, Vec<_>) =
            inputs.into_iter().partition(|(s, _)| !matches!(s, Source::Gdef(_, -1) | Source::Existing(_, -1)));
        controls.sort_by(|a, b| a.1.cmp(b.1));
        controls.dedup_by(|a, b| a.1 == b.1);
        let id = OpId(self.graph.ops.len());
        let mut op = Operation {
            name,
            op_type: node.op.to_string(),
            device: node.device.to_string(),
            inputs: Vec::with_capacity(data.len()),
            control_inputs: Vec::with_capacity(controls.len()),
            input_types,
            output_types,
            attrs,
            extra,
        };
        for (i, (src, _)) in data.iter().enumerate() {
            let (src_op, index) = match *src {
                Source::Gdef(g, index) => match self.created[g] {
                    Some(s) => (s, index),
                    None => {
                        self.back_edges.push((g, index, id, i));
                        op.inputs.push(TensorRef { op: OpId(usize::MAX), index: 0 });
                        continue;
                    }
                },
                Source::Existing(s, index) => (s, index),
            };
            let index = check_edge(self.graph.op(src_op), index, &op, i)?;
            op.inputs.push(TensorRef { op: src_op, index });
        }
        for (src, _) in &controls {
            match *src {
                Source::Gdef(g, _) => match self.created[g] {
                    Some(s) => op.control_inputs.push(s),
                    None => self.back_edges.push((g, -1, id, 0)),
                },
                Source::Existing(s, _) => op.control_inputs.push(s),
            }
        }
        if let Some(shapes) = attr_of(&op.attrs, "_output_shapes") {
            if attr_value_has_type(shapes, "list(shape)").is_ok() {
                let count = shapes.message("list").map_or(0, |l| l.messages("shape").len());
                if count < op.num_outputs() {
                    return Err(value_err(format!(
                        "Node '{}' has {} outputs but the _output_shapes attribute specifies shapes for {count} \
                         outputs",
                        op.name,
                        op.num_outputs()
                    )));
                }
                op.clear_attr("_output_shapes");
            }
        }
        self.graph.ops.push(op);
        self.created[o] = Some(id);
        Ok(id)
    }

    fn gdef_name_exists(&self, name: &str) -> bool {
        self.gdef_index.contains_key(name) || self.gdef_prefixes.contains(name)
    }

    /// `name_1`, `name_2`, … : the first free in the graph that no GraphDef node claims either.
    fn find_unique_name(&self, original: &str) -> String {
        let mut name = original.to_string();
        let mut count = 0;
        while self.graph.name_exists(&name) || (count > 0 && self.gdef_name_exists(&name)) {
            count += 1;
            name = format!("{original}_{count}");
        }
        name
    }

    fn add_back_edges(&mut self) -> Result<()> {
        for &(g, index, dst, i) in &self.back_edges {
            // Every node exists once the conversion has finished.
            let Some(src) = self.created[g] else { continue };
            if index == -1 {
                self.graph.ops[dst.0].control_inputs.push(src);
            } else {
                let index = check_edge(self.graph.op(src), index, self.graph.op(dst), i)?;
                self.graph.ops[dst.0].inputs[i] = TensorRef { op: src, index };
            }
        }
        Ok(())
    }

    fn update_versions(&mut self) {
        let v = &mut self.graph.versions;
        v.producer = v.producer.min(self.versions.producer);
        v.min_consumer = v.min_consumer.max(self.versions.min_consumer);
        if !self.versions.bad_consumers.is_empty() {
            let mut bad = v.bad_consumers.clone();
            bad.extend(&self.versions.bad_consumers);
            bad.sort_unstable();
            bad.dedup();
            v.bad_consumers = bad;
        }
    }

    fn return_tensors(&self, requested: &[TensorId]) -> Result<Vec<Element>> {
        let mut out = Vec::with_capacity(requested.len());
        for (name, index) in requested {
            if let Some(target) = self.input_map.get(&(name.clone(), *index)) {
                out.push(match *target {
                    Target::Tensor(t) => Element::Tensor(t),
                    Target::Control(op) => Element::Operation(op),
                });
                continue;
            }
            let Some(id) = self.gdef_index.get(name.as_str()).and_then(|&g| self.created[g]) else {
                return Err(value_err(format!(
                    "Requested return tensor '{}' not found in graph def",
                    tensor_id_string(name, *index)
                )));
            };
            let n = self.graph.op(id).num_outputs();
            let Some(output) = usize::try_from(*index).ok().filter(|&i| i < n) else {
                return Err(value_err(format!(
                    "Invalid return output {index} of node '{name}', which has {n} output(s)"
                )));
            };
            out.push(Element::Tensor(TensorRef { op: id, index: output }));
        }
        Ok(out)
    }

    fn return_nodes(&self, requested: &[String]) -> Result<Vec<OpId>> {
        requested
            .iter()
            .map(|name| {
                self.gdef_index
                    .get(name.as_str())
                    .and_then(|&g| self.created[g])
                    .ok_or_else(|| value_err(format!("Requested return node '{name}' not found in graph def")))
            })
            .collect()
    }

    /// input_map keys no input used and that name no output of the GraphDef, in key order.
    fn missing_unused_keys(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for (name, index) in self.input_map.keys() {
            if self.used_keys.contains(&(name.clone(), *index)) {
                continue;
            }
            let outputs = self
                .gdef_index
                .get(name.as_str())
                .and_then(|&g| self.created[g])
                .map(|id| self.graph.op(id).num_outputs());
            if outputs.is_none_or(|n| *index >= n as i64) {
                missing.push(tensor_id_string(name, *index));
            }
        }
        missing
    }

    fn update_uniquified_colocations(&mut self) {
        if self.uniquified.is_empty() {
            return;
        }
        for id in self.created.iter().flatten() {
            let uniquified = &self.uniquified;
            rewrite_colocations(&mut self.graph.ops[id.0].attrs, |target| uniquified.get(target).cloned());
        }
    }
}

/// Rewrites the `loc:@x` values of a `_class` attr; `f` gives the new `x` (or `None` to keep).
fn rewrite_colocations(attrs: &mut Map, f: impl Fn(&str) -> Option<String>) {
    let Some(Value::Message(class)) = attrs.get_mut(&MapKey::Bytes(Bytes::from_static(b"_class"))) else { return };
    let Ok(list) = class.message_mut("list") else { return };
    let Ok(Value::List(List::Bytes(values))) = list.get_mut("s") else { return };
    for v in values.iter_mut() {
        if let Some(target) = v.strip_prefix(b"loc:@") {
            if let Some(new) = f(&String::from_utf8_lossy(target)) {
                *v = Bytes::from(format!("loc:@{new}"));
            }
        }
    }
}

/// TensorFlow's `MakeEdge` checks: the output exists, the input exists, the dtypes fit.
/// Checks the edge `src:index → dst` (input `input`) and returns `index` as an output position.
fn check_edge(src: &Operation, index: i64, dst: &Operation, input: usize) -> Result<usize> {
    let Some(output) = usize::try_from(index).ok().filter(|&i| i < src.num_outputs()) else {
        return Err(value_err(format!(
            "Output {index} of node {} does not exist. Node only has {} outputs.",
            src.name,
            src.num_outputs()
        )));
    };
    if input >= dst.input_types.len() {
        return Err(value_err(format!(
            "Input {input} of node {} does not exist. Node only has {} inputs.",
            dst.name,
            dst.input_types.len()
        )));
    }
    let (given, expected) = (src.output_types[output], dst.input_types[input]);
    if !given.feeds(expected) {
        return Err(value_err(format!(
            "Input {input} of node {} was passed {} from {}:{index} incompatible with expected {}.",
            dst.name,
            given.type_string(),
            src.name,
            expected.type_string()
        )));
    }
    Ok(output)
}

/// Python's `function.from_library` check of a library once imported: every function named in a
/// gradient pair exists, and some function has no gradient.
fn check_gradients(library: &Message) -> Result<()> {
    let functions: HashSet<&[u8]> = library
        .messages("function")
        .iter()
        .map(|f| f.message("signature").map_or(&[][..], |s| s.bytes("name")))
        .collect();
    let text = || print(library);
    let mut with_gradient = HashSet::new();
    for g in library.messages("gradient") {
        for name in [g.bytes("function_name"), g.bytes("gradient_func")] {
            if !functions.contains(name) {
                return Err(value_err(format!("FunctionDefLibrary missing '{}' FunctionDef\n{}", lossy(name), text())));
            }
        }
        with_gradient.insert(g.bytes("function_name"));
    }
    if functions.iter().all(|f| with_gradient.contains(f)) {
        return Err(value_err(format!("FunctionDefLibrary contains cyclic gradient functions!\n{}", text())));
    }
    Ok(())
}

/// What Python does with the new operations: records their names, then sets their devices —
/// through the enclosing `tf.device` scopes, or from the operations they are colocated with.
fn process_new_ops(graph: &mut Graph, start: usize, scopes: &[DeviceSpec]) -> Result<()> {
    let added = graph.ops.len() - start;
    graph.by_name.reserve(added);
    graph.names_in_use.reserve(added);
    for i in start..graph.ops.len() {
        graph.index_op(OpId(i));
        let name = graph.ops[i].name.clone();
        graph.mark_name_used(&name);
    }
    let mut colocated: Vec<(usize, Vec<String>)> = Vec::new();
    for i in start..graph.ops.len() {
        let op = &mut graph.ops[i];
        let requested = std::mem::take(&mut op.device);
        let names: Vec<String> = op
            .colocation_values()
            .iter()
            .filter_map(|v| v.strip_prefix(b"loc:@").map(lossy))
            .filter(|n| *n != op.name)
            .collect();
        if names.is_empty() {
            op.device = apply_scopes(scopes, &requested).map_err(value_err)?;
        } else {
            colocated.push((i, names));
        }
    }
    for (i, names) in colocated {
        for name in names {
            let Some(other) = graph.operation_by_name(&name) else { continue };
            let device = &graph.op(other).device;
            if !device.is_empty() {
                let device = DeviceSpec::parse(device).map_err(value_err)?.to_string();
                graph.ops[i].device = device;
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_names() {
        assert_eq!(parse_tensor_id("a:3"), ("a", 3));
        assert_eq!(parse_tensor_id("^a"), ("a", -1));
        assert_eq!(parse_tensor_id("a"), ("a", 0));
        assert_eq!(parse_tensor_id("a:"), ("a:", 0));
        assert_eq!(parse_tensor_id("^a:1"), ("^a", 1));
        assert_eq!(parse_tensor_id("7"), ("7", 0));
        assert_eq!(python_tensor_name("x:07").unwrap(), ("x".to_string(), 7));
        assert!(python_tensor_name("x:y").is_err());
        assert!(
            valid_node_name("a>b/c-d.e_f") && !valid_node_name("_a") && !valid_node_name("a>") && !valid_node_name("")
        );
    }
}
