"""Records what TensorFlow 2.21's `import_graph_def` does, for rust/fastckpt/tests/import.rs to replay.

Run from anywhere: python3 rust/fastckpt/tests/data/make_import_goldens.py
Outputs (beside this script, under import/):
  NAME.pb      GraphDefs built with TensorFlow (or by hand, for the error cases), serialized
               deterministically
  cases.json   a list of cases; each imports some of these GraphDefs one after the other into one
               fresh tf.Graph and records, after every step, TensorFlow's result: the returned
               elements or the exception (type and message), then the whole graph — every
               operation in get_operations() order: its NodeDef from as_graph_def() (base64; name, type,
               inputs, device, attrs), output dtypes, control inputs as Operation.control_inputs lists
               them — the graph's versions, the names
               of its functions, and what Graph.unique_name would answer for a few probes.

The message of an unknown op names the machine; it is recorded with `<host>` in its place.
"""

import base64
import json
import os
import socket

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
from tensorflow.core.framework import attr_value_pb2, graph_pb2, op_def_pb2, types_pb2  # noqa: E402
from tensorflow.python.framework import op_def_registry  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "import")
V1 = tf.compat.v1

GRAPHS = {}


def save(name, graph_def):
    GRAPHS[name] = graph_def.SerializeToString(deterministic=True)
    return name


# --------------------------------------------------------------------------------------------
# GraphDefs built with TensorFlow


def built(name, fn):
    g = tf.Graph()
    with g.as_default():
        fn()
    return save(name, g.as_graph_def())


def simple():
    a = V1.placeholder(tf.float32, [2], name="a")
    c = tf.constant([1.0, 2.0], name="c")
    b = tf.add(a, c, name="b")
    with tf.control_dependencies([c.op]):
        tf.identity(b, name="d")
    with tf.control_dependencies([b.op, a.op]):
        tf.no_op(name="e")


def multi():
    x = V1.placeholder(tf.float32, [6, 4], name="x")
    with tf.name_scope("scope"):
        parts = tf.split(x, 3, name="split")
    u = tf.unique(tf.constant([3, 1, 3, 2], name="uin"), name="unique")
    t = tf.math.top_k(tf.reshape(x, [-1]), k=2, name="topk")
    tf.add_n([parts[0], parts[1], parts[2]], name="sum")
    tf.concat([parts[2], parts[1]], axis=0, name="cat")
    tf.identity_n([u.idx, t.indices, u.y], name="idn")
    with tf.device("/cpu:0"):
        tf.identity(t.values, name="on_cpu")
    with tf.device("/job:worker/task:1/gpu:0"):
        tf.identity(t.indices, name="on_gpu")
    with tf.device("/device:CPU:*"):
        s = tf.shape(x, out_type=tf.int64, name="shape")
    with V1.colocate_with(s.op):
        tf.identity(s, name="near_shape")
    with V1.colocate_with(x.op):
        with tf.control_dependencies([u.y.op, t.values.op, parts[0].op]):
            tf.identity(x, name="near_x")


def variables():
    v = V1.Variable([1.0, 2.0], name="v", use_resource=False)
    w = V1.get_variable("w", shape=[2], use_resource=True, initializer=V1.zeros_initializer())
    tf.add(v, w.read_value(), name="sum")
    V1.assign_add(v, [1.0, 1.0], name="bump")


def v2_control_flow():
    x = V1.placeholder(tf.int32, [], name="x")

    @tf.function
    def f(y):
        return tf.cond(y > 0, lambda: y * 2, lambda: y - 1)

    r = tf.cond(x > 3, lambda: x + 1, lambda: x * 3, name="cond")
    loop = tf.while_loop(lambda i, s: i < 10, lambda i, s: (i + 1, s + i), [x, r], name="loop")
    tf.identity(f(loop[1]), name="out")


