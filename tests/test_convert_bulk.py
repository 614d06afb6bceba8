"""``fastckpt convert SRC... DST_DIR``: many checkpoints in worker processes, failures listed, and
resumable with ``--skip-existing``. Runs the installed command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import fastckpt

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "import sys; from fastckpt.cli import main; sys.exit(main())", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_bulk_conversion_reports_bad_inputs_and_resumes(tf: ModuleType, tmp_path: Path) -> None:
    sources = tmp_path / "runs"
    expected: dict[str, dict[str, np.ndarray]] = {}
    for i in range(20):
        values = {"w": np.full((4, 3), i, np.float32), "step": np.array(i, np.int64)}
        folder = sources / f"run{i:02d}"
        # Real TF writes them: a TF2 checkpoint and its 'checkpoint' state file in each folder.
        ckpt = tf.train.Checkpoint(w=tf.Variable(values["w"]), step=tf.Variable(values["step"]))
        tf.train.CheckpointManager(ckpt, str(folder), max_to_keep=1).save()
        expected[f"run{i:02d}"] = values
    bad_index = sources / "run03" / "ckpt-1.index"
    bad_index.write_bytes(bad_index.read_bytes()[:-20])
    bad_data = sources / "run11" / "ckpt-1.data-00000-of-00001"
    raw = bytearray(bad_data.read_bytes())
    raw[0] ^= 0xFF
    bad_data.write_bytes(bytes(raw))

    out = tmp_path / "out"
    args = [str(sources / "run*"), str(out), "--jobs", "2", "--friendly-names", "--exclude", "save_counter/*"]
    result = run_cli("convert", *args)
    assert result.returncode == 1, result.stderr
    assert "18 converted, 0 skipped (output exists), 2 failed" in result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("  FAILED")]
    assert len(failures) == 2
    assert "run03" in failures[0] and "CorruptCheckpointError" in failures[0] and "ckpt-1.index" in failures[0]
    assert "run11" in failures[1] and "ChecksumMismatchError" in failures[1]
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 18 and "run03-ckpt-1.safetensors" not in written
    for name in written:
        run = name.split("-")[0]
        loaded = safetensors_numpy.load_file(str(out / name))
        assert set(loaded) == {"w", "step"}
        assert all(np.array_equal(loaded[k], v) and loaded[k].dtype == v.dtype for k, v in expected[run].items())

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = run_cli("convert", *args, "--skip-existing")
    assert "0 converted, 18 skipped (output exists), 2 failed" in again.stderr, again.stderr
    assert again.returncode == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def test_convert_many_in_python_and_state_files(tf: ModuleType, tmp_path: Path) -> None:
    folder = tmp_path / "train"
    ckpt = tf.train.Checkpoint(v=tf.Variable(np.arange(3, dtype=np.float32)))
    manager = tf.train.CheckpointManager(ckpt, str(folder), max_to_keep=3)
    for _ in range(3):
        ckpt.v.assign_add(np.ones(3, np.float32))
        manager.save()
    latest = fastckpt.convert_many([folder], tmp_path / "latest", to="npz", jobs=1)
    assert [os.path.basename(f) for _, files in latest.converted for f in files] == ["ckpt-3.npz"]
    every = fastckpt.convert_many([folder], tmp_path / "all", to="tf", all_checkpoints=True, jobs=2)
    assert not every.failed and sorted(os.path.basename(src) for src, _ in every.converted) == ["ckpt-1", "ckpt-2", "ckpt-3"]
    reader = tf.train.load_checkpoint(str(tmp_path / "all" / "ckpt-2"))
    assert reader.get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [2.0, 3.0, 4.0]
    missing = fastckpt.convert_many([tmp_path / "nothing-here"], tmp_path / "x")
    assert len(missing.failed) == 1 and "nothing-here" in missing.failed[0][1]


def test_single_conversion_on_the_command_line(tmp_path: Path) -> None:
    fastckpt.save({"a/b": np.arange(4, dtype=np.float32)}, tmp_path / "ckpt")
    result = run_cli("convert", str(tmp_path / "ckpt"), str(tmp_path / "m.safetensors"), "--rename", "/", ".")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "m.safetensors")
    assert list(safetensors_numpy.load_file(str(tmp_path / "m.safetensors"))) == ["a.b"]
    bad = run_cli("convert", str(tmp_path / "missing"), str(tmp_path / "m.npz"))
    assert bad.returncode == 1 and bad.stderr.startswith("fastckpt: ") and "missing" in bad.stderr
