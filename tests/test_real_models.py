"""Real model architectures written by TensorFlow 2.21 and read, frozen and re-written by
fastckpt: small Keras models (an LSTM/GRU stack, mixed precision) saved as SavedModels with
``tf.saved_model.save``, a ``tf.Module`` looking up embeddings in its variables, the training
state of each Keras optimizer, and TF1 graphs with partitioned and resource variables. Every result is compared with what TensorFlow computes
or restores in the same test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
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


def test_freeze_saved_model_with_gathers_from_variables(tf: ModuleType, tmp_path: Path) -> None:
    """``tf.gather`` / ``tf.nn.embedding_lookup`` / ``tf.gather_nd`` on a variable inside the
    signature's function are ``ResourceGather(Nd)`` ops reading the captured handle. TF's
    ``convert_variables_to_constants_v2`` turns them into ``GatherV2`` / ``GatherNd`` on the
    constant; fastckpt refused the SavedModel (``cannot freeze ResourceGather … inside function``)."""

    class Lookup(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = tf.Variable(tf.random.stateless_normal([6, 3], [1, 2]))
            self.grid = tf.Variable(tf.random.stateless_normal([2, 3, 4], [3, 4]))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="ids")])
        def __call__(self, ids: Any) -> dict[str, Any]:
            rows = tf.gather(self.table, ids) + tf.nn.embedding_lookup(self.table, ids[::-1])
            cells = tf.gather_nd(self.grid, tf.stack([ids % 2, ids % 3], axis=1))
            return {"y": tf.concat([rows, cells], axis=1)}

    module = Lookup()
    export_dir = str(tmp_path / "saved")
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.__call__.get_concrete_function()})
    ids = np.array([0, 5, 2, 3], np.int64)
    expected = tf.saved_model.load(export_dir).signatures["serving_default"](ids=tf.constant(ids))["y"].numpy()

    frozen = fastckpt.freeze_saved_model(export_dir)
    functions = {function.signature.name: function for function in frozen.library.function}
    called, nodes = set(), list(frozen.node)
    for node in nodes:  # the functions the signature runs, at any depth
        if node.op == "StatefulPartitionedCall" and node.attr["f"].func.name not in called:
            called.add(node.attr["f"].func.name)
            nodes.extend(functions[node.attr["f"].func.name].node_def)
    ops = {node.op for name in called for node in functions[name].node_def}
    assert {"GatherV2", "GatherNd"} <= ops and not {op for op in ops if op.startswith("Resource")}
    signature = fastckpt.load_saved_model(export_dir).signatures["serving_default"]
    got = _run_frozen(tf, frozen, signature.inputs["ids"].name, signature.outputs["y"].name, ids)
    np.testing.assert_array_equal(got, expected)


@pytest.fixture(scope="module")
def tf1_training_graph(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, np.ndarray, np.ndarray]:
    """A TF1 graph trained one Momentum step and saved by ``tf.compat.v1.train.Saver`` with
    ``global_step``: a partitioned reference variable, partitioned resource variables (along
    axis 0 and 1), resource variables, their ``Momentum`` slots. Returns the prefix, an input and the output for it."""
    v1 = tf.compat.v1
    folder = tmp_path_factory.mktemp("tf1")
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [None, 6], name="x")
        step = v1.train.get_or_create_global_step()
        with v1.variable_scope("layer", partitioner=v1.fixed_size_partitioner(3)):
            w = v1.get_variable("w", [6, 4], initializer=v1.random_normal_initializer(seed=1), use_resource=False)
        with v1.variable_scope("embedding", partitioner=v1.fixed_size_partitioner(2)):
            table = v1.get_variable("table", [5, 4], initializer=v1.random_normal_initializer(seed=2), use_resource=True)
        with v1.variable_scope("out"):
            w2 = v1.get_variable("w", [4, 2], initializer=v1.random_normal_initializer(seed=3), use_resource=True)
            b2 = v1.get_variable("b", [2], initializer=v1.ones_initializer(), use_resource=True)
            scale = v1.get_variable("scale", [1, 2], initializer=v1.random_normal_initializer(seed=4),
                                    partitioner=v1.fixed_size_partitioner(2, axis=1), use_resource=True)
        hidden = tf.matmul(x, w) + tf.reduce_sum(tf.nn.embedding_lookup(table, [1, 3]), axis=0)
        y = tf.add(tf.matmul(hidden, w2) * scale, b2, name="y")
        train = v1.train.MomentumOptimizer(0.01, 0.9).minimize(tf.reduce_sum(tf.square(y)), global_step=step)
        saver = v1.train.Saver()
        feed = np.random.default_rng(3).random((3, 6), dtype=np.float32)
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(train, {x: feed})
            prefix = saver.save(session, str(folder / "model.ckpt"), global_step=step)
            expected = session.run(y, {x: feed})
    return prefix, feed, expected


def test_import_meta_graph_saver_with_partitioned_and_resource_variables(
    tf: ModuleType, tmp_path: Path, tf1_training_graph: Any
) -> None:
    """The Saver ``import_meta_graph`` builds restores what TF's restores (a partitioned variable
    as its whole tensor, a resource variable in its shape), and what it saves TF's Saver restores
    into the partitioned variables and computes the same output."""
    prefix, feed, expected = tf1_training_graph
    theirs = tf.train.load_checkpoint(prefix)
    _, saver = fastckpt.import_meta_graph(prefix + ".meta")
    restored = saver.restore(prefix)
    assert sorted(restored) == sorted(theirs.get_variable_to_shape_map())
    for name, value in restored.items():
        np.testing.assert_array_equal(value, theirs.get_tensor(name), err_msg=name)
    assert int(restored["global_step"]) == 1

    ours = saver.save(str(tmp_path / "model.ckpt"), global_step=7)
    with tf.Graph().as_default():
        tf_saver = tf.compat.v1.train.import_meta_graph(prefix + ".meta")
        with tf.compat.v1.Session() as session:
            tf_saver.restore(session, ours)
            np.testing.assert_array_equal(session.run("y:0", {"x:0": feed}), expected)
            assert session.run(tf.compat.v1.train.get_global_step()) == 1


def test_saver_over_a_meta_graph_with_partitioned_variables(
    tf: ModuleType, tmp_path: Path, tf1_training_graph: Any
) -> None:
    """``Saver(meta_graph)`` takes the variables as TF's Saver does: a partitioned variable's parts
    (saved by TF as slices of ``layer/w``) are one array ``layer/w``; it saved and restored the
    parts under their own names (``layer/w/part_0``), which TF's checkpoint does not hold."""
    prefix, feed, expected = tf1_training_graph
    theirs = tf.train.load_checkpoint(prefix)
    saver = fastckpt.Saver(fastckpt.read_meta_graph(prefix + ".meta"))
    assert sorted(saver.var_list) == sorted(theirs.get_variable_to_shape_map())
    restored = saver.restore(prefix)
    for name, value in restored.items():
        np.testing.assert_array_equal(value, theirs.get_tensor(name), err_msg=name)

    ours = saver.save(str(tmp_path / "model.ckpt"))
    with tf.Graph().as_default():
        tf_saver = tf.compat.v1.train.import_meta_graph(prefix + ".meta")
        with tf.compat.v1.Session() as session:
            tf_saver.restore(session, ours)
            np.testing.assert_array_equal(session.run("y:0", {"x:0": feed}), expected)


