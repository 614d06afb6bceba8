"""``fastckpt.freeze_graph`` against real TensorFlow: TF1 graphs with ref and resource variables,
saved by ``tf.compat.v1.train.Saver``, frozen by us, imported into a fresh graph and run — the
outputs must equal the original graph restored from the checkpoint, and the node set must match
``tf.compat.v1.graph_util.convert_variables_to_constants``."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt


def _build_mlp(tf: ModuleType, use_resource: bool) -> tuple[Any, Any, Any]:
    """A 2-layer MLP on placeholders with a scalar and an int64 variable, an unused variable and
    ops on a device; returns the graph, the init op and the saver."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(7)
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        scale = v1.placeholder_with_default(np.float32(1.0), [], name="scale")
        with v1.variable_scope("dense"):
            w1 = v1.get_variable("kernel", [4, 8], use_resource=use_resource)
            b1 = v1.get_variable("bias", [8], initializer=v1.random_normal_initializer(), use_resource=use_resource)
        with v1.variable_scope("dense_1"), tf.device("/device:CPU:0"):
            w2 = v1.get_variable("kernel", [8, 3], use_resource=use_resource)
            b2 = v1.get_variable("bias", [3], initializer=v1.constant_initializer(0.5), use_resource=use_resource)
        gain = v1.get_variable("gain", [], initializer=v1.constant_initializer(1.5), use_resource=use_resource)
        step = v1.get_variable("step", [], tf.int64, initializer=v1.zeros_initializer(), use_resource=use_resource)
        v1.get_variable("unused", [1000], use_resource=use_resource)
        hidden = tf.nn.relu(tf.matmul(x, w1) + b1)
        logits = (tf.matmul(hidden, w2) + b2) * gain * scale
        tf.identity(logits, name="output")
        tf.identity(tf.cast(step, tf.float32) + 2.0, name="step_out")
        init = v1.global_variables_initializer()
        saver = v1.train.Saver()
    return graph, init, saver


def _save(tf: ModuleType, tmp_path: Path, use_resource: bool) -> tuple[Any, str, np.ndarray[Any, Any], Any]:
    graph, init, saver = _build_mlp(tf, use_resource)
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(init)
        prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=3)
    feed = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with tf.compat.v1.Session(graph=graph) as sess:
        saver.restore(sess, prefix)
        expected = sess.run(["output:0", "step_out:0"], {"x:0": feed})
        reference = tf.compat.v1.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), ["output", "step_out"]
        )
    return graph, prefix, feed, (expected, reference)


def _run_frozen(tf: ModuleType, frozen: Any, feed: np.ndarray[Any, Any]) -> list[Any]:
    tf_graph_def = tf.compat.v1.GraphDef.FromString(frozen.SerializeToString())
    fresh = tf.Graph()
    with fresh.as_default():
        tf.compat.v1.import_graph_def(tf_graph_def, name="")
    with tf.compat.v1.Session(graph=fresh) as sess:
        result: list[Any] = sess.run(["output:0", "step_out:0"], {"x:0": feed})
    return result


@pytest.mark.parametrize("use_resource", [False, True], ids=["ref", "resource"])
def test_frozen_graph_runs_like_the_restored_original(tf: ModuleType, tmp_path: Path, use_resource: bool) -> None:
    graph, prefix, feed, (expected, reference) = _save(tf, tmp_path, use_resource)
    frozen = fastckpt.freeze_graph(graph.as_graph_def(), prefix, ["output", "step_out"])
    assert isinstance(frozen, fastckpt.GraphDef)
    got = _run_frozen(tf, frozen, feed)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
    np.testing.assert_array_equal(got[1], expected[1])

    ops = {n.name: n.op for n in frozen.node}
    assert ops == {n.name: n.op for n in reference.node}
    variables = ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias", "gain", "step"]
    assert all(ops[v] == "Const" for v in variables)
    assert "unused" not in ops
    assert not {"Assign", "AssignVariableOp", "SaveV2", "RestoreV2"} & set(ops.values())
    assert "ReadVariableOp" not in ops.values() and "VarHandleOp" not in ops.values()
    by_name = {n.name: n for n in frozen.node}
    readers = [n for n in frozen.node if n.op == "Identity" and n.input[0] in variables]
    assert len(readers) >= len(variables) and all(n.attr["T"].type in (1, 9) for n in readers)
    ours, theirs = by_name["dense/kernel"], {n.name: n for n in reference.node}["dense/kernel"]
    assert ours.attr["value"].tensor.tensor_content == theirs.attr["value"].tensor.tensor_content
    assert ours.attr["value"].tensor.tensor_shape == theirs.attr["value"].tensor.tensor_shape
    assert by_name["gain"].attr["value"].tensor.float_val == [1.5]
    assert by_name["step"].attr["value"].tensor.dtype == 9
    assert by_name["dense_1/kernel"].device == "/device:CPU:0"
    # Attrs of the rewritten readers are what TensorFlow writes, apart from the kept device.
    for name, node in by_name.items():
        if name in variables:
            continue
        ref_node = {n.name: n for n in reference.node}[name]
        assert dict(node.attr) == dict(ref_node.attr), name
        assert list(node.input) == list(ref_node.input), name


