"""Saves in the background (``blocking=False``): the machinery shared by Checkpoint,
CheckpointManager and Saver, and what it promises through Checkpoint and CheckpointManager."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fastckpt
import fastckpt.checkpoint as checkpoint_module
from fastckpt import Checkpoint, CheckpointManager, _fastckpt
from fastckpt._async import BackgroundSaves, snapshot


def test_snapshot_copies_every_layout() -> None:
    big = np.arange(6 << 20, dtype=np.float32)  # 24 MiB: copied in 4 MiB pieces by two threads
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


def test_copy_into_refuses_misplaced_ranges() -> None:
    source = np.arange(16, dtype=np.uint8)
    dest = np.zeros(32, np.uint8)
    _fastckpt.copy_into([source, source], [dest[:16], dest[16:]])
    assert dest.tolist() == list(range(16)) * 2
    with pytest.raises(ValueError, match="size differs"):
        _fastckpt.copy_into([source], [dest[:15]])
    with pytest.raises(ValueError, match="overlap"):
        _fastckpt.copy_into([source, source], [dest[:16], dest[8:24]])
    with pytest.raises(ValueError, match="overlap"):  # a destination is also a source
        _fastckpt.copy_into([dest[:8]], [dest[4:12]])
    readonly = np.zeros(16, np.uint8)
    readonly.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        _fastckpt.copy_into([source], [readonly])


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


# --- through Checkpoint and CheckpointManager -----------------------------------------------------


def test_async_save_keeps_the_values_of_the_call(tmp_path: Path) -> None:
    weights = np.arange(8 << 20, dtype=np.float32)  # 32 MiB
    step = np.zeros(3, np.int64)
    ckpt = Checkpoint(model={"w": weights, "step": step})
    future = ckpt.save(str(tmp_path / "ckpt"), blocking=False)
    weights[:] = -1  # the caller goes on at once
    step += 5
    assert future.result(60) == str(tmp_path / "ckpt-1") and future.done()
    restored = Checkpoint().read(future.result())
    np.testing.assert_array_equal(restored["model"]["w"], np.arange(8 << 20, dtype=np.float32))
    np.testing.assert_array_equal(restored["model"]["step"], [0, 0, 0])
    assert fastckpt.latest_checkpoint(tmp_path) == str(tmp_path / "ckpt-1")


def test_async_errors_surface_on_result(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    future = Checkpoint(x=np.ones(2)).write(str(tmp_path / "file" / "ckpt"), blocking=False)
    with pytest.raises(OSError):
        future.result(60)
    assert future.done()


def test_state_file_follows_the_data_and_saves_keep_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    real_save = checkpoint_module._save_bundle
    written: list[str] = []

    def gated_save(tensors: Any, prefix: str, *rest: Any) -> None:
        gate.wait(30)
        written.append(os.path.basename(prefix))
        real_save(tensors, prefix, *rest)

    monkeypatch.setattr(checkpoint_module, "_save_bundle", gated_save)
    value = np.zeros(4)
    manager = CheckpointManager(Checkpoint(v=value), tmp_path, max_to_keep=1)
    first = manager.save(blocking=False)
    time.sleep(0.2)
    assert not first.done() and not (tmp_path / "checkpoint").exists()  # data not in place yet
    value += 1
    threading.Timer(0.3, gate.set).start()
    second = manager.save(blocking=False)  # waits for the first before taking its snapshot
    assert first.done()
    assert second.result(60) == str(tmp_path / "ckpt-2") and written == ["ckpt-1", "ckpt-2"]
    assert manager.checkpoints == [str(tmp_path / "ckpt-2")] and not (tmp_path / "ckpt-1.index").exists()
    np.testing.assert_array_equal(fastckpt.load_checkpoint(tmp_path).get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE"), 1)


def test_interpreter_exit_waits_for_a_pending_save(tmp_path: Path) -> None:
    program = (
        "import numpy as np, fastckpt\n"
        "ckpt = fastckpt.Checkpoint(w=np.full(16 << 20, 3, np.float32))\n"
        f"ckpt.save({str(tmp_path / 'ckpt')!r}, blocking=False)\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=120)
    reader = fastckpt.load_checkpoint(tmp_path)
    assert reader.prefix == str(tmp_path / "ckpt-1")
    assert (reader.get_tensor("w/.ATTRIBUTES/VARIABLE_VALUE") == 3).all()
