"""``tf.train.Checkpoint`` behaviour replayed from TensorFlow's ``checkpoint_test.py`` against
``fastckpt.Checkpoint``: each test runs the same steps through TensorFlow 2.21 and through
fastckpt and compares what they write, read and raise."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt
from fastckpt import Checkpoint, object_graph


def _model(tf: ModuleType, scale: float) -> Any:
    model = tf.Module()
    model.v = tf.Variable(1.0 * scale)
    model.dense = tf.Module()
    model.dense.w = tf.Variable(np.array([1, 2, 3], np.int32) * int(scale))
    return model


@pytest.mark.parametrize("how", ["positional", "root="])
def test_checkpoint_with_a_root_object(tf: ModuleType, tmp_path: Path, how: str) -> None:
    """``tf.train.Checkpoint(model)`` (test_initialize_with_root_object) makes the model the root:
    its graph has an edge ``root`` from the root to itself. Reading it gives the root's objects
    without that edge; writing it back keeps TF's graph and TF restores it."""
    model = _model(tf, 1)
    make = (lambda m, **kw: tf.train.Checkpoint(m, **kw)) if how == "positional" else (
        lambda m, **kw: tf.train.Checkpoint(root=m, **kw))
    prefix = make(model, extra=tf.Variable(5)).save(str(tmp_path / "tf" / "ckpt"))
    graph = object_graph(prefix)
    assert graph.root.children["root"] == 0  # TF's own graph

    ckpt = Checkpoint()
    tree = ckpt.read(prefix)
    assert sorted(tree) == ["dense", "extra", "v"] and ckpt.save_counter == 1
    assert tree["v"] == model.v.numpy() and tree["dense"]["w"].tolist() == [1, 2, 3]
    tree["v"] = np.float32(7)
    tree["dense"]["w"][...] = [4, 5, 6]
    out = ckpt.save(str(tmp_path / "ours" / "ckpt"))
    assert object_graph(out).serialized == graph.serialized

    fresh = _model(tf, 0)
    extra = tf.Variable(0)
    restoring = make(fresh, extra=extra)
    restoring.restore(out).assert_consumed()
    assert fresh.v.numpy() == 7 and fresh.dense.w.numpy().tolist() == [4, 5, 6] and extra.numpy() == 5
    assert int(restoring.save_counter.numpy()) == 2


def test_restore_from_a_saved_model_folder(tf: ModuleType, tmp_path: Path) -> None:
    """``restore`` also takes a SavedModel folder and restores its variables
    (test_checkpoint_saved_model_compatibility); a path with nothing there raises TF's
    ``NotFoundError`` text."""
    model = _model(tf, 3)
    model.double = tf.function(lambda x: x * model.v, input_signature=[tf.TensorSpec([], tf.float32)])
    export_dir = tmp_path / "saved"
    tf.saved_model.save(model, str(export_dir))

    into = _model(tf, 0)
    tf.train.Checkpoint(into).restore(str(export_dir)).expect_partial()
    tree = Checkpoint().restore(export_dir)
    assert tree["v"] == into.v.numpy() == 3.0
    np.testing.assert_array_equal(tree["dense"]["w"], into.dense.w.numpy())

    missing = str(export_dir) + "no"
    with pytest.raises(tf.errors.NotFoundError) as theirs:
        tf.train.Checkpoint(_model(tf, 0)).restore(missing)
    with pytest.raises(fastckpt.NotFoundError) as ours:
        Checkpoint().restore(missing)
    assert isinstance(ours.value, FileNotFoundError)
    head = f"Error when restoring from checkpoint or SavedModel at {missing}: "
    assert theirs.value.message.startswith(head) and ours.value.strerror.startswith(head)
    assert ours.value.strerror.splitlines()[-1] == theirs.value.message.splitlines()[-1]


def test_restore_into_an_array_of_another_dtype(tf: ModuleType, tmp_path: Path) -> None:
    """A float checkpoint restored into an int variable raises RestoreV2's InvalidArgumentError
    in TF; fastckpt raised nothing and swapped the caller's int array for a float one."""
    prefix = tf.train.Checkpoint(v=tf.Variable([1.5, 2.5]), w=tf.Variable(3.0, dtype=tf.float64)).save(str(tmp_path / "ckpt"))
    with pytest.raises(tf.errors.InvalidArgumentError) as theirs:
        tf.train.Checkpoint(v=tf.Variable([0, 0]), w=tf.Variable(0, dtype=tf.int64)).restore(prefix)
    mine = np.zeros(2, np.int32)
    with pytest.raises(fastckpt.InvalidArgumentError) as ours:
        Checkpoint(v=mine, w=np.zeros((), np.int64)).restore(prefix)
    assert str(ours.value) in theirs.value.message
    assert str(ours.value) == "tensor_name = v/.ATTRIBUTES/VARIABLE_VALUE; expected dtype int32 does not equal original dtype float"
    assert mine.tolist() == [0, 0]