def test_freeze_graph_with_partitioned_variables(tf: ModuleType, tf1_training_graph: Any) -> None:
    """Each part of a partitioned variable (``layer/w/part_1``) is frozen to the slice of the
    whole variable that the graph's Saver restores into it, as TF's ``freeze_graph`` with the
    graph's Saver (restore, then ``convert_variables_to_constants``) does: the same constants and
    the same output. fastckpt looked ``layer/w/part_0`` up by name and raised TensorNotFoundError."""
    prefix, feed, expected = tf1_training_graph
    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph, v1.Session() as session:
        v1.train.import_meta_graph(prefix + ".meta").restore(session, prefix)
        graph_def = graph.as_graph_def()
        theirs = v1.graph_util.convert_variables_to_constants(session, graph_def, ["y"])
    variables = {node.name for node in graph_def.node if node.op in ("VariableV2", "VarHandleOp")}
    parts = {node.name: tf.make_ndarray(node.attr["value"].tensor) for node in theirs.node
             if node.name in variables and "/part_" in node.name}
    assert {"layer/w/part_2", "embedding/table/part_1", "out/scale/part_1"} <= set(parts)

    frozen = fastckpt.freeze_graph(graph_def, prefix, ["y"])
    ours = {node.name: node for node in frozen.node}
    for name, value in parts.items():
        np.testing.assert_array_equal(fastckpt.make_ndarray(ours[name].attr["value"].tensor), value, err_msg=name)
    np.testing.assert_array_equal(_run_frozen(tf, frozen, "x:0", "y:0", feed), expected)


