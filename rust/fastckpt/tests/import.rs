//! `import_graph_def` against TensorFlow 2.21: every case of `tests/data/import/cases.json` (made
//! by `tests/data/make_import_goldens.py`) is replayed step by step, and after each step the
//! returned elements or the error, and the whole graph (operations in order with their NodeDefs,
//! output dtypes and control inputs, versions, library, Python's name counters) must be what
//! TensorFlow had.

#![allow(clippy::unwrap_used)] // test helpers, not data paths

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use fastckpt::error::{Error, ImportErrorKind};
use fastckpt::graph::{import_graph_def, Element, Graph, ImportOptions, OpId};
use fastckpt::proto::binary::{decode, encode};
use fastckpt::proto::schema::{ATTR_VALUE, GRAPH_DEF, NODE_DEF, OP_LIST};
use fastckpt::proto::text::print;
use fastckpt::proto::{List, MapKey, Message, Value};

// --- a small JSON reader, enough for the goldens ----------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut p = Parser { s: text.as_bytes(), i: 0 };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing JSON");
        v
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.get(key),
            _ => None,
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn num(&self) -> i64 {
        match self {
            Json::Num(n) if n.fract() == 0.0 && n.abs() < 9e15 => {
                #[allow(clippy::cast_possible_truncation, reason = "an integral value within i64's exact range")]
                let integer = *n as i64;
                integer
            }
            other => panic!("not a number: {other:?}"),
        }
    }

    fn strings(&self) -> Vec<String> {
        self.arr().iter().map(|s| s.str().to_string()).collect()
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Json {
        self.ws();
        let c = self.s[self.i];
        match c {
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.eat("}") {
                    return Json::Obj(m);
                }
                loop {
                    self.ws();
                    let Json::Str(k) = self.value() else { panic!("object key") };
                    self.ws();
                    assert!(self.eat(":"));
                    let v = self.value();
                    m.insert(k, v);
                    self.ws();
                    if self.eat("}") {
                        return Json::Obj(m);
                    }
                    assert!(self.eat(","));
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Json::Arr(a);
                }
                loop {
                    a.push(self.value());
                    self.ws();
                    if self.eat("]") {
                        return Json::Arr(a);
                    }
                    assert!(self.eat(","));
                }
            }
            b'"' => {
                self.i += 1;
                let mut out: Vec<u16> = Vec::new();
                loop {
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b'"' => return Json::Str(String::from_utf16(&out).unwrap()),
                        b'\\' => {
                            let e = self.s[self.i];
                            self.i += 1;
                            let ch = match e {
                                b'n' => '\n' as u16,
                                b't' => '\t' as u16,
                                b'r' => '\r' as u16,
                                b'b' => 8,
                                b'f' => 12,
                                b'u' => {
                                    let hex = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                                    self.i += 4;
                                    u16::from_str_radix(hex, 16).unwrap()
                                }
                                other => u16::from(other),
                            };
                            out.push(ch);
                        }
                        _ => {
                            // Re-decode multi-byte UTF-8 sequences.
                            let start = self.i - 1;
                            let mut end = self.i;
                            while end < self.s.len() && (self.s[end] & 0xC0) == 0x80 {
                                end += 1;
                            }
                            let piece = std::str::from_utf8(&self.s[start..end]).unwrap();
                            out.extend(piece.encode_utf16());
                            self.i = end;
                        }
                    }
                }
            }
            b't' if self.eat("true") => Json::Bool(true),
            b'f' if self.eat("false") => Json::Bool(false),
            b'n' if self.eat("null") => Json::Null,
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                Json::Num(std::str::from_utf8(&self.s[start..self.i]).unwrap().parse().unwrap())
            }
        }
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("base64 {c}"),
        }
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xFF).unwrap());
            acc &= (1 << bits) - 1;
        }
    }
    out
}

// --- replay -----------------------------------------------------------------------------------

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/import")
}