def _tables(tf: ModuleType, filled: bool) -> dict[str, Any]:
    words = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1)
    dense = tf.lookup.experimental.DenseHashTable(tf.int64, tf.float32, default_value=0.0, empty_key=-1, deleted_key=-2)
    if filled:
        words.insert(tf.constant(["a", "b", "c"]), tf.constant([1, 2, 3], tf.int64))
        dense.insert(tf.constant([5, 7], tf.int64), tf.constant([0.5, 0.75]))
    return {"words": words, "dense": dense, "v": tf.Variable(2.0 if filled else 0.0)}


def test_attributes_saved_as_several_tensors(tf: ModuleType, tmp_path: Path) -> None:
    """A lookup table's attribute ``table`` is stored as ``table-keys`` and ``table-values`` (its
    checkpoint key plus suffixes): fastckpt refused such checkpoints ('the object graph names
    tensors it lacks'). Read, it is ``{suffix: array}``; written back (same graph or a fresh one),
    TF restores the tables."""
    prefix = tf.train.Checkpoint(**_tables(tf, True)).write(str(tmp_path / "tf"))
    reader = tf.train.load_checkpoint(prefix)
    ckpt = Checkpoint()
    tree = ckpt.read(prefix)
    table = tree["words"][".ATTRIBUTES"]["table"]
    assert sorted(table) == ["-keys", "-values"]
    np.testing.assert_array_equal(table["-values"], reader.get_tensor("words/.ATTRIBUTES/table-values"))
    assert table["-keys"].tolist() == reader.get_tensor("words/.ATTRIBUTES/table-keys").tolist()

    table["-values"] = table["-values"] * 10
    same_graph = ckpt.write(str(tmp_path / "ours"))
    assert object_graph(same_graph).serialized == object_graph(prefix).serialized
    fresh_graph = Checkpoint(**tree).write(str(tmp_path / "fresh"))
    for path in (same_graph, fresh_graph):
        restored = _tables(tf, False)
        tf.train.Checkpoint(**restored).read(path).assert_consumed()
        assert restored["words"].lookup(tf.constant(["a", "c", "z"])).numpy().tolist() == [10, 30, -1]
        assert restored["dense"].lookup(tf.constant([7], tf.int64)).numpy().tolist() == [0.75]
        assert restored["v"].numpy() == 2.0


def test_iterator_state_is_written_back_as_a_variant(tf: ModuleType, tmp_path: Path) -> None:
    """A ``tf.data`` iterator saves its state as a variant tensor; a Checkpoint that read it wrote
    it back as a string, and TF's restore refused it ('expected dtype variant does not equal
    original dtype string'). Same graph or a fresh one, TF resumes the iterator where it was."""

    def batches() -> Any:
        return iter(tf.data.Dataset.range(10).shuffle(10, seed=1).batch(2))

    iterator = batches()
    next(iterator), next(iterator)
    prefix = tf.train.Checkpoint(it=iterator, v=tf.Variable(1.0)).write(str(tmp_path / "tf"))
    expected = next(iterator).numpy().tolist()

    ckpt = Checkpoint()
    tree = ckpt.read(prefix)
    same_graph = ckpt.write(str(tmp_path / "ours"))
    tree["extra"] = np.float32(3)
    fresh_graph = ckpt.write(str(tmp_path / "fresh"))
    for path in (same_graph, fresh_graph):
        assert tf.train.load_checkpoint(path).get_variable_to_dtype_map()["it/.ATTRIBUTES/ITERATOR_STATE"] == tf.variant
        resumed = batches()
        tf.train.Checkpoint(it=resumed, v=tf.Variable(0.0)).read(path).assert_existing_objects_matched()
        assert next(resumed).numpy().tolist() == expected


