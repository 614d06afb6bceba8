"""Owned arrays of small tensors (``get_tensor(copy=True)``, ``read_all``) share blocks of memory
with their neighbours, and blocks whose arrays are all gone are reused: each array must still
behave as an array of its own (writeable, independent, alive as long as it is referenced), start
on a cache line, and a steady loop must not fault its memory in on every pass."""

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts Linux page faults")
@pytest.mark.parametrize("read", ["get_tensor", "read_all"])
def test_steady_copy_loop_reuses_the_memory_of_the_last_pass(tmp_path: Path, read: str) -> None:
    # Before idle slabs were kept, every pass mapped new slabs: a fault per huge page (one per
    # 64 tensors) at best, one per 4 KiB page without huge pages. Each pass reads another
    # checkpoint, so an array holding a byte of the memory's last owner would show.
    count = 4096
    sources = [{f"t{i:04d}": np.full(SHAPE, i * sign, dtype=np.float32) for i in range(count)} for sign in (1, -1)]
    prefixes = [fastckpt.save(source, tmp_path / f"ckpt{k}") for k, source in enumerate(sources)]
    names = list(sources[0])

    def one_pass(k: int) -> None:
        reader = fastckpt.load_checkpoint(prefixes[k % 2])
        if read == "get_tensor":
            arrays = [reader.get_tensor(name, copy=True) for name in names]
        else:
            arrays = list(reader.read_all(names).values())
        sign = 1 if k % 2 == 0 else -1
        assert all(float(a[0, 0]) == i * sign and float(a[-1, -1]) == i * sign for i, a in enumerate(arrays))

    one_pass(0)
    one_pass(1)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for k in range(4):
        one_pass(k)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4
    # What remains are Python's own objects (the arrays' headers, lists, dicts).
    assert faults < count / 128, f"{faults:.0f} page faults per pass of {count} tensors"