def v1_while():
    V1.disable_control_flow_v2()
    try:
        x = V1.placeholder(tf.int32, [], name="x")
        r = tf.while_loop(lambda i: i < 10, lambda i: i + 1, [x], name="loop")
        tf.identity(r, name="out")
    finally:
        V1.enable_control_flow_v2()


def training():
    """A small model with gradients and an optimizer: many ops, control edges, colocations."""
    x = V1.placeholder(tf.float32, [None, 4], name="x")
    y = V1.placeholder(tf.int32, [None], name="y")
    w = V1.get_variable("w", [4, 3], use_resource=True)
    b = V1.Variable(tf.zeros([3]), name="b", use_resource=False)
    logits = tf.nn.bias_add(tf.matmul(x, w), b)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits), name="loss")
    opt = V1.train.GradientDescentOptimizer(0.1)
    grads = V1.gradients(loss, [w, b], colocate_gradients_with_ops=True)
    opt.apply_gradients(zip(grads, [w, b]), name="train")
    V1.global_variables_initializer()
    with tf.control_dependencies([loss.op, logits.op, x.op, y.op, w.op, b.op, grads[0].op, grads[1].op, w.initializer]):
        tf.no_op(name="many_controls")


def v1_while_grad():
    V1.disable_control_flow_v2()
    try:
        x = V1.placeholder(tf.float32, [], name="x")
        r = tf.while_loop(lambda i, v: i < 5, lambda i, v: (i + 1, v * x), [0, x], name="loop")
        tf.identity(V1.gradients(r[1], x)[0], name="dx")
    finally:
        V1.enable_control_flow_v2()


# --------------------------------------------------------------------------------------------
# GraphDefs written by hand


def node(gd, name, op, inputs=(), device="", **attrs):
    n = gd.node.add()
    n.name = name
    n.op = op
    n.input.extend(inputs)
    n.device = device
    for k, v in attrs.items():
        n.attr[k].CopyFrom(v)
    return n


def attr(**kw):
    return attr_value_pb2.AttrValue(**kw)


F32 = attr(type=types_pb2.DT_FLOAT)
I32 = attr(type=types_pb2.DT_INT32)


def hand(name, build, producer=2474, **versions):
    gd = graph_pb2.GraphDef()
    if producer is not None:
        gd.versions.producer = producer
    for k, v in versions.items():
        if k == "bad_consumers":
            gd.versions.bad_consumers.extend(v)
        else:
            setattr(gd.versions, k, v)
    build(gd)
    return save(name, gd)


def ph(gd, name, dtype=F32, **kw):
    return node(gd, name, "Placeholder", dtype=dtype, **kw)


def two_ph(gd):
    ph(gd, "a")
    ph(gd, "b")


def chain(gd):
    ph(gd, "a")
    node(gd, "a_1", "Identity", ["a"], T=F32)
    node(gd, "b", "Identity", ["a_1"], T=F32)


def ordering(gd):
    # Inputs listed after their consumers, so that creation order differs from GraphDef order.
    node(gd, "z", "AddV2", ["y", "x"], T=F32)
    node(gd, "y", "Identity", ["x"], T=F32)
    ph(gd, "x")
    node(gd, "w", "NoOp", ["^z", "^x", "^y", "^x"])
    ph(gd, "v")


def colocated(gd):
    ph(gd, "a", device="/gpu:1")
    node(gd, "b", "Identity", ["a"], T=F32, _class=attr(list=attr_value_pb2.AttrValue.ListValue(s=[b"loc:@a"])))
    node(gd, "c", "Identity", ["b"], T=F32, device="/cpu:0",
         _class=attr(list=attr_value_pb2.AttrValue.ListValue(s=[b"loc:@b", b"other"])))
    node(gd, "d", "Identity", ["a"], T=F32, _class=attr(list=attr_value_pb2.AttrValue.ListValue(s=[b"loc:@d"])),
         device="/job:w/replica:1/task:2/device:cpu:3")


