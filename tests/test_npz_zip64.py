"""npz files that need ZIP64, both ways with numpy: members and offsets beyond zipfile's
``ZIP64_LIMIT`` (2³¹ − 1; numpy writes through zipfile) and more than 65,535 members. We read what
``np.savez`` writes; ``zipfile`` and ``np.load`` read what we write, member for member the same
bytes (same sizes and CRC-32s as numpy's own file), with ZIP64 fields where zipfile writes them.

The big array is a memory map of a sparse file: zeros with a few marked bytes, so no copy of it is
ever in memory; only the page cache sees its 2 GiB."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastckpt

GIB = 1 << 30


def members(path: Path) -> list[tuple[str, int, int]]:
    """Each member's name, size and CRC-32, as zipfile reads them from the directory."""
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, info.file_size, info.CRC) for info in archive.infolist()]


def directory(path: Path) -> list[tuple[str, int, int, int, bytes]]:
    """``members`` with each local header's offset and the extra field of its directory record
    (where ZIP64 puts sizes and offsets beyond the limit)."""
    with zipfile.ZipFile(path) as archive:
        return [(i.filename, i.file_size, i.CRC, i.header_offset, i.extra) for i in archive.infolist()]


def test_npz_beyond_2_gib_both_ways(tmp_path: Path) -> None:
    if shutil.disk_usage(tmp_path).free < 6 * GIB:
        pytest.skip("needs about 5 GiB of free disk")
    size = 2 * GIB + 64
    marks = {0: 1, GIB + 3: 2, size - 1: 3}
    sparse = tmp_path / "zeros.bin"
    with open(sparse, "wb") as f:
        f.truncate(size)
        for at, value in marks.items():
            f.seek(at)
            f.write(bytes([value]))
    small = np.arange(5, dtype=np.int64)
    theirs, ours = tmp_path / "numpy.npz", tmp_path / "ours.npz"
    try:
        np.savez(theirs, big=np.memmap(sparse, np.uint8, "r"), small=small)
        with zipfile.ZipFile(theirs) as archive:
            big_info, small_info = archive.infolist()
            # What makes it ZIP64: a size and an offset beyond zipfile's limit.
            assert big_info.file_size > zipfile.ZIP64_LIMIT and small_info.header_offset > zipfile.ZIP64_LIMIT

        with fastckpt.open(theirs) as reader:
            big = reader["big"]
            assert big.shape == (size,) and big.dtype == np.uint8
            assert {at: int(big[at]) for at in marks} == marks and np.count_nonzero(big) == len(marks)
            assert np.array_equal(reader["small"], small)
            del big

        fastckpt.convert(theirs, ours)
        # The same bytes at the same offsets, with ZIP64 fields where zipfile puts them.
        assert directory(ours) == directory(theirs)
        with zipfile.ZipFile(ours) as archive:
            assert archive.testzip() is None  # every member read to its end, its CRC-32 checked
        with np.load(ours) as loaded:
            assert np.array_equal(loaded["small"], small)
    finally:
        for path in (sparse, theirs, ours):
            path.unlink(missing_ok=True)


def test_npz_with_more_than_65535_members_both_ways(tmp_path: Path) -> None:
    arrays = {f"a{i}": np.array([i, -i], np.int32) for i in range(70_000)}
    theirs, ours = tmp_path / "numpy.npz", tmp_path / "ours.npz"
    np.savez(theirs, **arrays)
    with fastckpt.open(theirs) as reader:
        assert len(reader) == len(arrays)
        assert all(np.array_equal(reader[name], value) for name, value in arrays.items())

    fastckpt.convert(theirs, ours)
    assert sorted(members(ours)) == sorted(members(theirs))
    with np.load(ours) as loaded:
        assert sorted(loaded.files) == sorted(arrays)
        assert all(np.array_equal(loaded[name], arrays[name]) for name in ("a0", "a65535", "a69999"))


def test_npz_that_numpy_streamed_into_a_pipe(tmp_path: Path) -> None:
    """``np.savez`` into a pipe cannot go back to a member's local header: its sizes and CRC-32
    follow the data in a (ZIP64) data descriptor and the local header holds zeros; the directory
    has them all."""
    code = "import sys, numpy as np; np.savez(sys.stdout.buffer, a=np.arange(10), b=np.ones((2, 3)))"
    path = tmp_path / "piped.npz"
    path.write_bytes(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    with zipfile.ZipFile(path) as archive:
        assert all(info.flag_bits & 0x08 for info in archive.infolist())  # bit 3: data descriptor
    with fastckpt.open(path) as reader:
        assert np.array_equal(reader["a"], np.arange(10)) and np.array_equal(reader["b"], np.ones((2, 3)))
