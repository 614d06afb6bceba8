"""TF2 friendly names in conversion: each tensor named by its path through the model, taken from the
checkpoint's object graph (Keras 3 stores weights under the optimizer's alias), checked against the
paths derived from real TensorFlow 2.21 / Keras 3 objects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import numpy as np
import pytest

import fastckpt

pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402

OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"


def _attribute_of(owner: Any, variable: Any) -> str:
    """The attribute under which `owner` tracks `variable` (Keras 3 Dense keeps `_kernel`)."""
    names = [name for name, value in vars(owner).items() if value is variable]
    assert len(names) == 1, (owner, variable.path, names)
    return names[0]


def _keras_paths(keras: ModuleType, model: Any, prefix: str) -> Iterator[tuple[Any, str]]:
    """`(variable, object path)` of every weight, walking the model as Keras 3 tracks it:
    a Functional model's layers by their position in `operations`, a Sequential through the
    Functional it builds, a layer's weights by the attribute that holds them."""
    for position, layer in enumerate(model.operations):
        path = f"{prefix}/_operations/{position}"
        if isinstance(layer, keras.Sequential):
            yield from _keras_paths(keras, layer._functional, f"{path}/_functional")
        elif isinstance(layer, keras.Model):
            yield from _keras_paths(keras, layer, path)
        else:
            for weight in layer.weights:
                yield weight, f"{path}/{_attribute_of(layer, weight)}"


@pytest.fixture(scope="module")
def keras_checkpoint(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """A Functional model holding a nested Sequential and a nested Functional (Conv2D and Dense
    layers), trained one step with Adam, saved by `tf.train.Checkpoint(model=, optimizer=)`; and
    the expected friendly name of every model weight."""
    import keras

    keras.utils.set_random_seed(11)
    block = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, name="inner")], name="block")
    tail_in = keras.Input((5,))
    tail = keras.Model(tail_in, keras.layers.Dense(3, name="tail_dense")(tail_in), name="tail")
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(4, name="hidden")(x)
    outputs = keras.layers.Dense(2, name="head")(tail(block(x)))
    model = keras.Model(inputs, outputs)
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    images = np.random.default_rng(11).random((2, 6, 6, 1), dtype=np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(images) - 1.0))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    prefix = tf.train.Checkpoint(model=model, optimizer=optimizer).write(
        str(tmp_path_factory.mktemp("keras") / "ckpt")
    )
    expected = {path: weight.numpy() for weight, path in _keras_paths(keras, model, "model")}
    assert len(expected) == len(model.weights) == 10
    return str(prefix), expected


def _convert(prefix: str, out: Path, tf: ModuleType) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Converts with friendly names; the `checkpoint_keys` metadata and the tensors written."""
    fastckpt.convert(prefix, out, friendly_names=True)
    with safe_open(str(out), "np") as f:
        keys: dict[str, str] = json.loads(f.metadata()["fastckpt.checkpoint_keys"])
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    return keys, tensors


def _check_against_tf(tf: ModuleType, prefix: str, keys: dict[str, str], tensors: dict[str, np.ndarray]) -> None:
    """The reverse mapping recovers every key TF lists, each value equal to TF's, and
    `object_graph(...).friendly_path` gives the same names."""
    reader = tf.train.load_checkpoint(prefix)
    tf_keys = set(reader.get_variable_to_shape_map()) - {OBJECT_GRAPH}
    assert set(keys) == set(tensors)
    assert sorted(keys.values()) == sorted(tf_keys)
    graph = fastckpt.object_graph(prefix)
    for name, key in keys.items():
        np.testing.assert_array_equal(tensors[name], reader.get_tensor(key))
        assert tensors[name].dtype == reader.get_tensor(key).dtype
        assert graph.friendly_path(key) == name
        assert graph.checkpoint_key(name) == key


def test_keras3_weights_are_named_through_the_model(
    tf: ModuleType, keras_checkpoint: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    prefix, expected = keras_checkpoint
    keys, tensors = _convert(prefix, tmp_path / "model.safetensors", tf)
    _check_against_tf(tf, prefix, keys, tensors)

    # Every model weight under the path the Keras model itself gives, with its value; TF stores
    # each of them only under the optimizer's alias.
    for path, value in expected.items():
        np.testing.assert_array_equal(tensors[path], value)
        assert keys[path].startswith("optimizer/_trainable_variables/")
    assert "model/_operations/4/_functional/_operations/1/_kernel" in expected  # the nested Sequential
    # Adam's state has no route through the model: it keeps its optimizer path, suffix stripped.
    rest = set(tensors) - set(expected)
    assert rest and all(name.startswith("optimizer/") and ".ATTRIBUTES" not in name for name in rest)
    assert "optimizer/_iterations" in rest and int(tensors["optimizer/_iterations"]) == 1


def test_tf_module_tree_is_named_by_attribute_paths(tf: ModuleType, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    model = tf.Module()
    model.encoder = tf.Module()
    model.encoder.layers = [tf.Variable(rng.standard_normal((2, 3)).astype(np.float32)) for _ in range(2)]
    model.encoder.dense = tf.Module()
    model.encoder.dense.kernel = tf.Variable(rng.standard_normal((3, 4)).astype(np.float32))
    model.head = tf.Variable(np.arange(4, dtype=np.int64))
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))

    keys, tensors = _convert(prefix, tmp_path / "module.safetensors", tf)
    _check_against_tf(tf, prefix, keys, tensors)
    expected = {
        "model/" + "/".join(map(str, path)): variable.numpy()
        for path, variable in model._flatten(predicate=lambda v: isinstance(v, tf.Variable), with_path=True)
    }
    assert len(expected) == 4
    assert set(tensors) == set(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(tensors[path], value)


def test_a_friendly_name_taken_twice_is_an_error_naming_both_keys(
    tf: ModuleType, keras_checkpoint: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    # TF's SaveV2 writes the Keras checkpoint's tensors again plus one the object graph does not
    # list, whose stripped name is the friendly name of the optimizer-aliased kernel.
    prefix, _ = keras_checkpoint
    reader = tf.train.load_checkpoint(prefix)
    names = sorted(reader.get_variable_to_shape_map())
    stray = "model/_operations/1/_kernel/.ATTRIBUTES/VARIABLE_VALUE"
    tensors = [tf.constant(reader.get_tensor(name)) for name in names] + [tf.constant(0.0)]
    out = str(tmp_path / "stray")
    slices = [""] * (len(names) + 1)
    tf.raw_ops.SaveV2(prefix=out, tensor_names=[*names, stray], shape_and_slices=slices, tensors=tensors)
    with pytest.raises(ValueError, match="would both be named 'model/_operations/1/_kernel'") as raised:
        fastckpt.convert(out, tmp_path / "o.safetensors", friendly_names=True)
    assert f"'{stray}'" in str(raised.value)
    assert "'optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE'" in str(raised.value)


def test_cli_friendly_names_use_the_object_graph(
    tf: ModuleType, keras_checkpoint: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    prefix, expected = keras_checkpoint
    out = tmp_path / "cli.safetensors"
    command = [sys.executable, "-m", "fastckpt.cli"]
    subprocess.run([*command, "convert", prefix, str(out), "--friendly-names"], check=True, timeout=120)
    with safe_open(str(out), "np") as f:
        assert set(expected) <= set(f.keys())
