"""fastckpt.distributed across real processes: 8 MPI ranks (``mpiexec`` from the PyPI ``mpich``
wheel, ``mpi4py``) save one checkpoint that TensorFlow 2.21 reads, 3 ranks restore it each with
its own slicing, and a rank killed before the barrier commits nothing.

The ranks run tests/mpi_scripts/dist_job.py, whose values depend only on rank and step.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt

SCRIPT = Path(__file__).parent / "mpi_scripts" / "dist_job.py"
#: Generous: 8 Python processes importing numpy on a loaded 2-core machine.
DEADLINE = 300


def _job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dist_job", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


job = _job()


@pytest.fixture(scope="module")
def mpiexec() -> str:
    return mpiexec_path()


def mpiexec_path() -> str:
    """The ``mpiexec`` to launch ranks with; skips the test when there is none."""
    pytest.importorskip("mpi4py", reason="the MPI tests need mpi4py (the 'test' extra installs it)")
    # The mpich wheel puts mpiexec among the environment's scripts, which need not be on PATH.
    folders = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    if site.ENABLE_USER_SITE:
        folders.append(Path(sysconfig.get_path("scripts", f"{os.name}_user")))
    found = next((str(f / "mpiexec") for f in folders if (f / "mpiexec").exists()), shutil.which("mpiexec"))
    if found is None:
        pytest.skip("no mpiexec (the 'test' extra installs the mpich wheel, which provides it)")
    return found


def run(mpiexec: str, n: int, *args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [mpiexec, "-n", str(n), sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def check_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"mpiexec failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"


def expected(step: int, size: int = 8) -> dict[str, np.ndarray[Any, Any]]:
    """Every tensor of the checkpoint 8 ranks save at ``step``, assembled."""
    values: dict[str, np.ndarray[Any, Any]] = {}
    for rank in range(size):
        for name, value in job.tensors(rank, size, step).items():
            if not isinstance(value, fastckpt.distributed.Slice):
                values[name] = np.asarray(value)
    values["embedding"] = job.embedding(step)
    return values


@pytest.fixture(scope="module")
def saved(mpiexec: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dist")
    check_ok(run(mpiexec, 8, "save", folder, 1))
    return folder


def test_eight_ranks_save_one_checkpoint_tf_reads(tf: ModuleType, saved: Path) -> None:
    prefix = saved / "model-1"
    assert sorted(p.name for p in saved.iterdir()) == ["checkpoint"] + [
        f"model-1.data-{i:05d}-of-00008" for i in range(8)
    ] + ["model-1.index"], "one data file per rank, no temporary folder left"
    assert tf.train.latest_checkpoint(str(saved)) == str(prefix)
    reader = tf.train.load_checkpoint(str(prefix))
    want = expected(1)
    assert reader.get_variable_to_shape_map() == {name: list(v.shape) for name, v in want.items()}
    for name, value in want.items():
        got = reader.get_tensor(name)
        assert got.dtype == value.dtype and np.array_equal(got, value), name

    # TF1 restores the variable that 8 ranks partitioned by rows into 3 column partitions.
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        embedding = v1.get_variable(
            "embedding", shape=job.FULL_SHAPE, initializer=v1.zeros_initializer(), partitioner=v1.fixed_size_partitioner(3, axis=1)
        )
        kernel = v1.get_variable("rank_5/kernel", shape=[6, 4], dtype=tf.float64, initializer=v1.zeros_initializer())
        saver = v1.train.Saver([embedding, kernel])
        with v1.Session(graph=graph) as session:
            saver.restore(session, str(prefix))
            assert np.array_equal(session.run(embedding.as_tensor()), want["embedding"])
            assert np.array_equal(session.run(kernel), want["rank_5/kernel"])


def test_three_ranks_restore_their_own_slicing(mpiexec: str, saved: Path, tmp_path: Path) -> None:
    check_ok(run(mpiexec, 3, "restore", saved, tmp_path))
    want = expected(1)
    for rank, spec in enumerate(job.RESTORE_SPECS):
        with np.load(tmp_path / f"rank-{rank}.npz") as got:
            assert str(got["spec"]) == spec
            region = fastckpt.distributed.Slice(job.FULL_SHAPE, spec).region("embedding")
            box = tuple(slice(start, start + length) for start, length in region)
            assert np.array_equal(got["embedding"], want["embedding"][box]), spec
            assert np.array_equal(got[f"rank_{rank}__kernel"], want[f"rank_{rank}/kernel"])


def test_rank_killed_before_barrier_commits_nothing(tf: ModuleType, mpiexec: str, tmp_path: Path) -> None:
    check_ok(run(mpiexec, 8, "save", tmp_path, 1))
    killed = run(mpiexec, 8, "kill", tmp_path, 2, 3)
    assert killed.returncode != 0, killed.stdout
    assert "saved" not in killed.stdout, "no rank may return from a save that lost a rank"
    assert not (tmp_path / "model-2.index").exists()
    assert (tmp_path / "model-2_temp").is_dir(), "the dead save's parts are left behind"
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model-1")
    reader = tf.train.load_checkpoint(str(tmp_path / "model-1"))
    assert all(np.array_equal(reader.get_tensor(k), v) for k, v in expected(1).items()), "the previous one is intact"

    check_ok(run(mpiexec, 8, "save", tmp_path, 2))  # the leftovers do not get in the way
    assert not (tmp_path / "model-2_temp").exists()
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model-2")
    reader = tf.train.load_checkpoint(str(tmp_path / "model-2"))
    assert all(np.array_equal(reader.get_tensor(k), v) for k, v in expected(2).items())
    assert sorted(os.listdir(tmp_path)) == ["checkpoint"] + [
        f"model-{s}.{ext}" for s in (1, 2) for ext in [f"data-{i:05d}-of-00008" for i in range(8)] + ["index"]
    ]
