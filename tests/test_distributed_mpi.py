"""fastckpt.distributed across real processes, under both launchers: 8 MPI ranks (``mpiexec`` from
the PyPI ``mpich`` wheel, ``MPICoordinator``) and 4 torch.distributed ranks (``torchrun``,
``TorchCoordinator`` over gloo) save one checkpoint that TensorFlow 2.21 reads, 3 ranks restore it
each with its own slicing, and a rank killed before the barrier commits nothing.

The ranks run tests/mpi_scripts/dist_job.py, whose values depend only on rank and step. torch is
not in the 'test' extra (PyPI's Linux wheel brings about 3 GB of CUDA libraries): its runs skip
where it is not installed.
"""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Launcher:
    """Starts ``n`` ranks of dist_job.py: ``command`` (``{n}`` standing for the rank count) is
    followed by the script; ``size`` is how many ranks save in the tests."""

    name: str
    command: tuple[str, ...]
    size: int
    env: tuple[tuple[str, str], ...] = ()

    def run(self, n: int, *args: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*(part.format(n=n) for part in self.command), str(SCRIPT), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            env={**os.environ, **dict(self.env)},
        )


def mpi_launcher() -> Launcher:
    pytest.importorskip("mpi4py", reason="the MPI tests need mpi4py (the 'test' extra installs it)")
    # The mpich wheel puts mpiexec among the environment's scripts, which need not be on PATH.
    folders = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    if site.ENABLE_USER_SITE:
        folders.append(Path(sysconfig.get_path("scripts", f"{os.name}_user")))
    found = next((str(f / "mpiexec") for f in folders if (f / "mpiexec").exists()), shutil.which("mpiexec"))
    if found is None:
        pytest.skip("no mpiexec (the 'test' extra installs the mpich wheel, which provides it)")
    return Launcher("mpi", (found, "-n", "{n}", sys.executable), 8)


def torch_launcher() -> Launcher:
    dist = pytest.importorskip(
        "torch.distributed", reason="torch is not installed (PyPI's wheel is very large; not in the 'test' extra)"
    )
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch build has no torch.distributed gloo backend")
    # --standalone: the rendezvous on a free port of this machine.
    command = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "{n}")
    return Launcher("torch", command, 4, (("DIST_JOB_COORDINATOR", "torch"),))


@pytest.fixture(scope="module", params=["mpi", "torch"])
def launcher(request: pytest.FixtureRequest) -> Launcher:
    return mpi_launcher() if request.param == "mpi" else torch_launcher()


def check_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"the ranks failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"


def expected(step: int, size: int) -> dict[str, np.ndarray[Any, Any]]:
    """Every tensor of the checkpoint ``size`` ranks save at ``step``, assembled."""
    values: dict[str, np.ndarray[Any, Any]] = {}
    for rank in range(size):
        for name, value in job.tensors(rank, size, step).items():
            if not isinstance(value, fastckpt.distributed.Slice):
                values[name] = np.asarray(value)
    values["embedding"] = job.embedding(step)
    return values


