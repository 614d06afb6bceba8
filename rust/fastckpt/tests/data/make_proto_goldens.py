"""Writes the protobuf goldens that rust/fastckpt/tests/proto.rs checks, using TensorFlow 2.21.

Run from anywhere: python3 rust/fastckpt/tests/data/make_proto_goldens.py
Outputs (beside this script, under proto/):
  tf_schema.txt       every field of every message the engine describes, from TF's compiled descriptors
  NAME.pb / NAME.pbtxt  a message serialized deterministically / printed by text_format.MessageToString
  NAME.type           the message's full type name
  grammar.pbtxt + grammar.pb  hand-written text in the general grammar, and what Python parses it to
"""

import os
import random
import struct

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import any_pb2, text_format  # noqa: E402
from google.protobuf import descriptor as D  # noqa: E402
from tensorflow.core.framework import graph_pb2, node_def_pb2, op_def_pb2, tensor_pb2, types_pb2  # noqa: E402
from tensorflow.core.framework import variable_pb2  # noqa: E402
from tensorflow.core.protobuf import fingerprint_pb2, meta_graph_pb2, saved_model_pb2  # noqa: E402
from tensorflow.core.protobuf import saver_pb2, tensor_bundle_pb2, trackable_object_graph_pb2  # noqa: E402
from tensorflow.core.util import saved_tensor_slice_pb2  # noqa: E402
from tensorflow.python.training import checkpoint_state_pb2  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "proto")


def write(name, msg):
    with open(os.path.join(OUT, name + ".pb"), "wb") as f:
        f.write(msg.SerializeToString(deterministic=True))
    with open(os.path.join(OUT, name + ".pbtxt"), "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(msg))
    with open(os.path.join(OUT, name + ".type"), "w") as f:
        f.write(msg.DESCRIPTOR.full_name + "\n")


def schema():
    """One line per field, in the format the Rust schema test renders."""
    roots = [
        saved_model_pb2.SavedModel, meta_graph_pb2.MetaGraphDef, graph_pb2.GraphDef, op_def_pb2.OpList,
        tensor_bundle_pb2.BundleHeaderProto, tensor_bundle_pb2.BundleEntryProto,
        checkpoint_state_pb2.CheckpointState, trackable_object_graph_pb2.TrackableObjectGraph,
        fingerprint_pb2.FingerprintDef, saver_pb2.SaverDef, variable_pb2.VariableDef,
        saved_tensor_slice_pb2.SavedTensorSlices, types_pb2.SerializedDType,
    ]
    kinds = {v: k[5:].lower() for k, v in vars(D.FieldDescriptor).items() if k.startswith("TYPE_")}
    messages, enums = {}, {}

    def visit(d):
        if d.full_name in messages:
            return
        messages[d.full_name] = d
        for f in d.fields:
            if f.message_type:
                visit(f.message_type)
            if f.enum_type:
                enums[f.enum_type.full_name] = f.enum_type

    for r in roots:
        visit(r.DESCRIPTOR)

    def type_name(f):
        if f.message_type:
            return f.message_type.full_name
        if f.enum_type:
            return f.enum_type.full_name
        return kinds[f.type]

    lines = []
    for name in sorted(messages):
        d = messages[name]
        if d.GetOptions().map_entry:
            continue
        lines.append(f"message {name}")
        for f in sorted(d.fields, key=lambda f: f.number):
            entry = f.message_type
            if entry is not None and entry.GetOptions().map_entry:
                k, v = entry.fields_by_name["key"], entry.fields_by_name["value"]
                label = " optional" if k.has_presence else ""
                lines.append(f"  {f.number} {f.name} map<{type_name(k)},{type_name(v)}>{label}")
                continue
            label = ""
            if f.is_repeated:
                label = " repeated"
            elif f.containing_oneof is not None:
                label = f" oneof {f.containing_oneof.name}"
            elif f.has_presence and f.message_type is None:
                label = " optional"
            lines.append(f"  {f.number} {f.name} {type_name(f)}{label}")
    for name in sorted(enums):
        values = sorted(enums[name].values, key=lambda v: v.number)
        lines.append(f"enum {name} " + " ".join(f"{v.name}={v.number}" for v in values))
    with open(os.path.join(HERE, "tf_schema.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def consts_graph():
    g = tf.Graph()
    with g.as_default():
        with tf.device("/job:worker/replica:0/task:1/device:CPU:0"):
            a = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3), name="a")
        b = tf.constant(1.5, name="b")
        tf.constant(np.array([1.0, -2.5e-300, np.inf], dtype=np.float64), name="f64")
        tf.constant(np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32), name="i32")
        tf.constant(np.array([-(2**63), 7], dtype=np.int64), name="i64")
        tf.constant(np.array([0, 255, 7], dtype=np.uint8), name="u8")
        tf.constant([True, False, True], name="bools")
        tf.constant([b"hello", b"\x00\xff\n'\"", "héllo ☃".encode()], name="strings")
        tf.constant(np.array([1 + 2j, -3.5j], dtype=np.complex64), name="c64")
        tf.constant(np.array([1.0, 0.1, 65504], dtype=np.float16), name="f16")
        tf.constant(np.array([1.0, -0.5], dtype=tf.bfloat16.as_numpy_dtype), name="bf16")
        tf.constant(np.zeros((0, 3), dtype=np.float32), name="empty")
        tf.constant(-7, dtype=tf.int32, shape=[2, 2], name="filled")
        p = tf.compat.v1.placeholder(tf.float32, shape=[None, 3], name="p")
        with tf.control_dependencies([b]):
            c = tf.add(a, p, name="sum")
        tf.identity(c, name="out")
        tf.compat.v1.placeholder_with_default(np.float32(-0.0), shape=[], name="negzero")
        tf.compat.v1.Variable([1.0, 2.0], name="v", use_resource=False)
    return g.as_graph_def(add_shapes=True)