def test_root_object_and_keyword_objects(tf: ModuleType, tmp_path: Path) -> None:
    """``Checkpoint(root, **kwargs)`` as test_initialize_with_root_object_and_kwargs: the root
    mapping's entries are the top-level objects, keyword objects sit beside them, and a keyword
    that names something else the root holds is refused with TF's ValueError. fastckpt took
    ``root=`` for an object named ``root``."""
    model = tf.Module()
    model.v = tf.Variable(3.0)
    with pytest.raises(ValueError) as theirs:
        tf.train.Checkpoint(model, v=tf.Variable(5.0))
    with pytest.raises(ValueError) as ours:
        Checkpoint({"v": np.float32(3)}, v=np.float32(5))
    assert str(ours.value) == str(theirs.value)

    prefix = tf.train.Checkpoint(model, separate=tf.Variable(5.0)).save(str(tmp_path / "tf" / "ckpt"))
    v, separate = np.zeros((), np.float32), np.zeros((), np.float32)
    for make in (lambda: Checkpoint({"v": v}, separate=separate), lambda: Checkpoint(root={"v": v}, separate=separate)):
        v[...], separate[...] = 0, 0
        ckpt = make()
        ckpt.restore(prefix)
        assert (float(v), float(separate), ckpt.save_counter) == (3.0, 5.0, 1)

    v[...], separate[...] = 7, 8
    ours_prefix = Checkpoint(root={"v": v}, separate=separate).save(str(tmp_path / "ours" / "ckpt"))
    restored = tf.Module()
    restored.v = tf.Variable(0.0)
    restored_separate = tf.Variable(0.0)
    tf.train.Checkpoint(restored, separate=restored_separate).restore(ours_prefix).assert_consumed()
    assert (restored.v.numpy(), restored_separate.numpy()) == (7.0, 8.0)


def test_lists_and_dicts_of_variables(tf: ModuleType, tmp_path: Path) -> None:
    """test_inititialize_with_data_structures: ``Checkpoint(a=[v0, v1], b={"a": v2, "b": v3})``.
    TF tracks a list's items as objects ``a/0``, ``a/1``; fastckpt stacked a list of arrays into
    one variable ``a`` (TF's restore then matched nothing) and replaced a caller's list with a
    dict when restoring into it. Now a list (or tuple) is a container of objects both ways, and
    its arrays are filled in place."""
    theirs = tf.train.Checkpoint(a=[tf.Variable(0.0), tf.Variable(1.0)], b={"a": tf.Variable(2.0), "b": tf.Variable(3.0)})
    prefix = theirs.save(str(tmp_path / "tf" / "ckpt"))
    a = [np.full((), 4, np.float32), np.full((), 5, np.float32)]
    b = {"a": np.full((), 6, np.float32), "b": np.full((), 7, np.float32)}
    ckpt = Checkpoint(a=a, b=b)
    ckpt.restore(prefix)
    assert ckpt["a"] is a and [float(x) for x in a] == [v.numpy() for v in theirs.a]
    assert {k: float(x) for k, x in b.items()} == {k: v.numpy() for k, v in theirs.b.items()}

    ours = Checkpoint(a=[np.float32(8), np.float32(9)], b={"a": np.float32(10), "b": np.float32(11)}).save(str(tmp_path / "ours" / "ckpt"))
    assert sorted(fastckpt.list_variables(ours)) == sorted(tuple(x) for x in tf.train.list_variables(prefix))
    load = tf.train.Checkpoint(a=[tf.Variable(0.0), tf.Variable(0.0)], b={"a": tf.Variable(0.0), "b": tf.Variable(0.0)})
    load.restore(ours).assert_consumed()
    assert [v.numpy() for v in load.a] == [8, 9] and [load.b[k].numpy() for k in "ab"] == [10, 11]

    # A tuple is filled in place; what has no place in a shorter list stays out.
    pair = (np.zeros((), np.float32), np.zeros((), np.float32))
    short = [np.zeros((), np.float32)]
    Checkpoint(a=pair, b=b).restore(prefix)
    Checkpoint(a=short, b=b).restore(prefix)
    assert [float(x) for x in pair] == [0.0, 1.0] and len(short) == 1 and float(short[0]) == 0.0