@pytest.fixture(scope="module")
def saved(launcher: Launcher, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(f"dist-{launcher.name}")
    check_ok(launcher.run(launcher.size, "save", folder, 1))
    return folder


def test_ranks_save_one_checkpoint_tf_reads(tf: ModuleType, launcher: Launcher, saved: Path) -> None:
    prefix, size = saved / "model-1", launcher.size
    assert sorted(p.name for p in saved.iterdir()) == ["checkpoint"] + [
        f"model-1.data-{i:05d}-of-{size:05d}" for i in range(size)
    ] + ["model-1.index"], "one data file per rank, no temporary folder left"
    assert tf.train.latest_checkpoint(str(saved)) == str(prefix)
    reader = tf.train.load_checkpoint(str(prefix))
    want = expected(1, size)
    assert reader.get_variable_to_shape_map() == {name: list(v.shape) for name, v in want.items()}
    for name, value in want.items():
        got = reader.get_tensor(name)
        assert got.dtype == value.dtype and np.array_equal(got, value), name

    # TF1 restores the variable that the ranks partitioned by rows into 3 column partitions.
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        embedding = v1.get_variable(
            "embedding", shape=job.FULL_SHAPE, initializer=v1.zeros_initializer(), partitioner=v1.fixed_size_partitioner(3, axis=1)
        )
        last = f"rank_{size - 1}/kernel"
        kernel = v1.get_variable(last, shape=[size, 4], dtype=tf.float64, initializer=v1.zeros_initializer())
        saver = v1.train.Saver([embedding, kernel])
        with v1.Session(graph=graph) as session:
            saver.restore(session, str(prefix))
            assert np.array_equal(session.run(embedding.as_tensor()), want["embedding"])
            assert np.array_equal(session.run(kernel), want[last])


def test_three_ranks_restore_their_own_slicing(launcher: Launcher, saved: Path, tmp_path: Path) -> None:
    check_ok(launcher.run(3, "restore", saved, tmp_path))
    want = expected(1, launcher.size)
    for rank, spec in enumerate(job.RESTORE_SPECS):
        with np.load(tmp_path / f"rank-{rank}.npz") as got:
            assert str(got["spec"]) == spec
            region = fastckpt.distributed.Slice(job.FULL_SHAPE, spec).region("embedding")
            box = tuple(slice(start, start + length) for start, length in region)
            assert np.array_equal(got["embedding"], want["embedding"][box]), spec
            assert np.array_equal(got[f"rank_{rank}__kernel"], want[f"rank_{rank}/kernel"])


def _remove_orphaned_mpich_segments(before: set[Path]) -> None:
    """MPICH's ranks share a segment in /dev/shm that the last of them unlinks on a normal exit;
    when mpiexec ends killed ranks it stays (4-8 MiB of RAM until reboot). Removes the ones
    created since ``before`` that no live process still maps."""
    new = {str(p) for p in Path("/dev/shm").glob("mpich_shm_*")} - {str(p) for p in before}
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text()
        except OSError:  # the process ended, or is not ours to read
            continue
        new = {path for path in new if path not in text}
    for path in new:
        Path(path).unlink(missing_ok=True)


def test_rank_killed_before_barrier_commits_nothing(tf: ModuleType, launcher: Launcher, tmp_path: Path) -> None:
    size = launcher.size
    check_ok(launcher.run(size, "save", tmp_path, 1))
    segments = set(Path("/dev/shm").glob("mpich_shm_*"))
    try:
        killed = launcher.run(size, "kill", tmp_path, 2, 3)
    finally:
        _remove_orphaned_mpich_segments(segments)
    assert killed.returncode != 0, killed.stdout
    assert "saved" not in killed.stdout, "no rank may return from a save that lost a rank"
    assert not (tmp_path / "model-2.index").exists()
    # The dead save's parts may be left in model-2_temp: mpiexec ends every rank at once, while
    # under torchrun rank 0 sees gloo's "connection closed" first and removes them.
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model-1")
    reader = tf.train.load_checkpoint(str(tmp_path / "model-1"))
    assert all(np.array_equal(reader.get_tensor(k), v) for k, v in expected(1, size).items()), "the previous one is intact"

    check_ok(launcher.run(size, "save", tmp_path, 2))  # the leftovers do not get in the way
    assert not (tmp_path / "model-2_temp").exists()
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "model-2")
    reader = tf.train.load_checkpoint(str(tmp_path / "model-2"))
    assert all(np.array_equal(reader.get_tensor(k), v) for k, v in expected(2, size).items())
    assert sorted(os.listdir(tmp_path)) == ["checkpoint"] + [
        f"model-{s}.{ext}" for s in (1, 2) for ext in [f"data-{i:05d}-of-{size:05d}" for i in range(size)] + ["index"]
    ]
