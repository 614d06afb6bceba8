"""A Saver process SIGKILLed at random points of its saves (blocking and background, 50 trials):
afterwards the state file always parses, names a checkpoint that loads and verifies, and a later
save in the same folder works despite whatever temporary files the killed process left."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import fastckpt

TRIALS = 50

CHILD = """
import sys, numpy as np, fastckpt
folder = sys.argv[1]
arrays = {"big": np.zeros(1 << 20, np.float32), "small": np.zeros(7, np.int64)}
saver = fastckpt.Saver(arrays, max_to_keep=2)
state = fastckpt.get_checkpoint_state(folder)
saver.recover_last_checkpoints(list(state.all_model_checkpoint_paths))
step = int(state.model_checkpoint_path.rpartition("-")[2])
print("ready", flush=True)
while True:
    step += 1
    arrays["big"][:] = step
    arrays["small"][:] = step
    result = saver.save(folder + "/model", global_step=step, blocking=step % 2 == 0)
    if not isinstance(result, str):
        result.result()
"""


def _check_folder(folder: Path) -> int:
    """The state file's latest checkpoint loads, verifies and is one whole save; returns its step."""
    state = fastckpt.get_checkpoint_state(folder)
    assert state is not None
    latest = fastckpt.latest_checkpoint(folder)
    assert latest is not None and latest == state.model_checkpoint_path
    for path in state.all_model_checkpoint_paths:
        assert fastckpt.checkpoint_exists(path), path
    values = fastckpt.load_checkpoint(latest).read_all()
    step = int(latest.rpartition("-")[2])
    assert (values["big"] == step).all() and (values["small"] == step).all(), "one save's values, whole"
    return step


def test_sigkill_during_saves_leaves_a_loadable_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    fastckpt.Saver({"big": np.zeros(1 << 20, np.float32), "small": np.zeros(7, np.int64)}).save(
        str(folder / "model"), global_step=0
    )
    rng = random.Random(1234)
    steps = []
    for _ in range(TRIALS):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        steps.append(_check_folder(folder))
    assert steps == sorted(steps) and steps[-1] > 0, "saves made progress between kills"
    # A later save (by a fresh Saver) is not disturbed by whatever the kills left behind.
    saver = fastckpt.Saver({"big": np.full(1 << 20, 10**6, np.float32), "small": np.full(7, 10**6, np.int64)})
    saver.save(str(folder / "model"), global_step=10**6)
    assert _check_folder(folder) == 10**6
