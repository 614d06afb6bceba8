"""``fastckpt convert SRC... DST_DIR``: many checkpoints in worker processes, failures listed, and
resumable with ``--skip-existing``. Runs the installed command in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import fastckpt
from conftest import TrainingRuns

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "import sys; from fastckpt.cli import main; sys.exit(main())", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_bulk_conversion_reports_bad_inputs_and_resumes(training_runs: TrainingRuns, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [str(training_runs.folder / "run*"), str(out), "--jobs", "2", "--friendly-names", "--exclude", "save_counter/*"]
    check_bulk_command_resumes(training_runs, out, args)


def check_bulk_command_resumes(runs: TrainingRuns, out: Path, args: list[str]) -> None:
    """`fastckpt convert ARGS` converts the 18 good runs and reports the 2 bad ones; run again with
    --skip-existing it converts nothing and leaves every output untouched."""
    check_bulk_conversion(runs, out, run_cli("convert", *args))
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = run_cli("convert", *args, "--skip-existing")
    assert "0 converted, 18 skipped (output exists), 2 failed" in again.stderr, again.stderr
    assert again.returncode == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def check_bulk_conversion(runs: TrainingRuns, out: Path, result: subprocess.CompletedProcess[str]) -> None:
    """``result`` of converting ``runs`` into ``out`` (safetensors, friendly names, save_counter
    left out): 18 outputs with exact values, the 2 corrupt runs reported with file and reason, exit
    status 1."""
    assert result.returncode == 1, result.stderr
    assert "18 converted, 0 skipped (output exists), 2 failed" in result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("  FAILED")]
    assert len(failures) == 2
    assert runs.truncated_index in failures[0] and "CorruptCheckpointError" in failures[0] and "ckpt-1.index" in failures[0]
    assert runs.bad_data in failures[1] and "ChecksumMismatchError" in failures[1] and "ckpt-1.data-00000-of-00001" in failures[1]
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 18 and f"{runs.truncated_index}-ckpt-1.safetensors" not in written
    for name in written:
        loaded = safetensors_numpy.load_file(str(out / name))
        assert set(loaded) == {"w", "step"}
        expected = runs.values[name.split("-")[0]]
        assert all(np.array_equal(loaded[k], v) and loaded[k].dtype == v.dtype for k, v in expected.items())


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


def _killed_on(name: str) -> str:
    """A rename rule that SIGKILLs the worker process meeting a tensor named 'dies', as the
    kernel's out-of-memory killer would."""
    if name == "dies":
        os.kill(os.getpid(), signal.SIGKILL)
    return name


def test_a_killed_worker_fails_only_its_source(tmp_path: Path) -> None:
    names = ["a", "dies-1", "b", "c", "dies-2", "d", "e"]
    for name in names:
        fastckpt.save({"dies" if name.startswith("dies") else "x": np.arange(3.0) + len(name)}, tmp_path / name)
    sources = [str(tmp_path / name) for name in names]
    # The workers import this module by name (pytest put its folder on sys.path) to find the rule.
    result = fastckpt.convert_many(sources, tmp_path / "out", to="npz", jobs=2, rename=_killed_on)
    assert [src for src, _ in result.converted] == [s for s in sources if "dies" not in s]
    assert result.failed == [
        (str(tmp_path / name), "WorkerDied: the process converting it was killed by SIGKILL") for name in ("dies-1", "dies-2")
    ]
    assert sorted(os.listdir(tmp_path / "out")) == ["a.npz", "b.npz", "c.npz", "d.npz", "e.npz"]
    for name in "abcde":
        with np.load(tmp_path / "out" / f"{name}.npz") as loaded:
            assert np.array_equal(loaded["x"], np.arange(3.0) + 1)


def test_single_conversion_on_the_command_line(tmp_path: Path) -> None:
    fastckpt.save({"a/b": np.arange(4, dtype=np.float32)}, tmp_path / "ckpt")
    result = run_cli("convert", str(tmp_path / "ckpt"), str(tmp_path / "m.safetensors"), "--rename", "/", ".")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "m.safetensors")
    assert list(safetensors_numpy.load_file(str(tmp_path / "m.safetensors"))) == ["a.b"]
    bad = run_cli("convert", str(tmp_path / "missing"), str(tmp_path / "m.npz"))
    assert bad.returncode == 1 and bad.stderr.startswith("fastckpt: ") and "missing" in bad.stderr