def functions_graph():
    @tf.function
    def f(x, n):
        y = tf.cond(x > 0, lambda: x * 2.0, lambda: x - 1.0)
        _, y = tf.while_loop(lambda i, v: i < n, lambda i, v: (i + 1, v * 0.5 + 0.1), [tf.constant(0), y])
        return y

    cf = f.get_concrete_function(tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32))
    return cf.graph.as_graph_def()


def meta_graph():
    g = tf.Graph()
    with g.as_default():
        v = tf.compat.v1.get_variable("w", shape=[3, 2], initializer=tf.compat.v1.zeros_initializer())
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        tf.matmul(x, v, name="y")
        tf.compat.v1.train.get_or_create_global_step()
        tf.compat.v1.add_to_collection("floats", 0.25)
        tf.compat.v1.add_to_collection("ints", 42)
        tf.compat.v1.train.Saver(max_to_keep=3, keep_checkpoint_every_n_hours=0.5)
        return tf.compat.v1.train.export_meta_graph(graph=g)


def saved_model():
    class M(tf.Module):
        def __init__(self):
            super().__init__()
            self.v = tf.Variable([[1.0, 2.0]], name="kernel")

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="inp")])
        def __call__(self, x):
            return {"y": x * self.v}

    m = M()
    path = os.path.join("/tmp", "fastckpt_golden_saved_model")
    tf.saved_model.save(m, path)
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        raw = f.read()
    sm.ParseFromString(raw)
    assert sm.SerializeToString(deterministic=True) == raw, "saved_model.pb is deterministic"
    return sm