def test_objects_that_refer_to_each_other(tf: ModuleType, tmp_path: Path) -> None:
    """test_dependency_loop: objects in a cycle save and restore. Restoring a checkpoint whose
    objects form a cycle into mappings that do recursed without end (RecursionError)."""
    first, second = tf.Module(), tf.Module()
    first.second, second.first = second, first
    first.v, second.v = tf.Variable([3.0, 1.0, 4.0]), tf.Variable([1.0, 1.0, 2.0, 3.0])
    prefix = tf.train.Checkpoint(first=first).write(str(tmp_path / "tf"))

    a: dict[str, Any] = {"v": np.zeros(3, np.float32)}
    b: dict[str, Any] = {"v": np.zeros(4, np.float32), "first": a}
    a["second"] = b
    Checkpoint(first=a).read(prefix)
    np.testing.assert_array_equal(a["v"], first.v.numpy())
    np.testing.assert_array_equal(b["v"], second.v.numpy())
    assert a["second"] is b and b["first"] is a

    a["v"][...], b["v"][...] = [2, 7, 1], [2, 7, 1, 8]
    ours = Checkpoint(first=a).write(str(tmp_path / "ours"))
    load_first, load_second = tf.Module(), tf.Module()
    load_first.second, load_second.first = load_second, load_first
    load_first.v, load_second.v = tf.Variable(tf.zeros([3])), tf.Variable(tf.zeros([4]))
    tf.train.Checkpoint(first=load_first).read(ours).assert_consumed()
    assert load_first.v.numpy().tolist() == [2, 7, 1] and load_second.v.numpy().tolist() == [2, 7, 1, 8]


def test_checkpoint_view(tf: ModuleType, tmp_path: Path) -> None:
    """checkpoint_view_test: ``CheckpointView(path).children(0)`` and ``.descendants()`` are
    ``object_graph(path).children(0)`` and ``.descendants()``; a checkpoint without an object
    graph raises TF's ValueError text (fastckpt had its own words)."""
    from tensorflow.python.checkpoint import checkpoint_view

    root = tf.Module()
    root.leaf = tf.Module()
    root.leaf.v = tf.Variable(1.0)
    root.leaf.again = root  # an edge back up
    root.w = tf.Variable(2.0)
    prefix = tf.train.Checkpoint(root=root).save(str(tmp_path / "ckpt"))
    view, graph = checkpoint_view.CheckpointView(prefix), object_graph(prefix)
    assert all(graph.children(i) == view.children(i) for i in range(len(graph.nodes)))
    assert graph.descendants() == view.descendants()

    tf1 = str(tmp_path / "tf1")
    tf.raw_ops.SaveV2(prefix=tf1, tensor_names=["v"], shape_and_slices=[""], tensors=[tf.constant(1.0)])
    with pytest.raises(ValueError) as theirs:
        checkpoint_view.CheckpointView(tf1)
    with pytest.raises(ValueError) as ours:
        object_graph(tf1)
    assert str(ours.value) == str(theirs.value)


def test_objects_nested_deeper_than_the_recursion_limit(tf: ModuleType, tmp_path: Path) -> None:
    """TF saves and restores a chain of modules nested 1,500 deep; fastckpt's read and write
    raised RecursionError beyond Python's recursion limit (1,000 frames)."""
    depth = 1500

    def chain(value: float) -> Any:
        root = module = tf.Module()
        for _ in range(depth):
            module.c = tf.Module()
            module = module.c
        module.v = tf.Variable(value)
        return root, module

    root, _ = chain(1.0)
    prefix = tf.train.Checkpoint(root=root).write(str(tmp_path / "tf"))
    tree = Checkpoint().read(prefix)
    node = tree
    for _ in range(depth):
        node = node["c"]
    assert float(node["v"]) == 1.0
    node["v"] = np.float32(5)
    ours = Checkpoint(tree).write(str(tmp_path / "ours"))

    restored, leaf = chain(0.0)
    tf.train.Checkpoint(root=restored).read(ours).assert_consumed()
    assert leaf.v.numpy() == 5.0
    into = {"v": np.zeros((), np.float32)}
    holder: dict[str, Any] = {}
    node = holder
    for _ in range(depth - 1):
        node["c"] = {}
        node = node["c"]
    node["c"] = into
    Checkpoint(holder).read(ours)
    assert float(into["v"]) == 5.0


def test_read_of_none_restores_nothing(tf: ModuleType) -> None:
    """``Checkpoint.read(None)``, as ``restore(None)``, restores nothing in TF (what
    ``latest_checkpoint`` gives for an empty folder); fastckpt's ``read`` raised TypeError."""
    v = tf.Variable(2.0)
    tf.train.Checkpoint(v=v).read(None)
    mine = np.full((), 2, np.float32)
    ckpt = Checkpoint(v=mine)
    assert ckpt.read(None) == {"v": mine} and float(mine) == v.numpy() and ckpt.save_counter == 0