def shapes_attr(gd):
    shape = attr_value_pb2.AttrValue()
    shape.list.shape.add().dim.add(size=2)
    ph(gd, "a", _output_shapes=shape)
    node(gd, "b", "Identity", ["a"], T=F32, _output_shapes=shape)


def make_error_graphs():
    e = {}

    def err(name, build, **kw):
        e[name] = hand("err_" + name, build, **kw)

    err("dup", lambda gd: (ph(gd, "a"), ph(gd, "a")))
    err("bad_name", lambda gd: ph(gd, "-x"))
    err("underscore_name", lambda gd: ph(gd, "_x"))
    err("empty_op", lambda gd: node(gd, "x", ""))
    err("control_first", lambda gd: (two_ph(gd), node(gd, "c", "AddV2", ["^a", "b"], T=F32)))
    err("unknown_input", lambda gd: (ph(gd, "a"), node(gd, "b", "Identity", ["missing:1"], T=F32)))
    err("unknown_control", lambda gd: (ph(gd, "a"), node(gd, "b", "NoOp", ["^missing"])))
    err("unknown_op", lambda gd: (ph(gd, "a"), node(gd, "x", "FooBarOp", ["a"])))
    err("bad_output", lambda gd: (ph(gd, "c"), node(gd, "b", "Identity", ["c:3"], T=F32)))
    err("dtype", lambda gd: (ph(gd, "a"), node(gd, "b", "Identity", ["a"], T=I32), node(gd, "c", "Neg", ["a"], T=I32)))
    err("cycle", lambda gd: (node(gd, "a", "Identity", ["b"], T=F32), node(gd, "b", "Identity", ["a"], T=F32), ph(gd, "c")))
    err("missing_attr", lambda gd: node(gd, "x", "Placeholder"))
    err("missing_attrs", lambda gd: (ph(gd, "a"), node(gd, "x", "Cast", ["a"])))
    err("attr_kind", lambda gd: node(gd, "x", "Placeholder", dtype=attr(i=3)))
    err("attr_list_kind", lambda gd: (ph(gd, "a"), node(gd, "x", "Transpose", ["a", "a"], T=F32, Tperm=attr(s=b"x"))))
    err("attr_allowed", lambda gd: (ph(gd, "a", dtype=attr(type=types_pb2.DT_STRING)), node(gd, "x", "Neg", ["a"], T=attr(type=types_pb2.DT_STRING))))
    err("attr_minimum", lambda gd: (ph(gd, "a"), node(gd, "x", "AddN", [], T=F32, N=attr(i=0))))
    err("attr_string_allowed", lambda gd: (ph(gd, "a"), ph(gd, "f"), node(gd, "x", "Conv2D", ["a", "f"], T=F32, strides=attr(list=attr_value_pb2.AttrValue.ListValue(i=[1, 1, 1, 1])), padding=attr(s=b"WEIRD"))))
    err("ref_type", lambda gd: node(gd, "x", "Placeholder", dtype=attr(type=types_pb2.DT_FLOAT_REF)))
    err("input_count", lambda gd: (ph(gd, "a"), node(gd, "x", "NoOp", ["a"])))
    err("input_count2", lambda gd: (ph(gd, "a"), node(gd, "x", "AddV2", ["a"], T=F32)))
    err("coloc_unknown", lambda gd: ph(gd, "x", _class=attr(list=attr_value_pb2.AttrValue.ListValue(s=[b"loc:@zz"]))))
    err("producer", lambda gd: ph(gd, "a"), producer=-1)
    err("min_consumer", lambda gd: ph(gd, "a"), min_consumer=99999)
    err("bad_consumer", lambda gd: ph(gd, "a"), bad_consumers=[5, 2474])
    err("future", lambda gd: node(gd, "x", "FooBarOp"), producer=2474 + 22)
    err("future_ok", lambda gd: ph(gd, "a"), producer=2474 + 22)
    err("deprecated", lambda gd: (ph(gd, "a"), node(gd, "x", "BatchFFT", ["a"])), producer=20)
    err("few_shapes", lambda gd: (ph(gd, "a"), node(gd, "u", "Unique", ["a"], T=F32, _output_shapes=attr(list=attr_value_pb2.AttrValue.ListValue(shape=[{}])))))
    err("unknown_attr_ok", lambda gd: node(gd, "x", "NoOp", zzz=attr(i=1)))
    err("back_edge", lambda gd: (ph(gd, "a"), node(gd, "m", "Merge", ["a", "n"], T=F32, N=attr(i=2)), node(gd, "n", "NextIteration", ["m:2"], T=F32)))
    err("img_inputs", lambda gd: (ph(gd, "t", dtype=attr(type=types_pb2.DT_STRING)), node(gd, "x", "ImageSummary", ["t"])))
    err("missing_3", lambda gd: (ph(gd, "a"), node(gd, "x", "Conv2D", ["a", "a"])))
    return e