def specials():
    """Numbers and strings whose text form is easy to get wrong."""
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, version_number=-5)
    specials_f = [1.0, 0.1, 1e-7, 1e20, float("inf"), float("-inf"), float("nan"), -0.0, 0.0, 3.4028235e38,
                  1.17549435e-38, 1e-45, 123456789.0, 0.3, 16777216.0, 1e16, 1e15, 1.5e-5, 0.0001, 2.5, 1e-5]
    rng = random.Random(7)
    # NaN payloads do not survive the text format (Python's neither): random bits skip them.
    randoms = [struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0] for _ in range(250)]
    randoms = [v for v in randoms if v == v]
    randoms += [rng.uniform(-1000, 1000) for _ in range(50)] + [rng.uniform(0, 1e-3) for _ in range(30)]
    t.float_val.extend(specials_f + randoms)
    specials_d = [1.0, 0.1, 1e-7, 1e20, float("inf"), float("-inf"), float("nan"), -0.0, 1795636091.6588638,
                  1e16, 1e15, 1e-5, 0.0001, 5e-324, 1.7976931348623157e308, 123456789012345678.0]
    doubles = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(120)]
    doubles = [v for v in doubles if v == v]
    t.double_val.extend(specials_d + doubles + [rng.uniform(-1e6, 1e6) for _ in range(30)])
    t.int64_val.extend([-1, 2**63 - 1, -(2**63), 0])
    t.uint64_val.extend([2**64 - 1, 0])
    t.int_val.extend([-(2**31), 0, 2**31 - 1])
    t.bool_val.extend([True, False])
    t.string_val.extend([bytes(range(256)), "héllo ☃".encode(), b"", b"\xff\xfe invalid utf-8 \xc3"])
    t.tensor_shape.dim.add(size=-1, name="batch\t\"x\"")
    t.tensor_shape.unknown_rank = False
    t.resource_handle_val.add(device="/cpu:0", hash_code=2**64 - 1, maybe_type_name="ü\x7f\x01'")
    return t


def any_and_maps():
    mg = meta_graph_pb2.MetaGraphDef()
    shape = tf.TensorShape([2, None]).as_proto()
    mg.meta_info_def.any_info.Pack(shape)
    anys = mg.collection_def["anys"].any_list.value
    a = anys.add()
    a.Pack(tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, int_val=[3]))
    anys.add(type_url="type.googleapis.com/foo.Unknown", value=b"\x08\x01")
    anys.add(type_url="no-slash", value=b"\x08\x01")
    anys.add()
    mg.collection_def["empty_bytes"].bytes_list.SetInParent()
    mg.collection_def[""].node_list.value.append("")
    mg.signature_def["z"].method_name = "m"
    mg.signature_def["a"].inputs["in"].name = ""
    mg.signature_def["a"].inputs["in"].dtype = types_pb2.DT_FLOAT_REF
    mg.signature_def["a"].inputs["\u00e9"].coo_sparse.SetInParent()
    mg.graph_def.library.function.add().arg_attr[7].attr["x"].list.SetInParent()
    f = mg.graph_def.library.function[0]
    f.resource_arg_unique_id[4] = 0
    f.resource_arg_unique_id[0] = 9
    f.resource_arg_unique_id[2**32 - 1] = 1
    f.ret[""] = ""
    f.ret["b"] = "x:y:0"
    f.ret["a"] = ""
    di = mg.graph_def.debug_info
    di.frames_by_id[2**64 - 1].line = 3
    di.frames_by_id[5].func = "f"
    di.name_to_trace_id["n"] = 0
    di.traces_by_id[1].frame_id.extend([5, 2**64 - 1])
    # Many keys, prefixes of each other: the order of Python's deterministic serialization.
    rng = random.Random(3)
    g = mg.graph_def.library.function.add()
    for _ in range(40):
        g.ret["".join(rng.choice("ab_") for _ in range(rng.randrange(4)))] = "v"
        g.resource_arg_unique_id[rng.getrandbits(rng.choice([3, 16, 32]))] = 1
        g.attr["".join(rng.choice("aB\xe9") for _ in range(rng.randrange(4)))].b = True
        di.frames_by_id[rng.getrandbits(rng.choice([3, 63, 64]))].col = 1
    node = mg.graph_def.node.add(name="n", op="Op")
    node.attr["i"].i = 0
    node.attr["f"].f = 0.0
    node.attr["s"].s = b""
    node.attr["b"].b = False
    node.attr["type"].type = 300
    node.attr["neg"].i = -1
    node.attr["shape"].shape.unknown_rank = True
    node.attr["list"].list.type.extend([1, 107, 999])
    node.attr["func"].func.name = "g"
    node.attr["func"].func.attr["k"].placeholder = "T"
    node.experimental_type.type_id = 10203
    node.experimental_type.args.add(type_id=77777, i=0)
    node.experimental_type.args.add(s="")
    return mg


