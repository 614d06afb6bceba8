//! The fuzz targets' bodies, one function per target: the input read the way a user's call reads
//! it, then used the way a user uses it (every tensor of a bundle read and verified, every message
//! written back, its tensors decoded, its graph imported).
//!
//! Errors are the expected outcome of hostile input; the targets only look for panics, aborts,
//! hangs, runaway memory, and for codecs that do not read back what they wrote. The engine's
//! tests include this file to replay the seeds and every reproducer of a past finding
//! (`rust/fastckpt/tests/fuzz_regressions.rs`), so it depends on nothing but the engine.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use fastckpt::bundle::{BundleEntry, BundleHeader};
use fastckpt::graph::io::{decode, Format};
use fastckpt::graph::tensor::{tensor_value, Elements};
use fastckpt::graph::{import_graph_def, Graph, ImportOptions};
use fastckpt::proto::binary;
use fastckpt::proto::schema::{GRAPH_DEF, META_GRAPH_DEF, SAVED_MODEL, TENSOR_PROTO};
use fastckpt::proto::{text, List, Message, Value};
use fastckpt::state::{CheckpointState, STATE_FILE};
use fastckpt::table::Table;
use fastckpt::{CheckpointReader, TensorData};

/// A target's body: the input, and a folder for the files it writes (for those that read files).
pub type Target = fn(&[u8], &Path);

/// The targets by name (the names of `fuzz_targets/*.rs` and of the seed folders).
pub const TARGETS: &[(&str, Target)] = &[
    ("index_table", index_table),
    ("bundle", bundle),
    ("graph_def", |data, _| graph_def(data)),
    ("graph_text", |data, _| graph_text(data)),
    ("state_file", state_file),
    ("meta_graph", |data, _| meta_graph(data)),
    ("tensor_proto", |data, _| tensor_proto(data)),
    ("v1", v1),
];

/// The `.index` file: the table read and walked, every key looked up, every value decoded as the
/// bundle's header or entry it would be; then the same bytes opened as a checkpoint without data.
pub fn index_table(data: &[u8], dir: &Path) {
    let path = dir.join("t.index");
    if let Ok(table) = Table::open(&path, data) {
        let mut keys = Vec::new();
        let _ = table.for_each(|key, value| {
            if key.is_empty() {
                let _ = BundleHeader::decode(value);
            } else {
                let _ = BundleEntry::decode(value);
            }
            keys.push(key.to_vec());
            Ok(())
        });
        for key in &keys {
            let _ = table.get(key);
        }
        let _ = table.get(b"no such key");
    }
    std::fs::write(&path, data).expect("write the index");
    read_every_tensor(&dir.join("t"));
}

/// A whole checkpoint: the input is `u32 LE n | n bytes of P.index | P.data-00000-of-00001`;
/// the bundle is opened with verification and every tensor read in every way.
pub fn bundle(data: &[u8], dir: &Path) {
    let (index, shard) = split(data);
    std::fs::write(dir.join("b.index"), index).expect("write the index");
    std::fs::write(dir.join("b.data-00000-of-00001"), shard).expect("write the data file");
    read_every_tensor(&dir.join("b"));
}

/// A legacy V1 (TensorSlice) checkpoint: the input is the one file at the prefix, opened by the
/// reader that tells V1 from V2, with verification, and every tensor read in every way.
pub fn v1(data: &[u8], dir: &Path) {
    let prefix = dir.join("model.ckpt");
    std::fs::write(&prefix, data).expect("write the checkpoint");
    read_every_tensor(&prefix);
}

/// A binary GraphDef (`.pb`): decoded, written back in both formats, its constants decoded,
/// imported into a graph.
pub fn graph_def(data: &[u8]) {
    if let Ok((graph_def, _)) = decode(&GRAPH_DEF, Bytes::copy_from_slice(data), Some(Format::Binary), "input") {
        exercise_message(&graph_def);
        import_graph(&graph_def);
    }
}

/// A GraphDef in the text format (`.pbtxt`), used as [`graph_def`] uses it.
pub fn graph_text(data: &[u8]) {
    if let Ok((graph_def, _)) = decode(&GRAPH_DEF, Bytes::copy_from_slice(data), Some(Format::Text), "input") {
        exercise_message(&graph_def);
        import_graph(&graph_def);
    }
}

/// The `checkpoint` state file, read from a folder as `latest_checkpoint` reads it.
pub fn state_file(data: &[u8], dir: &Path) {
    std::fs::write(dir.join(STATE_FILE), data).expect("write the state file");
    if let Ok(Some(state)) = CheckpointState::read(dir) {
        std::hint::black_box(state.latest(dir));
    }
}

/// A MetaGraphDef (`.meta`) or SavedModel (`saved_model.pb`/`.pbtxt`), told apart by the first
/// byte's low bit; the rest is read as TensorFlow reads these files (binary, else text), written
/// back, and every graph in it imported.
pub fn meta_graph(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else { return };
    let desc = if kind & 1 == 0 { &META_GRAPH_DEF } else { &SAVED_MODEL };
    let Ok((msg, _)) = decode(desc, Bytes::copy_from_slice(rest), None, "input") else { return };
    exercise_message(&msg);
    let meta_graphs = if kind & 1 == 0 { std::slice::from_ref(&msg) } else { msg.messages("meta_graphs") };
    for meta_graph in meta_graphs {
        if let Some(graph_def) = meta_graph.message("graph_def") {
            import_graph(graph_def);
        }
    }
}

/// A binary TensorProto decoded to its elements (`tf.make_ndarray`), and written back.
pub fn tensor_proto(data: &[u8]) {
    if let Ok(tensor) = binary::decode(&TENSOR_PROTO, Bytes::copy_from_slice(data)) {
        exercise_message(&tensor);
    }
}

