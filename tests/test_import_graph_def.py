"""``fastckpt.import_graph_def`` and ``fastckpt.Graph`` against real TensorFlow 2.21.

Every case imports the same GraphDef with the same ``name`` / ``input_map`` / ``return_elements``
into a fresh ``tf.Graph`` (``tf.compat.v1.import_graph_def``) and into a ``fastckpt.Graph``, then
compares: operation names, types, inputs, control inputs and devices in creation order, the
returned elements, every attr through ``get_attr``, the ``as_graph_def()`` nodes, and — for
GraphDefs TensorFlow refuses — the exception text, and that the graph is left as TensorFlow
leaves it.
"""

from __future__ import annotations

import socket
import threading
from types import ModuleType
from typing import Any

import pytest

import fastckpt

# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def describe(ops: Any) -> list[tuple[str, str, list[str], list[str], str]]:
    """What both graphs must agree on, operation by operation."""
    return [
        (op.name, op.type, [t.name for t in op.inputs], [c.name for c in op.control_inputs], op.device)
        for op in ops
    ]


def names(elements: Any) -> list[tuple[str, str]]:
    return [("Operation" if hasattr(e, "outputs") else "Tensor", e.name) for e in elements]


def attr_value(value: Any) -> Any:
    """A get_attr value in a form both libraries' values reduce to."""
    if isinstance(value, list):
        return [attr_value(v) for v in value]
    if hasattr(value, "as_datatype_enum"):
        return ("dtype", value.as_datatype_enum, value.name)
    if hasattr(value, "SerializeToString"):
        return ("message", type(value).__name__, value.SerializeToString(deterministic=True))
    return value


def tf_import(tf: ModuleType, graph_def: Any, prelude: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """Imports into a fresh tf.Graph (after `prelude`, imported without prefix); returns the graph
    and what import_graph_def returned. ``input_map`` values are tensor names of the graph."""
    graph = tf.Graph()
    with graph.as_default():
        if prelude is not None:
            tf.compat.v1.import_graph_def(prelude, name="")
        if kwargs.get("input_map"):
            kwargs["input_map"] = {k: graph.get_tensor_by_name(v) for k, v in kwargs["input_map"].items()}
        result = tf.compat.v1.import_graph_def(graph_def, **kwargs)
    return graph, result


def fc_import(graph_def: Any, prelude: Any = None, **kwargs: Any) -> tuple[fastckpt.Graph, Any]:
    graph = fastckpt.Graph()
    if prelude is not None:
        fastckpt.import_graph_def(prelude, name="", graph=graph)
    if kwargs.get("input_map"):
        kwargs["input_map"] = {k: graph.get_tensor_by_name(v) for k, v in kwargs["input_map"].items()}
    result = fastckpt.import_graph_def(graph_def, graph=graph, **kwargs)
    return graph, result


def assert_same_graph(tf: ModuleType, tf_graph: Any, fc_graph: fastckpt.Graph) -> None:
    assert describe(fc_graph.get_operations()) == describe(tf_graph.get_operations())
    for tf_op, fc_op in zip(tf_graph.get_operations(), fc_graph.get_operations()):
        for key in tf_op.node_def.attr:
            assert attr_value(fc_op.get_attr(key)) == attr_value(tf_op.get_attr(key)), (tf_op.name, key)
        assert [t.dtype for t in fc_op.outputs] == [t.dtype for t in tf_op.outputs]
    ours = tf.compat.v1.GraphDef.FromString(fc_graph.as_graph_def().SerializeToString())
    assert list(ours.node) == list(tf_graph.as_graph_def().node)
    assert len(fc_graph) == len(tf_graph.get_operations())


# --------------------------------------------------------------------------------------------------
# GraphDefs TensorFlow builds
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic(tf: ModuleType) -> Any:
    """Placeholders, multi-output ops read as `op:k`, control dependencies, devices, colocation."""
    g = tf.Graph()
    with g.as_default():
        a = tf.compat.v1.placeholder(tf.float32, [None, 6], name="a")
        k = tf.compat.v1.placeholder(tf.int32, [], name="k")
        with tf.device("/job:w/replica:0/task:1/cpu:0"):
            s = tf.split(a, 3, axis=1, name="s")
        u = tf.unique(tf.reshape(a, [-1]), name="u")
        top = tf.math.top_k(a, k=2, name="top")
        with tf.control_dependencies([u.idx.op, top.indices.op]):
            b = tf.add(s[1], s[2], name="b")
        with tf.device("/gpu:1"):
            c = tf.identity(top.values, name="c")
        with g.colocate_with(b.op):
            tf.identity(u.y, name="colocated")
        with tf.control_dependencies([c.op]):
            tf.no_op(name="done")
        tf.cast(k, tf.float32, name="kf")
    return g.as_graph_def()


@pytest.fixture(scope="module")
def functional(tf: ModuleType) -> Any:
    """A tf.function graph: cond and while_loop as If/While with their branches in the library."""

    @tf.function
    def f(x: Any, n: Any) -> Any:
        y = tf.cond(n > 0, lambda: x * 2.0, lambda: x - 1.0)
        _, z = tf.while_loop(lambda i, v: i < n, lambda i, v: (i + 1, v + y), [tf.constant(0), y])
        return z

    concrete = f.get_concrete_function(tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32))
    graph_def = concrete.graph.as_graph_def()
    assert len(graph_def.library.function) >= 4
    return graph_def


