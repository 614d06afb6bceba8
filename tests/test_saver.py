"""``fastckpt.Saver``, ``import_meta_graph``, ``merge_bundles`` and sharded saves, each checked
against TensorFlow 2.21's own TF1 Saver (graph mode, ``tf.compat.v1.Session``) on the same
programs, files and sequences of saves."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt

# --------------------------------------------------------------------------------------------------
# TensorFlow's side of the programs
# --------------------------------------------------------------------------------------------------


@contextmanager
def tf_session(tf: ModuleType) -> Iterator[Any]:
    """A fresh graph and a session on it, as a TF1 program has."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        yield sess


def tf_variables(tf: ModuleType, **initial: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Reference variables (``VariableV2``) named after the keys, with the given initial values."""
    return {name: tf.compat.v1.Variable(value, name=name, use_resource=False) for name, value in initial.items()}


def seed_values() -> dict[str, np.ndarray[Any, Any]]:
    v1 = np.zeros([3], np.float32)
    v2 = np.zeros([5], np.float32)
    v1 += 1
    v2 -= 1
    return {"v1": v1, "v2": v2}


# --------------------------------------------------------------------------------------------------
# The seed programs of issue 6, each cross-checked with TensorFlow both ways
# --------------------------------------------------------------------------------------------------


def test_seed_program_fastckpt_saves_tensorflow_restores(tf: ModuleType, tmp_path: Path) -> None:
    # Program 1: create, change, save.
    values = seed_values()
    prefix = fastckpt.Saver(values).save(str(tmp_path / "model.ckpt"))
    assert prefix == str(tmp_path / "model.ckpt")
    assert tf.train.latest_checkpoint(str(tmp_path)) == prefix

    # Program 2 (fastckpt): a fresh program restores both, in place.
    v1, v2 = np.zeros([3], np.float32), np.zeros([5], np.float32)
    restored = fastckpt.Saver({"v1": v1, "v2": v2}).restore(prefix)
    assert restored["v1"] is v1 and restored["v2"] is v2
    np.testing.assert_array_equal(v1, [1, 1, 1])
    np.testing.assert_array_equal(v2, [-1] * 5)

    # Program 3 (fastckpt): only v2, under its name; v1 keeps its own initial value.
    v1, v2 = np.full([3], 7, np.float32), np.zeros([5], np.float32)
    fastckpt.Saver({"v2": v2}).restore(prefix)
    np.testing.assert_array_equal(v1, [7, 7, 7])
    np.testing.assert_array_equal(v2, [-1] * 5)

    # The same programs 2 and 3 in TensorFlow, on what fastckpt wrote.
    with tf_session(tf) as sess:
        tvars = tf_variables(tf, v1=np.zeros([3], np.float32), v2=np.zeros([5], np.float32))
        tf.compat.v1.train.Saver().restore(sess, prefix)
        np.testing.assert_array_equal(sess.run(tvars["v1"]), [1, 1, 1])
        np.testing.assert_array_equal(sess.run(tvars["v2"]), [-1] * 5)
    with tf_session(tf) as sess:
        tvars = tf_variables(tf, v1=np.full([3], 7, np.float32), v2=np.zeros([5], np.float32))
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver({"v2": tvars["v2"]}).restore(sess, prefix)
        np.testing.assert_array_equal(sess.run(tvars["v1"]), [7, 7, 7])
        np.testing.assert_array_equal(sess.run(tvars["v2"]), [-1] * 5)

    # And through the meta graph fastckpt wrote: TF imports it and its Saver restores our values.
    with tf_session(tf) as sess:
        saver = tf.compat.v1.train.import_meta_graph(prefix + ".meta")
        saver.restore(sess, prefix)
        np.testing.assert_array_equal(sess.run("v1:0"), [1, 1, 1])
        np.testing.assert_array_equal(sess.run("v2:0"), [-1] * 5)
        names = sorted(v.op.name for v in tf.compat.v1.global_variables())
        assert names == ["v1", "v2"]
        assert [v.op.name for v in tf.compat.v1.trainable_variables()] == ["v1", "v2"]
        # The imported Saver can save again, and fastckpt reads that.
        again = saver.save(sess, str(tmp_path / "again"))
    np.testing.assert_array_equal(fastckpt.load_variable(again, "v2"), [-1] * 5)


def test_seed_program_tensorflow_saves_fastckpt_restores(tf: ModuleType, tmp_path: Path) -> None:
    with tf_session(tf) as sess:
        tvars = tf_variables(tf, v1=np.zeros([3], np.float32), v2=np.zeros([5], np.float32))
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run([tvars["v1"].assign_add(np.ones(3, np.float32)), tvars["v2"].assign_sub(np.ones(5, np.float32))])
        prefix = tf.compat.v1.train.Saver().save(sess, str(tmp_path / "model.ckpt"))
    assert fastckpt.latest_checkpoint(tmp_path) == prefix

    v1, v2 = np.zeros([3], np.float32), np.zeros([5], np.float32)
    fastckpt.Saver({"v1": v1, "v2": v2}).restore(prefix)
    np.testing.assert_array_equal(v1, [1, 1, 1])
    np.testing.assert_array_equal(v2, [-1] * 5)
    v1, v2 = np.full([3], 7, np.float32), np.zeros([5], np.float32)
    fastckpt.Saver({"v2": v2}).restore(prefix)
    np.testing.assert_array_equal(v1, [7, 7, 7])
    np.testing.assert_array_equal(v2, [-1] * 5)

    # fastckpt.import_meta_graph over TF's .meta: the graph without an import/ prefix, and a Saver.
    graph, saver = fastckpt.import_meta_graph(prefix + ".meta")
    assert "v1" in graph and "save/restore_all" in graph and "import/v1" not in graph
    restored = saver.restore(prefix)
    assert sorted(restored) == ["v1", "v2"]
    np.testing.assert_array_equal(restored["v1"], [1, 1, 1])
    np.testing.assert_array_equal(restored["v2"], [-1] * 5)
    # A Saver over the variables of a MetaGraphDef or of an imported Graph.
    for source in (fastckpt.read_meta_graph(prefix + ".meta"), graph):
        over_graph = fastckpt.Saver(source)
        assert sorted(over_graph.var_list) == ["v1", "v2"]
        np.testing.assert_array_equal(over_graph.restore(prefix)["v2"], [-1] * 5)
    scoped, scoped_saver = fastckpt.import_meta_graph(prefix + ".meta", import_scope="s", clear_devices=True)
    assert "s/v1" in scoped and scoped.get_operation_by_name("s/save/RestoreV2").device == ""
    np.testing.assert_array_equal(scoped_saver.restore(prefix)["v2"], [-1] * 5)


def test_exported_meta_graph_has_tensorflows_structure(tf: ModuleType, tmp_path: Path) -> None:
    """Our .meta against TF's for the same variables: same ops, inputs, devices, SaverDef and
    collection names (TF adds _output_shapes/_class attrs and an ``init`` op, which a restore
    does not use)."""
    values = {"b": np.zeros([2, 3], np.float64), "a/x": np.zeros([4], np.int32)}
    prefix = fastckpt.Saver(values).save(str(tmp_path / "fc"))
    with tf_session(tf) as sess:
        tvars = {"b": tf.compat.v1.Variable(values["b"], name="b", use_resource=False)}
        with tf.compat.v1.variable_scope("a"):
            tvars["a/x"] = tf.compat.v1.Variable(values["a/x"], name="x", use_resource=False)
        sess.run(tf.compat.v1.global_variables_initializer())
        tf_prefix = tf.compat.v1.train.Saver().save(sess, str(tmp_path / "tf"))
    ours, theirs = fastckpt.read_meta_graph(prefix + ".meta"), fastckpt.read_meta_graph(tf_prefix + ".meta")

    def save_nodes(meta: Any) -> dict[str, tuple[str, list[str], str]]:
        return {n.name: (n.op, list(n.input), n.device) for n in meta.graph_def.node if n.name.startswith("save/")}

    assert save_nodes(ours) == save_nodes(theirs)
    for name in ("save/SaveV2", "save/RestoreV2"):
        assert [n.attr["dtypes"] for n in ours.graph_def.node if n.name == name] == [
            n.attr["dtypes"] for n in theirs.graph_def.node if n.name == name
        ]
    assert ours.saver_def == theirs.saver_def
    assert sorted(ours.collection_def) == sorted(theirs.collection_def) == ["trainable_variables", "variables"]
    assert ours.graph_def.versions.producer == theirs.graph_def.versions.producer


# --------------------------------------------------------------------------------------------------
# Retention, state file and prefixes against TensorFlow's Saver on the same sequence of saves
# --------------------------------------------------------------------------------------------------

HOUR = 3600.0
SEQUENCES = {
    "max_to_keep_2": (dict(max_to_keep=2), [(s, s * 60.0) for s in range(6)]),
    "keep_every_hour": (
        dict(max_to_keep=2, keep_checkpoint_every_n_hours=1.0),
        [(s, s * 0.4 * HOUR) for s in range(10)],
    ),
    "keep_all": (dict(max_to_keep=0), [(s, float(s)) for s in range(4)]),
    "keep_none_given": (dict(max_to_keep=None), [(s, float(s)) for s in range(3)]),
    "resave_same_step": (dict(max_to_keep=3), [(1, 0.0), (2, 1.0), (1, 2.0), (3, 3.0), (4, 4.0)]),
    "relative_paths": (dict(max_to_keep=2, save_relative_paths=True), [(s, float(s)) for s in range(4)]),
    "pad_step_number": (dict(max_to_keep=2, pad_step_number=True), [(s * 7, float(s)) for s in range(4)]),
    "no_step": (dict(max_to_keep=2), [(None, 0.0), (None, 1.0)]),
}


@pytest.mark.parametrize("relative_dir", [False, True])
@pytest.mark.parametrize("case", sorted(SEQUENCES))
def test_retention_and_state_file_as_tensorflow(
    tf: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, relative_dir: bool
) -> None:
    options, saves = SEQUENCES[case]
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.chdir(tmp_path)
    value = np.arange(4, dtype=np.float32)
    outcomes = {}
    for who in ("tf", "fc"):
        folder = tmp_path / who
        folder.mkdir()
        base = os.path.join(who, "model") if relative_dir else str(folder / "model")
        now[0] = 1_000_000.0
        returned = []
        if who == "tf":
            with tf_session(tf) as sess:
                var = tf_variables(tf, w=value)["w"]
                sess.run(var.initializer)
                saver = tf.compat.v1.train.Saver(**options)
                for step, at in saves:
                    now[0] = 1_000_000.0 + at
                    returned.append(saver.save(sess, base, global_step=step))
                last = saver.last_checkpoints
        else:
            saver = fastckpt.Saver({"w": value}, **options)
            for step, at in saves:
                now[0] = 1_000_000.0 + at
                returned.append(saver.save(base, global_step=step))
            last = saver.last_checkpoints
        state = (folder / "checkpoint").read_text()
        outcomes[who] = (
            [str(p).replace(who, "<who>") for p in returned],
            [p.replace(who, "<who>") for p in last],
            state.replace(who, "<who>"),
            sorted(os.listdir(folder)),
        )
    assert outcomes["fc"] == outcomes["tf"]
    # Each reads the other's folder the same way.
    for who in ("tf", "fc"):
        assert fastckpt.latest_checkpoint(tmp_path / who) == tf.train.latest_checkpoint(str(tmp_path / who))


def test_recover_and_set_last_checkpoints(tf: ModuleType, tmp_path: Path) -> None:
    value = {"w": np.ones(2, np.float32)}
    first = fastckpt.Saver(value, max_to_keep=2)
    paths = [first.save(str(tmp_path / "m"), global_step=s) for s in range(2)]
    state = fastckpt.get_checkpoint_state(tmp_path)
    assert state is not None and list(state.all_model_checkpoint_paths) == paths
    again = fastckpt.Saver(value, max_to_keep=2)
    again.recover_last_checkpoints(list(state.all_model_checkpoint_paths) + [str(tmp_path / "gone")])
    assert again.last_checkpoints == paths
    again.save(str(tmp_path / "m"), global_step=2)
    assert not fastckpt.checkpoint_exists(paths[0]) and fastckpt.checkpoint_exists(paths[1])
    kept = fastckpt.Saver(value, max_to_keep=1)
    kept.set_last_checkpoints([paths[1]])
    kept.save(str(tmp_path / "m"), global_step=3)
    assert fastckpt.checkpoint_exists(paths[1]), "set_last_checkpoints' paths are never deleted"
    kept.set_last_checkpoints_with_time([(paths[1], 0.0)])
    assert kept.last_checkpoints == [paths[1]]


# --------------------------------------------------------------------------------------------------
# Errors, with TensorFlow's texts
# --------------------------------------------------------------------------------------------------


class Named:
    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = np.asarray(value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        return self.value


def test_construction(tf: ModuleType) -> None:
    saver = fastckpt.Saver([Named("b:0", [1.0]), Named("scope/a:0", [2.0])])
    assert list(saver.var_list) == ["b", "scope/a"]
    with pytest.raises(ValueError, match="^At least two variables have the same name: a$"):
        fastckpt.Saver([Named("a:0", [1]), Named("a", [2])])
    with pytest.raises(TypeError, match="^Variables to save should be passed in a dict or a list. Got 3$"):
        fastckpt.Saver(3)
    with pytest.raises(ValueError, match="^No variables to save$"):
        fastckpt.Saver({})
    assert fastckpt.Saver({}, allow_empty=True).save("/nonexistent/x", write_meta_graph=False) is None
    # TF's own texts, for the same mistakes.
    with tf_session(tf):
        with pytest.raises(TypeError, match="^Variables to save should be passed in a dict or a list. Got 3$"):
            tf.compat.v1.train.Saver(3)
        with pytest.raises(ValueError, match="^No variables to save$"):
            tf.compat.v1.train.Saver({})


def test_save_errors_as_tensorflow(tf: ModuleType, tmp_path: Path) -> None:
    saver = fastckpt.Saver({"w": np.ones(2)})
    messages = []
    with pytest.raises(ValueError) as e1:
        saver.save(str(tmp_path / "x"), latest_filename="a/b")
    with pytest.raises(ValueError) as e2:
        saver.save(str(tmp_path / "checkpoint"))
    messages.append([str(e.value) for e in (e1, e2)])
    with tf_session(tf) as sess:
        var = tf_variables(tf, w=np.ones(2))["w"]
        sess.run(var.initializer)
        tsaver = tf.compat.v1.train.Saver()
        found = []
        for kwargs in (dict(latest_filename="a/b"), {}):
            with pytest.raises(ValueError) as e:
                tsaver.save(sess, str(tmp_path / ("x" if kwargs else "checkpoint")), **kwargs)
            found.append(str(e.value))
        # TF 2.21 creates a missing parent folder one level deep (test_tf_parity_saver has the rest).
        tsaver.save(sess, str(tmp_path / "tf" / "x"))
    messages.append(found)
    assert messages[0] == messages[1]
    saver.save(str(tmp_path / "fc" / "x"))
    assert sorted(os.listdir(tmp_path / "fc")) == sorted(os.listdir(tmp_path / "tf"))


def test_restore_errors_as_tensorflow(tf: ModuleType, tmp_path: Path) -> None:
    prefix = fastckpt.save({"v1": np.ones(3, np.float32), "v2": np.ones(4, np.float32)}, tmp_path / "m")
    with pytest.raises(ValueError, match="^Can't load save_path when it is None.$"):
        fastckpt.Saver({"v1": np.ones(3, np.float32)}).restore(None)
    with pytest.raises(ValueError, match="^The passed save_path is not a valid checkpoint: "):
        fastckpt.Saver({"v1": np.ones(3, np.float32)}).restore(str(tmp_path / "nope"))

    # Every missing name in one error, TF's wrapper around it.
    with pytest.raises(fastckpt.NotFoundError) as missing:
        fastckpt.Saver({"v1": np.ones(3, np.float32), "x": np.ones(1), "y": np.ones(1)}).restore(prefix)
    assert "Key x not found in checkpoint" in str(missing.value) and "Key y not found in checkpoint" in str(missing.value)

    cases = {
        "dtype": dict(v1=np.ones(3, np.float64), v2=np.ones(4, np.int32)),
        "shape": dict(v1=np.ones(4, np.float32)),
    }
    for case, arrays in cases.items():
        before = {k: v.copy() for k, v in arrays.items()}
        with pytest.raises(fastckpt.InvalidArgumentError) as ours:
            fastckpt.Saver(dict(arrays)).restore(prefix)
        for name in arrays:
            np.testing.assert_array_equal(arrays[name], before[name], err_msg="nothing is read before the checks")
        with tf_session(tf) as sess:
            tf_variables(tf, **arrays)
            with pytest.raises(tf.errors.InvalidArgumentError) as theirs:
                tf.compat.v1.train.Saver().restore(sess, str(prefix))
        # TF's wrapper, then its detail lines (TF adds the graph node's context around them).
        head, detail = str(ours.value).split("Original error:\n\n")
        assert head == theirs.value.message.split("Original error:")[0]
        assert detail in theirs.value.message
    with tf_session(tf) as sess:
        tf_variables(tf, v1=np.ones(3, np.float32), x=np.ones(1))
        with pytest.raises(tf.errors.NotFoundError) as tf_missing:
            tf.compat.v1.train.Saver().restore(sess, str(prefix))
    assert str(missing.value).split("Original error:")[0] == tf_missing.value.message.split("Original error:")[0]


def test_restore_in_place_reshape_and_replacement(tmp_path: Path) -> None:
    big = np.arange(1 << 20, dtype=np.float32)
    prefix = fastckpt.save({"big": big, "grid": np.arange(6, dtype=np.int64), "s": np.array([b"a", b"bc"], object)}, tmp_path / "m")
    target = np.zeros_like(big)
    frozen = np.zeros(6, np.int64).reshape(2, 3)
    frozen.flags.writeable = False
    strings = np.array([b"", b""], object)
    saver = fastckpt.Saver({"big": target, "grid": frozen, "s": strings}, reshape=True)
    restored = saver.restore(prefix)
    assert restored["big"] is target and np.array_equal(target, big)
    assert restored["grid"] is not frozen and restored["grid"].shape == (2, 3)
    assert saver.var_list["grid"] is restored["grid"], "values that could not be filled are replaced"
    assert list(restored["s"]) == [b"a", b"bc"]
    with pytest.raises(fastckpt.InvalidArgumentError, match="Input to reshape is a tensor with 6 values, but the requested shape has 4"):
        fastckpt.Saver({"grid": np.zeros(4, np.int64)}, reshape=True).restore(prefix)


def test_restore_tf2_checkpoint_through_object_graph(tf: ModuleType, tmp_path: Path) -> None:
    module = tf.Module()
    module.dense = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="dense/kernel")
    module.bias = tf.Variable(np.ones(3, np.float32), name="bias")
    path = tf.train.Checkpoint(model=module).write(str(tmp_path / "tf2"))
    kernel, bias = np.zeros((2, 3), np.float32), np.zeros(3, np.float32)
    restored = fastckpt.Saver({"dense/kernel": kernel, "bias": bias}).restore(path)
    assert restored["dense/kernel"] is kernel
    np.testing.assert_array_equal(kernel, np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(bias, np.ones(3))
    with pytest.raises(fastckpt.NotFoundError, match="Existing variables not in the checkpoint: other"):
        fastckpt.Saver({"bias": bias, "other": np.zeros(1)}).restore(path)


def test_background_save(tf: ModuleType, tmp_path: Path) -> None:
    value = np.zeros(1 << 20, np.float32)
    saver = fastckpt.Saver({"w": value}, max_to_keep=1)
    future = saver.save(str(tmp_path / "m"), global_step=1, blocking=False)
    value += 5  # after the call: not in the checkpoint
    assert not isinstance(future, str) and future is not None
    prefix = future.result()
    assert prefix == str(tmp_path / "m-1") and future.done()
    assert fastckpt.latest_checkpoint(tmp_path) == prefix == tf.train.latest_checkpoint(str(tmp_path))
    assert not fastckpt.load_variable(prefix, "w").any()
    second = saver.save(str(tmp_path / "m"), global_step=2, blocking=False)
    third = saver.save(str(tmp_path / "m"), global_step=3)  # waits for the second
    assert not isinstance(second, str) and second is not None and second.done()
    assert third == str(tmp_path / "m-3") and saver.last_checkpoints == [third]
    np.testing.assert_array_equal(fastckpt.load_variable(third, "w"), value)


# --------------------------------------------------------------------------------------------------
# Sharded saves and merging
# --------------------------------------------------------------------------------------------------


def test_sharded_save_read_by_tensorflow(tf: ModuleType, tmp_path: Path) -> None:
    values = {f"t{i}": np.full((i + 1, 1000), i, np.float32) for i in range(7)}
    prefix = fastckpt.save(values, tmp_path / "m", num_shards=3)
    data = sorted(p.name for p in tmp_path.iterdir() if ".data-" in p.name)
    assert data == [f"m.data-0000{i}-of-00003" for i in range(3)]
    assert sorted(os.listdir(tmp_path)) == sorted(data + ["m.index"]), "no temporary parts left"
    reader = tf.train.load_checkpoint(prefix)
    for name, value in values.items():
        np.testing.assert_array_equal(reader.get_tensor(name), value)
    saver = fastckpt.Saver(values, sharded=True)
    sharded_prefix = saver.save(str(tmp_path / "s"), global_step=1)
    assert sharded_prefix == str(tmp_path / "s-1") and fastckpt.latest_checkpoint(tmp_path) == sharded_prefix
    with tf_session(tf) as sess:
        tf.compat.v1.train.import_meta_graph(sharded_prefix + ".meta").restore(sess, sharded_prefix)
        for name, value in values.items():
            np.testing.assert_array_equal(sess.run(name + ":0"), value)


def test_merge_errors_as_tensorflow(tf: ModuleType, tmp_path: Path) -> None:
    for who in ("fc", "tf"):
        fastckpt.save({"x": np.ones(1)}, tmp_path / who / "a")
        fastckpt.save({"x": np.ones(1)}, tmp_path / who / "b")
    with pytest.raises(ValueError) as ours:
        fastckpt.merge_bundles([tmp_path / "fc" / "a", tmp_path / "fc" / "b"], tmp_path / "fc" / "out")
    with pytest.raises(tf.errors.InvalidArgumentError) as theirs:
        tf.raw_ops.MergeV2Checkpoints(
            checkpoint_prefixes=[str(tmp_path / "tf" / "a"), str(tmp_path / "tf" / "b")],
            destination_prefix=str(tmp_path / "tf" / "out"),
        )
    assert str(ours.value).replace("/fc/", "/<who>/") in theirs.value.message.replace("/tf/", "/<who>/")
    assert fastckpt.load_variable(tmp_path / "fc" / "a", "x") == 1, "inputs untouched on error"


def test_merge_is_what_tensorflow_merges(tf: ModuleType, tmp_path: Path) -> None:
    parts = {"a": {"x": np.arange(3.0)}, "b": {"y": np.arange(4, dtype=np.int32), "z": np.ones(2, np.float16)}}
    for who in ("fc", "tf"):
        for name, tensors in parts.items():
            fastckpt.save(tensors, tmp_path / who / "in" / name, alignment=1)
    fastckpt.merge_bundles([tmp_path / "fc" / "in" / n for n in parts], tmp_path / "fc" / "out")
    tf.raw_ops.MergeV2Checkpoints(
        checkpoint_prefixes=[str(tmp_path / "tf" / "in" / n) for n in parts],
        destination_prefix=str(tmp_path / "tf" / "out"),
    )
    for who in ("fc", "tf"):
        assert sorted(os.listdir(tmp_path / who)) == ["out.data-00000-of-00002", "out.data-00001-of-00002", "out.index"]
    for name in os.listdir(tmp_path / "tf"):
        assert (tmp_path / "fc" / name).read_bytes() == (tmp_path / "tf" / name).read_bytes(), name


WORKER = """
import sys, numpy as np, fastckpt
rank, prefix = int(sys.argv[1]), sys.argv[2]
with fastckpt.BundleWriter(prefix, allow_partial_slices=True) as w:
    w.add(f"own_{rank}", np.full((rank + 2,), rank, np.int64))
    w.add_slice("shared", [8, 3], [(rank * 2, 2), None], np.full((2, 3), rank, np.float32))
"""


def test_four_processes_write_parts_one_merges_tensorflow_reads(tf: ModuleType, tmp_path: Path) -> None:
    prefixes = [str(tmp_path / "parts" / f"rank{r}" / "part") for r in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(r), prefixes[r]]) for r in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    final = fastckpt.merge_bundles(prefixes, tmp_path / "model.ckpt")
    assert not (tmp_path / "parts").exists() or not any((tmp_path / "parts").rglob("*")), "inputs moved away"
    reader = tf.train.load_checkpoint(final)
    for r in range(4):
        np.testing.assert_array_equal(reader.get_tensor(f"own_{r}"), np.full((r + 2,), r))
    expected = np.repeat(np.arange(4, dtype=np.float32), 2)[:, None] * np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(reader.get_tensor("shared"), expected)
    restored = tf.raw_ops.RestoreV2(prefix=final, tensor_names=["shared"], shape_and_slices=[""], dtypes=[tf.float32])
    np.testing.assert_array_equal(restored[0].numpy(), expected)
