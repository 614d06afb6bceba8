"""What is written is what was checksummed: arrays that other threads change while a save runs
(as training loops do) still give checkpoints that pass their own checksums and that TensorFlow
reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt
from fastckpt.cli import main as cli_main

TRIALS = 12
#: Saves at most, waiting for the arrays to change often enough.
MAX_TRIALS = 10 * TRIALS


def _arrays() -> dict[str, np.ndarray[Any, Any]]:
    """Large tensors (written in several staging rounds), middle-sized and many small ones."""
    arrays: dict[str, np.ndarray[Any, Any]] = {f"big{i}": np.zeros(3 << 20, np.int32) for i in range(2)}
    arrays.update({f"mid{i}": np.zeros(40_000, np.float32) for i in range(8)})
    arrays.update({f"small{i:03d}": np.zeros(300, np.int64) for i in range(200)})
    return arrays


class _Mutator:
    """Adds one to every array, over and over, on another thread (numpy releases the GIL in the
    loop, so the changes land while the engine copies the bytes)."""

    def __init__(self, arrays: dict[str, np.ndarray[Any, Any]]) -> None:
        self._arrays = list(arrays.values())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.rounds = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            for a in self._arrays:
                np.add(a, 1, out=a)
            self.rounds += 1

    def __enter__(self) -> _Mutator:
        self._thread.start()
        while self.rounds == 0:  # changing the arrays already when the first save starts
            time.sleep(0.001)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _verify_all(prefix: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reader = fastckpt.load_checkpoint(prefix, verify=True)
    for name in reader.keys():
        reader.get_tensor(name, copy=True)
    assert cli_main(["verify", str(prefix)]) == 0, capsys.readouterr()
    capsys.readouterr()


def _saves(tmp_path: Path, how: str, arrays: dict[str, np.ndarray[Any, Any]], mutator: _Mutator) -> Iterator[Path]:
    """At least ``TRIALS`` saves, more until the arrays have changed more than ``TRIALS`` times
    during them (a fast save on a busy machine may otherwise outrun the other thread)."""
    start = mutator.rounds
    for trial in range(MAX_TRIALS):
        if trial >= TRIALS and mutator.rounds - start > TRIALS:
            return
        prefix = tmp_path / f"{how}{trial}" / "ckpt"
        if how == "save":
            fastckpt.save(arrays, prefix)
        else:
            with fastckpt.BundleWriter(prefix, alignment=1) as writer:
                for name, value in arrays.items():
                    writer.add(name, value)
        yield prefix


@pytest.mark.parametrize("how", ["save", "add"])
def test_arrays_changed_during_save_give_self_consistent_checkpoints(
    tmp_path: Path, how: str, tf: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    arrays = _arrays()
    with _Mutator(arrays) as mutator:
        start = mutator.rounds
        prefixes = list(_saves(tmp_path, how, arrays, mutator))
        changes = mutator.rounds - start
    assert changes > TRIALS, f"the arrays must really change during the saves ({changes} rounds in {len(prefixes)})"
    for prefix in prefixes:
        _verify_all(prefix, capsys)
    # TensorFlow checks every crc32c it reads, too.
    last = tf.train.load_checkpoint(str(prefixes[-1]))
    ours = fastckpt.load_checkpoint(prefixes[-1])
    for name in ["big0", "big1", "mid3", "small000", "small199"]:
        np.testing.assert_array_equal(last.get_tensor(name), ours[name])