fn load(desc: &'static fastckpt::proto::schema::MessageDesc, name: &str) -> Message {
    let bytes = std::fs::read(data_dir().join(format!("{name}.pb"))).unwrap();
    decode(desc, Bytes::from(bytes)).unwrap()
}

fn describe(g: &Graph, e: &Element) -> String {
    match e {
        Element::Operation(op) => format!("op:{}", g.op(*op).name()),
        Element::Tensor(t) => format!("tensor:{}", g.tensor_name(*t)),
    }
}

fn kind_name(kind: ImportErrorKind) -> &'static str {
    match kind {
        ImportErrorKind::ValueError => "ValueError",
        ImportErrorKind::NotFoundError => "NotFoundError",
        ImportErrorKind::UnimplementedError => "UnimplementedError",
    }
}

/// TensorFlow 2.21 prints the unused input_map keys with dangling name strings: for keys that name
/// a node of the GraphDef it may show an empty or garbled name (`:5`, `rror:5`). Ours names the
/// node; the indices must agree.
fn same_missing_keys(ours: &str, theirs: &str) -> bool {
    let list = |s: &str| -> Option<Vec<String>> {
        let inner = s.strip_prefix("Attempted to map inputs that were not found in graph_def: [")?.strip_suffix(']')?;
        Some(inner.split(", ").map(str::to_string).collect())
    };
    match (list(ours), list(theirs)) {
        (Some(a), Some(b)) => {
            a.len() == b.len()
                && a.iter().zip(&b).all(|(x, y)| {
                    let index = |k: &str| k.rsplit_once(':').map(|(_, i)| i.to_string());
                    x == y || (index(x).is_some() && index(x) == index(y))
                })
        }
        _ => false,
    }
}

fn node_text(bytes: &[u8]) -> String {
    print(&decode(&NODE_DEF, Bytes::copy_from_slice(bytes)).unwrap())
}

