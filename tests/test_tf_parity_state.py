"""TensorFlow's ``checkpoint_management_test.py`` replayed against fastckpt where the two differed:
``generate_checkpoint_state_proto`` (``testAbsPath``, ``testRelPath``,
``testAllModelCheckpointPaths``), ``get_checkpoint_mtimes`` (``testGetCheckpointMtimes``),
``CheckpointManager(last_checkpoint_step=...)`` (``testCheckpointIntervalWithLastCheckpointStep``),
and ``checkpoint_utils_iterator_test``'s ``checkpoints_iterator``/``wait_for_new_checkpoint``, each
step run through TensorFlow 2.21 and fastckpt side by side."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt

STATES = [
    # (save_dir, model_checkpoint_path, all_model_checkpoint_paths, timestamps, last_preserved_timestamp)
    ("{d}", "{d}/model-0", None, None, None),
    ("{d}", "{d}/model-0", [], None, None),
    ("{d}", "{d}/model-0", ["model-2"], None, None),
    ("{d}", "{d}/model-0", ["{d}/model-2", "{d}/model-0"], [1.5, 2.25], 0.75),
    ("train", "train/model-0", None, None, None),
    ("train", "train/model-0", ["/elsewhere/model-1", "train/sub/model-0"], [3.0, 4.0, 5.0], None),
    ("train", "model-0", None, None, 10000.0),
]


@pytest.mark.parametrize("case", STATES, ids=range(len(STATES)))
def test_generate_checkpoint_state_proto(tf: ModuleType, tmp_path: Path, case: tuple[Any, ...]) -> None:
    from google.protobuf import text_format

    save_dir, model, paths, stamps, last = (
        [p.format(d=tmp_path) for p in v] if isinstance(v, list) and v and isinstance(v[0], str)
        else v.format(d=tmp_path) if isinstance(v, str) else v
        for v in case
    )
    theirs = tf.compat.v1.train.generate_checkpoint_state_proto(
        save_dir, model, all_model_checkpoint_paths=None if paths is None else list(paths),
        all_model_checkpoint_timestamps=stamps, last_preserved_timestamp=last,
    )
    ours = fastckpt.generate_checkpoint_state_proto(
        save_dir, model, all_model_checkpoint_paths=paths,
        all_model_checkpoint_timestamps=stamps, last_preserved_timestamp=last,
    )
    # The text is what a state file holds (TensorFlow writes it with text_format.MessageToString).
    assert str(ours) == text_format.MessageToString(theirs)
    assert ours.SerializeToString() == theirs.SerializeToString()


def test_generate_checkpoint_state_proto_refuses_timestamps_that_do_not_match(tf: ModuleType) -> None:
    with pytest.raises(ValueError) as theirs:
        tf.compat.v1.train.generate_checkpoint_state_proto("/d", "/d/m-2", ["/d/m-1"], [1.0])
    with pytest.raises(ValueError) as ours:
        fastckpt.generate_checkpoint_state_proto("/d", "/d/m-2", ["/d/m-1"], [1.0])
    assert str(ours.value) == str(theirs.value)


def test_all_model_checkpoint_paths_list_is_updated_as_tensorflow_updates_it(tf: ModuleType, tmp_path: Path) -> None:
    """``testAllModelCheckpointPaths`` counts on TensorFlow appending the model path to the list
    it passes (and rewriting relative paths in it for a relative folder): the caller's list ends
    up as TensorFlow leaves it, for ``generate_checkpoint_state_proto`` and
    ``update_checkpoint_state``."""
    from tensorflow.python.checkpoint import checkpoint_management as cm

    abs_path = str(tmp_path / "model-0")
    for paths in [None, [], ["model-2"]]:
        ckpt = fastckpt.generate_checkpoint_state_proto(str(tmp_path), abs_path, all_model_checkpoint_paths=paths)
        assert len(ckpt.all_model_checkpoint_paths) == (len(paths) if paths else 1)
        assert ckpt.all_model_checkpoint_paths[-1] == abs_path
    for call in ("generate", "update"):
        for save_dir, model, given in [
            ("train", "train/model-3", ["train/model-1", "/abs/model-2"]),
            ("train", "train/model-3", ["train/model-3"]),
            (str(tmp_path), abs_path, ["model-2"]),
        ]:
            lists = [list(given), list(given)]
            for module, listed in zip((cm, fastckpt), lists):
                if call == "generate":
                    module.generate_checkpoint_state_proto(save_dir, model, all_model_checkpoint_paths=listed)
                else:
                    folder = tmp_path / ("tf" if module is cm else "ours") / save_dir
                    folder.mkdir(parents=True, exist_ok=True)
                    module.update_checkpoint_state(str(folder), model, all_model_checkpoint_paths=listed)
            assert lists[1] == lists[0]


def test_get_checkpoint_mtimes(tf: ModuleType, tmp_path: Path) -> None:
    v2 = str(tmp_path / "v2")
    fastckpt.save({"v": np.float32(1)}, v2)
    v1 = tmp_path / "v1-00000-of-00001"  # a V1 file: TensorFlow only globs for it
    v1.write_bytes(b"\0")
    os.utime(v2 + ".index", ns=(0, 1_700_000_000_123_456_789))
    os.utime(v1, ns=(0, 1_700_000_001_987_654_321))
    prefixes = [v2, str(tmp_path / "v1-?????-of-00001"), str(tmp_path / "missing"), Path(v2)]
    expected = tf.compat.v1.train.get_checkpoint_mtimes([os.fspath(p) for p in prefixes])
    assert len(expected) == 3
    assert fastckpt.get_checkpoint_mtimes(prefixes) == expected


def test_checkpoint_interval_counts_from_last_checkpoint_step(tf: ModuleType, tmp_path: Path) -> None:
    steps = [(1, True), (2, True), (3, True), (3, False), (4, True), (4, False), (6, True)]
    tf_step = tf.Variable(0)
    theirs = tf.train.CheckpointManager(
        tf.train.Checkpoint(v=tf.Variable(1.0)), str(tmp_path / "tf"), max_to_keep=None,
        step_counter=tf_step, checkpoint_interval=2, last_checkpoint_step=1,
    )
    step = np.array(0)
    ours = fastckpt.CheckpointManager(
        fastckpt.Checkpoint(v=np.float32(1)), tmp_path / "ours", max_to_keep=None,
        step_counter=step, checkpoint_interval=2, last_checkpoint_step=1,
    )
    saved = []
    for value, check_interval in steps:
        tf_step.assign(value)
        step[...] = value
        tf_path = theirs.save(check_interval=check_interval)
        our_path = ours.save(check_interval=check_interval)
        saved.append(our_path and os.path.basename(our_path))
        assert saved[-1] == (tf_path and os.path.basename(tf_path))
    assert saved == [None, None, "ckpt-1", None, None, "ckpt-2", "ckpt-3"]


@pytest.mark.parametrize("writer", ["none", "tf", "fastckpt"])
def test_checkpoints_iterator(tf: ModuleType, tmp_path: Path, writer: str) -> None:
    """``checkpoint_utils_iterator_test``: nothing in a missing folder, one checkpoint in a folder
    that has one (written by either library), and the same answers as TensorFlow's iterator."""
    folder = tmp_path / "ckpts"
    if writer == "tf":
        tf.train.Checkpoint(a=tf.Variable(5)).save(str(folder / "model.ckpt"))
    elif writer == "fastckpt":
        fastckpt.Checkpoint(a=np.int32(5)).save(folder / "model.ckpt")
    expected = list(tf.train.checkpoints_iterator(str(folder), timeout=0))
    assert list(fastckpt.checkpoints_iterator(folder, timeout=0)) == expected
    assert len(expected) == (0 if writer == "none" else 1)