@pytest.fixture(scope="module")
def prelude(tf: ModuleType) -> Any:
    """What input_map values come from: tensors of the destination graph."""
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.placeholder(tf.float32, [None, 6], name="x")
        tf.compat.v1.placeholder(tf.int32, [], name="two")
        tf.compat.v1.placeholder(tf.float32, [None], name="v")
        tf.no_op(name="gate")
    return g.as_graph_def()


OPTIONS = [
    {},
    {"name": "foo"},
    {"name": ""},
    {"name": "pre/"},
    {"return_elements": ["s:1", "b", "u:1", "top:1", "a"]},
    {"name": "m", "input_map": {"a:0": "x:0", "k": "two:0"}, "return_elements": ["a:0", "s:2", "kf"]},
    {"input_map": {"a": "x:0"}, "return_elements": ["b", "a:0"]},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(sorted(o)) or "default")
def test_basic_graph_like_tf(tf: ModuleType, basic: Any, prelude: Any, options: dict[str, Any]) -> None:
    tf_graph, tf_result = tf_import(tf, basic, prelude, **options)
    fc_graph, fc_result = fc_import(basic, prelude, **options)
    assert_same_graph(tf, tf_graph, fc_graph)
    if "return_elements" in options:
        assert names(fc_result) == names(tf_result)
    else:
        assert tf_result is None and fc_result is fc_graph


FUNCTION_OPTIONS = [{}, {"name": "g"}, {"input_map": {"x:0": "v:0"}, "return_elements": ["Identity:0"]}]


@pytest.mark.parametrize("options", FUNCTION_OPTIONS)
def test_function_library_like_tf(tf: ModuleType, functional: Any, prelude: Any, options: dict[str, Any]) -> None:
    tf_graph, tf_result = tf_import(tf, functional, prelude, **options)
    fc_graph, fc_result = fc_import(functional, prelude, **options)
    assert_same_graph(tf, tf_graph, fc_graph)
    # TensorFlow lists a library's functions in the order of its hash map, which depends on their
    # generated names; the functions themselves must be the same.
    ours = tf.compat.v1.GraphDef.FromString(fc_graph.as_graph_def().SerializeToString()).library
    theirs = tf_graph.as_graph_def().library
    assert sorted(f.SerializeToString(deterministic=True) for f in ours.function) == sorted(
        f.SerializeToString(deterministic=True) for f in theirs.function
    )
    assert sorted(g.SerializeToString(deterministic=True) for g in ours.gradient) == sorted(
        g.SerializeToString(deterministic=True) for g in theirs.gradient
    )
    if "return_elements" in options:
        assert names(fc_result) == names(tf_result)


def test_repeated_imports_uniquify_like_tf(tf: ModuleType, basic: Any) -> None:
    tf_graph = tf.Graph()
    fc_graph = fastckpt.Graph()
    for name in [None, None, "", "", "import", "pre/", "pre/"]:
        with tf_graph.as_default():
            tf.compat.v1.import_graph_def(basic, name=name)
        assert fastckpt.import_graph_def(basic, name=name, graph=fc_graph) is fc_graph
    assert_same_graph(tf, tf_graph, fc_graph)


