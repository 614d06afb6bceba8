"""The background-save machinery shared by Checkpoint, CheckpointManager and Saver."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fastckpt._async import BackgroundSaves, snapshot


def test_snapshot_copies_every_layout() -> None:
    big = np.arange(6 << 20, dtype=np.float32)  # 24 MiB: copied in parallel chunks
    strided = np.arange(20, dtype=np.int64)[::2]
    strings = np.array([b"a", b"bc"], dtype=object)
    copies = snapshot([big, strided, strings, 3.5, [1, 2]])
    big[:] = -1
    strided[:] = -1
    strings[0] = b"changed"
    np.testing.assert_array_equal(copies[0], np.arange(6 << 20, dtype=np.float32))
    np.testing.assert_array_equal(copies[1], np.arange(0, 20, 2))
    assert copies[2].tolist() == [b"a", b"bc"]
    assert copies[3] == 3.5 and copies[4].tolist() == [1, 2]


def test_saves_run_in_order_one_at_a_time() -> None:
    saves = BackgroundSaves()
    order: list[str] = []
    release = threading.Event()

    def slow() -> str:
        release.wait(10)
        order.append("first")
        return "first"

    first = saves.submit(lambda: slow)
    assert not first.done()
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    second = saves.submit(lambda: (order.append("prepare second"), lambda: "second")[1])
    assert time.monotonic() - started >= 0.1  # the second save waited for the first
    assert second.result(10) == "second" and first.result() == "first"
    assert order == ["first", "prepare second"]


def test_errors_surface_on_result() -> None:
    def fail() -> str:
        raise OSError("disk full")

    future = BackgroundSaves().submit(lambda: fail)
    with pytest.raises(OSError, match="disk full"):
        future.result(10)
    assert future.done()
