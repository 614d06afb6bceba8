"""``fastckpt.CheckpointManager`` against ``tf.train.CheckpointManager`` on the same save sequences
under one injected clock: returned prefixes, ``checkpoints``, the state file byte for byte, the
files kept, and each one taking over a folder the other managed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt
from fastckpt import Checkpoint, CheckpointManager

T0 = 1_795_636_091.6588638


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = T0
        monkeypatch.setattr(time, "time", lambda: self.now)


def _relative(directory: Path, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_relative(directory, v) for v in value]
    return os.path.relpath(value, directory)


def _snapshot(manager: Any, directory: Path, returned: Any) -> tuple[Any, ...]:
    return (
        _relative(directory, returned),
        _relative(directory, manager.latest_checkpoint),
        _relative(directory, list(manager.checkpoints)),
        (directory / "checkpoint").read_text(),
        sorted(os.listdir(directory)),
    )


# (seconds since T0 at the save, checkpoint_number or None)
SEQUENCE = [(0, None), (1800, None), (3700, 10), (3800, None), (7500, None), (7600, 10), (20000, None), (20001, None)]


@pytest.mark.parametrize(
    ("max_to_keep", "hours"), [(2, None), (2, 1.0), (3, 0.5), (None, None), (1, 2.0)], ids=str
)
def test_same_sequence_same_results(
    tf: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_to_keep: int | None, hours: float | None
) -> None:
    clock = Clock(monkeypatch)
    ours_dir, tf_dir = tmp_path / "ours", tmp_path / "tf"
    ours = CheckpointManager(Checkpoint(v=np.float32(1)), ours_dir, max_to_keep, keep_checkpoint_every_n_hours=hours)
    theirs = tf.train.CheckpointManager(
        tf.train.Checkpoint(v=tf.Variable(1.0)), str(tf_dir), max_to_keep, keep_checkpoint_every_n_hours=hours
    )
    for seconds, number in SEQUENCE:
        clock.now = T0 + seconds
        ours_step = _snapshot(ours, ours_dir, ours.save(checkpoint_number=number))
        tf_step = _snapshot(theirs, tf_dir, theirs.save(checkpoint_number=number))
        assert ours_step == tf_step

    # Each takes over the other's folder later on: the same checkpoints are recovered and kept.
    clock.now = T0 + 30000
    for directory in (ours_dir, tf_dir):
        mine = CheckpointManager(Checkpoint(v=np.float32(1)), directory, max_to_keep, keep_checkpoint_every_n_hours=hours)
        tfs = tf.train.CheckpointManager(
            tf.train.Checkpoint(v=tf.Variable(1.0)), str(directory), max_to_keep, keep_checkpoint_every_n_hours=hours
        )
        assert mine.checkpoints == tfs.checkpoints and mine.latest_checkpoint == tfs.latest_checkpoint


def test_restore_or_initialize_and_values(tf: ModuleType, tmp_path: Path) -> None:
    weights = np.arange(4, dtype=np.float32)
    ckpt = Checkpoint(w=weights)
    manager = CheckpointManager(ckpt, tmp_path, max_to_keep=3)
    initialized = []
    assert CheckpointManager(Checkpoint(w=weights), tmp_path / "empty", 3, init_fn=lambda: initialized.append(1)
                             ).restore_or_initialize() is None
    assert initialized == [1]
    first = manager.save()
    weights += 1
    second = manager.save()
    assert (first, second) == (str(tmp_path / "ckpt-1"), str(tmp_path / "ckpt-2"))

    # TF restores the latest one through its own manager.
    w = tf.Variable(np.zeros(4, np.float32))
    tf_ckpt = tf.train.Checkpoint(w=w)
    tf_manager = tf.train.CheckpointManager(tf_ckpt, str(tmp_path), max_to_keep=3)
    assert tf_manager.restore_or_initialize() == second
    np.testing.assert_array_equal(w.numpy(), np.arange(4) + 1)
    assert int(tf_ckpt.save_counter.numpy()) == 2

    # A fresh fastckpt manager resumes the counter and restores in place.
    mine = np.zeros(4, np.float32)
    resumed = Checkpoint(w=mine)
    again = CheckpointManager(resumed, tmp_path, max_to_keep=3)
    assert again.restore_or_initialize() == second
    np.testing.assert_array_equal(mine, np.arange(4) + 1)
    assert again.save() == str(tmp_path / "ckpt-3")


def test_interval_and_errors(tf: ModuleType, tmp_path: Path) -> None:
    step = np.array(0, np.int64)
    manager = CheckpointManager(Checkpoint(x=np.ones(1)), tmp_path, 5, step_counter=step, checkpoint_interval=10)
    saved = []
    for s in range(0, 35, 5):
        step[...] = s
        saved.append(manager.save())
    assert [p and os.path.basename(p) for p in saved] == ["ckpt-1", None, "ckpt-2", None, "ckpt-3", None, "ckpt-4"]
    step[...] = 31
    assert manager.save(check_interval=False) is not None
    assert manager.save(check_interval=False) is None  # the same step again
    with pytest.raises(ValueError, match="Expected a positive integer or `None` for `max_to_keep`, got 0."):
        CheckpointManager(Checkpoint(), tmp_path, 0)
    with pytest.raises(ValueError, match="`step_counter` should be passed"):
        CheckpointManager(Checkpoint(), tmp_path, 1, checkpoint_interval=3)


def test_state_file_is_what_tf_reads(tf: ModuleType, tmp_path: Path) -> None:
    manager = CheckpointManager(Checkpoint(x=np.ones(1)), tmp_path, 2)
    for _ in range(3):
        manager.save()
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert list(state.all_model_checkpoint_paths) == [str(tmp_path / "ckpt-2"), str(tmp_path / "ckpt-3")]
    assert len(state.all_model_checkpoint_timestamps) == 2
    assert fastckpt.latest_checkpoint(tmp_path) == str(tmp_path / "ckpt-3")
    assert not (tmp_path / "ckpt-1.index").exists()
