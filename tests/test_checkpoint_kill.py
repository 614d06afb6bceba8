"""SIGKILL at random points of CheckpointManager saves, blocking and in the background: the state
file and every checkpoint it names always load with the values of one save, and the next save in
the same folder succeeds (no partial files it trips on)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastckpt

CHILD = """
import sys, numpy as np, fastckpt
directory, blocking = sys.argv[1], sys.argv[2] == "sync"
w = np.zeros(1 << 20, np.float32)  # 4 MiB
ckpt = fastckpt.Checkpoint(model={"w": w, "step": np.zeros((), np.int64)})
manager = fastckpt.CheckpointManager(ckpt, directory, max_to_keep=2)
manager.restore_or_initialize()
print("ready", flush=True)
while True:
    step = ckpt.save_counter + 1
    w[:] = step
    ckpt["model"]["step"] = np.int64(step)
    manager.save(blocking=blocking)
"""

TRIALS_PER_MODE = 26


def _check(directory: Path) -> int:
    """The folder's state: every checkpoint named loads, verified, with its own save's values."""
    state = fastckpt.get_checkpoint_state(directory)
    if state is None:
        return 0
    latest = fastckpt.latest_checkpoint(directory)
    assert latest == state.model_checkpoint_path
    for prefix in state.all_model_checkpoint_paths:
        number = int(prefix.rsplit("-", 1)[1])
        tree = fastckpt.Checkpoint().read(prefix)
        assert int(tree["model"]["step"]) == number
        assert (tree["model"]["w"] == number).all()
    return int(latest.rsplit("-", 1)[1])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sigkill_during_saves(tmp_path: Path, mode: str) -> None:
    rng = random.Random(6)
    latest = 0
    for _ in range(TRIALS_PER_MODE):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), mode], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        now = _check(tmp_path)
        assert now >= latest  # never back to an older state
        latest = now
    # A later save in the same folder works and becomes the latest.
    manager = fastckpt.CheckpointManager(fastckpt.Checkpoint(model={"w": np.ones(1, np.float32)}), tmp_path, 2)
    saved = manager.save()
    assert fastckpt.latest_checkpoint(tmp_path) == saved
    assert latest > 0, "no save completed in any trial: the kills came too early to test anything"
