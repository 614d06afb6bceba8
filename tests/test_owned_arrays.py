"""Owned arrays of small tensors read one call at a time (``get_tensor(copy=True)``) share blocks
of memory with their neighbours: each must still behave as an array of its own (writeable,
independent, alive as long as it is referenced), as ``read_all``'s do, start on a cache line,
and a steady loop must not fault its memory in page by page on every pass."""

from __future__ import annotations

import gc
import os
import resource
import sys
from pathlib import Path

import numpy as np
import pytest

import fastckpt

SHAPE = (64, 128)  # 32 KiB of float32, the size of the W2 benchmark's tensors
COUNT = 512


def _source(count: int = COUNT) -> dict[str, np.ndarray]:
    return {f"t{i:04d}": np.full(SHAPE, i, dtype=np.float32) for i in range(count)}


@pytest.fixture()
def prefix(tmp_path: Path) -> str:
    return fastckpt.save(_source(), tmp_path / "ckpt")


@pytest.mark.parametrize("read", ["get_tensor", "read_all"])
def test_each_owned_array_is_its_own(prefix: str, read: str) -> None:
    with fastckpt.load_checkpoint(prefix) as reader:
        if read == "get_tensor":
            arrays = {name: reader.get_tensor(name, copy=True) for name in reader}
        else:
            arrays = reader.read_all(copy=True)
    for i, (name, array) in enumerate(sorted(arrays.items())):
        assert array.flags.writeable and array.flags.c_contiguous
        if read == "get_tensor":  # carved out of a shared block (read_all keeps numpy's own)
            assert array.ctypes.data % 64 == 0, f"{name} does not start on a cache line"
        np.testing.assert_array_equal(array, np.full(SHAPE, i, dtype=np.float32))
    # Writing one array changes no other, and survives dropping every other one.
    arrays["t0001"][:] = -1.0
    np.testing.assert_array_equal(arrays["t0000"], 0.0)
    np.testing.assert_array_equal(arrays["t0002"], 2.0)
    kept = arrays.pop("t0003")
    del arrays
    gc.collect()
    np.testing.assert_array_equal(kept, 3.0)
    kept += 1
    np.testing.assert_array_equal(kept, 4.0)


def test_owned_arrays_of_two_readers_do_not_share_bytes(prefix: str) -> None:
    a = fastckpt.load_checkpoint(prefix).get_tensor("t0005", copy=True)
    b = fastckpt.load_checkpoint(prefix).get_tensor("t0005", copy=True)
    a[...] = 0
    np.testing.assert_array_equal(b, 5.0)


def test_owned_array_written_in_forked_child_leaves_parent_alone(prefix: str) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    reader = fastckpt.load_checkpoint(prefix)
    mine = reader.get_tensor("t0007", copy=True)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: reads more small tensors into its copy of the same block
        try:
            theirs = reader.get_tensor("t0008", copy=True)
            mine[...] = 0
            ok = bool((theirs == 8).all()) and bool((mine == 0).all())
            os.write(write_fd, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write_fd)
    answer = os.read(read_fd, 1)
    os.close(read_fd)
    os.waitpid(pid, 0)
    assert answer == b"1"
    np.testing.assert_array_equal(mine, 7.0)
    np.testing.assert_array_equal(reader.get_tensor("t0009", copy=True), 9.0)


def _huge_pages_on() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _huge_pages_on(), reason="needs Linux huge pages")
def test_steady_copy_loop_does_not_fault_every_page(tmp_path: Path) -> None:
    # Before slabs, a pass over 32 KiB tensors after the previous pass's arrays were freed
    # faulted in every 4 KiB page again: 8 faults per tensor.
    count = 2048
    prefix = fastckpt.save(_source(count), tmp_path / "ckpt")
    names = [f"t{i:04d}" for i in range(count)]

    def one_pass() -> None:
        reader = fastckpt.load_checkpoint(prefix)
        arrays = [reader.get_tensor(name, copy=True) for name in names]
        assert float(arrays[-1][0, 0]) == count - 1

    one_pass()
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        one_pass()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
    assert faults < count, f"{faults:.0f} page faults per pass of {count} tensors"
