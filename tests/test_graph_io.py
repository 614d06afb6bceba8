"""Graphs, meta graphs and SavedModels against real TensorFlow 2.21, the oracle throughout.

1. Graphs TensorFlow builds (placeholders, multi-output ops read as ``op:1``, control
   dependencies, devices, ``tf.function`` with ``cond``/``while_loop`` in the library, constants of
   every dtype and encoding): parsed by fastckpt they hold the nodes, inputs, attrs and constant
   values TensorFlow sees; re-encoded they are byte-identical; printed they are TensorFlow's text.
2. ``write_graph`` writes the file ``tf.io.write_graph`` writes, in both modes; ``read_graph_def``
   reads both.
3. ``make_ndarray`` equals ``tf.make_ndarray`` for every encoding (and refuses hostile protos);
   ``make_tensor_proto`` encodes as ``tf.make_tensor_proto``.
4. A ``.meta`` from ``tf.compat.v1.train.Saver``, SavedModels from ``tf.saved_model.save`` and the
   TF1 ``SavedModelBuilder``.
5. The message objects behave as protobuf's: the same edit scripts run on TensorFlow's protobuf
   classes and on ours give the same results; edited graphs are accepted by TensorFlow.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import fastckpt
from fastckpt import protos

# --------------------------------------------------------------------------------------------------
# Graphs TensorFlow builds
# --------------------------------------------------------------------------------------------------

#: dtype name → values for constants of that dtype (arrays become tensor_content or typed fields).
CONST_VALUES: dict[str, Any] = {
    "float32": np.array([0.0, -0.0, 1.5, np.inf, np.nan, -3.4e38], np.float32),
    "float64": np.array([np.pi, -0.0, 1e308, np.nan], np.float64),
    "int32": np.array([-(2**31), 0, 7, 2**31 - 1], np.int32),
    "int64": np.array([-(2**63), 0, 2**63 - 1], np.int64),
    "uint8": np.array([0, 1, 255], np.uint8),
    "uint16": np.array([0, 1, 65535], np.uint16),
    "uint32": np.array([0, 2**32 - 1], np.uint32),
    "uint64": np.array([0, 2**64 - 1], np.uint64),
    "int8": np.array([-128, 0, 127], np.int8),
    "int16": np.array([-32768, 32767], np.int16),
    "bool": np.array([True, False, True]),
    "complex64": np.array([1 + 2j, -0.5j, complex(np.inf, 1)], np.complex64),
    "complex128": np.array([1e300 + 2j, -0.5j], np.complex128),
    "float16": np.array([0.0, 1.5, -65504.0, np.inf], np.float16),
    "bfloat16": np.array([1.0, -2.5, 3.0e38], ml_dtypes.bfloat16),
    "string": np.array([b"", b"ab", b"\x00\xff", "h\u00e9llo".encode()], dtype=object),
    "float8_e5m2": np.array([0.0, 1.0, -2.0, 57344.0], ml_dtypes.float8_e5m2),
    "float8_e4m3fn": np.array([0.0, 1.0, -2.0, 448.0], ml_dtypes.float8_e4m3fn),
    "float8_e4m3fnuz": np.array([0.0, 1.0, -2.0], ml_dtypes.float8_e4m3fnuz),
    "float8_e4m3b11fnuz": np.array([0.0, 1.0, -2.0], ml_dtypes.float8_e4m3b11fnuz),
    "float8_e5m2fnuz": np.array([0.0, 1.0, -2.0], ml_dtypes.float8_e5m2fnuz),
    "float4_e2m1fn": np.array([0.0, 0.5, -6.0], ml_dtypes.float4_e2m1fn),
    "int4": np.array([-8, 0, 7], ml_dtypes.int4),
    "uint4": np.array([0, 15], ml_dtypes.uint4),
    "int2": np.array([-2, 1], ml_dtypes.int2),
    "uint2": np.array([0, 3], ml_dtypes.uint2),
    "qint8": np.array([(-128,), (127,)], dtype=[("qint8", np.int8)]),
    "quint8": np.array([(0,), (255,)], dtype=[("quint8", np.uint8)]),
    "qint16": np.array([(-5,), (5,)], dtype=[("qint16", np.int16)]),
    "quint16": np.array([(0,), (9,)], dtype=[("quint16", np.uint16)]),
    "qint32": np.array([(-(2**31),), (3,)], dtype=[("qint32", np.int32)]),
}
#: Types whose scalar TensorFlow's make_tensor_proto cannot encode (no typed field in Python).
NO_SCALAR = {"float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz"} | {n for n in CONST_VALUES if n[0] == "q"}


def same_values(ours: np.ndarray[Any, Any], theirs: np.ndarray[Any, Any]) -> bool:
    """Equal dtype, shape and values (NaN equal to NaN, sub-byte types by value)."""
    if ours.dtype != theirs.dtype or ours.shape != theirs.shape:
        return False
    if ours.dtype == object:
        return bool(ours.tolist() == theirs.tolist())
    if ours.dtype.names:  # quantized: compare the underlying integers
        return bool(np.array_equal(ours.view(ours.dtype[0]), theirs.view(theirs.dtype[0])))
    if ours.dtype.itemsize == 1 and ours.dtype.kind == "V" or ours.dtype.name in {"int2", "uint2", "int4", "uint4"}:
        return bool(np.array_equal(ours.astype(np.float32), theirs.astype(np.float32), equal_nan=True))
    return bool(np.array_equal(ours.astype(np.complex128), theirs.astype(np.complex128), equal_nan=True))


@pytest.fixture(scope="module")
def tf_graph(tf: ModuleType) -> Any:
    """A TF1-style graph with every kind of node the readers meet, as TensorFlow's GraphDef."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        parts = tf.split(x, 2, axis=1, name="split")
        vals, _ = tf.unique(tf.constant([3, 1, 3], name="u_in"), name="unique")
        top = tf.math.top_k(x, k=2, name="top")
        with tf.control_dependencies([vals, top.indices]):
            tf.identity(parts[1], name="y")
        with tf.device("/job:localhost/replica:0/task:0/device:CPU:0"):
            tf.add(top.values, parts[0], name="z")
        for name, values in CONST_VALUES.items():
            dtype = tf.dtypes.as_dtype(name)
            tf.constant(values, dtype=dtype, name=f"{name}_arr")
            if name not in NO_SCALAR:
                tf.constant(values[1], dtype=dtype, name=f"{name}_scalar")
                tf.constant(values[1], dtype=dtype, shape=[2, 3], name=f"{name}_splat")
                tf.constant(np.zeros((0, 2), values.dtype), dtype=dtype, name=f"{name}_empty")
        tf.constant(np.arange(4096, dtype=np.float32).reshape(64, 64), name="big")
    return g