def grammar():
    """Text in forms MessageToString never prints, and what Python's parser makes of it."""
    text = r"""# a comment
node <
  name: 'single \'quoted\'' ' and "adjacent"' "strings" # trailing comment
  op: "\x41\x4a\101\u00e9\n\t\\\?"
  input: ["a", 'b'] input: "c";
  device: "d",
  attr { key: "f" value { f: 1e+06 } }
  attr: { key: "g" value: < f: -inf > }
  attr { key: "h" value { f: nan } }
  attr { key: "i" value { i: -0x1F } }
  attr { key: "j" value { i: 017 } }
  attr { key: "k" value { b: t } }
  attr { key: "l" value { b: False } }
  attr { key: "m" value { type: 3 } }
  attr { key: "n" value { list { f: [1, 2.5, 3f, -1.5F, .5, infinity, -Infinity] b: [true, 0, 1, f, True] } } }
  attr { key: "o" value { list { type: [DT_FLOAT, 101, DT_HALF_REF] } } }
  attr { key: "p" value { s: "octal \0 \01 \377 \1234" } }
  attr { value { i: 1 } }
  attr { key: "q" }
  attr { key: "r" value { tensor { dtype: DT_DOUBLE double_val: [1e308, 1.7976931348623157e308, 5e-324, -0.0, 2] } } }
  attr { key: "f" value { f: 2 } }
>
node { name: "second" experimental_type { type_id: TFT_PRODUCT args { type_id: 1234 } } }
versions { producer: 2474 min_consumer: 0 bad_consumers: [1, -2] }
library {
  function { signature { name: "fn" is_stateful: true }
    arg_attr { key: 3 value { attr { key: "a" value { s: "x" } } } }
    arg_attr { value { } }
    resource_arg_unique_id { key: 1 value: 2 }
    resource_arg_unique_id [{ key: 3 value: 4 }, { key: 5 }]
    ret { key: "r" value: "n:o:0" }
  }
}
debug_info {
  name_to_trace_id { key: "x" value: 18446744073709551615 }
  frames_by_id { key: 0x10 value { line: 1 col: -1 } }
}
"""
    msg = graph_pb2.GraphDef()
    text_format.Parse(text, msg)
    with open(os.path.join(OUT, "grammar.pbtxt"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(OUT, "grammar.pb"), "wb") as f:
        f.write(msg.SerializeToString(deterministic=True))

    # The same with an expanded Any.
    mg = meta_graph_pb2.MetaGraphDef()
    any_text = """meta_info_def {
  any_info {
    [type.googleapis.com/tensorflow.TensorShapeProto] { dim { size: 3 } dim { size: -1 } }
  }
}
collection_def { key: "c" value { any_list { value { [type.googleapis.com/tensorflow.NodeDef] < name: "n" > } } } }
"""
    text_format.Parse(any_text, mg)
    with open(os.path.join(OUT, "any.pbtxt"), "w", encoding="utf-8") as f:
        f.write(any_text)
    with open(os.path.join(OUT, "any.pb"), "wb") as f:
        f.write(mg.SerializeToString(deterministic=True))


def main():
    os.makedirs(OUT, exist_ok=True)
    schema()
    write("consts_graph", consts_graph())
    write("functions_graph", functions_graph())
    write("meta_graph", meta_graph())
    write("saved_model", saved_model())
    write("specials", specials())
    write("any_and_maps", any_and_maps())
    grammar()


if __name__ == "__main__":
    main()
