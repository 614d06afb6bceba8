"""Real model architectures written by TensorFlow 2.21 and read, frozen and re-written by
fastckpt: small Keras models (an LSTM/GRU stack, mixed precision) saved as SavedModels with
``tf.saved_model.save``, and TF1 graphs with partitioned and resource variables. Every result is
compared with what TensorFlow computes or restores in the same test."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt


@pytest.fixture(scope="module")
def recurrent_model(tf: ModuleType) -> tuple[Any, np.ndarray]:
    """An LSTM → bidirectional GRU → Dense Keras model after one Adam step, and an input batch."""
    import keras

    keras.utils.set_random_seed(11)
    inputs = keras.Input((6, 4))
    h = keras.layers.LSTM(8, return_sequences=True)(inputs)
    h = keras.layers.Bidirectional(keras.layers.GRU(5))(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(11)
    x = rng.random((3, 6, 4), dtype=np.float32)
    model.train_on_batch(x, rng.random((3, 2), dtype=np.float32))
    return model, x


def _run_frozen(tf: ModuleType, frozen: Any, feed: str, fetch: str, value: np.ndarray) -> Any:
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(frozen.SerializeToString()), name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(fetch, {feed: value})


def test_freeze_saved_model_of_keras_model(tf: ModuleType, tmp_path: Path, recurrent_model: Any) -> None:
    """``tf.saved_model.save`` of a Keras 3 model keys its variables ``_operations/N/…``, which
    TensorFlow refuses as node names: the frozen graph must still import and compute the
    signature's output."""
    model, x = recurrent_model
    export_dir = str(tmp_path / "saved")
    serve = tf.function(lambda batch: {"y": model(batch, training=False)},
                        input_signature=[tf.TensorSpec([None, 6, 4], tf.float32, name="x")])
    tf.saved_model.save(model, export_dir, signatures={"serving_default": serve.get_concrete_function()})
    expected = tf.saved_model.load(export_dir).signatures["serving_default"](tf.constant(x))["y"].numpy()

    frozen = fastckpt.freeze_saved_model(export_dir)
    signature = fastckpt.load_saved_model(export_dir).signatures["serving_default"]
    got = _run_frozen(tf, frozen, signature.inputs["x"].name, signature.outputs["y"].name, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    consts = {node.name for node in frozen.node if node.op == "Const"}
    keys = {key for key in fastckpt.load_checkpoint(f"{export_dir}/variables/variables") if key.startswith("_operations/")}
    assert keys and {"." + key for key in keys} <= consts
    assert not [node.name for node in frozen.node if node.op in ("VarHandleOp", "ReadVariableOp")]
