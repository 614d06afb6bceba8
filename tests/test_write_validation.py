"""Bad input to ``save`` / ``BundleWriter``: refused with the right exception type and a message
that names the tensor (never a temporary file), and the earlier checkpoint stays intact."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt


def _first(prefix: Path) -> None:
    fastckpt.save({"w": np.arange(4, dtype=np.float32)}, prefix)


def _assert_first(prefix: Path) -> None:
    reader = fastckpt.load_checkpoint(prefix)
    assert list(reader.keys()) == ["w"]
    np.testing.assert_array_equal(reader["w"], np.arange(4, dtype=np.float32))
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["ckpt.data-00000-of-00001", "ckpt.index"]


@pytest.mark.parametrize(
    ("value", "dtype", "match"),
    [
        (np.array([1, 2], dtype=object), None, "binary or unicode string, got int 1"),
        (np.array([b"ok", 10**30], dtype=object), None, "got int 1000.* at flat index 1"),
        (np.array([b"ok", 2.5], dtype=object), "string", "got float 2.5"),
        (np.array([1, 2], dtype=np.int64), "string", "string elements .* not int64 numbers"),
        (np.array([1.0], dtype=np.float32), "variant", "variant elements .* not float32 numbers"),
        (np.array(["text"], dtype=object), "variant", "VariantTensorDataProto .*got str"),
        (np.array([b"ab"]), "float32", "cannot be stored as float32"),
        (np.array([None], dtype=object), None, "got NoneType None"),
    ],
)
def test_non_string_elements_are_refused(tmp_path: Path, value: Any, dtype: Any, match: str) -> None:
    prefix = tmp_path / "ckpt"
    _first(prefix)
    with pytest.raises(TypeError, match=f"tensor 'bad'.*{match}"):
        with fastckpt.BundleWriter(prefix) as writer:
            writer.add("w", np.zeros(2))
            writer.add("bad", value, dtype=dtype)
    with pytest.raises(TypeError, match=f"tensor 'bad'.*{match}"):
        if dtype is None:
            fastckpt.save({"fine": np.zeros(1), "bad": value}, prefix)
        else:
            with fastckpt.BundleWriter(prefix) as writer:
                writer.add_slice("bad", [2 * len(value)], [(0, len(value))], value, dtype=dtype)
    _assert_first(prefix)


def test_strings_and_str_are_still_stored(tmp_path: Path) -> None:
    values = {"obj": np.array([b"a", "\u00e9"], dtype=object), "fixed": np.array([b"xy", b"z"]), "uni": np.array(["q"])}
    fastckpt.save(values, tmp_path / "ckpt")
    reader = fastckpt.load_checkpoint(tmp_path / "ckpt")
    assert reader["obj"].tolist() == [b"a", "\u00e9".encode()]
    assert reader["fixed"].tolist() == [b"xy", b"z"]
    assert reader["uni"].tolist() == [b"q"]


def test_the_tensor_with_an_unsupported_dtype_is_named(tmp_path: Path) -> None:
    tensors: dict[str, Any] = {f"layer{i:03d}": np.zeros(3, np.float32) for i in range(500)}
    tensors["layer317"] = np.array(["2024-01-01"], dtype="datetime64[D]")
    with pytest.raises(TypeError, match="tensor 'layer317'.*datetime64"):
        fastckpt.save(tensors, tmp_path / "ckpt")
    with pytest.raises(ValueError, match="tensor 'ragged'"):
        fastckpt.save({"ragged": [[1, 2], [3]]}, tmp_path / "ckpt")
    assert not tmp_path.joinpath("ckpt.index").exists()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: fastckpt.save({1: np.zeros(2)}, p), "names must be str or bytes, got int 1"),
        (lambda p: fastckpt.save([np.zeros(2)], p), "mapping of tensor names to arrays, got list"),
        (lambda p: fastckpt.save([("a", np.zeros(2))], p), "mapping .* got list"),
        (lambda p: fastckpt.save({None: np.zeros(2)}, p), "names must be str or bytes, got NoneType"),
        (lambda p: fastckpt.BundleWriter(p).add(3.5, np.zeros(2)), "names must be str or bytes, got float"),
        (lambda p: fastckpt.BundleWriter(p).add_many([np.zeros(3)]), r"\(name, value\) pairs"),
        (lambda p: fastckpt.BundleWriter(p).add_many([("a", np.zeros(2), 1)]), r"\(name, value\) pairs"),
        (lambda p: fastckpt.BundleWriter(p).add_slice(7, [4], "0,2", np.zeros(2)), "names must be str or bytes"),
        (lambda p: fastckpt.save({"a": np.zeros(2)}, 42), "str, bytes or os.PathLike"),
    ],
)
def test_wrong_argument_types_raise_type_error(tmp_path: Path, call: Any, match: str) -> None:
    prefix = tmp_path / "ckpt"
    _first(prefix)
    with pytest.raises(TypeError, match=match):
        call(prefix)
    _assert_first(prefix)


@pytest.mark.parametrize("suffix", ["/", "/.", "/.."])
def test_a_prefix_that_names_a_folder_is_refused(tmp_path: Path, suffix: str) -> None:
    folder = str(tmp_path / "dir") + suffix
    with pytest.raises(ValueError, match="names a folder"):
        fastckpt.save({"a": np.zeros(2)}, folder)
    with pytest.raises(ValueError, match="names a folder"):
        fastckpt.BundleWriter(folder)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    ("limit_mib", "sizes_mib"),
    [(1, [4]), (1, [0.25] * 8), (21, [2, 64, 0.5])],
    ids=["first-chunk", "small-tensors", "mid-pipeline"],
)
def test_write_errors_name_the_checkpoint_file_not_the_temporary_one(
    tmp_path: Path, limit_mib: int, sizes_mib: list[float]
) -> None:
    """A file size limit makes the data file's write fail mid-save (as a full disk would): in the
    first chunk, among small tensors, and deep into a large tensor written by the writer thread."""
    prefix = tmp_path / "ckpt"
    _first(prefix)
    script = textwrap.dedent(
        f"""
        import resource, signal, numpy as np, fastckpt
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_mib} << 20, resource.RLIM_INFINITY))
        arrays = {{f"t{{i}}": np.ones(int(mib * (1 << 18)), np.float32) for i, mib in enumerate({sizes_mib!r})}}
        try:
            fastckpt.save(arrays, {str(prefix)!r})
        except OSError as e:
            print(type(e).__name__, "|", e)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ckpt.data-00000-of-00001" in out.stdout and "File too large" in out.stdout, out.stdout
    assert "tempstate" not in out.stdout
    _assert_first(prefix)