def test_graph_def_kinds_and_lookups(tf: ModuleType, basic: Any) -> None:
    """TF's GraphDef, ours, and ours parsed from bytes import alike; lookups as tf.Graph's."""
    ours = fastckpt.GraphDef.FromString(basic.SerializeToString())
    tf_graph, _ = tf_import(tf, basic)
    for graph_def in (basic, ours):
        assert describe(fastckpt.import_graph_def(graph_def).get_operations()) == describe(tf_graph.get_operations())

    graph = fastckpt.import_graph_def(ours)
    op = graph.get_operation_by_name("import/u")
    assert op == graph.get_operation_by_name("import/u") and hash(op) == hash(graph.get_operation_by_name("import/u"))
    assert op.outputs[1] == graph.get_tensor_by_name("import/u:1") and op.outputs[1].op == op
    assert op.outputs[1].value_index == 1 and op.outputs[1].graph is graph and op.graph is graph
    assert op.outputs[1].dtype == tf.int32 and op.outputs[1].dtype.name == "int32"
    assert graph.get_tensor_by_name("import/u:-1") == op.outputs[-1]  # Python indexing, as TF
    assert "import/u" in graph and "import/zz" not in graph and len(graph) == len(tf_graph.get_operations())
    assert isinstance(op.node_def, fastckpt.NodeDef) and op.node_def.name == "import/u"
    assert isinstance(graph.as_graph_def(), fastckpt.GraphDef)

    for lookup in (
        lambda g: g.get_operation_by_name("zz"),
        lambda g: g.get_operation_by_name("import/u:0"),
        lambda g: g.get_operation_by_name(3),
        lambda g: g.get_tensor_by_name("import/u"),
        lambda g: g.get_tensor_by_name("zz"),
        lambda g: g.get_tensor_by_name("zz:0"),
        lambda g: g.get_tensor_by_name("import/u:2"),
        lambda g: g.get_tensor_by_name("import/u:x"),
        lambda g: g.get_tensor_by_name("import/u:0:1"),
        lambda g: g.get_tensor_by_name(None),
        lambda g: g.get_operation_by_name("import/u").get_attr("zz"),
    ):
        with pytest.raises(Exception) as tf_error:
            lookup(tf_graph)
        with pytest.raises(Exception) as fc_error:
            lookup(graph)
        assert (type(fc_error.value), str(fc_error.value)) == (type(tf_error.value), str(tf_error.value))


