//! The in-memory graph: what `tf.Graph` holds once GraphDefs are imported into it.
//!
//! ```text
//! Graph ── ops: [Operation 0, Operation 1, …]   creation order = get_operations() order
//!       ── by_name "import/b" → OpId(2)           (a later op of the same name wins, as in Python)
//!       ── prefixes "import" → 5 ops below it     (what name uniquification must avoid)
//!       ── names_in_use "import" → 2              (Python's case-insensitive name-scope counter)
//!       ── library: FunctionDefs (+ signatures), gradients;  versions
//! Operation ── name, type, device, attrs (AttrValue messages by name)
//!           ── inputs [TensorRef {op, index}], control_inputs [OpId]
//!           ── input and output dtypes, fixed at creation from the op's definition
//! ```
//! Edges are ids, not names, so renaming never breaks them; the GraphDef is produced on demand
//! (`to_graph_def`), spelling inputs as TensorFlow does (`x`, `x:1`, `^x`, control inputs sorted by
//! name).

use std::collections::HashMap;

use bytes::Bytes;

use super::ops::{OpDef, GRAPH_DEF_VERSION, GRAPH_DEF_VERSION_MIN_CONSUMER};
use crate::dtype::DataType;
use crate::error::{Error, Result};
use crate::proto::schema::{FUNCTION_DEF_LIBRARY, GRADIENT_DEF, GRAPH_DEF, NODE_DEF, VERSION_DEF};
use crate::proto::{List, Map, MapKey, Message, Value, VersionDef};

/// An operation: its position in the graph's creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub usize);

/// Output `index` of operation `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TensorRef {
    pub op: OpId,
    pub index: usize,
}

/// One node of the graph.
#[derive(Debug, Clone)]
pub struct Operation {
    pub(crate) name: String,
    pub(crate) op_type: String,
    pub(crate) device: String,
    pub(crate) inputs: Vec<TensorRef>,
    pub(crate) control_inputs: Vec<OpId>,
    pub(crate) input_types: Vec<DataType>,
    pub(crate) output_types: Vec<DataType>,
    pub(crate) attrs: Map,
    /// The rest of the NodeDef (debug info, full type, unknown fields), when it had any.
    pub(crate) extra: Option<Box<Message>>,
}

impl Operation {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The op type (`"Const"`, or a function's name).
    pub fn op_type(&self) -> &str {
        &self.op_type
    }

    /// The requested device, canonical (`/job:w/device:GPU:0`) after an import.
    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn set_device(&mut self, device: String) {
        self.device = device;
    }

    pub fn inputs(&self) -> &[TensorRef] {
        &self.inputs
    }

    pub fn control_inputs(&self) -> &[OpId] {
        &self.control_inputs
    }

    pub fn input_types(&self) -> &[DataType] {
        &self.input_types
    }

    pub fn output_types(&self) -> &[DataType] {
        &self.output_types
    }

    pub fn num_outputs(&self) -> usize {
        self.output_types.len()
    }

    /// The attrs: names (bytes keys) to `AttrValue` messages.
    pub fn attrs(&self) -> &Map {
        &self.attrs
    }

    pub fn attr(&self, name: &str) -> Option<&Message> {
        super::ops::attr_of(&self.attrs, name)
    }

    /// Sets an attr (an `AttrValue` message), replacing any value it had.
    pub fn set_attr(&mut self, name: &str, value: Message) {
        self.attrs.insert(MapKey::from(name), Value::from(value));
    }

    pub fn clear_attr(&mut self, name: &str) -> Option<Message> {
        match self.attrs.remove(&MapKey::from(name)) {
            Some(Value::Message(m)) => Some(*m),
            _ => None,
        }
    }

    /// The colocation groups of the `_class` attr (`loc:@x` values), as strings.
    pub(crate) fn colocation_values(&self) -> Vec<Bytes> {
        self.attr("_class").and_then(|c| c.message("list")).map(|l| l.strings("s").to_vec()).unwrap_or_default()
    }

    /// `tf.Operation.colocation_groups()`: the `loc:@x` entries of the `_class` attr, or the
    /// op's own group `loc:@<name>` when it lists none.
    pub fn colocation_groups(&self) -> Vec<Bytes> {
        let groups: Vec<Bytes> = self.colocation_values().into_iter().filter(|v| v.starts_with(b"loc:@")).collect();
        if groups.is_empty() {
            vec![Bytes::from(format!("loc:@{}", self.name()))]
        } else {
            groups
        }
    }
}

/// A function of the graph's library, with its signature parsed.
#[derive(Debug, Clone)]
pub struct Function {
    pub def: Message,
    pub signature: OpDef,
}

/// A TensorFlow graph.
#[derive(Debug, Clone)]
pub struct Graph {
    pub(crate) ops: Vec<Operation>,
    pub(crate) by_name: HashMap<String, OpId>,
    /// For every op name `a/b/c`: `a` and `a/b`, with how many ops are below each.
    pub(crate) prefixes: HashMap<String, usize>,
    pub(crate) names_in_use: HashMap<String, u64>,
    pub(crate) name_stack: String,
    pub(crate) functions: Vec<Function>,
    pub(crate) function_index: HashMap<String, usize>,
    /// function name → gradient function name.
    pub(crate) gradients: Vec<(String, String)>,
    pub(crate) versions: VersionDef,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

/// `a/b/c` → `a`, `a/b`.
pub(crate) fn name_prefixes(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(i, _)| &name[..i])
}

impl Graph {
    /// An empty graph at TensorFlow 2.21's graph version.
    pub fn new() -> Self {
        Self {
            ops: Vec::new(),
            by_name: HashMap::new(),
            prefixes: HashMap::new(),
            names_in_use: HashMap::new(),
            name_stack: String::new(),
            functions: Vec::new(),
            function_index: HashMap::new(),
            gradients: Vec::new(),
            versions: VersionDef {
                producer: GRAPH_DEF_VERSION,
                min_consumer: GRAPH_DEF_VERSION_MIN_CONSUMER,
                bad_consumers: Vec::new(),
            },
        }
    }