@pytest.fixture(scope="module")
def tf_graph_def(tf_graph: Any) -> Any:
    return tf_graph.as_graph_def(add_shapes=True)


@pytest.fixture(scope="module")
def function_graph_def(tf: ModuleType) -> Any:
    """A ``tf.function`` with ``cond`` and ``while_loop``: its functions live in the library."""

    @tf.function
    def f(x: Any) -> Any:
        y = tf.cond(x > 0, lambda: x * 2.0, lambda: x - 1.0)
        _, r = tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a + y), [tf.constant(0), y])
        return r

    return f.get_concrete_function(tf.TensorSpec([], tf.float32)).graph.as_graph_def()


def ours_of(tf_message: Any) -> Any:
    return protos.message_class(tf_message.DESCRIPTOR.full_name).FromString(tf_message.SerializeToString())


def test_parsed_graph_holds_what_tensorflow_sees(tf_graph_def: Any) -> None:
    gd = fastckpt.GraphDef.FromString(tf_graph_def.SerializeToString(deterministic=True))
    assert isinstance(gd, fastckpt.GraphDef) and gd == tf_graph_def
    assert len(gd.node) == len(tf_graph_def.node)
    for ours, theirs in zip(gd.node, tf_graph_def.node):
        assert isinstance(ours, fastckpt.NodeDef)
        assert (ours.name, ours.op, ours.device) == (theirs.name, theirs.op, theirs.device)
        assert list(ours.input) == list(theirs.input)
        assert sorted(ours.attr.keys()) == sorted(theirs.attr.keys())
        for key in theirs.attr:
            assert ours.attr[key].WhichOneof("value") == theirs.attr[key].WhichOneof("value")
            assert ours.attr[key] == theirs.attr[key]
            assert ours.attr[key].SerializeToString(deterministic=True) == theirs.attr[key].SerializeToString(
                deterministic=True
            )
    nodes = {n.name: n for n in gd.node}
    assert list(nodes["y"].input) == ["split:1", "^top", "^unique"]
    assert list(nodes["z"].input) == ["top", "split"]
    assert nodes["z"].device == "/job:localhost/replica:0/task:0/device:CPU:0"
    assert nodes["x"].attr["shape"].shape.dim[0].size == -1
    assert nodes["x"].attr["dtype"].type == 1
    assert [d.size for d in nodes["split"].attr["_output_shapes"].list.shape[1].dim] == [-1, 2]
    assert gd.versions.producer == tf_graph_def.versions.producer > 0


def test_binary_round_trip_is_byte_identical(tf_graph_def: Any, function_graph_def: Any) -> None:
    for message in (tf_graph_def, function_graph_def):
        data = message.SerializeToString(deterministic=True)
        ours = fastckpt.GraphDef.FromString(data)
        assert ours.SerializeToString(deterministic=True) == data
        assert ours.ByteSize() == len(data)
        back = type(message).FromString(ours.SerializeToString())
        assert back == message


def test_text_format_is_tensorflows(tf: ModuleType, tf_graph_def: Any, function_graph_def: Any) -> None:
    from google.protobuf import text_format

    for message in (tf_graph_def, function_graph_def):
        ours = ours_of(message)
        text = str(ours)
        assert text == text_format.MessageToString(message)
        assert repr(ours) == text
        assert text_format.Parse(text, type(message)()) == message
        assert fastckpt.parse_text(text, fastckpt.GraphDef()) == message


def test_functions_in_the_library(function_graph_def: Any) -> None:
    gd = ours_of(function_graph_def)
    assert gd == function_graph_def
    theirs = {f.signature.name: f for f in function_graph_def.library.function}
    ours = {f.signature.name: f for f in gd.library.function}
    assert ours.keys() == theirs.keys() and len(ours) >= 3  # cond branches, loop cond and body
    for name, f in ours.items():
        t = theirs[name]
        assert [a.name for a in f.signature.input_arg] == [a.name for a in t.signature.input_arg]
        assert [n.name for n in f.node_def] == [n.name for n in t.node_def]
        assert [list(n.input) for n in f.node_def] == [list(n.input) for n in t.node_def]
        assert dict(f.ret.items()) == dict(t.ret)
        assert f.attr == t.attr and f.arg_attr == t.arg_attr
    ops = {n.op for n in gd.node}
    assert ops & {"StatelessIf", "If"} and ops & {"StatelessWhile", "While"}