def test_import_releases_the_gil_and_is_thread_safe(basic: Any) -> None:
    graph = fastckpt.Graph()
    threads = [
        threading.Thread(target=fastckpt.import_graph_def, args=(basic,), kwargs={"graph": graph}) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    prefixes = sorted({op.name.split("/")[0] for op in graph.get_operations()})
    assert prefixes == ["import"] + [f"import_{i}" for i in range(1, 8)]


# --------------------------------------------------------------------------------------------------
# Errors: TensorFlow's texts, and the graph left as TensorFlow leaves it
# --------------------------------------------------------------------------------------------------


def node(tf: ModuleType, name: str, op: str, inputs: list[str] | None = None, **attrs: Any) -> Any:
    n = tf.compat.v1.NodeDef(name=name, op=op, input=inputs or [])
    for key, value in attrs.items():
        n.attr[key].CopyFrom(value)
    return n


def bad_graphs(tf: ModuleType) -> dict[str, tuple[Any, dict[str, Any]]]:
    f32 = tf.compat.v1.AttrValue(type=tf.float32.as_datatype_enum)

    def graph(*nodes: Any) -> Any:
        g = tf.compat.v1.GraphDef(node=list(nodes))
        g.versions.producer = 1882
        return g

    ph = node(tf, "a", "Placeholder", dtype=f32)
    ok = graph(ph, node(tf, "b", "Identity", ["a"], T=f32))
    return {
        "duplicate": (graph(ph, node(tf, "a", "Placeholder", dtype=f32)), {}),
        "unknown input": (graph(ph, node(tf, "b", "Identity", ["missing"], T=f32)), {}),
        "control before data": (graph(ph, node(tf, "c", "NoOp"), node(tf, "b", "Identity", ["^c", "a"], T=f32)), {}),
        "invalid output": (graph(ph, node(tf, "b", "Identity", ["a:3"], T=f32)), {}),
        "cycle": (graph(node(tf, "p", "Identity", ["q"], T=f32), node(tf, "q", "Identity", ["p"], T=f32)), {}),
        "unknown op": (graph(ph, node(tf, "x", "FooBarOp")), {}),
        "missing attr": (graph(node(tf, "x", "Placeholder")), {}),
        "dtype mismatch": (graph(ph, node(tf, "b", "Identity", ["a"], T=tf.compat.v1.AttrValue(type=3))), {}),
        "bad name": (graph(node(tf, "-x", "NoOp")), {}),
        "no op": (graph(node(tf, "x", "")), {}),
        "unused input_map key": (ok, {"input_map": {"zz:0": "x:0"}}),
        "input_map index out of range": (ok, {"input_map": {"a:5": "x:0"}}),
        "bad input_map key": (ok, {"input_map": {"a:b:c": "x:0"}}),
        "input_map dtype": (ok, {"input_map": {"a:0": "two:0"}, "name": "i"}),
        "missing return tensor": (ok, {"return_elements": ["zz:0"]}),
        "missing return op": (ok, {"return_elements": ["zz"]}),
        "return output out of range": (ok, {"return_elements": ["b:3"]}),
        "bad scope": (ok, {"name": "-bad"}),
        "bad colocation": (graph(node(tf, "x", "NoOp", _class=tf.compat.v1.AttrValue(list={"s": [b"loc:@zz"]}))), {}),
    }


CASES = [
    "duplicate", "unknown input", "control before data", "invalid output", "cycle", "unknown op", "missing attr",
    "dtype mismatch", "bad name", "no op", "unused input_map key", "input_map index out of range",
    "bad input_map key", "input_map dtype", "missing return tensor", "missing return op",
    "return output out of range", "bad scope", "bad colocation",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_errors_like_tf(tf: ModuleType, prelude: Any, case: str) -> None:
    graph_def, options = bad_graphs(tf)[case]
    with pytest.raises(Exception) as tf_error:
        tf_import(tf, graph_def, prelude, **options)
    with pytest.raises(Exception) as fc_error:
        fc_import(graph_def, prelude, **options)
    tf_exc, fc_exc = tf_error.value, fc_error.value
    if isinstance(tf_exc, tf.errors.NotFoundError):
        assert isinstance(fc_exc, fastckpt.NotFoundError) and isinstance(fc_exc, LookupError)
        assert str(fc_exc) == tf_exc.message
        assert f"in binary running on {socket.gethostname()}." in str(fc_exc)
    else:
        assert isinstance(tf_exc, ValueError), tf_exc
        assert isinstance(fc_exc, fastckpt.GraphImportError) and isinstance(fc_exc, ValueError)
        assert str(fc_exc) == str(tf_exc)

    # The graph is left as TensorFlow leaves it: rolled back, or (unused input_map keys) kept.
    tf_graph = tf.Graph()
    fc_graph = fastckpt.Graph()
    with tf_graph.as_default():
        tf.compat.v1.import_graph_def(prelude, name="")
    fastckpt.import_graph_def(prelude, name="", graph=fc_graph)
    mapped = {k: v for k, v in options.items() if k != "input_map"}
    if "input_map" in options:
        mapped["input_map"] = {k: tf_graph.get_tensor_by_name(v) for k, v in options["input_map"].items()}
    with tf_graph.as_default(), pytest.raises(Exception):
        tf.compat.v1.import_graph_def(graph_def, **mapped)
    if "input_map" in options:
        mapped["input_map"] = {k: fc_graph.get_tensor_by_name(v) for k, v in options["input_map"].items()}
    with pytest.raises(Exception):
        fastckpt.import_graph_def(graph_def, graph=fc_graph, **mapped)
    assert describe(fc_graph.get_operations()) == describe(tf_graph.get_operations())


def test_argument_errors() -> None:
    graph_def = fastckpt.GraphDef()
    node_def = graph_def.node.add(name="c", op="Const")
    node_def.attr["dtype"].type = 1
    node_def.attr["value"].tensor.dtype = 1
    graph = fastckpt.import_graph_def(graph_def)
    with pytest.raises(TypeError, match="input_map values must be"):
        fastckpt.import_graph_def(graph_def, input_map={"c:0": 1.0})
    with pytest.raises(ValueError, match="not a tensor of the graph"):
        fastckpt.import_graph_def(graph_def, input_map={"c:0": graph.get_tensor_by_name("import/c:0")})
    # tensor names of the destination graph are accepted as input_map values
    (c,) = fastckpt.import_graph_def(graph_def, {"c:0": "import/c:0"}, ["c:0"], graph=graph)
    assert c == graph.get_tensor_by_name("import/c:0")


# Argument checks of TensorFlow's importer.py: the same exception type and text, and names given
# as bytes accepted wherever TensorFlow accepts them. Each case: (graph_def, input_map,
# return_elements); "TF"/"OURS" stand for the GraphDef of each library, "X" for a tensor of the
# destination graph.
ARGUMENT_CASES: dict[str, tuple[Any, Any, Any]] = {
    "graph_def_bytes": (b"\n\x00", None, None),
    "graph_def_none": (None, None, None),
    "graph_def_dict": ({}, None, None),
    "graph_def_node_def": ("NODE", None, None),
    "input_map_list": ("GD", [("a:0", "X")], None),
    "input_map_tuple": ("GD", (), None),
    "input_map_int_key": ("GD", {1: "X", "a:0": "X"}, None),
    "input_map_none_key": ("GD", {None: "X"}, None),
    "input_map_bytes_key": ("GD", {b"a:0": "X"}, ["b:0"]),
    "return_elements_int": ("GD", None, [1]),
    "return_elements_none_inside": ("GD", None, [None, "b"]),
    "return_elements_bytes_object": ("GD", None, b"b"),
    "return_elements_not_iterable": ("GD", None, 5),
    "return_elements_bytes": ("GD", None, [b"b:0", b"a", "b"]),
    "return_elements_str_is_names": ("GD", None, "b"),
    "return_elements_tuple": ("GD", None, ("a:0",)),
}


@pytest.mark.parametrize("case", list(ARGUMENT_CASES))
def test_argument_checks_like_tf(tf: ModuleType, case: str) -> None:
    theirs_def = tf.compat.v1.GraphDef()
    for name in ("a", "b"):
        node = theirs_def.node.add(name=name, op="Placeholder")
        node.attr["dtype"].type = 1
    ours_def = fastckpt.GraphDef.FromString(theirs_def.SerializeToString())
    graph_def, input_map, return_elements = ARGUMENT_CASES[case]

    def arguments(library_def: Any, node_def: Any, tensor: Any) -> tuple[Any, Any, Any]:
        chosen = {"GD": library_def, "NODE": node_def}[graph_def] if isinstance(graph_def, str) else graph_def
        mapped = input_map
        if isinstance(input_map, dict):
            mapped = {k: tensor if v == "X" else v for k, v in input_map.items()}
        elif isinstance(input_map, list):
            mapped = [(k, tensor) for k, _ in input_map]
        return chosen, mapped, return_elements

    def outcome(run: Any) -> tuple[str, str]:
        try:
            result = run()
        except Exception as e:  # noqa: BLE001 - the type is what is compared
            return type(e).__name__, str(e)
        return "ok", repr(names(result))

    tf_graph = tf.Graph()
    with tf_graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, name="x")
        chosen, mapped, elements = arguments(theirs_def, theirs_def.node[0], x)
        theirs = outcome(lambda: tf.compat.v1.import_graph_def(chosen, mapped, elements))
    fc_graph = fastckpt.Graph()
    fastckpt.import_graph_def(ours_def, return_elements=[], name="", graph=fc_graph)  # a:0 and b:0
    chosen, mapped, elements = arguments(ours_def, ours_def.node[0], fc_graph.get_tensor_by_name("a:0"))
    ours = outcome(lambda: fastckpt.import_graph_def(chosen, mapped, elements, graph=fc_graph))
    if theirs[0] == "ok":
        assert ours[0] == "ok", ours
        # Without return_elements TensorFlow returns None and we the graph: compare the graphs.
        if return_elements is None:
            assert [op.name for op in fc_graph.get_operations()][2:] == [
                op.name for op in tf_graph.get_operations()
            ][1:]
        else:
            assert ours == theirs
    else:
        assert ours == theirs