/// The fill rule of a `TensorProto` (one value repeated to the shape's size) may expand a few
/// bytes to this many. Users choose the cap (2 GiB by default); the targets keep it well under
/// libFuzzer's memory limit.
pub const MAX_FILL_BYTES: u64 = 64 << 20;

/// A folder of this process for the files targets write: `$TMPDIR/fastckpt-fuzz-<pid>`
/// (`scripts/fuzz.sh` points `TMPDIR` at a folder it removes afterwards).
pub fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fastckpt-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch folder");
        dir
    })
}

/// Splits `data` in two at the position its first four bytes (little-endian, clamped) give.
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<4>() else { return (data, &[]) };
    let at = (u32::from_le_bytes(*len) as usize).min(rest.len());
    rest.split_at(at)
}

/// Opens the checkpoint at `prefix` (V2 bundle or V1 file) with verification and reads every
/// tensor the ways the Python API does: listed, shape and size asked, viewed, copied, read into a
/// buffer of its size, one by one and all at once.
fn read_every_tensor(prefix: &Path) {
    let Ok(reader) = CheckpointReader::open(prefix, true) else { return };
    let names: Vec<Vec<u8>> = reader.names().map(<[u8]>::to_vec).collect();
    for name in &names {
        let _ = reader.dtype_and_shape(name);
        if let Ok(tensor) = reader.tensor(name) {
            touch(&tensor.data);
        }
        if let Ok(tensor) = reader.tensor_owned(name) {
            touch(&tensor.data);
        }
        if let Ok(Some(size)) = reader.byte_size(name) {
            let mut out = vec![0u8; size];
            let _ = reader.read_into(name, &mut out);
        }
    }
    for tensor in reader.tensors(&names, false).into_iter().flatten() {
        touch(&tensor.data);
    }
    let sized: Vec<(&[u8], usize)> =
        names.iter().filter_map(|n| Some((n.as_slice(), reader.byte_size(n).ok()??))).collect();
    let mut buffers: Vec<Vec<u8>> = sized.iter().map(|&(_, size)| vec![0u8; size]).collect();
    let mut reads: Vec<(&[u8], &mut [u8])> =
        sized.iter().zip(&mut buffers).map(|(&(n, _), b)| (n, &mut b[..])).collect();
    let _ = reader.read_into_many(&mut reads);
    if let CheckpointReader::V2(bundle) = &reader {
        let raw: Vec<Vec<u8>> = bundle.raw_entries().map(|(k, _)| k.to_vec()).collect();
        for key in &raw {
            let _ = bundle.tensor(key);
        }
    }
}

/// Reads every byte handed out, so that a range past a mapping's end would fault here.
fn touch(data: &TensorData) {
    let sum = match data {
        TensorData::Elements(elements) => elements.iter().flatten().fold(0u8, |a, b| a ^ b),
        _ => data.bytes().unwrap_or(&[]).iter().fold(0u8, |a, b| a ^ b),
    };
    std::hint::black_box(sum);
}

/// What a user does with a message read from a file: prints it, writes it back (both formats
/// must read back to the same message) and decodes every `TensorProto` in it.
fn exercise_message(msg: &Message) {
    let encoded = binary::encode(msg);
    let again = binary::decode(msg.desc(), Bytes::from(encoded.clone()))
        .unwrap_or_else(|e| panic!("binary written by the encoder does not read back: {e}"));
    assert!(binary::encode(&again) == encoded, "binary round trip changed the message");

    // A proto2 `string` field (GraphDebugInfo's) may hold bytes that are not UTF-8: the binary
    // decoder keeps them and the printer escapes them, as protobuf does, but the text parser
    // refuses them, as protobuf's does. Any other failure to read printed text back is a bug.
    let printed = text::print(msg);
    match text::parse(msg.desc(), printed.as_bytes()) {
        Ok(reparsed) => assert!(text::print(&reparsed) == printed, "text round trip changed the message"),
        Err(e) if e.message.contains("not valid UTF-8") => {}
        Err(e) => panic!("text written by the printer does not parse: {e}\n{printed}"),
    }

    each_tensor_proto(msg, &mut |t| {
        if let Ok(value) = tensor_value(t, MAX_FILL_BYTES) {
            let sum = match &value.elements {
                Elements::Shared(b) => b.iter().fold(0u8, |a, b| a ^ b),
                Elements::Owned(v) => v.iter().fold(0u8, |a, b| a ^ b),
                Elements::Strings { values, len } => values.iter().flatten().fold(len.to_le_bytes()[0], |a, b| a ^ b),
            };
            std::hint::black_box(sum);
        }
    });
}

/// Calls `f` on every `TensorProto` nested anywhere in `msg` (fields, lists, map values).
fn each_tensor_proto(msg: &Message, f: &mut dyn FnMut(&Message)) {
    if msg.desc() == &TENSOR_PROTO {
        f(msg);
    }
    let mut visit = |value: &Value| match value {
        Value::Message(m) => each_tensor_proto(m, f),
        Value::List(List::Message(list)) => list.iter().for_each(|m| each_tensor_proto(m, f)),
        _ => {}
    };
    for (_, value) in msg.fields() {
        match value {
            Value::Map(map) => map.values().for_each(&mut visit),
            other => visit(other),
        }
    }
}

/// Imports a GraphDef into an empty graph as `tf.import_graph_def` does and writes the graph back.
fn import_graph(graph_def: &Message) {
    let mut graph = Graph::new();
    if import_graph_def(&mut graph, graph_def, &ImportOptions::default()).is_ok() {
        let back = graph.to_graph_def();
        std::hint::black_box(binary::encode(&back));
    }
}