def test_freeze_graph_of_partitioned_variables_without_a_saver(tf: ModuleType, tf1_training_graph: Any) -> None:
    """Without the graph's Saver nothing says which slice a part holds: TF's ``freeze_graph``
    fails on such a model (it means to raise ValueError 'Models containing partition variables
    cannot be converted from checkpoint files'; 2.21's Saver fails first, IndexError), fastckpt
    raises TensorNotFoundError naming the part and the partitioned variable it belongs to."""
    from tensorflow.python.tools import freeze_graph as tf_freeze

    prefix, _, _ = tf1_training_graph
    graph_def = tf.compat.v1.MetaGraphDef.FromString(Path(prefix + ".meta").read_bytes()).graph_def
    kept = [node for node in graph_def.node if not node.name.startswith("save/")]
    del graph_def.node[:]
    graph_def.node.extend(kept)
    with tf.Graph().as_default(), pytest.raises((ValueError, IndexError)):
        tf_freeze.freeze_graph_with_def_protos(graph_def, None, prefix, "y", "", "", "", True, "")
    with pytest.raises(fastckpt.TensorNotFoundError, match=r"layer/w/part_0.*partitioned variable 'layer/w'"):
        fastckpt.freeze_graph(graph_def, prefix, ["y"])


def test_cli_freezes_a_saver_meta_graph(tf: ModuleType, tmp_path: Path, tf1_training_graph: Any) -> None:
    """``fastckpt freeze model.ckpt-1.meta --checkpoint … --outputs y`` freezes the graph a TF1
    Saver wrote beside its checkpoint (as TF's ``freeze_graph --input_meta_graph``); the command
    read the ``.meta`` as a GraphDef and failed, though ``fastckpt graph`` reads it."""
    prefix, feed, expected = tf1_training_graph
    out = tmp_path / "frozen.pb"
    done = subprocess.run(
        [sys.executable, "-m", "fastckpt", "freeze", prefix + ".meta", "--checkpoint", prefix, "--outputs", "y", "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(_run_frozen(tf, fastckpt.read_graph_def(out), "x:0", "y:0", feed), expected)



#: The optimizers TF users pick, each with the options that add state (slots, EMA, loss scale).
OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "adam_amsgrad": lambda k: k.optimizers.Adam(1e-2, amsgrad=True),
    "adamw": lambda k: k.optimizers.AdamW(1e-2),
    "sgd_nesterov_ema": lambda k: k.optimizers.SGD(1e-2, momentum=0.9, nesterov=True, use_ema=True),
    "rmsprop_centered": lambda k: k.optimizers.RMSprop(1e-2, momentum=0.5, centered=True),
    "adagrad": lambda k: k.optimizers.Adagrad(1e-2),
    "adafactor": lambda k: k.optimizers.Adafactor(1e-2),
    "lion": lambda k: k.optimizers.Lion(1e-3),
    "ftrl": lambda k: k.optimizers.Ftrl(1e-2, l1_regularization_strength=0.01),
    "loss_scale": lambda k: k.optimizers.LossScaleOptimizer(k.optimizers.Adam(1e-2)),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_keras_training_state_round_trip(tf: ModuleType, tmp_path: Path, optimizer: str) -> None:
    """A Keras model with an embedding and BatchNorm moving statistics, after two steps of each
    optimizer, saved by ``tf.train.Checkpoint(model=…, optimizer=…).save``: fastckpt reads every
    tensor as TF's reader does (dtype, shape, bytes); ``Checkpoint.read`` gives numpy arrays which,
    changed in place and written by ``Checkpoint.write``, TF restores into a fresh model and
    optimizer (``assert_consumed``) with exactly those values."""
    import keras

    def fresh() -> dict[str, Any]:
        inputs = keras.Input((4,), dtype="int32")
        h = keras.layers.Flatten()(keras.layers.Embedding(50, 3)(inputs))
        h = keras.layers.BatchNormalization()(keras.layers.Dense(5, activation="relu")(h))
        model = keras.Model(inputs, keras.layers.Dense(2)(h))
        chosen = OPTIMIZERS[optimizer](keras)
        chosen.build(model.trainable_variables)
        return {"model": model, "optimizer": chosen}

    keras.utils.set_random_seed(7)
    trained = fresh()
    trained["model"].compile(optimizer=trained["optimizer"], loss="mse")
    rng = np.random.default_rng(7)
    x, y = rng.integers(0, 50, (6, 4)).astype(np.int32), rng.random((6, 2), dtype=np.float32)
    for _ in range(2):
        trained["model"].train_on_batch(x, y)
    prefix = tf.train.Checkpoint(**trained).save(str(tmp_path / "ckpt"))

    theirs, ours = tf.train.load_checkpoint(prefix), fastckpt.load_checkpoint(prefix)
    assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
    for key in theirs.get_variable_to_shape_map():
        expected, got = np.asarray(theirs.get_tensor(key)), np.asarray(ours.get_tensor(key))
        assert (got.dtype, got.shape, got.tobytes()) == (expected.dtype, expected.shape, expected.tobytes()), key

    checkpoint = fastckpt.Checkpoint()
    changed: set[int] = set()

    def change(node: dict[str, Any]) -> None:  # an array shared by model and optimizer once
        for value in node.values():
            if isinstance(value, dict):
                change(value)
            elif value.dtype.kind == "f" and id(value) not in changed:
                changed.add(id(value))
                value *= 2

    change(checkpoint.read(prefix))
    written = checkpoint.write(str(tmp_path / "ours"))
    restored = fresh()
    tf.train.Checkpoint(**restored).restore(written).assert_consumed()
    again = fastckpt.load_checkpoint(tf.train.Checkpoint(**restored).write(str(tmp_path / "again")))
    wrote = fastckpt.load_checkpoint(written)
    keys = [key for key in wrote if key != "_CHECKPOINTABLE_OBJECT_GRAPH" and not key.startswith("save_counter")]
    for key in keys:
        np.testing.assert_array_equal(again[key], wrote[key], err_msg=key)
    assert any(not np.array_equal(wrote[key], ours[key]) for key in keys)


def test_tree_lists_the_tensors_of_lookup_tables(tf: ModuleType, tmp_path: Path) -> None:
    """``fastckpt ls --tree`` of a checkpoint holding ``tf.lookup`` tables: TF saves a table's
    attribute ``table`` as two tensors (``…/.ATTRIBUTES/table-keys``, ``-values``); the tree
    lists both under the table, with the dtype and shape TF's reader gives. It showed one
    ``table`` entry naming a key the checkpoint does not hold, without dtype, shape or size."""
    import json

    mutable = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1)
    mutable.insert(tf.constant(["a", "bb", "ccc"]), tf.constant([1, 2, 3], tf.int64))
    dense = tf.lookup.experimental.DenseHashTable(tf.int64, tf.float32, default_value=0.0, empty_key=-1,
                                                  deleted_key=-2, initial_num_buckets=8)
    dense.insert(tf.constant([5, 7], tf.int64), tf.constant([0.5, 0.7]))
    prefix = tf.train.Checkpoint(words=mutable, ids=dense).write(str(tmp_path / "tables"))
    done = subprocess.run([sys.executable, "-m", "fastckpt", "ls", "--tree", "--json", prefix],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    children = json.loads(done.stdout)["tree"]["children"]
    theirs = tf.train.load_checkpoint(prefix)
    for name in ("words", "ids"):
        rows = children[name]["tensors"]
        assert sorted(rows) == ["table-keys", "table-values"]
        for row in rows.values():
            assert row["shape"] == theirs.get_variable_to_shape_map()[row["name"]], row
            assert row["dtype"] == theirs.get_variable_to_dtype_map()[row["name"]].name, row
