"""``sync=True`` and the temporary files of writers that died (see also test_write_kill.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import fastckpt


def test_sync_saves_load_and_tensorflow_reads_them(tmp_path: Path, tf: ModuleType) -> None:
    values = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "s": np.array([b"x", b"yz"], dtype=object)}
    fastckpt.save(values, tmp_path / "a", sync=True)
    with fastckpt.BundleWriter(tmp_path / "b", sync=True, alignment=1) as writer:
        writer.add_many(values.items())
    fastckpt.save(values, tmp_path / "b", sync=True)  # over an existing checkpoint
    for prefix in ("a", "b"):
        reader = tf.train.load_checkpoint(str(tmp_path / prefix))
        np.testing.assert_array_equal(reader.get_tensor("w"), values["w"])
        assert list(reader.get_tensor("s")) == [b"x", b"yz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{p}.{s}" for p in "ab" for s in ("index", "data-00000-of-00001")
    )


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to watch the system calls")
def test_sync_flushes_both_files_before_the_renames_and_the_folder_after(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import numpy as np, fastckpt
        fastckpt.save({{"a": np.zeros(3)}}, {str(tmp_path / "ckpt")!r})
        fastckpt.save({{"a": np.ones(3)}}, {str(tmp_path / "ckpt")!r}, sync=True)
        """
    )
    trace = tmp_path / "trace"
    out = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=fsync,fdatasync,rename,renameat2", sys.executable, "-c", script],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0 and "ptrace" in out.stderr:
        pytest.skip(f"strace cannot trace here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    calls = [
        m.group(1) + ("(data)" if "data-0" in line else "(index)" if ".index" in line else "")
        for line in trace.read_text().splitlines()
        if (m := re.search(r"\b(fsync|fdatasync|rename|renameat2)\(", line)) and "= 0" in line
    ]
    unsynced, synced = calls[:2], calls[2:]
    assert unsynced == ["rename(data)", "rename(index)"], calls  # the default: no fsync at all
    assert synced[:2] == ["fsync", "fsync"], calls  # data and index files, by descriptor
    assert [c.split("(")[1] for c in synced[2:4]] == ["data)", "index)"], calls
    assert synced[4:] == ["fsync"], calls  # the folder, after the renames


def _host_tag() -> str:
    """The host part of temporary names: crc32c of the host name, as ``atomic_file`` makes it."""
    if not Path("/proc/self").exists():
        pytest.skip("stale temporary files are only recognised where /proc exists")
    return f"{_crc32c(Path('/proc/sys/kernel/hostname').read_bytes().strip()):08x}"


def _crc32c(data: bytes) -> int:
    """crc32c (Castagnoli), bit by bit: for a few bytes."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_crc32c_helper() -> None:
    assert _crc32c(b"123456789") == 0xE3069283


def test_temporary_files_of_dead_writers_are_removed_others_kept(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    host = _host_tag()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = os.getpid()
    names = {
        "dead_data": f"ckpt.data-00000-of-00001.tempstate-{host}-{dead.pid}-{1:016x}",
        "dead_index": f"ckpt.index.tempstate-{host}-{dead.pid}-{2:016x}",
        "live_data": f"ckpt.data-00000-of-00001.tempstate-{host}-{live}-{3:016x}",
        "other_host": f"ckpt.index.tempstate-{int(host, 16) ^ 1:08x}-{dead.pid}-{4:016x}",
        "other_prefix": f"other.index.tempstate-{host}-{dead.pid}-{5:016x}",
        "tensorflow": "ckpt.index.tempstate1234567890123",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    fastckpt.save({"a": np.zeros(2)}, prefix)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"ckpt.index", "ckpt.data-00000-of-00001"} | {
        names[k] for k in ("live_data", "other_host", "other_prefix", "tensorflow")
    }
    np.testing.assert_array_equal(fastckpt.load_checkpoint(prefix)["a"], np.zeros(2))


def test_sharded_sync_save_merges_into_one_checkpoint_tensorflow_reads(tmp_path: Path, tf: ModuleType) -> None:
    """``num_shards`` with ``sync=True``: the parts are fsynced by their writers, the merged index
    and its folder by the merge; TensorFlow reads every value of the one checkpoint."""
    tensors = {f"w{i}": np.full((64, 64), i, np.float32) for i in range(4)}
    prefix = str(tmp_path / "ckpt")
    fastckpt.save(tensors, prefix, num_shards=2, sync=True)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.data-00000-of-00002", "ckpt.data-00001-of-00002", "ckpt.index"]
    reader = tf.train.load_checkpoint(prefix)
    for name, value in tensors.items():
        np.testing.assert_array_equal(reader.get_tensor(name), value)
