"""A saving process killed at any moment (SIGKILL) never damages the checkpoint at its prefix.

Each trial forks a child that saves generation ``g`` (192 MiB in 384 tensors) over the checkpoint
of an earlier generation, and kills it after a random delay. Afterwards the prefix must load with
verified checksums and hold one whole generation: the previous one, or ``g`` when the save
finished first. A killed child leaves its temporary files behind (``<file>.tempstate-<host>-<pid>-
<random>``: the data file, the index when it was being written, or, killed just after the files
were swapped in, the replaced ones under those names); they never disturb the next save, and the
next save removes them because their pid has exited.

The children are forked by one helper process that has imported numpy and fastckpt once (and has
not used the engine's thread pool, so each child starts its own), which keeps 50 trials quick.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

import fastckpt

TRIALS = 50
TENSORS = 384
ELEMENTS = 1 << 17  # float32: 512 KiB per tensor, 192 MiB per checkpoint

#: Reads a generation, forks a child that saves it, reports "ready <pid>" (child, just before
#: saving) and "saved <pid> <seconds>" (child, after); on the next line ("reap") reaps the child and reports
#: "exited <pid> <status>". Until then the child's pid cannot be reused, so killing it is safe.
FORKER = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import fastckpt

    prefix, tensors, elements = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    while line := sys.stdin.readline():
        generation = int(line)
        pid = os.fork()
        if pid == 0:
            arrays = {"step": np.int64(generation)}
            arrays.update({f"t{i:04d}": np.full(elements, generation * 1000 + i, np.float32) for i in range(tensors)})
            print("ready", os.getpid(), flush=True)
            start = time.perf_counter()
            fastckpt.save(arrays, prefix)
            print("saved", os.getpid(), time.perf_counter() - start, flush=True)
            os._exit(0)
        assert sys.stdin.readline() == "reap\\n"
        _, status = os.waitpid(pid, 0)
        print("exited", pid, status, flush=True)
    """
)


class _Forker:
    def __init__(self, prefix: Path) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", FORKER, str(prefix), str(TENSORS), str(ELEMENTS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _line(self) -> list[str]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        assert line, "the forking helper died"
        return line.split()

    def save(self, generation: int, kill_after: float | None) -> tuple[int, float | None]:
        """Saves ``generation`` in a child, SIGKILLed ``kill_after`` seconds after it starts
        saving; returns its pid and, if it reported the save finished, how long the save took."""
        assert self._process.stdin is not None
        self._process.stdin.write(f"{generation}\n")
        self._process.stdin.flush()
        word, pid = self._line()
        assert word == "ready"
        if kill_after is not None:
            time.sleep(kill_after)
            os.kill(int(pid), signal.SIGKILL)
        self._process.stdin.write("reap\n")
        self._process.stdin.flush()
        seconds = None
        while (line := self._line())[0] != "exited":
            if line[0] == "saved":
                seconds = float(line[2])
        return int(pid), seconds  # reaped: its pid is gone, as stale-file removal requires

    def close(self) -> None:
        self._process.kill()
        self._process.communicate()


def _generation(prefix: Path) -> int:
    """The one generation the checkpoint at ``prefix`` holds, every tensor checked and verified."""
    reader = fastckpt.load_checkpoint(prefix, verify=True)
    assert len(reader) == TENSORS + 1
    step = int(reader["step"])
    for i in range(TENSORS):
        view = reader[f"t{i:04d}"]  # every byte checksummed when handed out
        assert view.shape == (ELEMENTS,) and bool((view[::997] == step * 1000 + i).all()), (step, i)
    return step


def _temp_owner(name: str) -> int:
    """The pid in a temporary name ``<final>.tempstate-<host>-<pid>-<random>``."""
    return int(name.rsplit(".tempstate-", 1)[1].split("-")[1])


def test_killed_saves_never_damage_the_checkpoint(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    finals = {"ckpt.index", "ckpt.data-00000-of-00001"}
    rng = random.Random(1234)
    forker = _Forker(prefix)
    try:
        _, seconds = forker.save(1, kill_after=None)
        assert seconds is not None and _generation(prefix) == 1
        durations = [seconds]  # kills are spread over the recent save times (machines vary)

        killed: set[int] = set()
        interrupted = completed = 0
        current = 1
        for generation in range(2, TRIALS + 2):
            typical = sorted(durations[-5:])[len(durations[-5:]) // 2]
            pid, seconds = forker.save(generation, kill_after=rng.uniform(0, 1.25 * typical))
            killed.add(pid)
            found = _generation(prefix)
            assert found in (current, generation)
            if found == generation:
                completed += 1
            else:
                interrupted += 1
                assert seconds is None, "a save that finished must be visible"
            if seconds is not None:
                durations.append(seconds)
            current = found
            leftovers = {p.name for p in tmp_path.iterdir()} - finals
            assert all(_temp_owner(name) in killed for name in leftovers), leftovers
        assert interrupted >= 10, f"only {interrupted} of {TRIALS} kills landed during a save"

        # The next save after all that succeeds, loads, and removes every stale temporary file.
        forker.save(0, kill_after=None)
        assert _generation(prefix) == 0
        assert {p.name for p in tmp_path.iterdir()} == finals
    finally:
        forker.close()
    print(f"{interrupted} saves killed mid-way, {completed} finished before the kill")