def test_frozen_graph_from_a_folder_and_a_tf_graph(tf: ModuleType, tmp_path: Path) -> None:
    graph, _, feed, (expected, _) = _save(tf, tmp_path, True)
    frozen = fastckpt.freeze_graph(graph, tmp_path, "output")
    fresh = tf.Graph()
    with fresh.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(frozen.SerializeToString()), name="")
    with tf.compat.v1.Session(graph=fresh) as sess:
        np.testing.assert_allclose(sess.run("output:0", {"x:0": feed}), expected[0], rtol=1e-6)
    assert "step" not in {n.name for n in frozen.node}


def test_frozen_graph_round_trips_through_write_graph(tf: ModuleType, tmp_path: Path) -> None:
    graph, prefix, feed, (expected, _) = _save(tf, tmp_path, False)
    ours = fastckpt.GraphDef.FromString(graph.as_graph_def().SerializeToString())
    frozen = fastckpt.freeze_graph(ours, prefix, ["output", "step_out"])
    path = fastckpt.write_graph(frozen, str(tmp_path), "frozen.pb", as_text=False)
    back = fastckpt.read_graph_def(path)
    assert back == frozen
    np.testing.assert_allclose(_run_frozen(tf, back, feed)[0], expected[0], rtol=1e-6)


def test_missing_variable_names_variable_and_checkpoint(tf: ModuleType, tmp_path: Path) -> None:
    graph, init, _ = _build_mlp(tf, False)
    with graph.as_default():
        saver = tf.compat.v1.train.Saver([v for v in tf.compat.v1.global_variables() if v.op.name != "gain"])
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(init)
        prefix = saver.save(sess, str(tmp_path / "partial"))
    with pytest.raises(fastckpt.TensorNotFoundError) as info:
        fastckpt.freeze_graph(graph.as_graph_def(), prefix, ["output"])
    assert isinstance(info.value, KeyError)
    assert "gain" in str(info.value) and prefix in str(info.value)
    with pytest.raises(ValueError, match="nope is not in graph"):
        fastckpt.freeze_graph(graph.as_graph_def(), prefix, ["nope"])


def test_dtype_mismatch_is_refused(tmp_path: Path) -> None:
    prefix = str(tmp_path / "ckpt")
    fastckpt.save({"v": np.zeros(3, np.int32)}, prefix)
    graph_def = fastckpt.GraphDef()
    graph_def.node.add(name="v", op="VariableV2", attr={"dtype": {"type": 1}})
    with pytest.raises(ValueError, match="dtype"):
        fastckpt.freeze_graph(graph_def, prefix, ["v"])


def test_constants_are_encoded_as_tensorflow_encodes_them(tf: ModuleType, tmp_path: Path) -> None:
    """Constants take the fields TensorFlow's own freezing gives them (``make_tensor_proto``'s
    rules, one implementation in the engine): typed fields for bool, complex and uint16 values
    even with many elements, ``tensor_content`` for the packed dtypes."""
    v1 = tf.compat.v1
    values = {
        "flags": np.array([True, False, True]),
        "phases": np.array([1 + 2j, -3.5j], np.complex64),
        "counts": np.array([1, 2, 65535, 4], np.uint16),
        "bytes": np.array([[1, 2], [3, 4]], np.int8),
        "one": np.array([7], np.int64),
    }
    graph = tf.Graph()
    with graph.as_default():
        variables = [v1.Variable(value, name=name, use_resource=False) for name, value in values.items()]
        outputs = [tf.identity(v, name=f"{v.op.name}_out") for v in variables]
        init = v1.global_variables_initializer()
        saver = v1.train.Saver()
    with v1.Session(graph=graph) as sess:
        sess.run(init)
        prefix = saver.save(sess, str(tmp_path / "model"))
        reference = v1.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), [o.op.name for o in outputs]
        )
    frozen = fastckpt.freeze_graph(graph.as_graph_def(), prefix, [o.op.name for o in outputs])
    theirs = {n.name: n for n in reference.node}
    ours = {n.name: n for n in frozen.node}
    for name in values:
        expected = theirs[name].attr["value"].tensor.SerializeToString(deterministic=True)
        assert ours[name].attr["value"].tensor.SerializeToString(deterministic=True) == expected, name


