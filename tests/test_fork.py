"""The engine keeps working in a child forked after a parallel read (PyTorch DataLoader workers,
``multiprocessing`` with the fork start method). Before the engine had a pool per process, the
child's first parallel call waited forever for worker threads that fork had not copied; every
wait here has a deadline so that such a regression fails instead of hanging."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import fastckpt

DEADLINE_S = 120.0

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _tensors(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tensors = {f"layer{i}/kernel": rng.standard_normal((256, 1024), dtype=np.float32) for i in range(6)}
    # Above the engine's 4 MiB chunk: read in parallel chunks, written with the overlapping checksum.
    tensors["big"] = rng.standard_normal(3 << 20, dtype=np.float32)
    tensors["ints"] = np.arange(5000, dtype=np.int64)
    return tensors


def _check_all(prefix: str, expected: dict[str, np.ndarray], copy: bool) -> None:
    got = fastckpt.load_checkpoint(prefix).read_all(copy=copy)
    assert sorted(got) == sorted(expected)
    for name, array in expected.items():
        np.testing.assert_array_equal(got[name], array, err_msg=name)


def _child_work(folder: str, seed: int) -> str:
    """What a forked worker does: parallel reads of the parent's checkpoint, a save of its own and
    a parallel read of that. Returns the new prefix."""
    _check_all(os.path.join(folder, "parent"), _tensors(0), copy=True)
    _check_all(os.path.join(folder, "parent"), _tensors(0), copy=False)
    mine = {name: value + seed for name, value in _tensors(0).items()}
    prefix = fastckpt.save(mine, os.path.join(folder, f"child{seed}"))
    _check_all(prefix, mine, copy=True)
    return prefix


@pytest.fixture
def parent_checkpoint(tmp_path: Path) -> Path:
    fastckpt.save(_tensors(0), str(tmp_path / "parent"))
    # The parent reads in parallel first, so that its worker threads exist when it forks.
    _check_all(str(tmp_path / "parent"), _tensors(0), copy=True)
    return tmp_path


def _wait(pid: int, deadline_s: float = DEADLINE_S) -> int | None:
    """The child's exit code, or None (child killed) when it has not finished by the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_os_fork_child_reads_and_writes_in_parallel(parent_checkpoint: Path) -> None:
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only, never return into pytest
        code = 1
        try:
            _child_work(str(parent_checkpoint), seed=1)
            code = 0
        finally:
            os._exit(code)
    assert _wait(pid) == 0
    # What the child wrote is a valid checkpoint in the parent too, and the parent's pool still works.
    _check_all(str(parent_checkpoint / "child1"), {k: v + 1 for k, v in _tensors(0).items()}, copy=True)


def test_multiprocessing_fork_pool(parent_checkpoint: Path) -> None:
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as workers:
        result = workers.starmap_async(_child_work, [(str(parent_checkpoint), seed) for seed in (2, 3, 4)])
        prefixes = result.get(timeout=DEADLINE_S)
    for seed, prefix in zip((2, 3, 4), prefixes):
        _check_all(prefix, {k: v + seed for k, v in _tensors(0).items()}, copy=False)


def test_fork_twice_nested(parent_checkpoint: Path) -> None:
    """A child of a child: each generation builds its own pool."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _child_work(str(parent_checkpoint), seed=5)
            grandchild = os.fork()
            if grandchild == 0:
                grand_code = 1
                try:
                    _child_work(str(parent_checkpoint), seed=6)
                    grand_code = 0
                finally:
                    os._exit(grand_code)
            code = 0 if _wait(grandchild) == 0 else 1
        finally:
            os._exit(code)
    assert _wait(pid) == 0



# --- forks while another thread works without the GIL ---------------------------------------------
# A thread encoding a message, importing a graph or reading a checkpoint holds locks and decodes
# lazily with the GIL released. fork() copies only the forking thread: had the fork not waited for
# that work, the child would find the locks taken for good and hang on first use.

FORKS = 20
CHILD_DEADLINE_S = 20.0


def _fork_during(work: Callable[[], None], in_child: Callable[[], None], forks: int = FORKS) -> list[int | None]:
    """Forks ``forks`` times while a thread repeats ``work``; each child runs ``in_child``. The exit
    codes (None: hung, killed at the deadline; no more forks after that)."""
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            work()

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    codes: list[int | None] = []
    try:
        for _ in range(forks):
            time.sleep(0.005)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    in_child()
                    code = 0
                finally:
                    os._exit(code)
            codes.append(_wait(pid, CHILD_DEADLINE_S))
            if codes[-1] is None:
                break  # one hung child is enough
    finally:
        stop.set()
        worker.join()
    return codes


def _const_graph(nodes: int) -> fastckpt.GraphDef:
    graph_def = fastckpt.GraphDef()
    for i in range(nodes):
        node = graph_def.node.add(name=f"c{i}", op="Const")
        node.attr["dtype"].type = 1
        value = node.attr["value"].tensor
        value.dtype = 1
        value.float_val.extend([float(i)] * 4)
    return graph_def


def test_fork_while_another_thread_encodes_a_lazily_parsed_message() -> None:
    data = _const_graph(20_000).SerializeToString()
    latest = [fastckpt.GraphDef.FromString(data)]

    def encode_fresh() -> None:
        latest[0] = fastckpt.GraphDef.FromString(data)  # nodes decoded lazily by the encode below
        latest[0].SerializeToString()

    def in_child() -> None:
        assert latest[0].SerializeToString() == data
        assert len(latest[0].node) == 20_000

    assert _fork_during(encode_fresh, in_child) == [0] * FORKS


def test_fork_while_another_thread_imports_a_graph() -> None:
    graph_def = _const_graph(5_000)
    latest = [fastckpt.Graph()]

    def import_fresh() -> None:
        latest[0] = fastckpt.Graph()
        fastckpt.import_graph_def(graph_def, name="", graph=latest[0])

    def in_child() -> None:
        operations = len(latest[0].get_operations())
        assert operations in (0, 5_000)
        assert len(latest[0].as_graph_def().node) == operations

    assert _fork_during(import_fresh, in_child) == [0] * FORKS


def test_fork_while_another_thread_reads_the_same_checkpoint(tmp_path: Path) -> None:
    tensors = {f"t{i}": np.full(2048, i, dtype=np.float32) for i in range(2000)}
    prefix = fastckpt.save(tensors, str(tmp_path / "many"))
    reader = fastckpt.load_checkpoint(prefix)

    def read_all() -> None:
        reader.read_all(copy=True)
        for name in ("t0", "t999", "t1999"):
            reader.get_tensor(name)

    def in_child() -> None:
        got = reader.read_all(copy=True)
        assert all(np.array_equal(got[name], value) for name, value in tensors.items())
        assert reader.get_tensor("t7")[0] == 7

    # The reader's locks are held only for moments: before the gate about one child in 50 hung.
    assert _fork_during(read_all, in_child, forks=150) == [0] * 150
