"""``fastckpt.freeze_saved_model`` and ``fastckpt freeze`` against TensorFlow 2.21: SavedModels
written by TF (a ``tf.Module`` with control flow, a Keras model) frozen by us into one
``GraphDef``, imported with ``tf.compat.v1.import_graph_def`` and run — the outputs must equal
the original SavedModel signature's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt

COMMAND = [sys.executable, "-m", "fastckpt.cli"]


def _module(tf: ModuleType) -> Any:
    class Block(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
            self.b = tf.Variable(np.array([0.5, -1.0, 0.25, 2.0], np.float32))

        def __call__(self, x: Any) -> Any:
            return tf.nn.relu(tf.matmul(x, self.w) + self.b)

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = Block()
            self.gain = tf.Variable(1.5)
            self.steps = tf.Variable(2)
            self.unused = tf.Variable(tf.zeros([100]))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x: Any) -> Any:
            h = self.block(x)
            h = tf.cond(tf.reduce_sum(h) > 1.0, lambda: h * self.gain, lambda: h - self.gain)
            _, h = tf.while_loop(lambda i, a: i < self.steps, lambda i, a: (i + 1, a + self.block.b), [0, h])
            return {"y": h, "total": tf.reduce_sum(h)}

    return Model()


def _run_frozen(tf: ModuleType, frozen: Any, signature: Any, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(frozen.SerializeToString()), name="")
    assert not [n.name for n in graph.as_graph_def().node if n.op in ("VarHandleOp", "VariableV2")]
    with tf.compat.v1.Session(graph=graph) as sess:
        fetched = sess.run({k: v.name for k, v in signature.outputs.items()},
                           {signature.inputs[k].name: value for k, value in feeds.items()})
    return dict(fetched)


def _check(tf: ModuleType, export_dir: Path, feeds: dict[str, np.ndarray], frozen: Any = None) -> None:
    original = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    expected = {k: v.numpy() for k, v in original(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
    frozen = frozen if frozen is not None else fastckpt.freeze_saved_model(export_dir)
    signature = fastckpt.load_saved_model(export_dir, ["serve"]).signatures["serving_default"]
    got = _run_frozen(tf, frozen, signature, feeds)
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-6)


def test_tf_module_with_control_flow(tf: ModuleType, tmp_path: Path) -> None:
    export_dir = tmp_path / "module"
    tf.saved_model.save(_module(tf), str(export_dir))
    frozen = fastckpt.freeze_saved_model(export_dir)
    consts = {n.name for n in frozen.node if n.op == "Const"}
    assert "block/w/.ATTRIBUTES/VARIABLE_VALUE" in consts and "gain/.ATTRIBUTES/VARIABLE_VALUE" in consts
    assert not any("unused" in name for name in consts), consts
    _check(tf, export_dir, {"x": np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)}, frozen)


def test_keras_model(tf: ModuleType, tmp_path: Path) -> None:
    keras = tf.keras
    inputs = keras.Input(shape=(6,), name="features")
    h = keras.layers.Dense(8, activation="relu")(inputs)
    h = keras.layers.BatchNormalization()(h)
    outputs = keras.layers.Dense(2, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(2)
    model.fit(rng.normal(size=(32, 6)).astype(np.float32), rng.integers(0, 2, 32), epochs=1, verbose=0)
    export_dir = tmp_path / "keras"
    if hasattr(model, "export"):
        model.export(str(export_dir), verbose=False)
    else:
        tf.saved_model.save(model, str(export_dir))
    signature = fastckpt.load_saved_model(export_dir, ["serve"]).signatures["serving_default"]
    (input_key,) = signature.inputs
    _check(tf, export_dir, {input_key: rng.normal(size=(4, 6)).astype(np.float32)})


def test_unknown_signature_and_missing_folder(tf: ModuleType, tmp_path: Path) -> None:
    export_dir = tmp_path / "module"
    tf.saved_model.save(_module(tf), str(export_dir))
    with pytest.raises(KeyError, match="nope"):
        fastckpt.freeze_saved_model(export_dir, signature="nope")
    with pytest.raises(fastckpt.CheckpointNotFoundError):
        fastckpt.freeze_saved_model(tmp_path / "missing")


def test_cli_freeze_saved_model_and_tf1_graph(tf: ModuleType, tmp_path: Path) -> None:
    export_dir = tmp_path / "module"
    tf.saved_model.save(_module(tf), str(export_dir))
    out = tmp_path / "frozen.pb"
    done = subprocess.run([*COMMAND, "freeze", str(export_dir), "-o", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    _check(tf, export_dir, {"x": np.ones((2, 3), np.float32)}, fastckpt.read_graph_def(out))
    # A TF1 graph and its checkpoint.
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        w = v1.get_variable("w", initializer=tf.constant([[1.0, 2.0], [3.0, 4.0]]))
        tf.identity(tf.matmul(x, w), name="y")
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "tf1" / "model"))
    graph_path = fastckpt.write_graph(fastckpt.GraphDef.FromString(graph.as_graph_def().SerializeToString()),
                                      str(tmp_path), "graph.pb", as_text=False)
    out1 = tmp_path / "frozen1.pb"
    done = subprocess.run([*COMMAND, "freeze", graph_path, "--checkpoint", prefix, "--outputs", "y", "-o", str(out1)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    fresh = tf.Graph()
    with fresh.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(out1.read_bytes()), name="")
    with tf.compat.v1.Session(graph=fresh) as sess:
        np.testing.assert_array_equal(sess.run("y:0", {"x:0": [[1.0, 1.0]]}), [[4.0, 6.0]])
    bad = subprocess.run([*COMMAND, "freeze", graph_path, "-o", str(out1)], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--checkpoint" in bad.stderr