def test_partial_renamed_and_counted_objects(tf: ModuleType, tmp_path: Path) -> None:
    """Replays that agree: a restore into fewer objects (testSilencePartialWarning; the rest is
    added, as TF defers it to objects attached later), names with '/' and '.'
    (testVariableNameEscaping), ``write`` leaving ``save_counter`` out until a ``save`` made it
    (test_write_checkpoint_*), and a checkpoint TF split over shards by
    ``CheckpointOptions(experimental_sharding_callback=MaxShardSizePolicy(...))``."""
    names = ["a/b/c", "c/", "d/.S", "d/.ATTRIBUTES/f", "x.y"]
    theirs = tf.train.Checkpoint(**{n: tf.Variable(float(i)) for i, n in enumerate(names)})
    prefix = theirs.write(str(tmp_path / "tf"))
    ours = Checkpoint(**{n: np.float32(i) for i, n in enumerate(names)}).write(str(tmp_path / "ours"))
    assert sorted(fastckpt.list_variables(ours)) == sorted(tuple(x) for x in tf.train.list_variables(prefix))
    kept = np.zeros((), np.float32)
    tree = Checkpoint(**{"a/b/c": kept}).read(prefix)
    assert float(kept) == getattr(theirs, "a/b/c").numpy() and sorted(tree) == sorted(names)
    load = tf.train.Checkpoint(**{n: tf.Variable(-1.0) for n in names})
    load.read(ours).assert_consumed()
    assert [getattr(load, n).numpy() for n in names] == list(range(len(names)))

    for make, array in ((lambda: tf.train.Checkpoint(v=tf.Variable(1.0)), False), (lambda: Checkpoint(v=np.float32(1)), True)):
        ckpt: Any = make()
        first = ckpt.write(str(tmp_path / f"w{array}"))
        ckpt.save(str(tmp_path / f"s{array}" / "ckpt"))
        second = ckpt.write(str(tmp_path / f"w2{array}"))
        keys = [sorted(k for k, _ in tf.train.list_variables(p)) for p in (first, second)]
        assert "save_counter/.ATTRIBUTES/VARIABLE_VALUE" not in keys[0] and "save_counter/.ATTRIBUTES/VARIABLE_VALUE" in keys[1]

    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=1000)
    big = tf.train.Checkpoint(v=tf.Variable(np.arange(1000, dtype=np.float32).reshape(100, 10)), w=tf.Variable(np.ones(300)))
    sharded = big.write(str(tmp_path / "sharded" / "ckpt"), options=tf.train.CheckpointOptions(experimental_sharding_callback=policy))
    assert len(list((tmp_path / "sharded").glob("ckpt.data-*"))) > 1
    tree = Checkpoint().read(sharded)
    np.testing.assert_array_equal(tree["v"], big.v.numpy())
    np.testing.assert_array_equal(tree["w"], big.w.numpy())


def test_restore_skipping_slot_variables(tf: ModuleType, tmp_path: Path) -> None:
    """testSkipSlotVarRestore: ``restore(path, options=CheckpointOptions(
    experimental_skip_slot_variables=True))`` restores the variables and the optimizer's own
    (``beta1_power``) but leaves slot variables as they are; fastckpt had no such option."""

    def trained(value: float) -> Any:
        root = tf.train.Checkpoint()
        root.var = tf.Variable(0.0)
        root.optimizer = tf.compat.v1.train.AdamOptimizer(0.1)
        root.optimizer.minimize(lambda: root.var * 2.0, var_list=[root.var])
        root.var.assign(value)
        root.optimizer.get_slot(root.var, "m").assign(value + 2)
        return root

    prefix = trained(12.0).save(str(tmp_path / "ckpt"))
    tree = Checkpoint().read(prefix)
    slot = tree["optimizer"][".OPTIMIZER_SLOT"]["var"]
    assert sorted(slot) == ["m", "v"]
    for skip in (True, False):
        theirs = trained(0.0)
        before = theirs.optimizer.get_slot(theirs.var, "m").numpy()
        theirs.restore(prefix, options=tf.train.CheckpointOptions(experimental_skip_slot_variables=skip)).assert_consumed()
        m = np.full((), before, np.float32)
        var = np.zeros((), np.float32)
        power = np.zeros((), np.float32)
        ours = Checkpoint(var=var, optimizer={"beta1_power": power, ".OPTIMIZER_SLOT": {"var": {"m": m, "v": np.zeros((), np.float32)}}})
        ours.restore(prefix, skip_slot_variables=skip)
        assert float(var) == theirs.var.numpy() == 12.0
        assert float(m) == theirs.optimizer.get_slot(theirs.var, "m").numpy() == (before if skip else 14.0)
        assert float(power) == theirs.optimizer._get_beta_accumulators()[0].numpy()