def test_variant_elements_must_be_variant_tensor_data_protos(tmp_path: Path, tf: ModuleType) -> None:
    """TensorFlow cannot read a checkpoint with a variant that does not parse ("Unable to parse
    VariantTensorDataProto"), so such data is refused when written."""
    prefix = tmp_path / "ckpt"
    _first(prefix)
    bad = np.array([b"\x0a\x01x", b"\xff\xff"], dtype=object)
    with pytest.raises(ValueError, match="tensor 'v'.*variant element 1 is not a serialized VariantTensorDataProto"):
        with fastckpt.BundleWriter(prefix) as writer:
            writer.add("v", bad, dtype="variant")
    _assert_first(prefix)
    # A real one (a TensorList) is written, and TensorFlow restores it.
    tensor_list = tf.raw_ops.TensorListFromTensor(tensor=tf.constant([4.0, 5.0]), element_shape=tf.constant([], tf.int32))
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "tf"), tensor_names=["tl"], shape_and_slices=[""], tensors=[tensor_list])
    proto = fastckpt.load_checkpoint(tmp_path / "tf")["tl"]
    with fastckpt.BundleWriter(tmp_path / "ours") as writer:
        writer.add("tl", proto, dtype="variant")
    restored = tf.raw_ops.RestoreV2(
        prefix=str(tmp_path / "ours"), tensor_names=["tl"], shape_and_slices=[""], dtypes=[tf.variant]
    )[0]
    stacked = tf.raw_ops.TensorListStack(
        input_handle=restored, element_dtype=tf.float32, element_shape=tf.constant([], tf.int32)
    )
    np.testing.assert_array_equal(stacked.numpy(), [4.0, 5.0])