def test_checkpoints_iterator_asks_timeout_fn(tf: ModuleType) -> None:
    calls = {"tf": 0, "ours": 0}

    def stop_after_three(who: str) -> Any:
        def timeout_fn() -> bool:
            calls[who] += 1
            return calls[who] > 3

        return timeout_fn

    theirs = list(tf.train.checkpoints_iterator("/non-existent-dir", timeout=0.1, timeout_fn=stop_after_three("tf")))
    ours = list(fastckpt.checkpoints_iterator("/non-existent-dir", timeout=0.1, timeout_fn=stop_after_three("ours")))
    assert ours == theirs == [] and calls == {"tf": 4, "ours": 4}


def test_wait_for_new_checkpoint(tf: ModuleType, tmp_path: Path) -> None:
    from tensorflow.python.training.checkpoint_utils import wait_for_new_checkpoint

    manager = fastckpt.CheckpointManager(fastckpt.Checkpoint(a=np.int32(5)), tmp_path, max_to_keep=None)
    first = manager.save()
    # Nothing newer than `first`: both give up once the next poll would be past the timeout.
    assert fastckpt.wait_for_new_checkpoint(tmp_path, first, seconds_to_sleep=0.05, timeout=0.2) is None
    assert wait_for_new_checkpoint(str(tmp_path), first, seconds_to_sleep=0.05, timeout=0.2) is None
    # A checkpoint written while it waits is returned.
    writer = threading.Timer(0.2, manager.save)
    writer.start()
    try:
        found = fastckpt.wait_for_new_checkpoint(tmp_path, first, seconds_to_sleep=0.05, timeout=30)
    finally:
        writer.join()
    assert found == str(tmp_path / "ckpt-2") == wait_for_new_checkpoint(str(tmp_path), first, timeout=0)
