"""TF2 object-based checkpoints against TensorFlow 2.21: fastckpt reads the object tree and values
TF wrote, re-writes them, and TF restores the result into fresh objects with
``assert_consumed()``; fastckpt writes nested mappings that TF restores into ``tf.Module`` trees."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt
from fastckpt import Checkpoint, object_graph

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def _module_tree(tf: ModuleType, seed: int) -> Any:
    """``root.encoder.dense.{kernel,bias}``, ``root.encoder.layers = [v0, v1]``, ``root.step``."""
    rng = np.random.default_rng(seed)

    class Dense(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(rng.random((3, 2), dtype=np.float32))
            self.bias = tf.Variable(rng.random(2, dtype=np.float32))

    class Encoder(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = Dense()
            self.layers = [tf.Variable(rng.random(4)), tf.Variable(np.int32(seed))]

    root = tf.Module()
    root.encoder = Encoder()
    root.step = tf.Variable(np.int64(seed))
    return root


def _values(module: Any) -> dict[str, np.ndarray[Any, Any]]:
    return {
        "kernel": module.encoder.dense.kernel.numpy(),
        "bias": module.encoder.dense.bias.numpy(),
        "layer0": module.encoder.layers[0].numpy(),
        "layer1": module.encoder.layers[1].numpy(),
        "step": module.step.numpy(),
    }


def test_module_tree_tf_writes_fastckpt_rewrites_tf_restores(tf: ModuleType, tmp_path: Path) -> None:
    written = _module_tree(tf, 1)
    prefix = tf.train.Checkpoint(model=written).save(str(tmp_path / "tf" / "ckpt"))

    graph = object_graph(prefix)
    reader = fastckpt.load_checkpoint(prefix)
    assert graph.serialized == reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    variables = graph.variables()
    assert variables["model/encoder/dense/kernel"] == "model/encoder/dense/kernel" + VALUE
    assert variables["model/encoder/layers/1"] == "model/encoder/layers/1" + VALUE
    assert graph.checkpoint_key("save_counter") == "save_counter" + VALUE
    assert graph.friendly_path("model/step" + VALUE) == "model/step"
    assert sorted(variables.values()) == sorted(k for k in reader.keys() if k != "_CHECKPOINTABLE_OBJECT_GRAPH")
    kernel_node = graph.nodes[graph.nodes[graph.nodes[graph.root.children["model"]].children["encoder"]].children["dense"]]
    assert list(kernel_node.children) == ["kernel", "bias"]

    ckpt = Checkpoint()
    tree = ckpt.read(prefix)
    assert ckpt.save_counter == 1
    expected = _values(written)
    np.testing.assert_array_equal(tree["model"]["encoder"]["dense"]["kernel"], expected["kernel"])
    np.testing.assert_array_equal(tree["model"]["encoder"]["layers"]["0"], expected["layer0"])
    assert tree["model"]["encoder"]["layers"]["1"] == expected["layer1"]
    assert tree["model"]["step"].dtype == np.int64

    # Change every value (in place and by replacement), keep the names: the graph is kept as is.
    tree["model"]["encoder"]["dense"]["kernel"] *= 10
    tree["model"]["encoder"]["dense"]["bias"] = np.array([7, 8], np.float32)
    tree["model"]["step"] = np.int64(99)
    out = ckpt.save(str(tmp_path / "ours" / "ckpt"))
    assert out.endswith("ckpt-2") and ckpt.save_counter == 2
    assert object_graph(out).serialized == graph.serialized

    fresh = _module_tree(tf, 2)
    restoring = tf.train.Checkpoint(model=fresh)
    restoring.restore(out).assert_consumed()
    np.testing.assert_array_equal(fresh.encoder.dense.kernel.numpy(), expected["kernel"] * 10)
    np.testing.assert_array_equal(fresh.encoder.dense.bias.numpy(), [7, 8])
    np.testing.assert_array_equal(fresh.encoder.layers[0].numpy(), expected["layer0"])
    assert fresh.step.numpy() == 99 and int(restoring.save_counter.numpy()) == 2
    assert tf.train.latest_checkpoint(str(tmp_path / "ours")) == out


def _keras_model_and_optimizer(tf: ModuleType, seed: int, train: bool) -> tuple[Any, Any]:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="hidden"), keras.layers.Dense(2)])
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    if train:
        x = np.random.default_rng(seed).random((8, 3), dtype=np.float32)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - 1.0))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    else:
        optimizer.build(model.trainable_variables)
    return model, optimizer


def test_keras_model_and_optimizer_round_trip(tf: ModuleType, tmp_path: Path) -> None:
    model, optimizer = _keras_model_and_optimizer(tf, 3, train=True)
    prefix = tf.train.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "keras"))

    graph = object_graph(prefix)
    kernel_key = graph.checkpoint_key("model/_functional/_operations/1/_kernel")
    assert graph.friendly_path(kernel_key) == "model/_functional/_operations/1/_kernel"
    reader = fastckpt.load_checkpoint(prefix)
    np.testing.assert_array_equal(reader.get_tensor(kernel_key), model.layers[0].kernel.numpy())
    assert int(reader.get_tensor(graph.checkpoint_key("optimizer/_iterations"))) == 1

    ckpt = Checkpoint()
    tree = ckpt.read(prefix)
    # The kernel is one object reached through the model and through the optimizer.
    through_model = tree["model"]["_functional"]["_operations"]["1"]["_kernel"]
    assert through_model is tree["optimizer"]["_trainable_variables"]["0"]
    through_model += 1.0  # values change, names stay
    momentums = tree["optimizer"]["_momentums"]
    momentums["0"][...] = 0.5
    out = ckpt.write(str(tmp_path / "ours"))
    assert object_graph(out).serialized == graph.serialized

    fresh_model, fresh_optimizer = _keras_model_and_optimizer(tf, 4, train=False)
    tf.train.Checkpoint(model=fresh_model, optimizer=fresh_optimizer).read(out).assert_consumed()
    np.testing.assert_array_equal(fresh_model.layers[0].kernel.numpy(), model.layers[0].kernel.numpy() + 1.0)
    np.testing.assert_array_equal(fresh_model.layers[1].bias.numpy(), model.layers[1].bias.numpy())
    assert int(fresh_optimizer.iterations.numpy()) == 1
    np.testing.assert_array_equal(fresh_optimizer.variables[2].numpy(), np.full((3, 4), 0.5, np.float32))

    # Two places of one object holding different arrays cannot be written under one graph.
    tree["model"]["_functional"]["_operations"]["1"]["_kernel"] = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="different objects"):
        ckpt.write(str(tmp_path / "conflict"))


def test_fastckpt_writes_nested_mapping_tf_restores_modules(tf: ModuleType, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    kernel, bias = rng.random((3, 2), dtype=np.float32), rng.random(2, dtype=np.float32)
    ckpt = Checkpoint(
        model={"encoder": {"dense": {"kernel": kernel, "bias": bias}, "layers": {"0": rng.random(4), "1": np.int32(7)}},
               "step": np.int64(42)},
        words=np.array([b"a", b"bc"], dtype=object),
    )
    written = ckpt.write(str(tmp_path / "w"))
    saved = ckpt.save(str(tmp_path / "s" / "ckpt"))
    assert saved == str(tmp_path / "s" / "ckpt-1")

    for path, restore in ((written, "read"), (saved, "restore")):
        module = _module_tree(tf, 9)
        words = tf.Variable([b"", b""])
        status = getattr(tf.train.Checkpoint(model=module, words=words), restore)(path)
        status.assert_consumed()
        np.testing.assert_array_equal(module.encoder.dense.kernel.numpy(), kernel)
        np.testing.assert_array_equal(module.encoder.dense.bias.numpy(), bias)
        assert module.encoder.layers[1].numpy() == 7 and module.step.numpy() == 42
        assert words.numpy().tolist() == [b"a", b"bc"]

    # TF's own graph for the same objects has the same nodes, edges and keys.
    module = _module_tree(tf, 9)
    tf_prefix = tf.train.Checkpoint(model=module, words=tf.Variable([b"", b""])).write(str(tmp_path / "tf"))
    ours, theirs = object_graph(written), object_graph(tf_prefix)
    assert [(n.children, [a.checkpoint_key for a in n.attributes], n.has_checkpoint_values) for n in ours.nodes] == [
        (n.children, [a.checkpoint_key for a in n.attributes], n.has_checkpoint_values) for n in theirs.nodes
    ]


def test_read_fills_callers_arrays_in_place(tmp_path: Path) -> None:
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3)
    prefix = Checkpoint(model={"kernel": kernel, "extra": np.ones(2)}).write(str(tmp_path / "a"))
    mine = np.zeros((2, 3), np.float32)
    readonly = np.zeros(2)
    readonly.flags.writeable = False
    ckpt = Checkpoint(model={"kernel": mine, "extra": readonly})
    tree = ckpt.read(prefix)
    assert tree["model"]["kernel"] is mine
    np.testing.assert_array_equal(mine, kernel)
    assert tree["model"]["extra"] is not readonly and tree["model"]["extra"].tolist() == [1, 1]

    assert ckpt.restore(None) is ckpt.objects  # as TF: nothing to restore from
    wrong = Checkpoint(model={"kernel": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match=r"incompatible tensor with shape \(2, 3\).*shape \(3, 2\) and name model/kernel"):
        wrong.read(prefix)


def test_slot_variables_round_trip(tf: ModuleType, tmp_path: Path) -> None:
    """A TF1 optimizer in eager mode declares slot variables on its node."""
    v = tf.Variable([1.0, 2.0])
    optimizer = tf.compat.v1.train.AdamOptimizer(0.1)
    optimizer.minimize(lambda: tf.reduce_sum(v * v), var_list=[v])
    prefix = tf.train.Checkpoint(v=v, optimizer=optimizer).write(str(tmp_path / "slots"))

    graph = object_graph(prefix)
    (node,) = [n for n in graph.nodes if n.slot_variables]
    assert sorted(s.slot_name for s in node.slot_variables) == ["m", "v"]
    m_key = "v/.OPTIMIZER_SLOT/optimizer/m" + VALUE
    assert graph.checkpoint_key("v/.OPTIMIZER_SLOT/optimizer/m") == m_key

    ckpt = Checkpoint()
    tree = ckpt.read(prefix)
    slots = tree["optimizer"][".OPTIMIZER_SLOT"]["v"]
    np.testing.assert_array_equal(slots["m"], optimizer.get_slot(v, "m").numpy())
    slots["m"] = np.array([5.0, 6.0], np.float32)
    out = ckpt.write(str(tmp_path / "ours"))
    assert object_graph(out).serialized == graph.serialized

    # A fresh graph (a new object added) still declares the slots where TF finds them.
    tree["extra"] = np.float32(1)
    fresh_out = ckpt.write(str(tmp_path / "fresh"))
    assert object_graph(fresh_out).serialized != graph.serialized
    for path in (out, fresh_out):
        v2 = tf.Variable([0.0, 0.0])
        optimizer2 = tf.compat.v1.train.AdamOptimizer(0.1)
        optimizer2.minimize(lambda: tf.reduce_sum(v2 * v2), var_list=[v2])
        tf.train.Checkpoint(v=v2, optimizer=optimizer2).read(path).assert_existing_objects_matched()
        np.testing.assert_array_equal(optimizer2.get_slot(v2, "m").numpy(), [5.0, 6.0])
        np.testing.assert_array_equal(v2.numpy(), [v.numpy()[0], v.numpy()[1]])


def test_bad_input_names_the_file(tmp_path: Path) -> None:
    plain = fastckpt.save({"x": np.ones(2)}, str(tmp_path / "tf1"))
    with pytest.raises(ValueError, match=r'checkpoint ".*tf1" does not appear to be object-based .* missing the key "_CHECKPOINTABLE_OBJECT_GRAPH"'):
        object_graph(plain)
    broken = fastckpt.save({"_CHECKPOINTABLE_OBJECT_GRAPH": np.array(b"\x0a\x04\x0a\x02\x08\x07", dtype=object)},
                           str(tmp_path / "broken"))
    with pytest.raises(fastckpt.DecodeError, match=r"checkpoint .*broken: .*child 7 is not a node"):
        object_graph(broken)
