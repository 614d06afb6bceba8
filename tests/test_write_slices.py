"""Partitioned tensors: the writer refuses what TensorFlow could not restore (an empty name,
overlapping slices, slices that leave part of the tensor out), and readers refuse overlapping
slices with TensorFlow's message."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import craft
import numpy as np
import pytest

import fastckpt


def _first(prefix: Path) -> None:
    fastckpt.save({"w": np.arange(4, dtype=np.float32)}, prefix)


def _assert_first(prefix: Path) -> None:
    reader = fastckpt.load_checkpoint(prefix)
    assert list(reader.keys()) == ["w"]
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["ckpt.data-00000-of-00001", "ckpt.index"]


def test_the_empty_name_is_refused(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    _first(prefix)
    with pytest.raises(ValueError, match="empty name is reserved"):
        with fastckpt.BundleWriter(prefix) as writer:
            writer.add_slice("", [4], [(0, 2)], np.zeros(2, np.float32))
    _assert_first(prefix)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("0,3:-", "2,2:-", "existing slice = 0,3:-, new slice = 2,2:-"),
        ("0,2:0,2", "1,2:1,1", "existing slice = 0,2:0,2, new slice = 1,2:1,1"),
        ("-:0,1", "1,1:-", "existing slice = -:0,1, new slice = 1,1:-"),
    ],
)
def test_overlapping_slices_are_refused_when_writing(tmp_path: Path, first: str, second: str, message: str) -> None:
    prefix = tmp_path / "ckpt"
    _first(prefix)

    def block(spec: str) -> np.ndarray:
        shape = [4 if part == "-" else int(part.split(",")[1]) for part in spec.split(":")]
        return np.ones(shape, np.float32)

    with pytest.raises(ValueError, match=f"tensor 'part'.*Overlapping slices: {message}"):
        with fastckpt.BundleWriter(prefix) as writer:
            writer.add_slice("part", [4, 4], first, block(first))
            writer.add_slice("part", [4, 4], second, block(second))
    _assert_first(prefix)


def test_slices_that_leave_part_of_the_tensor_out_are_refused_at_finish(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    _first(prefix)
    writer = fastckpt.BundleWriter(prefix)
    writer.add("whole", np.zeros(3))
    writer.add_slice("part", [4, 3], "0,2:-", np.zeros((2, 3), np.float32))
    writer.add_slice("part", [4, 3], "3,1:-", np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match=r"partitioned tensor 'part' hold 9 of its 12 elements \(slices added: 0,2:- 3,1:-\)"):
        writer.finish()
    _assert_first(prefix)


def test_adjacent_slices_that_cover_the_tensor_are_read_by_tensorflow(tmp_path: Path, tf: ModuleType) -> None:
    full = np.arange(24, dtype=np.float32).reshape(4, 6)
    with fastckpt.BundleWriter(tmp_path / "ckpt") as writer:
        writer.add_slice("part", [4, 6], "0,2:0,4", full[0:2, 0:4])
        writer.add_slice("part", [4, 6], "0,2:4,2", full[0:2, 4:6])
        writer.add_slice("part", [4, 6], "2,2:-", full[2:4])
    np.testing.assert_array_equal(fastckpt.load_checkpoint(tmp_path / "ckpt")["part"], full)
    np.testing.assert_array_equal(tf.train.load_checkpoint(str(tmp_path / "ckpt")).get_tensor("part"), full)


@pytest.mark.parametrize("dtype", [np.float32, object])
def test_overlapping_slices_are_refused_when_reading(tmp_path: Path, tf: ModuleType, dtype: type) -> None:
    """A file with overlapping slices (written by hand: no writer here makes one). Before, the
    value depended on the order in which the slices were copied."""
    def block(rows: int, value: int) -> np.ndarray:
        return np.full((rows, 2), value, np.float32) if dtype is np.float32 else np.full((rows, 2), b"%d" % value, object)

    bundle = craft.BundleBuilder()
    bundle.add_slice("part", [4, 2], [(0, 3), None], block(3, 1))
    bundle.add_slice("part", [4, 2], [(2, 2), None], block(2, 2))
    prefix = bundle.write(tmp_path / "ckpt")
    expected = "Overlapping slices: existing slice = 0,3:-, new slice = 2,2:-"
    reader = fastckpt.load_checkpoint(prefix)
    with pytest.raises(fastckpt.CorruptCheckpointError, match=f"partitioned tensor 'part': {expected}"):
        reader.get_tensor("part")
    with pytest.raises(fastckpt.CorruptCheckpointError, match=expected):
        reader.read_all()
    with pytest.raises(tf.errors.OpError, match=expected):
        tf.train.load_checkpoint(prefix).get_tensor("part")


def test_a_shard_may_hold_part_of_a_partitioned_tensor_when_asked(tmp_path: Path, tf: ModuleType) -> None:
    """One shard of a sharded save holds the slices of one device; a merge joins the shards."""
    prefix = tmp_path / "shard"
    with fastckpt.BundleWriter(prefix, allow_partial_slices=True) as writer:
        writer.add_slice("part", [4, 3], "0,2:-", np.ones((2, 3), np.float32))
    assert fastckpt.list_variables(prefix) == [("part", [4, 3])]
    with pytest.raises(fastckpt.InvalidArgumentError, match="Does not have sufficient slices for partitioned tensor part"):
        fastckpt.load_checkpoint(prefix)["part"]
    with pytest.raises(ValueError, match="Does not have sufficient slices for partitioned tensor part"):
        tf.train.load_checkpoint(str(prefix)).get_tensor("part")