def odd_names(gd):
    ph(gd, "a.b>c")
    ph(gd, "scope")
    node(gd, "sum", "AddV2", ["a.b>c", "scope", "^a.b>c", "^scope"], T=F32)
    node(gd, "x", "Identity", ["sum"], T=F32, _output_shapes=attr(i=3))
    dbg = node(gd, "y", "Identity", ["sum"], T=F32, device="/job:a/task:0/cpu:0")
    dbg.experimental_debug_info.original_node_names.extend(["orig"])


def bad_device(gd):
    ph(gd, "a", device="/cpu:0")
    ph(gd, "b", device="/foo:bar")
    ph(gd, "c", device="/gpu:1")


def debug_info_error(gd):
    n = node(gd, "x", "Placeholder")
    n.experimental_debug_info.original_node_names.extend(["n1", "n2"])
    n.experimental_debug_info.original_func_names.extend(["f1"])


def library_variant(gd, name="MyFunc", grad=None, body_op="Neg"):
    f = gd.library.function.add()
    f.signature.name = name
    arg = f.signature.input_arg.add()
    arg.name = "x"
    arg.type = types_pb2.DT_FLOAT
    out = f.signature.output_arg.add()
    out.name = "y"
    out.type = types_pb2.DT_FLOAT
    body = f.node_def.add()
    body.name = "op"
    body.op = body_op
    body.input.append("x")
    body.attr["T"].CopyFrom(F32)
    f.ret["y"] = "op:y:0"
    if grad:
        g = gd.library.gradient.add()
        g.function_name = name
        g.gradient_func = grad
    ph(gd, "a")


def merge_with_controls(gd):
    ph(gd, "x")
    node(gd, "c", "NoOp")
    node(gd, "enter", "Enter", ["x"], T=F32, frame_name=attr(s=b"f"))
    node(gd, "merge", "Merge", ["enter", "next", "^c"], T=F32, N=attr(i=2))
    node(gd, "next", "NextIteration", ["merge"], T=F32)


def versionless(gd):
    ph(gd, "a")


def with_library(gd):
    f = gd.library.function.add()
    f.signature.name = "MyFunc"
    arg = f.signature.input_arg.add()
    arg.name = "x"
    arg.type = types_pb2.DT_FLOAT
    out = f.signature.output_arg.add()
    out.name = "y"
    out.type = types_pb2.DT_FLOAT
    body = f.node_def.add()
    body.name = "neg"
    body.op = "Neg"
    body.input.append("x")
    body.attr["T"].CopyFrom(F32)
    f.ret["y"] = "neg:y:0"
    ph(gd, "a")
    node(gd, "call", "MyFunc", ["a"])
    node(gd, "call2", "MyFunc", ["call"], device="/cpu:0")


