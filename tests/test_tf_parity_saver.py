"""TensorFlow's ``saver_test.py`` replayed against ``fastckpt.Saver`` where the two differed, each
step run through TensorFlow 2.21's ``tf.compat.v1.train.Saver`` (in a graph and session, as the
test) and fastckpt side by side: ``testSaveToNonexistingPath`` (which folders a save creates and the
``ValueError`` when it cannot), the timestamps ``recover_last_checkpoints`` gives,
``testSameName``, ``as_saver_def``/``export_meta_graph`` and ``write_version``."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import fastckpt

# Where the prefix goes, relative to the test's folder (``file`` is a plain file there).
SAVE_PATHS = ["ckpt", "new/ckpt", "new/deeper/ckpt", "file/ckpt"]


def _outcome(save: object, save_path: str) -> str:
    try:
        save(save_path)  # type: ignore[operator]
    except ValueError as e:
        return str(e)
    return "saved " + " ".join(sorted(p for p in os.listdir(os.path.dirname(save_path)) if not p.endswith(".meta")))


@pytest.mark.parametrize("sharded", [False, True])
@pytest.mark.parametrize("where", SAVE_PATHS)
def test_missing_folders_as_tensorflow(tf: ModuleType, tmp_path: Path, where: str, sharded: bool) -> None:
    outcomes = []
    for who in ("tf", "fc"):
        root = tmp_path / who
        root.mkdir()
        (root / "file").write_bytes(b"")
        save_path = str(root / where)
        if who == "tf":
            with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
                v0 = tf.compat.v1.Variable(1.0, name="v0")
                sess.run(v0.initializer)
                saver = tf.compat.v1.train.Saver({"v0": v0}, sharded=sharded)
                outcome = _outcome(lambda p: saver.save(sess, p), save_path)
        else:
            ours = fastckpt.Saver({"v0": np.float32(1)}, sharded=sharded)
            outcome = _outcome(ours.save, save_path)
        outcomes.append(outcome.replace(str(root), "<root>"))
    assert outcomes[1] == outcomes[0]


def test_recover_last_checkpoints_timestamps_as_tensorflow(tf: ModuleType, tmp_path: Path) -> None:
    """``recover_last_checkpoints`` stamps each checkpoint with ``get_checkpoint_mtimes``' whole
    seconds (the stamps decide what ``keep_checkpoint_every_n_hours`` keeps later)."""
    prefixes = [fastckpt.save({"v0": np.float32(i)}, tmp_path / f"ckpt-{i}") for i in range(3)]
    for i, prefix in enumerate(prefixes):
        os.utime(prefix + ".index", ns=(0, 1_700_000_000_750_000_000 + i * 1_000_000_000))
    asked = [*prefixes, str(tmp_path / "ckpt-9")]  # the last one does not exist
    theirs = tf.compat.v1.train.Saver({"v0": tf.Variable(1.0)})
    theirs.recover_last_checkpoints(asked)
    ours = fastckpt.Saver({"v0": np.float32(1)})
    ours.recover_last_checkpoints(asked)
    assert ours.last_checkpoints == theirs.last_checkpoints == prefixes
    assert ours._last_checkpoints == theirs._last_checkpoints  # (prefix, timestamp) pairs, in both


def test_one_variable_under_two_names(tf: ModuleType) -> None:
    """``testSameName``: a variable (for fastckpt an array) saved under two names is refused."""
    with tf.Graph().as_default():
        v0 = tf.compat.v1.Variable([10.0], name="v0")
        with pytest.raises(ValueError) as theirs:
            tf.compat.v1.train.Saver({"v0": v0, "v0too": v0})
    array = np.array([10.0], np.float32)
    with pytest.raises(ValueError) as ours:
        fastckpt.Saver({"v0": array, "v0too": array})
    assert str(ours.value) == str(theirs.value) == "The same saveable will be restored with two names: v0too"
    # Equal values in different arrays, or plain Python numbers, are different variables.
    fastckpt.Saver({"v0": array, "v1": array.copy(), "a": 1.0, "b": 1.0})


def test_as_saver_def_and_export_meta_graph(tf: ModuleType, tmp_path: Path) -> None:
    """``as_saver_def`` (used by ``MaxToKeepTest.testNonSharded``) is TensorFlow's for the same
    Saver; ``export_meta_graph`` gives what ``save`` writes as ``P.meta``, and in either format
    TensorFlow imports it and restores our checkpoint through its Saver."""
    values = {"v0": np.arange(3, dtype=np.float32), "scope/v1": np.int64(7)}
    ours = fastckpt.Saver(values, max_to_keep=3, keep_checkpoint_every_n_hours=2.0)
    with tf.Graph().as_default():
        variables = {name: tf.compat.v1.Variable(value, name=name) for name, value in values.items()}
        theirs = tf.compat.v1.train.Saver(variables, max_to_keep=3, keep_checkpoint_every_n_hours=2.0)
        assert ours.as_saver_def().SerializeToString() == theirs.as_saver_def().SerializeToString()
    # testSaverDef: a sharded Saver's SaverDef says so (its save op is named differently).
    with tf.Graph().as_default():
        variables = {name: tf.compat.v1.Variable(value, name=name) for name, value in values.items()}
        sharded = tf.compat.v1.train.Saver(variables, sharded=True).as_saver_def()
        our_sharded = fastckpt.Saver(values, sharded=True).as_saver_def()
        assert our_sharded.sharded and sharded.sharded
        our_sharded.save_tensor_name = sharded.save_tensor_name
        assert our_sharded.SerializeToString() == sharded.SerializeToString()

    prefix = ours.save(str(tmp_path / "model"))
    written = fastckpt.read_meta_graph(tmp_path / "model.meta")
    assert ours.export_meta_graph() == written
    assert ours.export_meta_graph(tmp_path / "exported.meta") == written
    assert (tmp_path / "exported.meta").read_bytes() == (tmp_path / "model.meta").read_bytes()
    for as_text in (False, True):
        path = str(tmp_path / f"exported-{as_text}.meta")
        ours.export_meta_graph(path, as_text=as_text)
        assert fastckpt.read_meta_graph(path) == written
        with tf.Graph().as_default() as graph, tf.compat.v1.Session() as sess:
            tf.compat.v1.train.import_meta_graph(path).restore(sess, prefix)
            got = {name: sess.run(graph.get_tensor_by_name(name + ":0")) for name in values}
        assert all(np.array_equal(got[name], value) for name, value in values.items())


@pytest.mark.parametrize("sharded", [False, True])
def test_write_version(tf: ModuleType, tmp_path: Path, sharded: bool) -> None:
    """``testCheckpointExists``/``testRemoveCheckpoint`` with ``write_version=SaverDef.V2``, the
    files of both Savers side by side; V1, which fastckpt reads but does not write, is refused."""
    v2 = tf.compat.v1.train.SaverDef.V2
    for who in ("tf", "fc"):
        path = str(tmp_path / who / f"{sharded}-{v2}")
        (tmp_path / who).mkdir()
        assert not fastckpt.checkpoint_exists(path)
        if who == "tf":
            with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
                v = tf.compat.v1.Variable(1.0, name="v")
                sess.run(v.initializer)
                prefix = tf.compat.v1.train.Saver(sharded=sharded, write_version=v2).save(sess, path)
        else:
            prefix = fastckpt.Saver({"v": np.float32(1)}, sharded=sharded, write_version=v2).save(path)
        assert prefix == path and fastckpt.checkpoint_exists(prefix)
        assert fastckpt.checkpoint_exists(fastckpt.latest_checkpoint(tmp_path / who))
        fastckpt.remove_checkpoint(prefix, v2)
        assert not fastckpt.checkpoint_exists(prefix)
        assert sorted(os.listdir(tmp_path / who)) == ["checkpoint"]
    with pytest.raises(fastckpt.UnimplementedError, match="V2 checkpoints only"):
        fastckpt.Saver({"v": np.float32(1)}, sharded=sharded, write_version=tf.compat.v1.train.SaverDef.V1)