@pytest.mark.parametrize("as_text", [True, False])
def test_write_graph_writes_tensorflows_file(tf: ModuleType, tf_graph: Any, tmp_path: Path, as_text: bool) -> None:
    graph_def = tf_graph.as_graph_def()
    theirs = tf.io.write_graph(graph_def, str(tmp_path / "tf"), "g", as_text=as_text)
    ours = fastckpt.write_graph(ours_of(graph_def), tmp_path / "ours" / "nested", "g", as_text=as_text)
    assert ours == os.path.join(str(tmp_path / "ours" / "nested"), "g")
    expected = Path(theirs).read_bytes()
    assert Path(ours).read_bytes() == expected
    # A TensorFlow GraphDef and a tf.Graph are taken as they are.
    assert Path(fastckpt.write_graph(graph_def, tmp_path, "from_tf", as_text=as_text)).read_bytes() == expected
    assert Path(fastckpt.write_graph(tf_graph, tmp_path, "graph", as_text=as_text)).read_bytes() == expected
    assert fastckpt.read_graph_def(theirs) == graph_def
    assert fastckpt.read_graph_def(ours) == graph_def
    assert sorted(p.name for p in (tmp_path / "ours" / "nested").iterdir()) == ["g"], "no temporary files"


def test_write_graph_of_a_meta_graph_and_overwrite(tf: ModuleType, tmp_path: Path) -> None:
    meta = fastckpt.MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    meta.graph_def.node.add(name="a", op="NoOp")
    path = fastckpt.write_graph(meta, tmp_path, "m.meta", as_text=False)
    held = fastckpt.read_meta_graph(path)  # maps the file
    meta.graph_def.node.add(name="b", op="NoOp")
    fastckpt.write_graph(meta, tmp_path, "m.meta", as_text=False)  # replaced, not rewritten in place
    assert [n.name for n in held.graph_def.node] == ["a"]
    assert [n.name for n in fastckpt.read_meta_graph(path).graph_def.node] == ["a", "b"]
    theirs = tf.compat.v1.MetaGraphDef.FromString(Path(path).read_bytes())
    assert list(theirs.meta_info_def.tags) == ["serve"]


def test_read_graph_def_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fastckpt.read_graph_def(tmp_path / "missing.pb")
    (tmp_path / "bad.pb").write_bytes(b"node { name: ")
    with pytest.raises(fastckpt.DecodeError, match="text format"):
        fastckpt.read_graph_def(tmp_path / "bad.pb")
    with pytest.raises(ValueError):
        fastckpt.GraphDef.FromString(b"\x0a\xff")
    with pytest.raises(fastckpt.DecodeError):
        fastckpt.GraphDef().ParseFromString(b"\x0a\x05\x0a\x01")
    (tmp_path / "empty.pb").write_bytes(b"")
    assert fastckpt.read_graph_def(tmp_path / "empty.pb") == fastckpt.GraphDef()


# --------------------------------------------------------------------------------------------------
# Tensor values
# --------------------------------------------------------------------------------------------------


def test_make_ndarray_of_every_constant(tf: ModuleType, tf_graph_def: Any, tmp_path: Path) -> None:
    path = fastckpt.write_graph(tf_graph_def, tmp_path, "g.pb", as_text=False)
    gd = fastckpt.read_graph_def(path)
    theirs = {n.name: n for n in tf_graph_def.node}
    encodings = set()
    for node in gd.node:
        if node.op != "Const":
            continue
        tensor = node.attr["value"].tensor
        expected = tf.make_ndarray(theirs[node.name].attr["value"].tensor)
        array = fastckpt.make_ndarray(tensor)
        assert same_values(array, expected), node.name
        assert same_values(fastckpt.make_ndarray(theirs[node.name].attr["value"].tensor), expected)
        fields = [f.name for f, _ in tensor.ListFields() if f.name not in ("dtype", "tensor_shape")]
        encodings.add(tuple(fields))
        if tensor.tensor_content:
            assert not array.flags.writeable, "tensor_content is viewed, not copied"
    assert {("tensor_content",), ("float_val",), ("half_val",), ("string_val",), ("float8_val",)} <= encodings
    assert {("int_val",), ("bool_val",), ("scomplex_val",), ("dcomplex_val",), ("int64_val",), ()} <= encodings
    big = fastckpt.make_ndarray(next(n for n in gd.node if n.name == "big").attr["value"].tensor)
    again = fastckpt.make_ndarray(next(n for n in gd.node if n.name == "big").attr["value"].tensor)
    assert np.shares_memory(big, again), "both views are of the same mapped bytes"
    assert type(big.base).__name__ == "SharedBytes"
    if os.path.exists("/proc/self/maps"):
        with open("/proc/self/maps") as maps:
            ranges = [line.split()[0].split("-") for line in maps if line.rstrip().endswith(os.path.realpath(path))]
        address = big.__array_interface__["data"][0]
        assert any(int(lo, 16) <= address < int(hi, 16) for lo, hi in ranges), "a view into the mapped file"


def handmade(tf: ModuleType, dtype: str, shape: list[int], **fields: Any) -> Any:
    """A TensorFlow TensorProto of ``dtype`` and ``shape`` with the given fields set."""
    from tensorflow.core.framework import tensor_pb2

    t = tensor_pb2.TensorProto(dtype=tf.dtypes.as_dtype(dtype).as_datatype_enum)
    for size in shape:
        t.tensor_shape.dim.add(size=size)
    for name, value in fields.items():
        if isinstance(value, bytes):
            setattr(t, name, value)
        else:
            getattr(t, name).extend(value)
    return t


