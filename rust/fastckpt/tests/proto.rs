//! The schema-driven protobuf layer against bytes and text that TensorFlow 2.21 wrote
//! (`tests/data/proto/`, made by `tests/data/make_proto_goldens.py`), the golden vectors of
//! spec/protos.md, lenient and hostile inputs, and random round trips.

#![allow(clippy::unwrap_used)] // test helpers, not data paths

use bytes::Bytes;
use fastckpt::proto::binary::{self, decode, encode, encode_to, encode_with, encoded_len, MapOrder};
use fastckpt::proto::schema::{self, find_message, Kind, Label, MessageDesc, MESSAGES};
use fastckpt::proto::text::{self, parse, print, print_with, PrintOptions};
use fastckpt::proto::{List, MapKey, Message, Value};
use proptest::prelude::*;
use std::path::PathBuf;

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/proto").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const GOLDENS: &[&str] = &["consts_graph", "functions_graph", "meta_graph", "saved_model", "specials", "any_and_maps"];

fn golden_type(name: &str) -> &'static MessageDesc {
    let type_name = String::from_utf8(data(&format!("{name}.type"))).unwrap();
    find_message(type_name.trim()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn tensorflow_bytes_encode_back_identically() {
    for name in GOLDENS {
        let pb = data(&format!("{name}.pb"));
        let msg = decode(golden_type(name), Bytes::from(pb.clone())).unwrap();
        assert!(msg.unknown().is_empty(), "{name}: every field is described");
        assert_eq!(encoded_len(&msg), pb.len(), "{name}");
        let ours = encode(&msg);
        let at = ours.iter().zip(&pb).position(|(a, b)| a != b);
        assert!(ours == pb, "{name}: re-encoding differs at {at:?}");
        let mut streamed = Vec::new();
        encode_to(&msg, MapOrder::TensorFlow, &mut streamed).unwrap();
        assert!(streamed == pb, "{name}: streamed encoding differs");
    }
}

#[test]
fn text_output_matches_tensorflow() {
    for name in GOLDENS {
        let msg = decode(golden_type(name), Bytes::from(data(&format!("{name}.pb")))).unwrap();
        let ours = print(&msg);
        let theirs = String::from_utf8(data(&format!("{name}.pbtxt"))).unwrap();
        if ours != theirs {
            let line = ours.lines().zip(theirs.lines()).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "{name}: line {}: ours {:?} theirs {:?}",
                line + 1,
                ours.lines().nth(line),
                theirs.lines().nth(line)
            );
        }
    }
}

#[test]
fn tensorflow_text_parses_to_the_binary_message() {
    for name in GOLDENS {
        let desc = golden_type(name);
        let pb = data(&format!("{name}.pb"));
        let from_text = parse(desc, &data(&format!("{name}.pbtxt"))).unwrap();
        same_bytes(name, &encode(&from_text), &pb);
        assert!(from_text == decode(desc, Bytes::from(pb)).unwrap(), "{name}");
    }
}