fn replay(case: &Json) -> usize {
    let name = case.get("case").unwrap().str();
    let mut g = Graph::new();
    let producer_ops = load(&OP_LIST, "producer_ops");
    let mut before = 0;
    let mut steps = 0;
    for step in case.get("steps").unwrap().arr() {
        let spec = step.get("step").unwrap();
        let expected = step.get("result").unwrap();
        let at = format!("{name} step {steps} {spec:?}");
        let graph_def = load(&GRAPH_DEF, spec.get("graph").unwrap().str());
        let mut options = ImportOptions { host: "<host>".into(), ..ImportOptions::default() };
        options.name = spec.get("name").map(|n| n.str().to_string());
        if let Some(Json::Obj(map)) = spec.get("input_map") {
            for (k, v) in map {
                options.input_map.push((k.clone(), g.tensor_by_name(v.str()).unwrap()));
            }
        }
        options.return_elements = spec.get("return_elements").map(Json::strings);
        if spec.get("producer_op_list").is_some() {
            options.producer_op_list = Some(producer_ops.clone());
        }
        if let Some(d) = spec.get("device") {
            options.device_scopes.push(d.str().to_string());
        }
        let saved = g.name_stack().to_string();
        if let Some(scope) = spec.get("scope") {
            g.name_scope(scope.str()).unwrap();
        }
        let outcome = import_graph_def(&mut g, &graph_def, &options);
        g.set_name_stack(saved);

        match (outcome, expected.get("error")) {
            (Ok(returned), None) => {
                let ours = returned.map(|r| r.iter().map(|e| describe(&g, e)).collect::<Vec<_>>());
                let theirs = match expected.get("returned") {
                    Some(Json::Null) | None => None,
                    Some(r) => Some(r.strings()),
                };
                assert_eq!(ours, theirs, "{at}: returned elements");
            }
            (Err(Error::Import { kind, message }), Some(err)) => {
                let err = err.strings();
                assert_eq!(kind_name(kind), err[0], "{at}: exception type for {message}");
                assert!(
                    message == err[1] || same_missing_keys(&message, &err[1]),
                    "{at}:\n ours   {message}\n theirs {}",
                    err[1]
                );
            }
            (outcome, err) => panic!("{at}: ours {outcome:?}, TensorFlow {err:?}"),
        }

        let snap = expected.get("graph").unwrap();
        let kept = usize::try_from(snap.get("kept").unwrap().num()).unwrap();
        assert_eq!(kept, before.min(kept), "{at}: TensorFlow kept fewer operations than it had");
        let new_ops = snap.get("ops").unwrap().arr();
        assert_eq!(g.len(), kept + new_ops.len(), "{at}: operation count");
        for (i, op) in new_ops.iter().enumerate() {
            let id = OpId(kept + i);
            let theirs = base64(op.get("node_def").unwrap().str());
            let mut ours = g.node_def(id);
            if op.get("experimental_type").is_some() {
                // Recorded without it: TensorFlow computes full types for some ops; we keep the
                // one the GraphDef had (TensorFlow does too).
                ours.clear("experimental_type").unwrap();
            }
            let ours = encode(&ours);
            assert!(
                ours == theirs,
                "{at}: operation {}\n ours:\n{}\n theirs:\n{}",
                id.0,
                node_text(&ours),
                node_text(&theirs)
            );
            let dtypes: Vec<i64> = g.op(id).output_types().iter().map(|t| i64::from(t.0)).collect();
            let want: Vec<i64> = op.get("outputs").unwrap().arr().iter().map(Json::num).collect();
            assert_eq!(dtypes, want, "{at}: output dtypes of {}", g.op(id).name());
            let mut controls: Vec<String> =
                g.op(id).control_inputs().iter().map(|c| g.op(*c).name().to_string()).collect();
            let mut want = op.get("control_inputs").map(Json::strings).unwrap_or_default();
            if g.op(id).inputs().len() + controls.len() > 4 {
                // Past a few incoming edges TensorFlow keeps them in a hash set of pointers: its
                // order is not reproducible, so only the set is compared.
                controls.sort();
                want.sort();
            }
            assert_eq!(controls, want, "{at}: control inputs of {}", g.op(id).name());
        }
        before = g.len();

        let v = snap.get("versions").unwrap().arr();
        let ours = g.versions();
        assert_eq!(
            (
                i64::from(ours.producer),
                i64::from(ours.min_consumer),
                ours.bad_consumers.iter().map(|b| i64::from(*b)).collect::<Vec<_>>()
            ),
            (v[0].num(), v[1].num(), v[2].arr().iter().map(Json::num).collect::<Vec<_>>()),
            "{at}: versions"
        );
        let mut functions: Vec<String> = g.functions().iter().map(|f| f.signature.name.clone()).collect();
        functions.sort();
        assert_eq!(functions, snap.get("functions").unwrap().strings(), "{at}: functions");
        let mut gradients: Vec<Vec<String>> = g.gradients().iter().map(|(f, gr)| vec![f.clone(), gr.clone()]).collect();
        gradients.sort();
        let want: Vec<Vec<String>> = snap.get("gradients").unwrap().arr().iter().map(Json::strings).collect();
        assert_eq!(gradients, want, "{at}: gradients");
        if let Some(Json::Obj(probes)) = snap.get("unique_names") {
            for (probe, want) in probes {
                assert_eq!(g.unique_name(probe, false), want.str(), "{at}: unique_name({probe})");
            }
        }
        steps += 1;
    }
    steps
}

#[test]
fn tensorflow_import_goldens() {
    let text = std::fs::read_to_string(data_dir().join("cases.json")).unwrap();
    let goldens = Json::parse(&text);
    assert_eq!(goldens.get("tensorflow").unwrap().str(), "2.21.0");
    let cases = goldens.get("cases").unwrap().arr();
    let mut steps = 0;
    let mut failed = Vec::new();
    for case in cases {
        match std::panic::catch_unwind(|| replay(case)) {
            Ok(n) => steps += n,
            Err(_) => failed.push(case.get("case").unwrap().str().to_string()),
        }
    }
    assert!(failed.is_empty(), "{} of {} cases differ from TensorFlow: {failed:?}", failed.len(), cases.len());
    assert!(cases.len() >= 50 && steps >= 120, "{} cases, {steps} imports", cases.len());
}