#: (dtype, shape, fields): the fill rule (fewer values than elements), every typed field.
HANDMADE: list[tuple[str, list[int], dict[str, Any]]] = [
    ("float32", [5], {"float_val": [1.0, 2.5]}),
    ("float32", [2, 2], {}),
    ("float64", [3], {"double_val": [-1.0]}),
    ("int32", [4], {"int_val": [1, 2, 3]}),
    ("uint8", [3], {"int_val": [200]}),
    ("int16", [2], {"int_val": [-7, 9]}),
    ("uint16", [4], {"int_val": [65535, 1]}),
    ("int8", [3], {"int_val": [-1]}),
    ("int64", [3], {"int64_val": [2**40]}),
    ("uint32", [2], {"uint32_val": [7]}),
    ("uint64", [3], {"uint64_val": [2**64 - 1, 3]}),
    ("bool", [4], {"bool_val": [True, False]}),
    ("complex64", [3], {"scomplex_val": [1.0, -2.0]}),
    ("complex128", [2], {"dcomplex_val": [1.0, 2.0, 3.0, 4.0]}),
    ("float16", [4], {"half_val": [15360, 48128]}),
    ("bfloat16", [3], {"half_val": [16256]}),
    ("float8_e4m3fn", [3], {"float8_val": b"\x38\x40"}),
    ("float8_e5m2", [2], {"float8_val": b"\x3c"}),
    ("string", [3], {"string_val": [b"a", b"bc"]}),
    ("string", [2, 2], {"string_val": [b"x"]}),
    ("int32", [2, 3], {"tensor_content": np.arange(6, dtype="<i4").tobytes()}),
    ("qint8", [3], {"int_val": [-3, 4]}),
    ("quint16", [2], {"int_val": [5]}),
    ("int4", [3], {"int_val": [-8, 7]}),
]


@pytest.mark.parametrize("dtype,shape,fields", HANDMADE, ids=[f"{d}{s}" for d, s, _ in HANDMADE])
def test_make_ndarray_fill_rule_matches_tensorflow(
    tf: ModuleType, dtype: str, shape: list[int], fields: dict[str, Any]
) -> None:
    theirs = handmade(tf, dtype, shape, **fields)
    expected = tf.make_ndarray(theirs)
    assert same_values(fastckpt.make_ndarray(theirs), expected)
    assert same_values(fastckpt.make_ndarray(ours_of(theirs)), expected)


def test_make_ndarray_refuses_hostile_protos(tf: ModuleType) -> None:
    splat = handmade(tf, "float32", [1 << 20, 1 << 20], float_val=[1.0])
    with pytest.raises(ValueError, match="allowed"):
        fastckpt.make_ndarray(splat)
    assert fastckpt.make_ndarray(handmade(tf, "float32", [1000], float_val=[1.0]), max_fill_bytes=4000).shape == (1000,)
    with pytest.raises(ValueError, match="allowed"):
        fastckpt.make_ndarray(handmade(tf, "float32", [1001], float_val=[1.0]), max_fill_bytes=4000)
    with pytest.raises(ValueError, match="allowed"):
        fastckpt.make_ndarray(handmade(tf, "string", [1 << 40], string_val=[b"x"]))
    with pytest.raises(ValueError, match="tensor_content"):
        fastckpt.make_ndarray(handmade(tf, "int32", [3], tensor_content=b"\x00" * 11))
    with pytest.raises(ValueError, match="dimension"):
        fastckpt.make_ndarray(handmade(tf, "int32", [-1], int_val=[1]))
    with pytest.raises(ValueError, match="overflows"):
        fastckpt.make_ndarray(handmade(tf, "int8", [1 << 40, 1 << 40], int_val=[1]))
    unknown = fastckpt.TensorProto(dtype=1, tensor_shape={"unknown_rank": True})
    with pytest.raises(ValueError, match="unknown rank"):
        fastckpt.make_ndarray(unknown)
    with pytest.raises(TypeError):
        fastckpt.make_ndarray(fastckpt.TensorProto(dtype=20))
    strings = fastckpt.TensorProto(dtype=7, tensor_shape={"dim": [{"size": 3}]}, tensor_content=b"\x01\x01\x05ab")
    with pytest.raises(ValueError, match="past the end"):
        fastckpt.make_ndarray(strings)
    with pytest.raises(TypeError):
        fastckpt.make_ndarray(fastckpt.NodeDef())


def test_make_ndarray_of_empty_tensors_ignores_values() -> None:
    # C++ ignores the values of a tensor without elements (Python's make_ndarray fails on them).
    t = fastckpt.TensorProto(dtype=2, tensor_shape={"dim": [{"size": 0}, {"size": 4}]}, double_val=[1.0])
    array = fastckpt.make_ndarray(t)
    assert array.shape == (0, 4) and array.dtype == np.float64


def test_make_ndarray_of_string_tensor_content() -> None:
    # C++ writes DT_STRING tensor_content as varint lengths, then the bytes.
    t = fastckpt.TensorProto(dtype=7, tensor_shape={"dim": [{"size": 3}]}, tensor_content=b"\x02\x00\x01abc")
    assert fastckpt.make_ndarray(t).tolist() == [b"ab", b"", b"c"]