def with_library_bad(gd):
    f = gd.library.function.add()
    f.signature.name = "OtherFunc"
    out = f.signature.output_arg.add()
    out.name = "y"
    out.type = types_pb2.DT_INT32
    body = f.node_def.add()
    body.name = "c"
    body.op = "Const"
    body.attr["dtype"].CopyFrom(I32)
    body.attr["value"].tensor.dtype = types_pb2.DT_INT32
    body.attr["value"].tensor.int_val.append(1)
    f.ret["y"] = "c:output:0"
    node(gd, "call", "OtherFunc")
    node(gd, "bad", "Neg", ["call"], T=F32)


def defaults_graph(gd):
    ph(gd, "a")
    # Empty attr values: Python replaces them with the OpDef default; absent ones are added.
    n = node(gd, "m", "MatMul", ["a", "a"], T=F32)
    n.attr["transpose_a"].CopyFrom(attr_value_pb2.AttrValue())
    node(gd, "s", "Split", ["dim", "a"], T=F32, num_split=attr(i=2))
    node(gd, "dim", "Const", dtype=I32, value=attr(tensor={"dtype": types_pb2.DT_INT32, "int_val": [0]}))
    node(gd, "zz", "Identity", ["s:1"], T=F32, newer_attr=attr(i=7))


def producer_ops():
    ops = op_def_pb2.OpList()
    op = ops.op.add()
    op.CopyFrom(op_def_registry.get("Identity"))
    extra = op.attr.add()
    extra.name = "newer_attr"
    extra.type = "int"
    extra.default_value.i = 7
    return ops


def prefixes(gd):
    ph(gd, "a")
    node(gd, "a_1", "Identity", ["a"], T=F32)
    node(gd, "pre", "Identity", ["a"], T=F32)
    node(gd, "scope/x", "Identity", ["a_1"], T=F32)


# --------------------------------------------------------------------------------------------
# Replay and record


def tensor_or_op(g, name):
    return g.get_tensor_by_name(name) if ":" in name else g.get_operation_by_name(name)


def snapshot(g, before):
    """The graph after a step; operations the previous snapshot had (a prefix) only by count."""
    gd = g.as_graph_def()
    ops = []
    all_ops = g.get_operations()
    # Names may repeat (TensorFlow can give two imported nodes one name): match by position.
    assert [n.name for n in gd.node] == [op.name for op in all_ops]
    kept = 0
    while kept < min(len(before), len(all_ops)) and before[kept] == all_ops[kept].name:
        kept += 1
    for op, nd in zip(all_ops[kept:], gd.node[kept:]):
        typed = nd.HasField("experimental_type")
        nd.ClearField("experimental_type")
        rec = {
            "node_def": base64.b64encode(nd.SerializeToString(deterministic=True)).decode(),
            "outputs": [t.dtype.as_datatype_enum for t in op.outputs],
        }
        if op.control_inputs:
            names = [c.name for c in op.control_inputs]
            # Past a few incoming edges TensorFlow keeps them in a hash set of pointers, whose order
            # changes from run to run: recorded sorted then (the test compares sets).
            rec["control_inputs"] = sorted(names) if len(op.inputs) + len(names) > 4 else names
        if typed:
            rec["experimental_type"] = True
        ops.append(rec)
    v = gd.versions
    probes = ["import", "import_1", "a", "A", "pre", "scope", "outer", "outer/import"]
    return {
        "kept": kept,
        "ops": ops,
        "versions": [v.producer, v.min_consumer, list(v.bad_consumers)],
        "functions": sorted(f.signature.name for f in gd.library.function),
        "gradients": sorted([x.function_name, x.gradient_func] for x in gd.library.gradient),
        "unique_names": {p: g.unique_name(p, mark_as_used=False) for p in probes},
    }


