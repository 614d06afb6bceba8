"""``get_tensor(name, out=array)`` and ``read_into({name: array})``: restoring into arrays the
caller already has (TensorFlow has no equivalent), checked against TensorFlow's own reader."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import fastckpt

W = np.arange(24, dtype=np.float32).reshape(4, 6)
B = np.array([1.5, -2.0], dtype=np.float64)
STEP = np.int64(9)


@pytest.fixture()
def prefix(tmp_path: Path) -> str:
    return fastckpt.save({"w": W, "b": B, "step": STEP, "words": np.array([b"x"], dtype=object)}, tmp_path / "c")


def test_read_into_fills_the_callers_arrays(prefix: str) -> None:
    out = {"w": np.zeros_like(W), "b": np.zeros_like(B), "step": np.zeros((), np.int64)}
    addresses = {n: a.ctypes.data for n, a in out.items()}
    with fastckpt.load_checkpoint(prefix) as reader:
        reader.read_into(out)
    np.testing.assert_array_equal(out["w"], W)
    np.testing.assert_array_equal(out["b"], B)
    assert out["step"] == STEP
    assert {n: a.ctypes.data for n, a in out.items()} == addresses


def test_get_tensor_out_returns_the_same_array(prefix: str) -> None:
    target = np.full_like(W, 7.0)
    with fastckpt.load_checkpoint(prefix) as reader:
        got = reader.get_tensor("w", out=target)
    assert got is target
    np.testing.assert_array_equal(target, W)


@pytest.mark.parametrize(
    ("arrays", "error", "words"),
    [
        ({"w": np.zeros((6, 4), np.float32)}, ValueError, r"float32 \(4, 6\); cannot read it into float32 \(6, 4\)"),
        ({"w": np.zeros((4, 6), np.int32)}, ValueError, "int32"),
        ({"w": np.zeros((6, 4), np.float32).T}, ValueError, "C-contiguous"),
        ({"w": [[0.0] * 6] * 4}, ValueError, "list"),
        ({"nope": np.zeros(1, np.float32)}, fastckpt.TensorNotFoundError, "nope"),
        ({"words": np.empty(1, object)}, TypeError, "fixed-size"),
    ],
)
def test_read_into_refuses_what_it_cannot_fill(prefix: str, arrays: dict, error: type, words: str) -> None:
    with fastckpt.load_checkpoint(prefix) as reader:
        with pytest.raises(error, match=words):
            reader.read_into(arrays)


def test_read_into_refuses_read_only_and_overlapping_arrays(prefix: str) -> None:
    frozen = np.zeros_like(W)
    frozen.flags.writeable = False
    shared = np.zeros(48, np.float32)
    with fastckpt.load_checkpoint(prefix) as reader:
        with pytest.raises(ValueError, match="writeable"):
            reader.read_into({"w": frozen})
        with pytest.raises(ValueError, match="overlap"):
            reader.read_into({"w": shared[:24].reshape(4, 6), "b": shared[1:5].view(np.float64)})


def test_read_into_a_tensorflow_checkpoint_matches_tensorflow(tf: ModuleType, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = {f"v{i}": rng.random((i + 1, 5)).astype(np.float32) for i in range(20)}
    prefix = str(tmp_path / "tf")
    names = list(values)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(values[n]) for n in names],
    )
    theirs = tf.train.load_checkpoint(prefix)
    out = {n: np.empty_like(v) for n, v in values.items()}
    for _ in range(2):  # a loop restoring into the same arrays
        fastckpt.load_checkpoint(prefix).read_into(out)
        for name in names:
            np.testing.assert_array_equal(out[name], theirs.get_tensor(name))


class _Sub(np.ndarray):
    pass


def test_read_into_takes_every_spelling_of_a_pair(prefix: str) -> None:
    """The engine checks the usual pairs itself and the Python layer the rest: a bytes key, a dtype
    equal to the tensor's but another object (``longlong`` for int64), an ndarray subclass and a
    0-d array all land, in one call."""
    out = {b"w": np.zeros_like(W), "b": np.zeros(2, np.float64).view(_Sub), "step": np.zeros((), np.longlong)}
    with fastckpt.load_checkpoint(prefix) as reader:
        reader.read_into(out)
    np.testing.assert_array_equal(out[b"w"], W)
    np.testing.assert_array_equal(out["b"], B)
    assert out["step"] == STEP


def test_read_into_checks_every_pair_before_reading_any(prefix: str) -> None:
    out = {"w": np.zeros_like(W), "b": np.zeros(3, np.float64)}
    with fastckpt.load_checkpoint(prefix) as reader:
        with pytest.raises(ValueError, match=r"tensor 'b' in .* is float64 \(2,\); cannot read it into float64 \(3,\)"):
            reader.read_into(out)
    assert not out["w"].any()