MAKE_TENSOR_PROTO_CASES: list[tuple[Any, Any, Any]] = [
    (np.arange(12, dtype=np.float32).reshape(3, 4), None, None),
    (np.float64(2.5), None, None),
    ([1.5, 2.5], None, None),
    ([1, 2, 3], None, None),
    ([1, 2**40], None, None),
    (7, None, [2, 3]),
    ([1, 2], "int64", [4]),
    ([True, False], None, None),
    ([b"a", b"bc"], None, None),
    (["x", "yz"], None, None),
    (np.array([1 + 2j, 3j], np.complex64), None, None),
    (np.array([1.0, 2.0], np.float16), None, None),
    (np.array(1.0, np.float16), None, None),
    (np.array([1.0, 2.0], ml_dtypes.bfloat16), None, None),
    (np.array(1.5, ml_dtypes.bfloat16), None, None),
    (np.array([1, 2], np.uint16), None, None),
    (np.array([1, 2], np.uint64), None, None),
    (np.array([0.5, 1.0], ml_dtypes.float8_e4m3fn), None, None),
    (np.array(0.5, ml_dtypes.float8_e5m2), None, None),
    ([1, -2], "int4", None),
    (np.array([(1,), (2,)], dtype=[("qint8", np.int8)]), "qint8", None),
    (np.array([(1,), (2,), (3,)], dtype=[("quint16", np.uint16)]), "quint16", [3]),
    ([[1.0, 2.0], [3.0, 4.0]], "float64", None),
    (np.zeros((0, 3), np.int32), None, None),
]


@pytest.mark.parametrize("values,dtype,shape", MAKE_TENSOR_PROTO_CASES)
def test_make_tensor_proto_encodes_as_tensorflow(tf: ModuleType, values: Any, dtype: Any, shape: Any) -> None:
    tf_dtype = None if dtype is None else tf.dtypes.as_dtype(dtype)
    theirs = tf.compat.v1.make_tensor_proto(values, dtype=tf_dtype, shape=shape)
    ours = fastckpt.make_tensor_proto(values, dtype=dtype, shape=shape)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True), str(ours)
    assert same_values(fastckpt.make_ndarray(ours), tf.make_ndarray(theirs))


# --------------------------------------------------------------------------------------------------
# Meta graphs and SavedModels
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saver_meta(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("saver") / "model"
    g = tf.Graph()
    with g.as_default():
        v = tf.compat.v1.get_variable("v", initializer=tf.constant([1.0, 2.0, 3.0]))
        w = tf.compat.v1.get_variable("scope/w", initializer=tf.constant([[1, 2]], tf.int64))
        tf.compat.v1.add_to_collection("extra", tf.identity(v, name="v_read"))
        tf.compat.v1.add_to_collection("numbers", 3)
        saver = tf.compat.v1.train.Saver([v, w], max_to_keep=2)
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(prefix))
        tf.compat.v1.train.export_meta_graph(str(prefix) + ".pbtxt.meta", as_text=True, graph=g, saver_def=saver.saver_def)
    return Path(str(prefix) + ".meta")


def test_meta_graph_from_saver(tf: ModuleType, saver_meta: Path) -> None:
    data = saver_meta.read_bytes()
    theirs = tf.compat.v1.MetaGraphDef.FromString(data)
    meta = fastckpt.read_meta_graph(saver_meta)
    assert isinstance(meta, fastckpt.MetaGraphDef) and meta == theirs
    assert meta.SerializeToString(deterministic=True) == data
    assert meta.saver_def.filename_tensor_name == "save/Const:0"
    assert meta.saver_def.restore_op_name == "save/restore_all"
    assert (meta.saver_def.max_to_keep, meta.saver_def.version) == (2, 2)
    assert sorted(meta.collection_def.keys()) == sorted(theirs.collection_def.keys())
    assert list(meta.collection_def["extra"].node_list.value) == ["v_read:0"]
    assert list(meta.collection_def["numbers"].int64_list.value) == [3]
    assert meta.collection_def["numbers"].WhichOneof("kind") == "int64_list"
    variables = [fastckpt.VariableDef.FromString(b) for b in meta.collection_def["variables"].bytes_list.value]
    assert [v.variable_name for v in variables] == ["v:0", "scope/w:0"]
    ops = {op.name for op in meta.meta_info_def.stripped_op_list.op}
    assert {"SaveV2", "RestoreV2"} <= ops
    assert meta.meta_info_def.tensorflow_version == tf.__version__
    text = fastckpt.read_meta_graph(str(saver_meta).replace(".meta", ".pbtxt.meta"))
    assert text.graph_def == theirs.graph_def and text.saver_def == theirs.saver_def
    reader = fastckpt.load_checkpoint(str(saver_meta)[: -len(".meta")])
    assert reader.get_tensor("v").tolist() == [1.0, 2.0, 3.0]


