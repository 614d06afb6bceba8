"""Writer behaviour that TensorFlow is not needed to judge: atomic replacement of an earlier
checkpoint, temporary files, alignment, and the array-likes ``save`` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fastckpt


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _write_first(prefix: Path) -> None:
    fastckpt.save({"w": np.arange(6, dtype=np.float32), "step": np.int64(1)}, prefix)


def _assert_first_intact(prefix: Path) -> None:
    reader = fastckpt.load_checkpoint(prefix)
    assert list(reader.keys()) == ["step", "w"]
    np.testing.assert_array_equal(reader["w"], np.arange(6, dtype=np.float32))
    assert _files(prefix.parent) == ["ckpt.data-00000-of-00001", "ckpt.index"]


def test_exception_inside_writer_keeps_previous_checkpoint(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    _write_first(prefix)
    with pytest.raises(RuntimeError, match="boom"):
        with fastckpt.BundleWriter(prefix) as writer:
            writer.add("w", np.zeros(1000, np.float32))
            raise RuntimeError("boom")
    _assert_first_intact(prefix)


def test_failed_save_keeps_previous_checkpoint(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    _write_first(prefix)
    bad = {"w": np.zeros(3, np.float32), "when": np.array(["2024-01-01"], dtype="datetime64[D]")}
    with pytest.raises(TypeError, match="datetime64"):
        fastckpt.save(bad, prefix)
    _assert_first_intact(prefix)


def test_interrupted_save_keeps_previous_checkpoint(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    _write_first(prefix)

    class Interrupting(dict[str, Any]):
        def items(self) -> Any:
            yield "w", np.ones(10, np.float32)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fastckpt.save(Interrupting(), prefix)
    _assert_first_intact(prefix)


def test_duplicate_name_is_refused(tmp_path: Path) -> None:
    with fastckpt.BundleWriter(tmp_path / "ckpt") as writer:
        writer.add("a", np.zeros(2))
        with pytest.raises(ValueError, match="already added"):
            writer.add("a", np.zeros(2))
    assert list(fastckpt.load_checkpoint(tmp_path / "ckpt")) == ["a"]


@pytest.mark.parametrize("alignment", [1, 3, 64, 8192])
def test_alignment(tmp_path: Path, alignment: int) -> None:
    tensors = {f"t{i}": np.full(i * 7 + 1, i, np.int16) for i in range(5)}
    fastckpt.save(tensors, tmp_path / "ckpt", alignment=alignment)
    reader = fastckpt.load_checkpoint(tmp_path / "ckpt")
    base = None
    for name, value in tensors.items():
        view = reader[name]
        np.testing.assert_array_equal(view, value)
        if base is None:
            base = view.ctypes.data  # the first tensor sits at offset 0 of the mapping
        assert (view.ctypes.data - base) % alignment == 0


def test_dlpack_only_objects_are_accepted(tmp_path: Path) -> None:
    source = np.arange(12, dtype=np.float64).reshape(3, 4)

    class DlpackOnly:
        def __dlpack__(self, **kwargs: Any) -> Any:
            return source.__dlpack__(**kwargs)

        def __dlpack_device__(self) -> Any:
            return source.__dlpack_device__()

    fastckpt.save({"x": DlpackOnly()}, tmp_path / "ckpt")
    np.testing.assert_array_equal(fastckpt.load_checkpoint(tmp_path / "ckpt")["x"], source)


def test_non_contiguous_and_big_endian_inputs(tmp_path: Path) -> None:
    strided = np.arange(20, dtype=np.int32).reshape(4, 5)[:, ::2]
    fortran = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    big = np.arange(4, dtype=">f8")
    fastckpt.save({"strided": strided, "fortran": fortran, "big": big}, tmp_path / "ckpt")
    reader = fastckpt.load_checkpoint(tmp_path / "ckpt")
    np.testing.assert_array_equal(reader["strided"], strided)
    np.testing.assert_array_equal(reader["fortran"], fortran)
    assert reader["big"].dtype == np.dtype("<f8")
    np.testing.assert_array_equal(reader["big"], big)


class _Sub(np.ndarray):
    pass


def test_every_kind_of_array_and_name_round_trips(tmp_path: Path) -> None:
    """Arrays the engine takes as they are (C-contiguous ndarrays of the table's dtypes) and those
    the Python layer converts first, in one save, under every spelling of a name."""
    import ml_dtypes

    values = {
        "scalar": np.float32(2.5),
        "zero_d": np.array(7, np.int64),
        "empty": np.zeros((0, 3), np.float32),
        "flags": np.array([True, False]),
        "bf16": np.arange(6, dtype=ml_dtypes.bfloat16).reshape(2, 3),
        "longlong": np.arange(3, dtype=np.longlong),
        "sub": np.arange(4, dtype=np.float64).view(_Sub),
        "frozen": np.arange(5, dtype=np.int8),
        "caf\udce9": np.ones(2, np.uint16),
    }
    values["frozen"].flags.writeable = False
    tensors: dict = dict(values)
    tensors[b"raw\xff"] = tensors["flags"]
    fastckpt.save(tensors, tmp_path / "ckpt")
    reader = fastckpt.load_checkpoint(tmp_path / "ckpt")
    assert sorted(reader) == sorted([*values, "raw\udcff"])
    for name, value in values.items():
        got = reader[name]
        assert got.dtype == np.asarray(value).dtype and got.shape == np.shape(value), name
        np.testing.assert_array_equal(got, value)
    np.testing.assert_array_equal(reader["raw\udcff"], values["flags"])


def test_torch_tensors_of_types_numpy_lacks(tmp_path: Path) -> None:
    """bfloat16 and float8 torch tensors (which torch cannot hand to numpy) are saved by their
    bits as ml_dtypes' types of the same names: parameters that require grad, views that are not
    contiguous, and the Slices of fastckpt.distributed."""
    torch = pytest.importorskip("torch", reason="torch is not installed (PyPI's wheel is very large; not in the 'test' extra)")
    from fastckpt import distributed

    weights = torch.linspace(-3, 3, 24).reshape(8, 3)
    values = {
        "bfloat16": torch.nn.Parameter(weights.to(torch.bfloat16)),
        "bfloat16_t": weights.to(torch.bfloat16).t(),
        "float8_e4m3fn": torch.tensor([0.5, -2.0, 448.0, -0.015625]).to(torch.float8_e4m3fn),
        "float8_e5m2": torch.tensor([0.5, -2.0, 57344.0, 1e-5]).to(torch.float8_e5m2),
    }
    fastckpt.save(values, tmp_path / "ckpt")
    rows = weights.to(torch.bfloat16)[4:]
    distributed.save({"rows": distributed.Slice([4, 3], "-:-", rows)}, tmp_path / "dist")
    reader = fastckpt.load_checkpoint(tmp_path / "ckpt")
    for name, tensor in values.items():
        got = reader[name]
        assert got.dtype.name == name.removesuffix("_t") and got.shape == tuple(tensor.shape), name
        np.testing.assert_array_equal(got.astype(np.float32), tensor.detach().float().numpy(), err_msg=name)
    got = fastckpt.load_checkpoint(tmp_path / "dist")["rows"]
    assert got.dtype.name == "bfloat16"
    np.testing.assert_array_equal(got.astype(np.float32), rows.float().numpy())