# --------------------------------------------------------------------------------------------
# Variables flowing into function calls


def _function_graph(tf: ModuleType) -> tuple[Any, list[str]]:
    """A TF1 graph whose variables reach functions: resource handles captured by a ``tf.function``
    (``StatefulPartitionedCall``), read there directly, inside a ``tf.cond`` (``If``) and a
    ``tf.while_loop`` (``While``) in it, and through a nested ``tf.function``; and a ref
    variable's value passed as an argument (``PartitionedCall``)."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(11)
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        kernel = v1.get_variable("kernel", [3, 2], use_resource=True)
        bias = v1.get_variable("bias", [2], use_resource=True, initializer=v1.random_normal_initializer())
        gain = v1.get_variable("gain", [], use_resource=True, initializer=v1.constant_initializer(1.5))
        steps = v1.get_variable("steps", [], tf.int32, use_resource=True, initializer=v1.constant_initializer(3))
        scale = v1.get_variable("scale", [2], use_resource=False, initializer=v1.constant_initializer(0.5))

        @tf.function
        def inner(h: Any) -> Any:
            return h + bias

        @tf.function
        def model(inputs: Any) -> Any:
            h = inner(tf.matmul(inputs, kernel))
            h = tf.cond(tf.reduce_sum(h) > 0.0, lambda: h * gain, lambda: h - gain)
            _, h = tf.while_loop(lambda i, acc: i < steps, lambda i, acc: (i + 1, acc + bias), [0, h])
            return h

        @tf.function
        def scaled(h: Any, s: Any) -> Any:
            return h * s

        y = tf.identity(model(x), name="y")
        tf.identity(scaled(y, scale.value()), name="z")
        v1.add_to_collection("init", v1.global_variables_initializer())
    return graph, ["y", "z"]


def test_variables_used_inside_functions_are_frozen(tf: ModuleType, tmp_path: Path) -> None:
    v1 = tf.compat.v1
    graph, outputs = _function_graph(tf)
    ops = {n.op for n in graph.as_graph_def().node}
    assert {"StatefulPartitionedCall", "PartitionedCall"} <= ops, ops
    feed = np.random.default_rng(5).normal(size=(4, 3)).astype(np.float32)
    with graph.as_default():
        saver = v1.train.Saver()
    with v1.Session(graph=graph) as sess:
        sess.run(graph.get_collection("init")[0])
        prefix = saver.save(sess, str(tmp_path / "model"))
        expected = sess.run([f"{o}:0" for o in outputs], {"x:0": feed})
    frozen = fastckpt.freeze_graph(graph, prefix, outputs)
    nodes = {n.name: n for n in frozen.node}
    assert nodes["kernel"].op == "Const" and nodes["scale"].op == "Const"
    library_ops = {n.op for f in frozen.library.function for n in f.node_def}
    assert "ReadVariableOp" not in library_ops and "Identity" in library_ops
    assert not any(a.type == tf.resource.as_datatype_enum
                   for f in frozen.library.function for a in f.signature.input_arg)
    got = _run_frozen_outputs(tf, frozen, outputs, feed)
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def _run_frozen_outputs(tf: ModuleType, frozen: Any, outputs: list[str], feed: Any) -> list[Any]:
    fresh = tf.Graph()
    with fresh.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(frozen.SerializeToString()), name="")
    assert not [n for n in fresh.as_graph_def().node if n.op in ("VarHandleOp", "VariableV2")]
    with tf.compat.v1.Session(graph=fresh) as sess:
        return list(sess.run([f"{o}:0" for o in outputs], {"x:0": feed}))