@pytest.fixture(scope="module")
def tf2_saved_model(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    class Model(tf.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.v = tf.Variable([1.0, 2.0, 3.0], name="v")
            self.table = tf.constant(["a", "b"])

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:
            return {"y": x * self.v, "n": tf.shape(x)[0]}

    path = tmp_path_factory.mktemp("tf2") / "model"
    model = Model()
    tf.saved_model.save(model, str(path), signatures=model.__call__)
    return path


def test_saved_model_from_tf2(tf: ModuleType, tf2_saved_model: Path) -> None:
    data = (tf2_saved_model / "saved_model.pb").read_bytes()
    from tensorflow.core.protobuf import saved_model_pb2

    theirs = saved_model_pb2.SavedModel.FromString(data)
    loaded = fastckpt.load_saved_model(tf2_saved_model)
    assert loaded.saved_model == theirs
    assert loaded.saved_model.SerializeToString(deterministic=True) == data
    assert len(loaded.meta_graphs) == 1 and loaded.tags == ["serve"]
    tf_loaded = tf.saved_model.load(str(tf2_saved_model))
    assert sorted(loaded.signatures) == ["__saved_model_init_op", *sorted(tf_loaded.signatures.keys())]
    sig = loaded.signatures["serving_default"]
    tf_sig = tf_loaded.signatures["serving_default"]
    assert sorted(sig.inputs.keys()) == ["x"] and sorted(sig.outputs.keys()) == sorted(tf_sig.structured_outputs)
    assert sig.inputs["x"].name == "serving_default_x:0"
    assert sig.inputs["x"].dtype == 1
    assert [d.size for d in sig.inputs["x"].tensor_shape.dim] == [-1, 3]
    assert sig.method_name == "tensorflow/serving/predict"
    assert loaded.variables is not None
    assert loaded.variables.get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE").tolist() == tf_loaded.v.numpy().tolist()
    graph = loaded.meta_graph.object_graph_def
    assert isinstance(graph, fastckpt.SavedObjectGraph)
    kinds = [n.WhichOneof("kind") for n in graph.nodes]
    assert kinds[0] == "user_object" and "variable" in kinds and "function" in kinds
    assert set(graph.concrete_functions.keys()) == set(theirs.meta_graphs[0].object_graph_def.concrete_functions.keys())
    assert fastckpt.load_saved_model(tf2_saved_model, tags=["serve"]).meta_graph == loaded.meta_graph


def test_saved_model_pbtxt(tf: ModuleType, tf2_saved_model: Path, tmp_path: Path) -> None:
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    copy_dir = tmp_path / "copy"
    shutil.copytree(tf2_saved_model, copy_dir)
    theirs = saved_model_pb2.SavedModel.FromString((copy_dir / "saved_model.pb").read_bytes())
    (copy_dir / "saved_model.pb").unlink()
    (copy_dir / "saved_model.pbtxt").write_text(text_format.MessageToString(theirs))
    loaded = fastckpt.load_saved_model(copy_dir)
    assert loaded.saved_model == theirs
    assert set(tf.saved_model.load(str(copy_dir)).signatures.keys()) < set(loaded.signatures)
    (copy_dir / "saved_model.pbtxt").unlink()
    with pytest.raises(FileNotFoundError):
        fastckpt.load_saved_model(copy_dir)


def test_saved_model_from_tf1_builder(tf: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "tf1"
    builder = tf.compat.v1.saved_model.Builder(str(path))
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([[1.0], [2.0]]))
        y = tf.matmul(x, w, name="y")
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": signature})
            builder.add_meta_graph(["train", "gpu"])
    builder.save()
    loaded = fastckpt.load_saved_model(path, tags="serve")
    assert [sorted(m.meta_info_def.tags) for m in loaded.meta_graphs] == [["serve"], ["gpu", "train"]]
    assert loaded.signatures["serving_default"].outputs["y"].name == "y:0"
    assert loaded.variables is not None and loaded.variables.get_tensor("w").tolist() == [[1.0], [2.0]]
    assert loaded.meta_graph.saver_def.sharded
    train = fastckpt.load_saved_model(path, tags={"gpu", "train"})
    assert train.tags == ["train", "gpu"] and train.signatures == {}
    with pytest.raises(RuntimeError, match="could not be found"):
        fastckpt.load_saved_model(path, tags=["eval"])
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        tf_meta = tf.compat.v1.saved_model.load(sess, ["serve"], str(path))
    assert loaded.meta_graph == tf_meta


# --------------------------------------------------------------------------------------------------
# Behaving as protobuf's messages
# --------------------------------------------------------------------------------------------------


def edit_script(GraphDef: Any, NodeDef: Any, AttrValue: Any) -> list[Any]:
    """Edits through every container and message method; returns what it observed."""
    out: list[Any] = []
    gd = GraphDef()
    for i in range(6):
        n = gd.node.add(name=f"n{i}", op="Identity")
        n.input.append(f"n{i - 1}")
        n.attr["T"].type = 1
    n3, a3 = gd.node[3], gd.node[3].attr["T"]
    del gd.node[1]
    out.append(n3.name)  # the object follows its node
    n3.device = "/cpu:0"
    out.append(gd.node[2].device)
    removed = gd.node[0]
    del gd.node[0]
    removed.name = "zzz"  # detached: the graph does not change
    out.append([n.name for n in gd.node])
    a3.type = 3
    out.append(gd.node[1].attr["T"].type)
    x = gd.node.add()
    x.CopyFrom(NodeDef(name="c", op="Const", attr={"dtype": AttrValue(type=1)}))
    gd.node.insert(0, NodeDef(name="first"))
    x.name = "c2"
    out.append([n.name for n in gd.node])
    gd.node.sort(key=lambda n: n.name)
    x.op = "Const2"
    out.append([(n.name, n.op) for n in gd.node])
    keep = [n for n in gd.node if n.op != "Identity"]
    del gd.node[:]
    gd.node.extend(keep)
    out.append([n.name for n in gd.node])
    versions = gd.versions
    out.append(gd.HasField("versions"))
    versions.producer = 5
    out.append(gd.HasField("versions"))
    f = gd.library.function.add()
    f.signature.name = "f"
    gd.ClearField("library")
    f.signature.name = "g"
    out.append((gd.HasField("library"), f.signature.name))
    attr = gd.node[0].attr["value"]
    t = attr.tensor
    t.dtype = 1
    out.append(attr.WhichOneof("value"))
    attr.i = 4  # switches the oneof: the tensor object is detached
    t.dtype = 2
    out.append((attr.WhichOneof("value"), attr.i, t.dtype))
    del gd.node[0].attr["value"]
    out.append((sorted(gd.node[0].attr.keys()), gd.node[0].attr.get("nope"), "dtype" in gd.node[0].attr))
    inputs = gd.node[0].input
    inputs.extend(["a", "b:1", "^c"])
    inputs[0] = "z"
    del inputs[1]
    inputs.insert(0, "q")
    out.append((list(inputs), inputs.pop(), list(inputs[1:]), len(inputs), "z" in inputs))
    inputs[0:1] = ["r", "s"]
    out.append(list(inputs))
    popped = gd.node.pop(0)
    popped.name = "popped"
    out.append([n.name for n in gd.node])
    gd.node.append(popped)
    gd.MergeFrom(GraphDef(node=[NodeDef(name="m")], versions={"min_consumer": 2}))
    out.append((gd.versions.producer, gd.versions.min_consumer, [n.name for n in gd.node]))
    out.append(gd.SerializeToString(deterministic=True))
    gd2 = GraphDef()
    gd2.CopyFrom(gd)
    out.append(gd2 == gd)
    gd2.node[0].name = "different"
    out.append((gd2 == gd, gd2 != gd))
    out.append((gd.ByteSize(), [fd.name for fd, _ in gd.ListFields()]))
    fn = GraphDef().library.function.add()
    fn.ret["out"] = "n:output:0"
    fn.ret["b"] = "x"
    del fn.ret["b"]
    fn.arg_attr[3].attr["_a"].b = True
    out.append((dict(fn.ret), fn.ret["missing"], sorted(fn.ret), 3 in fn.arg_attr, fn.arg_attr[3].attr["_a"].b))
    gd.Clear()
    out.append((gd.ByteSize(), len(gd.node), x.name))
    return out


def test_edits_behave_as_protobufs(tf: ModuleType) -> None:
    from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2

    ours = edit_script(fastckpt.GraphDef, fastckpt.NodeDef, fastckpt.AttrValue)
    theirs = edit_script(graph_pb2.GraphDef, node_def_pb2.NodeDef, attr_value_pb2.AttrValue)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"step {i}"


def random_edits(seed: int, GraphDef: Any, NodeDef: Any, AttrValue: Any) -> list[Any]:
    """Sixty random edits of a graph while holding objects into it; returns every state seen."""
    rnd = random.Random(seed)
    gd = GraphDef()
    held: list[Any] = []
    seen: list[Any] = []
    for step in range(60):
        op, size = rnd.randrange(20), len(gd.node)
        try:
            if op == 0 or size == 0:
                gd.node.add(name=f"s{step}", op="Identity").attr["T"].type = rnd.randrange(1, 5)
            elif op == 1:
                del gd.node[rnd.randrange(size)]
            elif op == 2:
                a = rnd.randrange(size)
                b = rnd.randrange(a, size + 1)
                # (not empty extended slices: TensorFlow's protobuf deletes an element for those)
                del gd.node[a : b : rnd.choice([1, 2]) if b > a else 1]
            elif op == 3:
                gd.node.insert(rnd.randrange(-size, size + 1), NodeDef(name=f"i{step}"))
            elif op == 4:
                held.append(gd.node.pop(rnd.randrange(size)))
            elif op == 5:
                gd.node.sort(key=lambda n: n.name, reverse=rnd.random() < 0.5)
            elif op == 6:
                held.append(gd.node[rnd.randrange(size)])
            elif op == 7:
                held.append(gd.node[rnd.randrange(size)].attr["T"])
            elif op == 8 and held:
                h = rnd.choice(held)
                if h.DESCRIPTOR.full_name == "tensorflow.NodeDef":
                    h.name += "x"
                    h.input.append(f"in{step}")
                elif h.DESCRIPTOR.full_name == "tensorflow.AttrValue":
                    h.type = rnd.randrange(1, 9)
            elif op == 9:
                gd.node[rnd.randrange(size)].CopyFrom(NodeDef(name=f"c{step}", op="Const"))
            elif op == 10:
                node = gd.node[rnd.randrange(size)]
                if "T" in node.attr:
                    del node.attr["T"]
                else:
                    node.ClearField("attr")
            elif op == 11:
                gd.MergeFrom(GraphDef(node=[NodeDef(name=f"m{step}")]))
            elif op == 12:
                gd.node.extend([h for h in held if h.DESCRIPTOR.full_name == "tensorflow.NodeDef"][:2])
            elif op == 13:
                gd.node[rnd.randrange(size)].attr["T"].i = 3
            elif op == 14:
                node = gd.node[rnd.randrange(size)]
                held += [node.attr["T"], node.attr["T"].list]
                node.CopyFrom(NodeDef(name=f"cp{step}", attr={"T": AttrValue(type=2)}))
            elif op == 15:
                gd.node[rnd.randrange(size)].attr["T"].list.i.append(step)
            elif op == 16 and rnd.random() < 0.2:
                gd.Clear()
            elif op == 17:
                gd.ParseFromString(GraphDef(node=[NodeDef(name=f"p{step}")]).SerializeToString())
            elif op == 18:
                attrs = gd.node[rnd.randrange(size)].attr
                held.append(attrs["U"])
                attrs.pop("U")
            elif op == 19:
                node = gd.node[rnd.randrange(size)]
                held.append(node)
                node.MergeFrom(NodeDef(attr={"T": AttrValue(b=True)}, input=["mm"]))
        except Exception as e:  # noqa: BLE001 - the same exceptions must happen on both sides
            seen.append(type(e).__name__)
        seen.append(gd.SerializeToString(deterministic=True))
        seen.append([str(h) for h in held])
    return seen


def test_random_edits_match_protobuf(tf: ModuleType) -> None:
    from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2

    for seed in range(40):
        ours = random_edits(seed, fastckpt.GraphDef, fastckpt.NodeDef, fastckpt.AttrValue)
        theirs = random_edits(seed, graph_pb2.GraphDef, node_def_pb2.NodeDef, attr_value_pb2.AttrValue)
        first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
        assert first is None and len(ours) == len(theirs), f"seed {seed} differs at {first}"


def test_message_api_details(tf: ModuleType) -> None:
    from tensorflow.core.framework import attr_value_pb2, tensor_shape_pb2

    attr = fastckpt.AttrValue(list={"i": [1, 2], "type": [1, "DT_INT32"]})
    assert list(attr.list.type) == [1, 3] and attr.WhichOneof("value") == "list"
    attr.list.f.append(0.1)
    assert attr.list.f[0] == pytest.approx(0.1) and attr.list.f[0] != 0.1  # float32, as protobuf
    assert fastckpt.AttrValue(s="é").s == "é".encode()
    assert fastckpt.NodeDef(name=b"bytes ok").name == "bytes ok"
    attr.CopyFrom(attr_value_pb2.AttrValue(shape=tensor_shape_pb2.TensorShapeProto(unknown_rank=True)))
    assert attr.shape.unknown_rank and not attr.HasField("list")
    assert fastckpt.NodeDef(attr={"x": attr_value_pb2.AttrValue(i=5)}).attr["x"].i == 5
    assert fastckpt.AttrValue(i=0).HasField("i"), "oneof members are present at zero"
    with pytest.raises(ValueError, match="no \"nope\" field"):
        fastckpt.NodeDef(nope=1)
    with pytest.raises(AttributeError):
        fastckpt.NodeDef().attr = {}
    with pytest.raises(AttributeError):
        fastckpt.NodeDef().nope = 1
    with pytest.raises(TypeError):
        fastckpt.NodeDef().name = 5
    with pytest.raises(TypeError):
        fastckpt.AttrValue().i = 1.5
    with pytest.raises(ValueError, match="out of range"):
        fastckpt.VersionDef().producer = 2**31
    with pytest.raises(ValueError):
        fastckpt.NodeDef().HasField("name")  # proto3 scalars have no presence
    with pytest.raises(ValueError):
        fastckpt.NodeDef().attr["x"] = fastckpt.AttrValue()
    with pytest.raises(TypeError):
        hash(fastckpt.NodeDef())
    node = fastckpt.NodeDef(name="a", op="Const", input=["x"], attr={"T": {"type": 1}})
    assert pickle.loads(pickle.dumps(node)) == node
    assert copy.deepcopy(node) == node and copy.copy(node) == node
    assert fastckpt.NodeDef.DESCRIPTOR.full_name == "tensorflow.NodeDef"
    assert [f.name for f in fastckpt.NodeDef.DESCRIPTOR.fields][:3] == ["name", "op", "input"]
    assert fastckpt.AttrValue.ListValue is protos.AttrValue_ListValue
    assert protos.message_class("tensorflow.TensorShapeProto.Dim") is fastckpt.TensorShapeProto.Dim
    assert "attr" in dir(node) and "CopyFrom" in dir(node)
    # Unknown fields survive a round trip.
    extra = node.SerializeToString() + b"\xf8\x07\x01"
    assert fastckpt.NodeDef.FromString(extra).SerializeToString() == extra
    stripped = fastckpt.NodeDef.FromString(extra)
    stripped.DiscardUnknownFields()
    assert stripped.SerializeToString() == node.SerializeToString()
    import collections.abc

    assert isinstance(node.input, collections.abc.MutableSequence)
    assert isinstance(node.attr, collections.abc.MutableMapping)


def test_edited_graph_is_accepted_by_tensorflow(tf: ModuleType, tf_graph_def: Any, tmp_path: Path) -> None:
    gd = ours_of(tf_graph_def)
    # Rename a node and every reference to it; add a node; drop the shapes.
    for node in gd.node:
        for i, name in enumerate(node.input):
            if name.split(":")[0].lstrip("^") == "top":
                node.input[i] = name.replace("top", "best", 1)
        if node.name == "top":
            node.name = "best"
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    new = gd.node.add(name="scaled", op="Mul", input=["z", "z"])
    new.attr["T"].type = 1
    const = gd.node.add(name="k", op="Const")
    const.attr["dtype"].type = 3
    const.attr["value"].tensor.CopyFrom(fastckpt.make_tensor_proto(np.array([5, 6], np.int32)))
    path = fastckpt.write_graph(gd, tmp_path, "edited.pb", as_text=False)
    with tf.Graph().as_default() as g:
        graph_def = tf.compat.v1.GraphDef.FromString(Path(path).read_bytes())
        tf.graph_util.import_graph_def(graph_def, name="")
        assert g.get_operation_by_name("best").type == "TopKV2"
        assert [t.name for t in g.get_operation_by_name("z").inputs] == ["best:0", "split:0"]
        with tf.compat.v1.Session(graph=g) as sess:
            out, k = sess.run(["scaled:0", "k:0"], {"x:0": np.ones((1, 4), np.float32)})
    assert out.tolist() == [[4.0, 4.0]] and k.tolist() == [5, 6]


def test_large_graph_round_trip_stays_lazy(tf: ModuleType) -> None:
    from tensorflow.core.framework import graph_pb2

    theirs = graph_pb2.GraphDef()
    for i in range(20000):
        n = theirs.node.add(name=f"n{i}", op="Identity", input=[f"n{i - 1}"])
        n.attr["T"].type = 1
    data = theirs.SerializeToString()
    gd = fastckpt.GraphDef.FromString(data)
    names = [n.name for n in gd.node]
    assert names == [n.name for n in theirs.node]
    assert gd.SerializeToString() == data
    held = list(gd.node)
    del gd.node[:10000]
    assert held[10000].name == "n10000" and gd.node[0].name == "n10000"
    held[0].name = "detached"
    assert gd.node[0].name == "n10000"
    held[10001].name = "renamed"
    assert gd.node[1].name == "renamed"

