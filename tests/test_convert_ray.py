"""Bulk conversion on a Ray cluster: ``fastckpt convert ... --ray [ADDRESS]`` and
``convert_many(..., backend="ray")`` report, skip and exit exactly as the local ``--jobs`` mode.

One local Ray cluster (2 CPUs) is started for this module and stopped after it; the command runs
in a subprocess that connects to it by address, the Python API in this process (already connected).
Ray's session files (logs, sockets) and its authentication token stay in a temporary folder that
is removed after the module, for the instances the command starts too: a user's ``/tmp/ray`` and
``~/.ray`` are not touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fastckpt
from conftest import TrainingRuns
from test_convert_bulk import check_bulk_command_resumes, run_cli

# The CLI and the API options shared by the conversions below.
ARGS = ["--friendly-names", "--exclude", "save_counter/*"]
OPTIONS: dict[str, Any] = {"friendly_names": True, "exclude": "save_counter/*"}
#: Before any Ray instance of this module started.
IMPORTED = time.time()


@pytest.fixture(scope="module")
def ray_home() -> Iterator[Path]:
    """A folder in place of ``/tmp`` for every Ray instance of this module (``RAY_TMPDIR``, which
    this process and the commands it runs pass on), with an authentication token in the
    environment (``RAY_AUTH_TOKEN``), so that no instance writes ``~/.ray/auth_token``."""
    # Short: Ray's socket paths in it must fit the 107 bytes of a Unix socket address.
    folder = Path(tempfile.mkdtemp(prefix="fastckpt-ray-"))
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("RAY_TMPDIR", str(folder))
            env.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster(ray_home: Path) -> Iterator[str]:
    """The address of a local Ray cluster that lives as long as this module's tests."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def test_ray_keeps_its_files_in_the_test_folder(ray_cluster: str, ray_home: Path) -> None:
    sessions = list((ray_home / "ray").glob("session_2*"))
    assert sessions and all((s / "logs").is_dir() for s in sessions), sorted(ray_home.rglob("*"))[:20]
    token = Path.home() / ".ray" / "auth_token"
    assert not token.exists() or token.stat().st_mtime < IMPORTED, "a token was written to ~/.ray"


def test_command_on_a_ray_cluster_reports_bad_inputs_and_resumes(
    ray_cluster: str, training_runs: TrainingRuns, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    check_bulk_command_resumes(training_runs, out, [str(training_runs.folder / "run*"), str(out), "--ray", ray_cluster, *ARGS])


def test_convert_many_on_ray_matches_the_local_backend(
    ray_cluster: str, training_runs: TrainingRuns, tmp_path: Path
) -> None:
    sources = [str(training_runs.folder / f"run{i:02d}") for i in range(20)]
    on_ray = fastckpt.convert_many(sources, tmp_path / "ray", to="npz", backend="ray", jobs=3, **OPTIONS)
    local = fastckpt.convert_many(sources, tmp_path / "local", to="npz", jobs=2, **OPTIONS)
    assert len(on_ray.converted) == 18 and not on_ray.skipped
    # The same bookkeeping: results in source order, the same files (under their own folder), the
    # same failures and reasons.
    assert [src for src, _ in on_ray.converted] == [src for src, _ in local.converted]
    assert [[os.path.basename(f) for f in files] for _, files in on_ray.converted] == [
        [os.path.basename(f) for f in files] for _, files in local.converted
    ]
    assert on_ray.failed == local.failed
    assert [os.path.basename(os.path.dirname(src)) for src, _ in on_ray.failed] == [
        training_runs.truncated_index,
        training_runs.bad_data,
    ]
    for src, files in on_ray.converted:
        with np.load(files[0]) as loaded:
            expected = training_runs.values[os.path.basename(os.path.dirname(src))]
            assert sorted(loaded.files) == sorted(expected)
            assert all(np.array_equal(loaded[k], v) and loaded[k].dtype == v.dtype for k, v in expected.items())

    resumed = fastckpt.convert_many(sources, tmp_path / "ray", to="npz", backend="ray", skip_existing=True, **OPTIONS)
    assert not resumed.converted and len(resumed.skipped) == 18 and resumed.failed == on_ray.failed


def test_command_starts_a_local_ray_instance_without_an_address(ray_cluster: str, tmp_path: Path) -> None:
    """``--ray`` alone starts (and stops) a Ray instance of its own, even with another one running
    on the machine."""
    arrays = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    for i in range(3):
        fastckpt.save({**arrays, "i": np.array(i)}, tmp_path / "in" / f"ckpt-{i}")
    result = run_cli("convert", str(tmp_path / "in" / "ckpt-*.index"), str(tmp_path / "out"), "--to", "npz", "--ray")
    assert result.returncode == 0, result.stderr
    assert "3 converted, 0 skipped (output exists), 0 failed" in result.stderr
    for i in range(3):
        with np.load(tmp_path / "out" / f"ckpt-{i}.npz") as loaded:
            assert np.array_equal(loaded["x"], arrays["x"]) and loaded["i"] == i


def test_a_clear_error_without_ray(tmp_path: Path) -> None:
    fastckpt.save({"x": np.zeros(2)}, tmp_path / "ckpt")
    # `ray` made unimportable in a fresh interpreter: None in sys.modules stops its import.
    code = "import sys; sys.modules['ray'] = None; from fastckpt.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", code, "convert", str(tmp_path / "ckpt"), str(tmp_path / "out"), "--ray"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.startswith("fastckpt: ") and "pip install 'fastckpt[ray]'" in result.stderr
    assert not (tmp_path / "out" / "ckpt.safetensors").exists()


def _die(name: str) -> str:
    """A rename rule that ends the worker process that runs it, as a crash in native code would."""
    os._exit(3)


def test_a_worker_that_dies_fails_only_its_source(ray_cluster: str, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    # The workers cannot import this test module: the rule travels by value.
    fastckpt.save({"x": np.arange(3.0)}, tmp_path / "good")
    fastckpt.save({"dies": np.arange(3.0)}, tmp_path / "bad")

    def rename(name: str) -> str:
        return _die(name) if name == "dies" else name

    sources = [tmp_path / "good", tmp_path / "bad"]
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        result = fastckpt.convert_many(sources, tmp_path / "out", to="npz", backend="ray", rename=rename)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [src for src, _ in result.converted] == [str(tmp_path / "good")]
    [(src, reason)] = result.failed
    assert src == str(tmp_path / "bad") and reason.startswith("WorkerCrashedError: "), reason
    assert sorted(os.listdir(tmp_path / "out")) == ["good.npz"]