    /// Operations in creation order (`get_operations()`).
    pub fn operations(&self) -> &[Operation] {
        &self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn op(&self, id: OpId) -> &Operation {
        &self.ops[id.0]
    }

    pub fn op_mut(&mut self, id: OpId) -> &mut Operation {
        &mut self.ops[id.0]
    }

    /// The operation of this name (the last one created, should several share it).
    pub fn operation_by_name(&self, name: &str) -> Option<OpId> {
        self.by_name.get(name).copied()
    }

    /// A tensor by name, `"op:k"`; `None` when there is no such op or output.
    pub fn tensor_by_name(&self, name: &str) -> Option<TensorRef> {
        let (op, index) = name.rsplit_once(':')?;
        let index: usize = index.parse().ok()?;
        let op = self.operation_by_name(op)?;
        (index < self.op(op).num_outputs()).then_some(TensorRef { op, index })
    }

    /// `"op:k"`.
    pub fn tensor_name(&self, t: TensorRef) -> String {
        format!("{}:{}", self.op(t.op).name, t.index)
    }

    pub fn versions(&self) -> &VersionDef {
        &self.versions
    }

    pub fn set_versions(&mut self, versions: VersionDef) {
        self.versions = versions;
    }

    /// The library's functions in the order they were added.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    pub fn function(&self, name: &str) -> Option<&Function> {
        self.function_index.get(name).map(|&i| &self.functions[i])
    }

    /// `(function, gradient function)` pairs.
    pub fn gradients(&self) -> &[(String, String)] {
        &self.gradients
    }

    /// Whether `name` is taken by an operation or is a name scope of one (`a` for `a/b`).
    pub fn name_exists(&self, name: &str) -> bool {
        self.by_name.contains_key(name) || self.prefixes.contains_key(name)
    }

    // --- Python's name bookkeeping -------------------------------------------------------------

    /// The current name scope (`"outer/inner"`, empty at the top).
    pub fn name_stack(&self) -> &str {
        &self.name_stack
    }

    pub fn set_name_stack(&mut self, stack: String) {
        self.name_stack = stack;
    }

    /// `Graph.unique_name`: `name` inside the current scope, with `_1`, `_2`, … appended when
    /// taken; names compare case-insensitively. `mark_as_used` records the answer.
    pub fn unique_name(&mut self, name: &str, mark_as_used: bool) -> String {
        let name = if self.name_stack.is_empty() { name.to_string() } else { format!("{}/{name}", self.name_stack) };
        let base_key = name.to_lowercase();
        let mut i = self.names_in_use.get(&base_key).copied().unwrap_or(0);
        if mark_as_used {
            self.names_in_use.insert(base_key.clone(), i + 1);
        }
        if i == 0 {
            return name;
        }
        let mut key = base_key.clone();
        while self.names_in_use.contains_key(&key) {
            key = format!("{base_key}_{i}");
            i += 1;
        }
        if mark_as_used {
            self.names_in_use.insert(key, 1);
        }
        format!("{name}_{}", i - 1)
    }