def run_case(case_name, steps):
    g = tf.Graph()
    recorded = []
    before = []
    for step in steps:
        gd = graph_pb2.GraphDef()
        gd.ParseFromString(GRAPHS[step["graph"]])
        kw = {}
        if "name" in step:
            kw["name"] = step["name"]
        if "input_map" in step:
            kw["input_map"] = {k: g.get_tensor_by_name(v) for k, v in step["input_map"].items()}
        if "return_elements" in step:
            kw["return_elements"] = step["return_elements"]
        if "producer_op_list" in step:
            kw["producer_op_list"] = PRODUCER_OPS
        result = {}
        with g.as_default():
            try:
                with g.name_scope(step["scope"]) if "scope" in step else _null():
                    with g.device(step["device"]) if "device" in step else _null():
                        out = V1.import_graph_def(gd, **kw)
                if out is None:
                    result["returned"] = None
                else:
                    result["returned"] = [("tensor:" + x.name) if isinstance(x, tf.Tensor) else ("op:" + x.name) for x in out]
            except Exception as e:  # noqa: BLE001 - every exception is a recorded outcome
                msg = str(e).replace(f" running on {socket.gethostname()}.", " running on <host>.")
                result["error"] = [type(e).__name__, msg]
        result["graph"] = snapshot(g, before)
        before = [op.name for op in g.get_operations()]
        recorded.append({"step": step, "result": result})
    return {"case": case_name, "steps": recorded}


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def main():
    global PRODUCER_OPS
    os.makedirs(OUT, exist_ok=True)
    PRODUCER_OPS = producer_ops()
    with open(os.path.join(OUT, "producer_ops.pb"), "wb") as f:
        f.write(PRODUCER_OPS.SerializeToString(deterministic=True))

    built("simple", simple)
    built("multi", multi)
    built("variables", variables)
    built("v2_control_flow", v2_control_flow)
    built("v1_while", v1_while)
    built("training", training)
    built("v1_while_grad", v1_while_grad)
    hand("odd_names", odd_names)
    hand("bad_device", bad_device)
    hand("debug_info_error", debug_info_error)
    hand("lib_grad1", lambda gd: library_variant(gd, grad="G1"))
    hand("lib_grad2", lambda gd: library_variant(gd, grad="G2"))
    hand("lib_other_body", lambda gd: library_variant(gd, body_op="Abs"))
    hand("lib_named_like_op", lambda gd: library_variant(gd, name="Neg"))
    hand("merge_with_controls", merge_with_controls)
    hand("two_ph", two_ph)
    hand("chain", chain)
    hand("ordering", ordering)
    hand("colocated", colocated)
    hand("shapes_attr", shapes_attr)
    hand("versionless", versionless, producer=None)
    hand("with_library", with_library, producer=100, min_consumer=3, bad_consumers=[7, 1])
    hand("with_library_bad", with_library_bad)
    hand("defaults", defaults_graph)
    hand("prefixes", prefixes)
    hand("just_a", lambda gd: ph(gd, "a"))
    errors = make_error_graphs()

    S = lambda graph, **kw: dict(graph=graph, **kw)  # noqa: E731
    cases = {
        "simple_default_name_twice": [S("simple"), S("simple"), S("simple", name="import")],
        "simple_named": [S("simple", name="foo"), S("simple", name="foo"), S("simple", name="Foo")],
        "simple_verbatim_prefix": [S("simple", name="pre/"), S("simple", name="pre/"), S("simple", name="pre")],
        "simple_empty_name": [S("simple", name=""), S("simple", name=""), S("simple", name="")],
        "spec_uniquify": [S("chain", name=""), S("chain", name="")],
        "prefix_collisions": [S("prefixes", name=""), S("prefixes", name=""), S("prefixes", name="pre/"), S("prefixes", name="pre/")],
        "scope_names": [S("simple", scope="outer"), S("simple", scope="outer", name="x"), S("simple", scope="outer", name="")],
        "invalid_scope": [S("simple", name="-bad"), S("simple", name="a\\b"), S("simple", name="_x"), S("simple", scope="outer", name="-ok")],
        "ordering": [S("ordering"), S("ordering", name="")],
        "multi": [S("multi", return_elements=["scope/split:1", "unique:1", "topk:1", "idn", "sum:0", "x"])],
        "multi_device_scope": [S("multi", device="/job:ps"), S("colocated", device="/job:ps/gpu:3")],
        "colocated": [S("colocated"), S("colocated", name="")],
        "variables": [S("variables"), S("variables", name="")],
        "v2_control_flow": [S("v2_control_flow"), S("v2_control_flow", name="again", return_elements=["out:0", "loop"])],
        "v1_while": [S("v1_while"), S("v1_while", name="")],
        "input_map": [
            S("two_ph", name=""),
            S("simple", input_map={"a:0": "b:0"}, return_elements=["a:0", "b:0", "b", "a"]),
            S("simple", input_map={"a": "a:0", "^c": "b:0", "^b": "b:0"}),
            S("simple", input_map={"zz:0": "a:0", "a:5": "a:0", "e:0": "a:0", "^qq": "b:0", "d:0": "a:0", "^e": "b:0"}),
            S("simple", input_map={"a:0": "import/b:0"}),
        ],
        "input_map_errors": [
            S("two_ph", name=""),
            S("simple", input_map={"a:b:c": "a:0"}),
            S("simple", input_map={"a:x": "a:0"}),
            S("simple", return_elements=["b:1:2"]),
            S("simple", return_elements=["b: 0", "b:+0", "b:0_0"]),
            S("simple", input_map={"a:0": "a:0", "zz:0": "a:0"}, return_elements=["qq:0"]),
        ],
        "input_map_dtype": [S("multi", name="base"), S("chain", input_map={"a:0": "base/uin:0"})],
        "return_errors": [
            S("simple", return_elements=["zz:0"]),
            S("simple", return_elements=["zz"]),
            S("simple", return_elements=["b:3"]),
            S("simple", return_elements=["b:0", "zz"]),
            S("simple", return_elements=[]),
        ],
        "shapes_attr": [S("shapes_attr")],
        "versionless": [S("versionless"), S("simple")],
        "library_failed_first": [S("with_library_bad"), S("with_library_bad", name="")],
        "duplicate_names_quirk": [S("just_a", name="pre/"), S("chain", name="pre/")],
        "library": [S("with_library"), S("with_library", name=""), S("with_library_bad"), S("simple")],
        "training": [S("training"), S("training", name="", return_elements=["loss:0", "train", "w:0"])],
        "training_into_scope": [
            S("training", name="outer"),
            S("training", scope="outer", input_map={"x:0": "outer/x:0", "^loss": "outer/y:0", "y": "outer/y:0"},
              device="/job:t", return_elements=["x:0", "y", "train", "many_controls", "loss:0"]),
        ],
        "v1_while_grad": [S("v1_while_grad"), S("v1_while_grad", name="")],
        "odd_names": [S("prefixes", name=""), S("odd_names", name=""), S("odd_names")],
        "bad_device": [S("bad_device"), S("simple")],
        "debug_info_error": [S("debug_info_error")],
        "library_conflicts": [S("lib_grad1"), S("lib_grad1", name=""), S("lib_grad2"), S("lib_other_body"), S("lib_named_like_op"), S("simple")],
        "merge_with_controls": [S("merge_with_controls"), S("merge_with_controls", input_map={"^c": "import/x:0"})],
        "input_map_same_key_twice": [S("two_ph", name=""), S("simple", input_map={"a": "a:0", "a:0": "b:0"}, return_elements=["a:0", "b"])],
        "defaults": [S("defaults", producer_op_list=True), S("defaults")],
    }
    for name, graph in errors.items():
        cases["error_" + name] = [S("two_ph", name=""), S(graph)]

    recorded = [run_case(name, steps) for name, steps in cases.items()]
    for name, data in GRAPHS.items():
        with open(os.path.join(OUT, name + ".pb"), "wb") as f:
            f.write(data)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"tensorflow": tf.__version__, "cases": recorded}, f, sort_keys=True)
        f.write("\n")
    print(f"{len(recorded)} cases, {sum(len(c['steps']) for c in recorded)} imports")


if __name__ == "__main__":
    main()
