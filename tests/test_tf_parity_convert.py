"""TF → TF conversions that rename or leave out tensors of a TF2 checkpoint: TensorFlow 2.21
writes a Keras model's checkpoint with its optimizer, fastckpt converts it, and TensorFlow's
``tf.train.Checkpoint.restore`` must load the result into the same model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt


@pytest.fixture(scope="module")
def keras_checkpoint(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A two-layer Keras model after one Adam step, saved with its optimizer by
    ``tf.train.Checkpoint(model=..., optimizer=...).save``; ``fresh()`` builds the same model
    and optimizer untrained, as a program restoring the checkpoint would."""
    import keras

    def fresh() -> tuple[Any, Any]:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
        optimizer = keras.optimizers.Adam(1e-2)
        optimizer.build(model.trainable_variables)
        return model, optimizer

    keras.utils.set_random_seed(5)
    model, optimizer = fresh()
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(5)
    x = rng.random((5, 4), dtype=np.float32)
    model.train_on_batch(x, rng.random((5, 2), dtype=np.float32))
    prefix = tf.train.Checkpoint(model=model, optimizer=optimizer).save(str(tmp_path_factory.mktemp("keras") / "ckpt"))
    return {
        "prefix": prefix,
        "fresh": fresh,
        "x": x,
        "y": model(x).numpy(),
        "weights": [v.numpy() for v in model.weights],
        "optimizer": [v.numpy() for v in optimizer.variables],
    }


def _restore(tf: ModuleType, fresh: Callable[[], tuple[Any, Any]], prefix: str) -> tuple[Any, Any, Any]:
    model, optimizer = fresh()
    status = tf.train.Checkpoint(model=model, optimizer=optimizer).restore(prefix)
    return model, optimizer, status


def test_renamed_checkpoint_restores_into_the_model(tf: ModuleType, tmp_path: Path, keras_checkpoint: dict[str, Any]) -> None:
    """Renamed tensors: the object graph written names the new keys, so TF restores every value
    (``assert_consumed``); it named the source's keys and TF's restore raised NotFoundError."""
    out = str(tmp_path / "renamed")
    fastckpt.convert(keras_checkpoint["prefix"], out, rename=[("^model/", "net/"), ("^optimizer/", "opt/")])
    assert "opt/_iterations/.ATTRIBUTES/VARIABLE_VALUE" in fastckpt.load_checkpoint(out)
    model, optimizer, status = _restore(tf, keras_checkpoint["fresh"], out)
    status.assert_consumed()
    np.testing.assert_array_equal(model(keras_checkpoint["x"]).numpy(), keras_checkpoint["y"])
    for got, expected in zip(optimizer.variables, keras_checkpoint["optimizer"]):
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=got.path)


@pytest.mark.parametrize("how", ["rules", "callable"])
def test_rules_that_match_every_name_leave_the_object_graph_its_name(
    tf: ModuleType, tmp_path: Path, keras_checkpoint: dict[str, Any], how: str
) -> None:
    """A rule or callable that prefixes every name would also rename ``_CHECKPOINTABLE_OBJECT_GRAPH``,
    and TF would then read the output as a name-based checkpoint and restore nothing into the
    model: the object graph keeps its reserved name, and its keys name the prefixed tensors."""
    out = str(tmp_path / how)
    rename: Any = [("^", "net/")] if how == "rules" else (lambda name: "net/" + name)
    fastckpt.convert(keras_checkpoint["prefix"], out, rename=rename)
    names = set(tf.train.load_checkpoint(out).get_variable_to_shape_map())
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in names
    assert all(name.startswith("net/") for name in names - {"_CHECKPOINTABLE_OBJECT_GRAPH"})
    model, optimizer, status = _restore(tf, keras_checkpoint["fresh"], out)
    status.assert_consumed()
    np.testing.assert_array_equal(model(keras_checkpoint["x"]).numpy(), keras_checkpoint["y"])
    for got, expected in zip(optimizer.variables, keras_checkpoint["optimizer"]):
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=got.path)


def test_friendly_names_rename_the_object_graph(tf: ModuleType, tmp_path: Path, keras_checkpoint: dict[str, Any]) -> None:
    """``friendly_names``: the object graph names the friendly keys (TF's own parser reads it and
    every key it names is in the output). TF's restore cannot load such a checkpoint whatever its
    graph says: it reads a variable from its key's part up to ``.ATTRIBUTES/`` followed by
    ``VARIABLE_VALUE`` and refuses keys without ``.ATTRIBUTES/`` (ValueError)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    out = str(tmp_path / "friendly")
    fastckpt.convert(keras_checkpoint["prefix"], out, friendly_names=True)
    reader = tf.train.load_checkpoint(out)
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    keys = {attribute.checkpoint_key for node in graph.nodes for attribute in node.attributes}
    assert keys == set(reader.get_variable_to_shape_map()) - {"_CHECKPOINTABLE_OBJECT_GRAPH"}
    assert "optimizer/_iterations" in keys
    with pytest.raises(ValueError, match="substring not found"):
        _restore(tf, keras_checkpoint["fresh"], out)


def test_excluded_tensors_leave_the_object_graph(tf: ModuleType, tmp_path: Path, keras_checkpoint: dict[str, Any]) -> None:
    """Left-out tensors (Adam's moments, the last bias) are dropped from the object graph: TF
    restores the rest with ``expect_partial`` and leaves those at their initial values."""
    out = str(tmp_path / "excluded")
    fastckpt.convert(
        keras_checkpoint["prefix"],
        out,
        exclude=["optimizer/_variables/*", "optimizer/_trainable_variables/3/*"],
    )
    model, optimizer, status = _restore(tf, keras_checkpoint["fresh"], out)
    status.expect_partial()
    untrained, untrained_optimizer = keras_checkpoint["fresh"]()
    *restored, last_bias = model.weights
    for got, expected in zip(restored, keras_checkpoint["weights"]):
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=got.path)
    np.testing.assert_array_equal(last_bias.numpy(), untrained.weights[-1].numpy())
    assert int(optimizer.iterations.numpy()) == 1
    moments = [(v, w) for v, w in zip(optimizer.variables, untrained_optimizer.variables) if "iteration" not in v.path
               and "learning_rate" not in v.path]
    assert moments
    for got, initial in moments:
        np.testing.assert_array_equal(got.numpy(), initial.numpy(), err_msg=got.path)