#[test]
fn general_grammar_parses_as_python_parses_it() {
    for (name, desc) in [("grammar", &schema::GRAPH_DEF), ("any", &schema::META_GRAPH_DEF)] {
        let msg = parse(desc, &data(&format!("{name}.pbtxt"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let theirs = data(&format!("{name}.pb"));
        same_bytes(name, &encode(&msg), &theirs);
        assert!(msg == decode(desc, Bytes::from(theirs)).unwrap(), "{name}");
    }
}

/// Asserts equal bytes, naming the first difference.
fn same_bytes(name: &str, ours: &[u8], theirs: &[u8]) {
    if ours != theirs {
        let at = ours.iter().zip(theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
        let show = |b: &[u8]| format!("{:02x?}", &b[at.saturating_sub(8)..(at + 16).min(b.len())]);
        panic!(
            "{name}: bytes differ at {at} (lengths {} vs {}): ours {} theirs {}",
            ours.len(),
            theirs.len(),
            show(ours),
            show(theirs)
        );
    }
}

#[test]
fn spec_golden_bytes() {
    // attr {"": {}}: both key and value written although default.
    let mut node = Message::new(&schema::NODE_DEF);
    node.map_insert("attr", "".into(), Message::new(&schema::ATTR_VALUE).into()).unwrap();
    assert_eq!(encode(&node), hex("2A 04 0A 00 12 00"));
    // A oneof member at zero is written.
    let mut attr = Message::new(&schema::ATTR_VALUE);
    attr.set("i", Value::I64(0)).unwrap();
    assert_eq!(encode(&attr), hex("18 00"));
    // A set message is written even when empty; proto3 scalars at zero are not.
    let mut tensor = Message::new(&schema::TENSOR_PROTO);
    tensor.set("dtype", Value::Enum(1)).unwrap();
    tensor.message_mut("tensor_shape").unwrap();
    tensor.set("version_number", Value::I32(0)).unwrap();
    tensor.set("float_val", Value::List(List::F32(vec![1.0, 2.0]))).unwrap();
    assert_eq!(encode(&tensor), hex("08 01 12 00 2A 08 0000803F 00000040"));
    // has_checkpoint_values {value: true}.
    let mut object = Message::new(&schema::TRACKABLE_OBJECT);
    object.message_mut("has_checkpoint_values").unwrap().set("value", Value::Bool(true)).unwrap();
    assert_eq!(encode(&object), hex("2A 02 08 01"));
    // Negative int32, int64 and enum values take ten bytes; sint64 is zig-zag.
    let mut dim = Message::new(&schema::TENSOR_SHAPE_PROTO_DIM);
    dim.set("size", Value::I64(-1)).unwrap();
    assert_eq!(encode(&dim), hex("08 FFFFFFFFFFFFFFFFFF01"));
    let mut version = Message::new(&schema::VERSION_DEF);
    version.set("producer", Value::I32(-2)).unwrap();
    version.set("bad_consumers", Value::List(List::I32(vec![-1, 3]))).unwrap();
    assert_eq!(encode(&version), hex("08 FEFFFFFFFFFFFFFFFF01 1A 0B FFFFFFFFFFFFFFFFFF01 03"));
    let mut sv = Message::new(&schema::STRUCTURED_VALUE);
    sv.set("int64_value", Value::I64(-3)).unwrap();
    assert_eq!(encode(&sv), hex("60 05"));
    // Extent.length is a oneof member: present at zero.
    let mut extent = Message::new(&schema::TENSOR_SLICE_PROTO_EXTENT);
    extent.set("length", Value::I64(0)).unwrap();
    assert_eq!(encode(&extent), hex("10 00"));
    // BundleEntryProto.crc32c is fixed32.
    let mut entry = Message::new(&schema::BUNDLE_ENTRY_PROTO);
    entry.set("crc32c", Value::U32(0x01020304)).unwrap();
    assert_eq!(encode(&entry), hex("35 04030201"));
}

#[test]
fn maps_keep_their_order_and_write_in_tensorflow_order() {
    let mut f = Message::new(&schema::FUNCTION_DEF);
    for k in [7u64, 0, u64::from(u32::MAX), 300] {
        f.map_insert("resource_arg_unique_id", MapKey::U64(k), Value::U32(0)).unwrap();
    }
    for k in ["b", "", "a", "ab"] {
        f.map_insert("ret", k.into(), "".into()).unwrap();
    }
    let keys = |m: &Message, name: &str| m.map(name).unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&f, "ret"), ["b", "", "a", "ab"].map(MapKey::from), "insertion order");
    // TensorFlow 2.21 (Python protobuf) writes numbers descending, strings by bytes with longer
    // keys before their prefixes.
    let back = decode(&schema::FUNCTION_DEF, Bytes::from(encode(&f))).unwrap();
    assert_eq!(keys(&back, "ret"), ["ab", "a", "b", ""].map(MapKey::from));
    assert_eq!(keys(&back, "resource_arg_unique_id"), [u64::from(u32::MAX), 300, 7, 0].map(MapKey::U64));
    // The first entry, key "ab": key and value both written.
    assert_eq!(&encode(&f)[..8], &hex("22 06 0A 02 61 62 12 00")[..]);
    // Stored order writes entries as read or inserted.
    let stored = encode_with(&f, MapOrder::Stored);
    assert_eq!(keys(&decode(&schema::FUNCTION_DEF, Bytes::from(stored.clone())).unwrap(), "ret"), keys(&f, "ret"));
    assert_eq!(
        encode_with(&decode(&schema::FUNCTION_DEF, Bytes::from(stored.clone())).unwrap(), MapOrder::Stored),
        stored
    );
    // The text format sorts keys ascending.
    let text = print(&f);
    let ret_keys: Vec<_> = text.lines().filter(|l| l.starts_with("  key: \"")).collect();
    assert_eq!(ret_keys, ["  key: \"a\"", "  key: \"ab\"", "  key: \"b\""]);
    assert!(f.map_insert("resource_arg_unique_id", MapKey::U64(1 << 32), Value::U32(0)).is_err());
}

#[test]
fn lenient_parsing() {
    let v = |b: &str| decode(&schema::VERSION_DEF, Bytes::from(hex(b))).unwrap();
    // Unpacked, packed, and several packed records mixed.
    let version = v("18 01 1A 02 02 03 18 04 1A 01 05");
    assert_eq!(version.list("bad_consumers"), Some(&List::I32(vec![1, 2, 3, 4, 5])));
    // Last value of a scalar wins; it is written back packed and once.
    let version = v("08 01 08 02");
    assert_eq!(version.int("producer"), 2);
    assert_eq!(encode(&version), hex("08 02"));
    // A singular message given twice merges.
    let tensor = decode(&schema::TENSOR_PROTO, Bytes::from(hex("12 04 12 02 08 03  12 02 18 01"))).unwrap();
    let shape = tensor.message("tensor_shape").unwrap();
    assert_eq!(shape.messages("dim").len(), 1);
    assert!(shape.bool("unknown_rank"));
    // The last oneof member wins.
    let attr = decode(&schema::ATTR_VALUE, Bytes::from(hex("18 05 25 0000803F"))).unwrap();
    assert_eq!(attr.which_oneof("value").unwrap().name, "f");
    assert_eq!(encode(&attr), hex("25 0000803F"));
    // Map entries without key, without value, empty, and a duplicate key (last wins).
    let node =
        decode(&schema::NODE_DEF, Bytes::from(hex("2A 00  2A 04 12 02 18 01  2A 03 0A 01 61  2A 05 0A 01 61 12 00")))
            .unwrap();
    let attrs = node.map("attr").unwrap();
    assert_eq!(attrs.len(), 2);
    assert_eq!(
        attrs.get(&"".into()),
        Some(&Value::from(decode(&schema::ATTR_VALUE, Bytes::from(hex("18 01"))).unwrap()))
    );
    assert_eq!(attrs.get(&"a".into()), Some(&Value::from(Message::new(&schema::ATTR_VALUE))));
    // A known field with the wrong wire type is kept as unknown, and written back.
    let node = decode(&schema::NODE_DEF, Bytes::from(hex("0A 01 61 10 05"))).unwrap();
    assert_eq!(node.str("op").unwrap(), "");
    assert_eq!(node.unknown(), &[Bytes::from(hex("10 05"))]);
    assert_eq!(encode(&node), hex("0A 01 61 10 05"));
    // Unknown groups are kept whole.
    let node = decode(&schema::NODE_DEF, Bytes::from(hex("0A 01 61 83 01 08 01 84 01"))).unwrap();
    assert_eq!(encode(&node), hex("0A 01 61 83 01 08 01 84 01"));
}

#[test]
fn unknown_fields_survive_and_print_like_python() {
    // Fields 15, 83, 100 and 12 are not NodeDef's; Python prints them by number when asked.
    let bytes = hex("0a0161 7805 9a0503616263 a006ff01 62020801");
    let node = decode(&schema::NODE_DEF, Bytes::from(bytes.clone())).unwrap();
    assert_eq!(node.unknown().len(), 4);
    assert_eq!(encode(&node), bytes);
    assert_eq!(print(&node), "name: \"a\"\n");
    let options = PrintOptions { unknown_fields: true, ..Default::default() };
    assert_eq!(print_with(&node, options), "name: \"a\"\n15: 5\n83: \"abc\"\n100: 255\n12 {\n  1: 1\n}\n");
    // Unknown fields sit after the known ones, whatever the input order.
    let node = decode(&schema::NODE_DEF, Bytes::from(hex("7805 0a0161"))).unwrap();
    assert_eq!(encode(&node), hex("0a0161 7805"));
}

#[test]
fn strings_are_slices_of_a_mapped_file() {
    let mut tensor = Message::new(&schema::TENSOR_PROTO);
    tensor.set("tensor_content", Value::Bytes(Bytes::from(vec![7u8; 1 << 20]))).unwrap();
    let path = std::env::temp_dir().join(format!("fastckpt-proto-{}.pb", std::process::id()));
    std::fs::write(&path, encode(&tensor)).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: the file is private to this test and not modified while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let range = map.as_ptr() as usize..map.as_ptr() as usize + map.len();
    let back = decode(&schema::TENSOR_PROTO, Bytes::from_owner(map)).unwrap();
    std::fs::remove_file(&path).unwrap();
    let content = back.bytes("tensor_content");
    assert!(range.contains(&(content.as_ptr() as usize)), "tensor_content was copied");
    assert_eq!(content.len(), 1 << 20);
}

#[test]
fn hostile_inputs_fail_cleanly() {
    let cases: &[&str] = &[
        "0A",                        // tag without payload
        "0A 05 61",                  // length past the end
        "0A FFFFFFFFFFFFFFFFFF01",   // absurd length
        "0A FFFFFFFFFFFFFFFFFFFF01", // varint longer than ten bytes
        "00 01",                     // field number 0
        "0F",                        // wire type 7
        "0C",                        // end group without start
        "0B 08 01",                  // group without end
        "0B 14",                     // group closed by another number
        "FFFFFFFF7F 00",             // field number beyond 2^29
        "2A 03 0A 05 61",            // map entry whose key runs past the entry
    ];
    for case in cases {
        let r = decode(&schema::NODE_DEF, Bytes::from(hex(case)));
        assert!(r.is_err(), "{case} decoded");
    }
    let e = decode(&schema::TENSOR_PROTO, Bytes::from(hex("2A 03 00 00 00"))).unwrap_err();
    assert!(e.to_string().contains("float_val"), "{e}");
    let e = decode(&schema::TENSOR_PROTO, Bytes::from(hex("3A 02 80 80"))).unwrap_err();
    assert!(e.to_string().contains("int_val"), "{e}");
    // Nesting deeper than the limit is refused without exhausting the stack.
    assert!(decode(&schema::FULL_TYPE_DEF, Bytes::from(nested(binary::MAX_DEPTH))).is_ok());
    let e = decode(&schema::FULL_TYPE_DEF, Bytes::from(nested(binary::MAX_DEPTH + 1))).unwrap_err();
    assert!(e.what.contains("deep"), "{e}");
    let e = decode(&schema::FULL_TYPE_DEF, Bytes::from(nested(100_000))).unwrap_err();
    assert!(e.what.contains("deep"), "{e}");
    // An Any holding an Any holding an Any...: each decodes on its own, printing stops expanding.
    let mut any = Message::new(&schema::ANY);
    for _ in 0..2000 {
        let mut outer = Message::new(&schema::ANY);
        outer.set("type_url", "type.googleapis.com/google.protobuf.Any".into()).unwrap();
        outer.set("value", Value::Bytes(encode(&any).into())).unwrap();
        any = outer;
    }
    let text = print(&any);
    assert!(text.contains("[type.googleapis.com/google.protobuf.Any] {") && text.contains("value: \""));
    let e = text::parse(&schema::FULL_TYPE_DEF, "args {".repeat(10_000).as_bytes()).unwrap_err();
    assert!(e.message.contains("deep"), "{e}");
}

/// Found by fuzzing (meta_graph target): an `Any` whose type URL names a known type but holds
/// characters outside the text grammar (a space, a quote, a byte that is not UTF-8, an empty
/// prefix) was printed expanded, `[<url>] { … }`, which no text parser reads back. Those print
/// as plain fields instead; well-formed URLs still print expanded, as TensorFlow prints them.
#[test]
fn any_text_always_parses_back() {
    let mut tensor = Message::new(&schema::TENSOR_PROTO);
    tensor.set("dtype", Value::Enum(3)).unwrap();
    let urls: &[&[u8]] = &[
        b"type.googleapis.com/tensorflow.TensorProto",
        b"type .googleapis.com/tensorflow.TensorProto",
        b"type\"x.com/tensorflow.TensorProto",
        b"type\xd2\x98.com/tensorflow.TensorProto",
        b"/tensorflow.TensorProto",
        b"//x/tensorflow.TensorProto",
    ];
    for (i, url) in urls.iter().enumerate() {
        let mut any = Message::new(&schema::ANY);
        any.set("type_url", Value::Bytes(Bytes::copy_from_slice(url))).unwrap();
        any.set("value", Value::Bytes(encode(&tensor).into())).unwrap();
        let text = print(&any);
        assert_eq!(text.starts_with('['), i == 0, "{text}");
        let back = parse(&schema::ANY, text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.bytes("type_url"), *url, "{text}");
        assert_eq!(print(&back), text);
    }
}

/// `levels` FullTypeDefs each inside the `args` of the one before.
fn nested(levels: usize) -> Vec<u8> {
    let mut lens = vec![0usize];
    for _ in 0..levels {
        let inner = *lens.last().unwrap();
        let mut header = Vec::new();
        fastckpt::varint::put_varint(&mut header, inner as u64);
        lens.push(inner + 1 + header.len());
    }
    let mut out = Vec::new();
    for inner in lens[..levels].iter().rev() {
        out.push(0x12);
        fastckpt::varint::put_varint(&mut out, *inner as u64);
    }
    out
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for desc in MESSAGES {
            if let Ok(msg) = decode(desc, Bytes::from(bytes.clone())) {
                let again = decode(desc, Bytes::from(encode(&msg))).unwrap();
                prop_assert_eq!(&again, &msg);
                let _ = print(&msg);
            }
        }
    }

    #[test]
    fn mutated_tensorflow_bytes_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut pb = data("functions_graph.pb");
        for (at, byte) in flips {
            let n = pb.len();
            pb[at % n] = byte;
        }
        if let Ok(msg) = decode(&schema::GRAPH_DEF, Bytes::from(pb)) {
            let again = decode(&schema::GRAPH_DEF, Bytes::from(encode(&msg))).unwrap();
            prop_assert_eq!(&again, &msg);
            let text = print(&msg);
            // Only a proto2 string (in debug_info) can hold non-UTF-8 bytes; printed, they are
            // refused by the text parser, as by Python's.
            if let Err(e) = parse(&schema::GRAPH_DEF, text.as_bytes()) {
                prop_assert!(e.message.contains("not valid UTF-8"), "{}", e);
            }
        }
    }

    #[test]
    fn random_text_never_panics(text in "[ -~\n]{0,120}") {
        let _ = parse(&schema::GRAPH_DEF, text.as_bytes());
        let _ = parse(&schema::META_GRAPH_DEF, text.as_bytes());
    }

    #[test]
    fn random_messages_round_trip(seed in any::<u64>()) {
        for desc in [&schema::GRAPH_DEF, &schema::META_GRAPH_DEF, &schema::SAVED_MODEL, &schema::TENSOR_PROTO] {
            let msg = random_message(desc, &mut Rng(seed | 1), 0);
            let bytes = encode(&msg);
            prop_assert_eq!(bytes.len(), encoded_len(&msg));
            let back = decode(desc, Bytes::from(bytes.clone())).unwrap();
            prop_assert_eq!(&back, &msg);
            prop_assert_eq!(encode(&back), bytes);
            let text = print(&msg);
            let parsed = parse(desc, text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(&parsed, &msg);
        }
    }
}

/// xorshift: random messages without pulling the generator through proptest strategies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The low 32 bits of random bits.
fn low32(v: u64) -> u32 {
    u32::try_from(v & 0xFFFF_FFFF).unwrap()
}

fn random_elem(kind: Kind, rng: &mut Rng, depth: usize) -> Value {
    let wide = |rng: &mut Rng| match rng.below(4) {
        0 => 0,
        1 => rng.below(300),
        2 => rng.next(),
        _ => rng.next() | (1 << 63),
    };
    match kind {
        Kind::Int32 => Value::I32(low32(wide(rng)) as i32),
        Kind::Int64 | Kind::Sint64 => Value::I64(wide(rng) as i64),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(low32(wide(rng))),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(wide(rng)),
        Kind::Bool => Value::Bool(rng.below(2) == 1),
        Kind::Float => {
            let v = f32::from_bits(low32(rng.next()));
            Value::F32(if v.is_nan() { f32::NAN } else { v })
        }
        Kind::Double => {
            let v = f64::from_bits(rng.next());
            Value::F64(if v.is_nan() { f64::NAN } else { v })
        }
        Kind::Enum(e) => Value::Enum(match rng.below(3) {
            0 => e.values[usize::try_from(rng.below(e.values.len() as u64)).unwrap()].1,
            1 => low32(wide(rng)) as i32,
            _ => 0,
        }),
        Kind::String => {
            // Whole characters: a string that is not UTF-8 is not a valid proto3 message.
            let n = usize::try_from(rng.below(6)).unwrap();
            let pool = ["a", "z", "\0", "\n", "\"", "'", "\\", "\x7f", "é", "✓", " "];
            let text: String = (0..n).map(|_| pool[usize::try_from(rng.below(pool.len() as u64)).unwrap()]).collect();
            Value::Bytes(text.into_bytes().into())
        }
        Kind::Bytes => {
            let n = usize::try_from(rng.below(6)).unwrap();
            let pool: &[u8] = b"az\0\n\"'\\\x7f\xc3\xa9\xff ";
            Value::Bytes(
                (0..n).map(|_| pool[usize::try_from(rng.below(pool.len() as u64)).unwrap()]).collect::<Vec<_>>().into(),
            )
        }
        Kind::Message(desc) => Value::from(random_message(desc, rng, depth + 1)),
    }
}

fn random_message(desc: &'static MessageDesc, rng: &mut Rng, depth: usize) -> Message {
    let mut msg = Message::new(desc);
    if depth > 5 {
        return msg;
    }
    for field in desc.fields {
        if rng.below(3) == 0 {
            continue;
        }
        let count = rng.below(3);
        match field.label {
            Label::Singular => msg.set(field.name, random_elem(field.kind, rng, depth)).unwrap(),
            Label::Repeated => {
                msg.get_mut(field.name).unwrap();
                for _ in 0..count {
                    msg.push(field.name, random_elem(field.kind, rng, depth)).unwrap();
                }
            }
            Label::Map(key_kind) => {
                for _ in 0..count {
                    let key = MapKey::from_value(random_elem(key_kind, rng, depth)).unwrap();
                    msg.map_insert(field.name, key, random_elem(field.kind, rng, depth)).unwrap();
                }
            }
        }
    }
    msg
}