    /// Records an operation name as used (what Python does for every op it learns of).
    pub(crate) fn mark_name_used(&mut self, name: &str) {
        self.names_in_use.entry(name.to_lowercase()).or_insert(1);
    }

    /// Enters `Graph.name_scope(name)`: checks the name, makes it unique unless it ends in `/`
    /// (then it is used as is), and makes it the current scope; `""` goes back to the top.
    /// Returns the scope as Python yields it (`"import/"`, or `""`). The caller restores the
    /// previous [`name_stack`](Self::name_stack) when leaving.
    pub fn name_scope(&mut self, name: &str) -> Result<String> {
        if !name.is_empty() {
            let root = self.name_stack.is_empty();
            if !valid_scope_name(name, root) {
                let (what, pattern) = if root {
                    ("root scope name", r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")
                } else {
                    ("scope name", r"^[A-Za-z0-9_.\\/>-]*$")
                };
                return Err(Error::import_value(format!(
                    "'{name}' is not a valid {what}. A {what} has to match the following pattern: {pattern}"
                )));
            }
        }
        let (stack, scope) = if name.is_empty() {
            (String::new(), String::new())
        } else if let Some(stripped) = name.strip_suffix('/') {
            (stripped.to_string(), name.to_string())
        } else {
            let unique = self.unique_name(name, true);
            let scope = format!("{unique}/");
            (unique, scope)
        };
        self.name_stack = stack;
        Ok(scope)
    }

    // --- building ------------------------------------------------------------------------------

    /// Makes an operation already in `ops` findable by name (a later op of a name wins) and its
    /// name scopes known.
    pub(crate) fn index_op(&mut self, id: OpId) {
        let name = &self.ops[id.0].name;
        for prefix in name_prefixes(name) {
            match self.prefixes.get_mut(prefix) {
                Some(n) => *n += 1,
                None => {
                    self.prefixes.insert(prefix.to_string(), 1);
                }
            }
        }
        self.by_name.insert(name.clone(), id);
    }

    /// Adds a function to the library: a function of the same name must be identical, and no op
    /// may have its name. Returns whether it was new.
    pub(crate) fn add_function(&mut self, def: Message, registry_has: bool) -> std::result::Result<bool, String> {
        let signature =
            def.message("signature").cloned().unwrap_or_else(|| Message::new(&crate::proto::schema::OP_DEF));
        let name = String::from_utf8_lossy(signature.bytes("name")).into_owned();
        if let Some(existing) = self.function(&name) {
            if existing.def != def {
                return Err(format!(
                    "Cannot add function '{name}' because a different function with the same name already exists."
                ));
            }
            return Ok(false);
        }
        if registry_has {
            return Err(format!("Cannot add function '{name}' because an op with the same name already exists."));
        }
        let signature = OpDef::from_proto(&signature).map_err(|e| e.to_string())?;
        self.function_index.insert(name, self.functions.len());
        self.functions.push(Function { def, signature });
        Ok(true)
    }

    pub(crate) fn truncate_functions(&mut self, len: usize) {
        for f in self.functions.drain(len..) {
            self.function_index.remove(&f.signature.name);
        }
    }

    // --- out -----------------------------------------------------------------------------------

    /// One operation as a NodeDef, inputs spelled as TensorFlow does.
    pub fn node_def(&self, id: OpId) -> Message {
        let op = self.op(id);
        let mut node = op.extra.as_deref().cloned().unwrap_or_else(|| Message::new(&NODE_DEF));
        let mut inputs: Vec<Bytes> = Vec::with_capacity(op.inputs.len() + op.control_inputs.len());
        for t in &op.inputs {
            let src = &self.op(t.op).name;
            inputs.push(if t.index == 0 {
                Bytes::from(src.clone())
            } else {
                Bytes::from(format!("{src}:{}", t.index))
            });
        }
        let mut controls: Vec<&str> = op.control_inputs.iter().map(|c| self.op(*c).name.as_str()).collect();
        controls.sort_unstable();
        inputs.extend(controls.iter().map(|c| Bytes::from(format!("^{c}"))));
        // Every value fits its NodeDef field, so these sets cannot fail.
        let _ = node.set("name", Value::from(op.name.as_str()));
        let _ = node.set("op", Value::from(op.op_type.as_str()));
        let _ = node.set("input", Value::List(List::Bytes(inputs)));
        let _ = node.set("device", Value::from(op.device.as_str()));
        let _ = node.set("attr", Value::Map(op.attrs.clone()));
        node
    }

    /// The graph as `as_graph_def()` gives it: nodes in creation order, the library when it has
    /// functions, the versions.
    pub fn to_graph_def(&self) -> Message {
        let mut graph = Message::new(&GRAPH_DEF);
        let nodes: Vec<Message> = (0..self.ops.len()).map(|i| self.node_def(OpId(i))).collect();
        let _ = graph.set("node", Value::List(List::Message(nodes)));
        if !self.functions.is_empty() {
            let mut library = Message::new(&FUNCTION_DEF_LIBRARY);
            let functions = self.functions.iter().map(|f| f.def.clone()).collect();
            let _ = library.set("function", Value::List(List::Message(functions)));
            let gradients = self
                .gradients
                .iter()
                .map(|(f, g)| {
                    let mut m = Message::new(&GRADIENT_DEF);
                    let _ = m.set("function_name", Value::from(f.as_str()));
                    let _ = m.set("gradient_func", Value::from(g.as_str()));
                    m
                })
                .collect();
            let _ = library.set("gradient", Value::List(List::Message(gradients)));
            let _ = graph.set("library", Value::from(library));
        }
        let _ = graph.set("versions", Value::from(self.versions_message()));
        graph
    }

    /// The versions as a `VersionDef` message.
    pub fn versions_message(&self) -> Message {
        let mut versions = Message::new(&VERSION_DEF);
        let _ = versions.set("producer", Value::I32(self.versions.producer));
        let _ = versions.set("min_consumer", Value::I32(self.versions.min_consumer));
        let _ = versions.set("bad_consumers", Value::List(List::I32(self.versions.bad_consumers.clone())));
        versions
    }
}

/// Python's scope-name patterns; `$` also matches before one final newline, as in Python.
fn valid_scope_name(name: &str, root: bool) -> bool {
    let name = name.strip_suffix('\n').unwrap_or(name);
    let rest = |c: u8| c.is_ascii_alphanumeric() || b"_.\\/>-".contains(&c);
    let bytes = name.as_bytes();
    if root {
        match bytes.split_first() {
            Some((first, tail)) => (first.is_ascii_alphanumeric() || *first == b'.') && tail.iter().all(|c| rest(*c)),
            None => false,
        }
    } else {
        bytes.iter().all(|c| rest(*c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_like_python() {
        let mut g = Graph::new();
        assert_eq!(g.unique_name("foo", true), "foo");
        assert_eq!(g.unique_name("foo", true), "foo_1");
        assert_eq!(g.unique_name("Foo", true), "Foo_2");
        assert_eq!(g.unique_name("foo_1", false), "foo_1_1");
        assert_eq!(g.name_scope("pre/").unwrap(), "pre/");
        assert_eq!(g.name_stack(), "pre");
        assert_eq!(g.name_scope("x").unwrap(), "pre/x/");
        assert!(g.name_scope("-ok").is_ok());
        g.set_name_stack(String::new());
        assert!(g.name_scope("-bad").is_err());
        assert_eq!(g.name_scope("").unwrap(), "");
    }

    #[test]
    fn names_and_prefixes_are_indexed() {
        let mut g = Graph::new();
        for _ in 0..2 {
            g.ops.push(Operation {
                name: "a/b/c".into(),
                op_type: "NoOp".into(),
                device: String::new(),
                inputs: vec![],
                control_inputs: vec![],
                input_types: vec![],
                output_types: vec![],
                attrs: Map::new(),
                extra: None,
            });
        }
        g.index_op(OpId(0));
        g.index_op(OpId(1));
        assert_eq!(g.operation_by_name("a/b/c"), Some(OpId(1)), "the later op wins");
        assert!(g.name_exists("a/b") && g.name_exists("a") && !g.name_exists("a/b/c/d"));
        assert_eq!(g.prefixes["a"], 2);
        assert_eq!(g.to_graph_def().messages("node").len(), 2);
    }
}