// --- properties TensorFlow's behaviour implies -------------------------------------------------

fn attr_type(t: i32) -> Value {
    let mut a = Message::new(&ATTR_VALUE);
    a.set("type", Value::Enum(t)).unwrap();
    Value::from(a)
}

fn node(name: &str, op: &str, inputs: &[&str]) -> Message {
    let mut n = Message::new(&NODE_DEF);
    n.set("name", name.into()).unwrap();
    n.set("op", op.into()).unwrap();
    n.set("input", Value::List(List::Bytes(inputs.iter().map(|i| Bytes::from(i.to_string())).collect()))).unwrap();
    let t = if op == "Placeholder" { "dtype" } else { "T" };
    if op != "NoOp" {
        n.map_insert("attr", MapKey::from(t), attr_type(1)).unwrap();
    }
    n
}

fn graph_def(nodes: Vec<Message>) -> Message {
    let mut g = Message::new(&GRAPH_DEF);
    g.set("node", Value::List(List::Message(nodes))).unwrap();
    g
}

#[test]
fn failed_import_leaves_the_graph_unchanged() {
    let mut g = Graph::new();
    let ok = graph_def(vec![node("a", "Placeholder", &[]), node("b", "Identity", &["a"])]);
    import_graph_def(&mut g, &ok, &ImportOptions { name: Some(String::new()), ..Default::default() }).unwrap();
    let before = encode(&g.to_graph_def());
    let bad = graph_def(vec![node("a", "Placeholder", &[]), node("c", "Identity", &["a:1"])]);
    let err = import_graph_def(&mut g, &bad, &ImportOptions { name: Some(String::new()), ..Default::default() });
    assert!(matches!(err, Err(Error::Import { kind: ImportErrorKind::ValueError, .. })), "{err:?}");
    assert!(encode(&g.to_graph_def()) == before);
    assert_eq!(g.operation_by_name("a"), Some(OpId(0)));
    assert!(g.operation_by_name("a_1").is_none() && g.tensor_by_name("b:0").is_some());
}

#[test]
fn large_graph_imports_in_linear_time() {
    let n = if cfg!(debug_assertions) { 20_000 } else { 100_000 };
    let mut nodes = vec![node("x", "Placeholder", &[])];
    for i in 1..n {
        let prev = if i == 1 { "x".to_string() } else { format!("layer{}/op", i - 1) };
        nodes.push(node(&format!("layer{i}/op"), "Identity", &[&prev]));
    }
    let bytes = Bytes::from(encode(&graph_def(nodes)));
    let mut g = Graph::new();
    let t = Instant::now();
    let gd = decode(&GRAPH_DEF, bytes.clone()).unwrap();
    let decoded = t.elapsed();
    import_graph_def(&mut g, &gd, &ImportOptions::default()).unwrap();
    let first = t.elapsed() - decoded;
    let t = Instant::now();
    import_graph_def(&mut g, &gd, &ImportOptions { name: Some(String::new()), ..Default::default() }).unwrap();
    let second = t.elapsed();
    let t = Instant::now();
    let out = g.to_graph_def();
    let back = t.elapsed();
    eprintln!(
        "{n} nodes ({} bytes): decode {decoded:?}, import {first:?}, import again with name=\"\" {second:?}, \
         to_graph_def {back:?}",
        bytes.len()
    );
    assert_eq!(g.len(), 2 * n);
    assert_eq!(out.messages("node").len(), 2 * n);
    assert_eq!(g.op(g.operation_by_name(&format!("layer{}/op", n - 1)).unwrap()).inputs()[0].op, OpId(2 * n - 2));
}
