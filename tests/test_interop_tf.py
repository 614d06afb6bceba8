"""Interoperability with real TensorFlow, which is the oracle throughout.

1. TensorFlow writes (SaveV2, TF1 Saver, TF2 Checkpoint, partitioned and sharded saves), fastckpt
   reads: values, dtypes, shapes and listings must equal what TensorFlow's own reader returns.
2. fastckpt writes (``save`` / ``BundleWriter``), TensorFlow reads: ``tf.train.load_checkpoint``,
   ``tf.raw_ops.RestoreV2``, a TF1 ``Saver.restore`` and a TF2 ``Checkpoint.restore``.
3. Byte identity with ``tf.raw_ops.SaveV2`` for ``alignment=1`` and the same tensors in the same order.
4. Zero-copy facts of the arrays fastckpt returns.
5. Checkpoint folders with the ``checkpoint`` state file written by TensorFlow.
6. The committed fixtures under ``tests/data/`` (written by ``tests/data/make_fixtures.py``).
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import fastckpt
from conftest import fixture_builders

DATA_FILE = ".data-00000-of-00001"
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

# --------------------------------------------------------------------------------------------------
# Test tensors: every dtype TensorFlow can put in a bundle (DT_VARIANT aside)
# --------------------------------------------------------------------------------------------------

QUANTIZED = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16, "quint16": np.uint16, "qint32": np.int32}
#: ml_dtypes types stored one element per byte whose unused high bits carry no meaning.
SUB_BYTE = {"int4", "uint4", "int2", "uint2", "float4_e2m1fn"}
ML_DTYPES = {
    "bfloat16",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e4m3b11fnuz",
    "float8_e5m2fnuz",
} | SUB_BYTE


def np_dtype(name: str) -> np.dtype[Any]:
    """The numpy dtype fastckpt uses for a TensorFlow dtype name (TensorFlow's own mapping)."""
    if name == "string":
        return np.dtype(object)
    if name in QUANTIZED:
        return np.dtype([(name, QUANTIZED[name])])
    if name in ML_DTYPES:
        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def _with_nan_payload(values: list[float], dtype: Any, bits: int) -> np.ndarray[Any, Any]:
    array = np.array(values + [0.0], dtype)
    uint = {4: np.uint32, 8: np.uint64}[array.itemsize]
    array.view(uint)[-1] = bits  # a NaN with a payload: must survive bit for bit
    return array


def _ints(dtype: Any) -> np.ndarray[Any, Any]:
    info = np.iinfo(dtype)
    return np.array(sorted({int(info.min), 0, 1, 7, int(info.max)} | ({-1} if info.min < 0 else set())), dtype)


def _quantized(name: str) -> np.ndarray[Any, Any]:
    return _ints(QUANTIZED[name]).view(np_dtype(name))


INF, NAN = float("inf"), float("nan")

#: One 1-D array of interesting values per dtype name (TensorFlow's names).
BASE_VALUES: dict[str, np.ndarray[Any, Any]] = {
    "float16": np.array([0.0, -0.0, 1.5, -2.25, 65504.0, 6e-8, INF, -INF, NAN], np.float16),
    "float32": _with_nan_payload([0.0, -0.0, 3.14159, -3.4e38, 1e-45, INF, -INF, NAN], np.float32, 0x7FA00001),
    "float64": _with_nan_payload([0.0, -0.0, np.pi, 1e308, 5e-324, INF, -INF, NAN], np.float64, 0x7FF0000000000F01),
    "bfloat16": np.array([0.0, -0.0, 1.0, -2.5, 3.0e38, 1e-40, INF, -INF, NAN], ml_dtypes.bfloat16),
    "int8": _ints(np.int8),
    "int16": _ints(np.int16),
    "int32": _ints(np.int32),
    "int64": _ints(np.int64),
    "uint8": _ints(np.uint8),
    "uint16": _ints(np.uint16),
    "uint32": _ints(np.uint32),
    "uint64": _ints(np.uint64),
    "bool": np.array([True, False, True, True, False]),
    "complex64": np.array([1 + 2j, -0.5j, complex(INF, -1), complex(NAN, 0), 0j, -3.25], np.complex64),
    "complex128": np.array([1e300 + 2j, -0.5j, complex(-INF, 1), complex(0, NAN), 0j], np.complex128),
    "string": np.array(
        [b"", b"ab", b"\x00\xff\x00nul\xfe", "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c".encode(), b"x" * 300],
        dtype=object,
    ),
    **{name: _quantized(name) for name in QUANTIZED},
    "float8_e5m2": np.array([0.0, -0.0, 1.0, -2.0, 0.5, 57344.0, INF, NAN], ml_dtypes.float8_e5m2),
    "float8_e4m3fn": np.array([0.0, -0.0, 1.0, -2.0, 0.5, 448.0, NAN], ml_dtypes.float8_e4m3fn),
    "float8_e4m3fnuz": np.array([0.0, 1.0, -2.0, 0.5, 240.0, NAN], ml_dtypes.float8_e4m3fnuz),
    "float8_e4m3b11fnuz": np.array([0.0, 1.0, -2.0, 0.5, 30.0, NAN], ml_dtypes.float8_e4m3b11fnuz),
    "float8_e5m2fnuz": np.array([0.0, 1.0, -2.0, 0.5, 57344.0, NAN], ml_dtypes.float8_e5m2fnuz),
    "int4": np.arange(-8, 8).astype(ml_dtypes.int4),
    "uint4": np.arange(0, 16).astype(ml_dtypes.uint4),
    "int2": np.array([-2, -1, 0, 1], ml_dtypes.int2),
    "uint2": np.array([0, 1, 2, 3], ml_dtypes.uint2),
    "float4_e2m1fn": np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -6.0, -0.5], ml_dtypes.float4_e2m1fn),
}
DTYPE_NAMES = list(BASE_VALUES)


def dtype_tensors(name: str) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """Five tensors of dtype ``name``: 1-D, 2-D, scalar, empty [0] and empty [0, 3]."""
    values = BASE_VALUES[name]
    dtype = values.dtype
    return [
        (f"v_{name}", values),
        (f"m_{name}", np.resize(values, 6).reshape(2, 3)),
        (f"s_{name}", values[1:2].reshape(())),
        (f"z_{name}", np.zeros((0,), dtype) if dtype != object else np.empty((0,), dtype=object)),
        (f"e_{name}", np.zeros((0, 3), dtype) if dtype != object else np.empty((0, 3), dtype=object)),
    ]


#: All test tensors, in a fixed order (SaveV2 writes data in the order it is given).
ALL_TENSORS: list[tuple[str, np.ndarray[Any, Any]]] = [t for name in DTYPE_NAMES for t in dtype_tensors(name)]

#: Strings whose encoding exercises multi-byte varint lengths and every byte value.
SPECIAL_STRINGS: list[tuple[str, np.ndarray[Any, Any]]] = [
    ("str/scalar_empty", np.array(b"", dtype=object)),
    ("str/scalar", np.array(b"hello\x00world\xff", dtype=object)),
    ("str/all_bytes", np.array([bytes(range(256)), bytes(range(255, -1, -1))], dtype=object)),
    ("str/utf8", np.array(["\u00fcber", "\u65e5\u672c\u8a9e", "\U0001f600 emoji", "caf\u00e9"], dtype=object)),
    ("str/long", np.array([b"a" * 127, b"b" * 128, b"c" * 16383, b"d" * 16384, b"e" * 70000], dtype=object)),
    ("str/2d", np.array([[b"r0c0", b""], [b"", b"r1c1\x00"], [b"\xff", b"x"]], dtype=object)),
    ("str/only_empty", np.array([b"", b"", b""], dtype=object)),
    ("str/empty_0", np.empty((0,), dtype=object)),
    ("str/empty_2x0", np.empty((2, 0), dtype=object)),
]


def _as_bytes_array(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if array.dtype != object:
        return array
    out = np.empty(array.shape, dtype=object)
    for index, item in np.ndenumerate(array):
        out[index] = item.encode("utf-8") if isinstance(item, str) else item
    return out


SPECIAL_STRINGS = [(k, _as_bytes_array(v)) for k, v in SPECIAL_STRINGS]

# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def tf_constant(tf: ModuleType, array: np.ndarray[Any, Any]) -> Any:
    dtype = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
    return tf.constant(array, dtype=dtype)


def tf_dtype_of(tf: ModuleType, dtype_name: str) -> Any:
    """TensorFlow's DType for one of DTYPE_NAMES, or None if this TensorFlow has no such dtype."""
    if dtype_name == "string":
        return tf.string
    try:
        return tf.as_dtype(np_dtype(dtype_name))
    except TypeError:
        return None


def require_tf_dtype(tf: ModuleType, dtype_name: str) -> Any:
    dtype = tf_dtype_of(tf, dtype_name)
    if dtype is None:
        pytest.skip(f"TensorFlow {tf.__version__} has no dtype {dtype_name}, so it cannot save or read it")
    return dtype


def supported_tensors(tf: ModuleType) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """ALL_TENSORS restricted to the dtypes this TensorFlow knows (all of them in 2.21)."""
    return [t for name in DTYPE_NAMES if tf_dtype_of(tf, name) is not None for t in dtype_tensors(name)]


def tf_save_v2(tf: ModuleType, prefix: Any, items: list[tuple[Any, ...]]) -> str:
    """``tf.raw_ops.SaveV2`` of ``[(name, array)]`` or ``[(name, array, shape_and_slice)]``."""
    names = [item[0] for item in items]
    specs = [item[2] if len(item) > 2 else "" for item in items]
    tensors = [tf_constant(tf, item[1]) for item in items]
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=specs, tensors=tensors)
    return str(prefix)


def tf_numpy(value: Any, tf_dtype: Any) -> np.ndarray[Any, Any]:
    """A value TensorFlow returned, as the array fastckpt should return for it.

    TensorFlow returns numpy scalars / ``bytes`` for scalars and plain integers for quantized
    dtypes (while its ``DType.as_numpy_dtype`` is the structured dtype); normalise those only.
    """
    if hasattr(value, "numpy"):
        value = value.numpy()
    if tf_dtype.name == "string":
        if isinstance(value, np.ndarray):
            return value.astype(object)
        out = np.empty((), dtype=object)
        out[()] = value
        return out
    array = np.asarray(value)
    wanted = np.dtype(tf_dtype.as_numpy_dtype)
    if wanted.names is not None and array.dtype.names is None and array.dtype.itemsize == wanted.itemsize:
        array = array.view(wanted)
    return array


def tf_get(tf_reader: Any, name: str, tf_dtype: Any) -> np.ndarray[Any, Any]:
    return tf_numpy(tf_reader.get_tensor(name), tf_dtype)


def tf_dtype_as_numpy(tf_dtype: Any) -> np.dtype[Any]:
    return np.dtype(object) if tf_dtype.name == "string" else np.dtype(tf_dtype.as_numpy_dtype)


def assert_same(actual: Any, expected: Any, what: str = "") -> None:
    """Same type (ndarray; a scalar as TF's reader gives one: a numpy scalar, ``bytes`` for a
    string), dtype, shape and bits (values for sub-byte types; bytes for strings)."""
    expected = np.asarray(expected)
    if expected.shape == () and not isinstance(actual, np.ndarray):
        assert isinstance(actual, bytes if expected.dtype == object else np.generic), f"{what}: got {type(actual)}"
        actual = np.array(actual, dtype=expected.dtype if expected.dtype == object else None)
    assert isinstance(actual, np.ndarray), f"{what}: got {type(actual)}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.dtype == object:
        got = actual.reshape(-1).tolist()
        assert all(isinstance(x, bytes) for x in got), f"{what}: elements are not bytes: {got[:3]!r}"
        assert got == expected.reshape(-1).tolist(), f"{what}: string values differ"
    elif expected.dtype.name in SUB_BYTE:
        np.testing.assert_array_equal(actual.astype(np.float32), expected.astype(np.float32), err_msg=what)
    else:
        if actual.tobytes() != expected.tobytes():
            raise AssertionError(f"{what}: values differ:\n{actual!r}\nvs expected\n{expected!r}")


def read_file(path: Any) -> bytes:
    return Path(path).read_bytes()


def assert_same_files(ours: Any, theirs: Any) -> None:
    """``P.index`` and ``P.data-00000-of-00001`` are byte-identical (with a helpful first difference)."""
    for suffix in (".index", DATA_FILE):
        a, b = read_file(f"{ours}{suffix}"), read_file(f"{theirs}{suffix}")
        if a != b:
            first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
            raise AssertionError(
                f"{suffix} differs: fastckpt {len(a)} bytes vs TensorFlow {len(b)} bytes; first difference at "
                f"byte {first}: fastckpt {a[first:first + 24].hex(' ')} | TF {b[first:first + 24].hex(' ')}"
            )


def compare_with_tf_reader(tf: ModuleType, prefix: Any, expected: dict[str, Any] | None = None) -> Any:
    """Every tensor fastckpt lists equals TensorFlow's, and the listings are equal too."""
    tf_reader = tf.train.load_checkpoint(str(prefix))
    tf_dtypes = tf_reader.get_variable_to_dtype_map()
    tf_shapes = tf_reader.get_variable_to_shape_map()
    reader = fastckpt.load_checkpoint(prefix)
    assert sorted(reader.keys()) == sorted(tf_shapes)
    assert reader.get_variable_to_shape_map() == tf_shapes
    assert reader.get_variable_to_dtype_map() == {k: tf_dtype_as_numpy(v) for k, v in tf_dtypes.items()}
    for name in tf_shapes:
        theirs = tf_get(tf_reader, name, tf_dtypes[name])
        assert_same(reader.get_tensor(name), theirs, name)
        if expected is not None and name in expected:
            assert_same(theirs, expected[name], f"TF reading {name}")
    return reader


def make_dirs(*parts: Any) -> Path:
    path = Path(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------------------
# Module-scoped checkpoints
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf_all_dtypes(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """SaveV2 of ALL_TENSORS, in order."""
    return tf_save_v2(tf, tmp_path_factory.mktemp("tf_all") / "all", supported_tensors(tf))


@pytest.fixture(scope="module")
def tf_all_dtypes_readers(tf: ModuleType, tf_all_dtypes: str) -> tuple[Any, Any, dict[str, Any]]:
    tf_reader = tf.train.load_checkpoint(tf_all_dtypes)
    return fastckpt.load_checkpoint(tf_all_dtypes), tf_reader, tf_reader.get_variable_to_dtype_map()


@pytest.fixture(scope="module", params=[64, 1], ids=["align64", "align1"])
def ours_all_dtypes(request: Any, tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """fastckpt.save of ALL_TENSORS + SPECIAL_STRINGS; returns (prefix, TF reader of it)."""
    prefix = tmp_path_factory.mktemp(f"ours_all_{request.param}") / "all"
    result = fastckpt.save(dict(supported_tensors(tf) + SPECIAL_STRINGS), prefix, alignment=request.param)
    assert result == str(prefix)
    return str(prefix), tf.train.load_checkpoint(str(prefix))


MANY = 6000


def many_names() -> list[str]:
    return [f"layer_{i:05d}/some/long/variable/name/kernel" for i in range(MANY)]


@pytest.fixture(scope="module")
def tf_many(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The 6000-scalar SaveV2 of testdata.md vector 2 (index 301,961 bytes, two data blocks)."""
    prefix = tmp_path_factory.mktemp("tf_many") / "many"
    tensors = [tf.constant(float(i)) for i in range(MANY)]
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=many_names(), shape_and_slices=[""] * MANY, tensors=tensors)
    return str(prefix)


# ==================================================================================================
# 1. TensorFlow writes, fastckpt reads
# ==================================================================================================


@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_tf_savev2_dtype_read_identically(dtype_name: str, tf: ModuleType, tf_all_dtypes_readers: Any) -> None:
    require_tf_dtype(tf, dtype_name)
    reader, tf_reader, tf_dtypes = tf_all_dtypes_readers
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    for name, original in dtype_tensors(dtype_name):
        theirs = tf_get(tf_reader, name, tf_dtypes[name])
        assert_same(theirs, original, f"TF's own reading of {name}")  # sanity of the oracle
        ours = reader.get_tensor(name)
        assert_same(ours, theirs, name)
        assert_same(reader.get_tensor(name, copy=True), theirs, f"{name} copy=True")
        assert_same(reader[name], theirs, f"reader[{name!r}]")
        assert dtypes[name] == np_dtype(dtype_name) == tf_dtype_as_numpy(tf_dtypes[name])
        assert shapes[name] == list(original.shape)


def test_tf_savev2_listing_matches_tf(tf: ModuleType, tf_all_dtypes: str, tf_all_dtypes_readers: Any) -> None:
    reader, tf_reader, tf_dtypes = tf_all_dtypes_readers
    tensors = supported_tensors(tf)
    tf_shapes = tf_reader.get_variable_to_shape_map()
    assert list(reader.keys()) == sorted(tf_shapes)
    assert list(reader) == sorted(tf_shapes)
    assert len(reader) == len(tf_shapes) == len(tensors)
    assert reader.get_variable_to_shape_map() == tf_shapes
    assert reader.get_variable_to_dtype_map() == {k: tf_dtype_as_numpy(v) for k, v in tf_dtypes.items()}
    assert fastckpt.list_variables(tf_all_dtypes) == [(k, list(v)) for k, v in tf.train.list_variables(tf_all_dtypes)]
    for name, _ in tensors:
        assert name in reader and reader.has_tensor(name) and tf_reader.has_tensor(name)
    assert "nope" not in reader and not reader.has_tensor("nope") and not tf_reader.has_tensor("nope")
    everything = reader.read_all()
    assert list(everything) == list(reader.keys())
    for name, original in tensors:
        assert_same(everything[name], original, f"read_all()[{name!r}]")
    some = reader.read_all(["v_float32", "s_string", "e_int32"], copy=False)
    assert list(some) == ["v_float32", "s_string", "e_int32"]
    assert_same(some["s_string"], dict(tensors)["s_string"], "read_all(copy=False)")


def test_tf_savev2_special_strings(tf: ModuleType, tmp_path: Path) -> None:
    prefix = tf_save_v2(tf, tmp_path / "strings", SPECIAL_STRINGS)
    reader = compare_with_tf_reader(tf, prefix, dict(SPECIAL_STRINGS))
    for name, original in SPECIAL_STRINGS:
        assert_same(reader.get_tensor(name), original, name)


def test_tf_savev2_non_utf8_and_unicode_names(tf: ModuleType, tmp_path: Path) -> None:
    binary_name = b"a\x00b\xffc"
    prefix = str(tmp_path / "names")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=[binary_name, "n\u00e4me/\u00fc/\u65e5", "with space/x:y"],
        shape_and_slices=["", "", ""],
        tensors=[tf.constant([1.0, 2.0]), tf.constant(2, tf.int64), tf.constant([b"v"])],
    )
    tf_reader = tf.train.load_checkpoint(prefix)
    reader = fastckpt.load_checkpoint(prefix)
    assert_same(reader.get_tensor(binary_name), np.asarray(tf_reader.get_tensor(binary_name)), "binary name")
    assert reader.has_tensor(binary_name) and binary_name in reader
    assert_same(reader.get_tensor("n\u00e4me/\u00fc/\u65e5"), np.array(2, np.int64), "unicode name")
    assert_same(reader.get_tensor("with space/x:y"), np.array([b"v"], dtype=object), "name with space")
    assert "n\u00e4me/\u00fc/\u65e5" in reader.keys() and "with space/x:y" in reader.keys()
    assert len(reader) == 3


def test_tf_savev2_partitioned_read(tf: ModuleType, tmp_path: Path) -> None:
    """testdata.md vector 3 plus partitions along other axes, in 3-D and in many dtypes."""
    full = np.arange(24, dtype=np.float32).reshape(4, 6)
    cube = np.arange(2 * 3 * 4, dtype=np.int64).reshape(2, 3, 4) - 5
    flags = (np.arange(10) % 3 == 0).reshape(5, 2)
    cplx = (np.arange(6) + 1j * np.arange(6)).astype(np.complex128).reshape(3, 2)
    bf = np.linspace(-4, 4, 8).astype(ml_dtypes.bfloat16).reshape(2, 4)
    i8 = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    items = [
        ("part", full[0:2], "4 6 0,2:-"),
        ("part", full[2:4], "4 6 2,2:-"),
        ("full", np.array([1.0], np.float32), ""),
        ("cols", full[:, 0:3], "4 6 -:0,3"),
        ("cols", full[:, 3:6], "4 6 -:3,3"),
        ("grid", full[0:2, 0:4], "4 6 0,2:0,4"),
        ("grid", full[0:2, 4:6], "4 6 0,2:4,2"),
        ("grid", full[2:4, :], "4 6 2,2:-"),
        ("cube", cube[:, 0:1, :], "2 3 4 -:0,1:-"),
        ("cube", cube[:, 1:3, 0:2], "2 3 4 -:1,2:0,2"),
        ("cube", cube[:, 1:3, 2:4], "2 3 4 -:1,2:2,2"),
        ("flags", flags[0:3], "5 2 0,3:-"),
        ("flags", flags[3:5], "5 2 3,2:-"),
        ("cplx", cplx[:, 1:2], "3 2 -:1,1"),
        ("cplx", cplx[:, 0:1], "3 2 -:0,1"),
        ("bf", bf[1:2], "2 4 1,1:-"),
        ("bf", bf[0:1], "2 4 0,1:-"),
        ("i8", i8[0:1], "3 4 0,1:0,4"),
        ("i8", i8[1:3], "3 4 1,2:0,4"),
    ]
    prefix = tf_save_v2(tf, tmp_path / "slices", items)
    expected = {"part": full, "full": np.array([1.0], np.float32), "cols": full, "grid": full, "cube": cube,
                "flags": flags, "cplx": cplx, "bf": bf, "i8": i8}
    reader = compare_with_tf_reader(tf, prefix, expected)
    assert list(reader.keys()) == sorted(expected)  # the per-slice entries are hidden, as in TF
    for name, value in expected.items():
        assert_same(reader.get_tensor(name), value, name)
        assert_same(reader.get_tensor(name, copy=True), value, f"{name} copy=True")
    everything = reader.read_all()
    for name, value in expected.items():
        assert_same(everything[name], value, f"read_all {name}")


@pytest.fixture(scope="module")
def tf_sliced_every_dtype(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """SaveV2 of a [4, 3] tensor per dtype stored as two row slices (rows 1:4 first)."""
    items = []
    for name in DTYPE_NAMES:
        if tf_dtype_of(tf, name) is None:
            continue
        full = np.resize(BASE_VALUES[name], 12).reshape(4, 3)
        items += [(f"p_{name}", full[1:4], "4 3 1,3:-"), (f"p_{name}", full[0:1], "4 3 0,1:0,3")]
    return tf_save_v2(tf, tmp_path_factory.mktemp("sliced") / "sliced", items)


@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_tf_partitioned_every_dtype_read(dtype_name: str, tf: ModuleType, tf_sliced_every_dtype: str) -> None:
    """fastckpt assembles partitioned tensors of every dtype. TensorFlow 2.21 itself can only
    assemble some dtypes (float, double, bfloat16, int8/16/32/64, uint8, bool, complex, qint8,
    quint8, qint32, int4, uint4; others raise "Dtype <T> not supported."): where it can, the
    results must be equal; elsewhere fastckpt must still return the saved values."""
    require_tf_dtype(tf, dtype_name)
    name = f"p_{dtype_name}"
    full = np.resize(BASE_VALUES[dtype_name], 12).reshape(4, 3)
    reader = fastckpt.load_checkpoint(tf_sliced_every_dtype)
    assert reader.get_variable_to_shape_map()[name] == [4, 3]
    assert reader.get_variable_to_dtype_map()[name] == np_dtype(dtype_name)
    assert_same(reader.get_tensor(name), full, name)
    assert_same(reader.get_tensor(name, copy=True), full, f"{name} copy=True")
    tf_reader = tf.train.load_checkpoint(tf_sliced_every_dtype)
    tf_dtype = tf_reader.get_variable_to_dtype_map()[name]
    try:
        theirs = tf_get(tf_reader, name, tf_dtype)
    except (ValueError, tf.errors.OpError) as exc:
        assert "not supported" in str(exc)
        return
    assert_same(theirs, full, f"TF reading {name}")


@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_partitioned_every_dtype_byte_identical(dtype_name: str, tf: ModuleType, tmp_path: Path) -> None:
    require_tf_dtype(tf, dtype_name)
    full = np.resize(BASE_VALUES[dtype_name], 12).reshape(4, 3)
    items = [("p", full[1:4], "4 3 1,3:-"), ("p", full[0:1], "4 3 0,1:0,3"), ("q", full[2], "")]
    theirs = tf_save_v2(tf, tmp_path / "tf", items)
    ours = tmp_path / "ours"
    with fastckpt.BundleWriter(ours, alignment=1) as writer:
        writer.add_slice("p", [4, 3], [(1, 3), None], full[1:4])
        writer.add_slice("p", [4, 3], "0,1:0,3", full[0:1])
        writer.add("q", full[2])
    assert_same_files(ours, theirs)


def _tf1_graph_with_variables(tf: ModuleType) -> tuple[Any, dict[str, Any]]:
    """A graph with resource variables of several dtypes, a scope, and partitioned variables."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    handles: dict[str, Any] = {}
    with graph.as_default():
        v1.set_random_seed(1234)
        with v1.variable_scope("scope"):
            handles["scope/w"] = v1.get_variable("w", shape=[3, 5], initializer=v1.random_normal_initializer())
            handles["scope/b"] = v1.get_variable("b", initializer=tf.constant([0.5, -1.5, 2.5], tf.float64))
        handles["step"] = v1.get_variable("step", initializer=tf.constant(123456789012, tf.int64))
        handles["flags"] = v1.get_variable("flags", initializer=tf.constant([True, False]))
        handles["half"] = v1.get_variable("half", initializer=tf.constant([1.5, -0.25], tf.float16))
        handles["bf"] = v1.get_variable("bf", initializer=tf.constant([1.5, -0.25], tf.bfloat16))
        handles["words"] = v1.get_variable("words", initializer=tf.constant([b"x", b"", b"\xff\x00"]))
        handles["part"] = v1.get_variable(
            "part", shape=[7, 4], initializer=v1.random_uniform_initializer(), partitioner=v1.fixed_size_partitioner(3)
        )
        handles["part_cols"] = v1.get_variable(
            "part_cols",
            shape=[3, 10],
            dtype=tf.int64,
            initializer=v1.random_uniform_initializer(0, 1000, dtype=tf.int64),
            partitioner=v1.fixed_size_partitioner(4, axis=1),
        )
    return graph, handles


def _tf1_values(tf: ModuleType, sess: Any, handles: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
    values = {}
    for name, handle in handles.items():
        value = sess.run(handle.as_tensor() if hasattr(handle, "as_tensor") else handle)
        values[name] = tf_numpy(value, handle.dtype.base_dtype)
    return values


def test_tf1_saver_checkpoint_read(tf: ModuleType, tmp_path: Path) -> None:
    v1 = tf.compat.v1
    graph, handles = _tf1_graph_with_variables(tf)
    with graph.as_default():
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            values = _tf1_values(tf, sess, handles)
            prefix = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=5, write_meta_graph=False)
    assert prefix == str(tmp_path / "model.ckpt-5")
    reader = compare_with_tf_reader(tf, prefix, values)
    assert list(reader.keys()) == sorted(values)  # partitions appear once, under the full name
    assert reader.get_variable_to_shape_map()["part"] == [7, 4]
    assert reader.get_variable_to_shape_map()["part_cols"] == [3, 10]
    for name, value in values.items():
        assert_same(reader.get_tensor(name), value, name)
        assert_same(fastckpt.load_variable(prefix, name), value, f"load_variable {name}")
    assert_same(fastckpt.load_variable(prefix, "scope/w:0"), values["scope/w"], "load_variable with :0")
    assert_same(
        fastckpt.load_variable(prefix, "part"), tf_numpy(tf.train.load_variable(prefix, "part"), tf.float32), "part"
    )
    assert fastckpt.list_variables(prefix) == [(k, list(s)) for k, s in tf.train.list_variables(prefix)]


def test_tf1_sharded_saver_two_devices_read(tf: ModuleType, tmp_path: Path) -> None:
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        with tf.device("/cpu:0"):
            a = v1.get_variable("a", initializer=tf.constant(np.arange(10, dtype=np.float32)))
            s = v1.get_variable("s", initializer=tf.constant([b"on cpu 0", b""]))
        with tf.device("/cpu:1"):
            b = v1.get_variable("b", initializer=tf.constant(np.arange(6, dtype=np.int32).reshape(2, 3)))
            p = v1.get_variable(
                "p", shape=[6, 2], initializer=v1.ones_initializer(), partitioner=v1.fixed_size_partitioner(2)
            )
        saver = v1.train.Saver(sharded=True)
        config = v1.ConfigProto(device_count={"CPU": 2})
        with v1.Session(graph=graph, config=config) as sess:
            sess.run(v1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "sharded"), write_meta_graph=False)
            values = {
                "a": sess.run(a),
                "s": np.array(sess.run(s), dtype=object),
                "b": sess.run(b),
                "p": sess.run(p.as_tensor()),
            }
    data_files = sorted(f.name for f in tmp_path.iterdir() if ".data-" in f.name)
    assert data_files == ["sharded.data-00000-of-00002", "sharded.data-00001-of-00002"]
    reader = compare_with_tf_reader(tf, prefix, values)
    assert list(reader.keys()) == ["a", "b", "p", "s"]
    for name, value in values.items():
        assert_same(reader.get_tensor(name), value, name)


class _Tf2Model:
    """Builds a tf.Module with many dtypes, nesting, a list and a dict with characters to escape."""

    @staticmethod
    def build(tf: ModuleType, seed: int) -> Any:
        rng = np.random.default_rng(seed)

        class Child(tf.Module):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                super().__init__()
                self.kernel = tf.Variable(rng.standard_normal((4, 3)).astype(np.float32))
                self.bias = tf.Variable(rng.standard_normal(3).astype(np.float64))

        class Model(tf.Module):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                super().__init__()
                self.dense = Child()
                self.step = tf.Variable(np.int64(rng.integers(1 << 40)))
                self.bf = tf.Variable(rng.standard_normal(5).astype(ml_dtypes.bfloat16))
                self.half = tf.Variable(rng.standard_normal(3).astype(np.float16))
                self.flags = tf.Variable(rng.integers(0, 2, 4).astype(bool))
                self.z = tf.Variable((rng.standard_normal(2) + 1j).astype(np.complex64))
                self.u16 = tf.Variable(rng.integers(0, 65535, 3).astype(np.uint16))
                self.words = tf.Variable(tf.constant([b"seed %d" % seed, b"", "\u00fc".encode()]))
                self.layers = [tf.Variable(np.float32(seed + i)) for i in range(2)]
                self.table = {"k/x.y": tf.Variable(np.int32(seed))}

        return Model()

    @staticmethod
    def variables(model: Any) -> dict[str, Any]:
        """Checkpoint key -> variable (keys as TF2 builds them for ``Checkpoint(model=...)``)."""
        def key(path: str) -> str:
            return f"model/{path}/.ATTRIBUTES/VARIABLE_VALUE"

        out = {key(n): getattr(model, n) for n in ("step", "bf", "half", "flags", "z", "u16", "words")}
        out[key("dense/kernel")] = model.dense.kernel
        out[key("dense/bias")] = model.dense.bias
        out[key("layers/0")] = model.layers[0]
        out[key("layers/1")] = model.layers[1]
        out[key("table/k.Sx..y")] = model.table["k/x.y"]
        return out


@pytest.mark.parametrize("method", ["write", "save"])
def test_tf2_checkpoint_read(tf: ModuleType, tmp_path: Path, method: str) -> None:
    model = _Tf2Model.build(tf, seed=1)
    ckpt = tf.train.Checkpoint(model=model)
    prefix = getattr(ckpt, method)(str(tmp_path / "ckpt"))
    assert prefix == str(tmp_path / ("ckpt" if method == "write" else "ckpt-1"))
    expected = {k: tf_numpy(v, v.dtype) for k, v in _Tf2Model.variables(model).items()}
    if method == "save":
        expected["save_counter/.ATTRIBUTES/VARIABLE_VALUE"] = np.array(1, np.int64)
    reader = compare_with_tf_reader(tf, prefix, expected)
    assert set(reader.keys()) == set(expected) | {OBJECT_GRAPH_KEY}
    for name, value in expected.items():
        assert_same(reader.get_tensor(name), value, name)
    # A scalar string is bytes, as from TF's reader, so TF's own parsing idiom works on ours.
    graph_bytes = reader.get_tensor(OBJECT_GRAPH_KEY)
    assert type(graph_bytes) is bytes
    assert graph_bytes == tf.train.load_checkpoint(prefix).get_tensor(OBJECT_GRAPH_KEY)
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    proto = trackable_object_graph_pb2.TrackableObjectGraph.FromString(graph_bytes)
    keys = {attr.checkpoint_key for node in proto.nodes for attr in node.attributes}
    assert keys == set(expected)


def test_tf2_max_shard_size_policy_read(tf: ModuleType, tmp_path: Path) -> None:
    policy_cls = getattr(tf.train.experimental, "MaxShardSizePolicy", None)
    if policy_cls is None:
        pytest.skip("this TensorFlow has no tf.train.experimental.MaxShardSizePolicy")

    class Big(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.big = tf.Variable(np.arange(800, dtype=np.float32).reshape(200, 4))
            self.wide = tf.Variable(np.arange(600, dtype=np.int64).reshape(3, 200))
            self.small = tf.Variable(np.int32(3))
            self.words = tf.Variable([b"a" * 100, b"b" * 50])

    module = Big()
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy_cls(max_shard_size=1000))
    prefix = tf.train.Checkpoint(m=module).write(str(tmp_path / "ck"), options=options)
    data_files = sorted(f.name for f in tmp_path.iterdir() if ".data-" in f.name)
    assert len(data_files) > 2, data_files  # really sharded
    expected = {
        f"m/{n}/.ATTRIBUTES/VARIABLE_VALUE": tf_numpy(getattr(module, n), getattr(module, n).dtype)
        for n in ("big", "wide", "small", "words")
    }
    reader = compare_with_tf_reader(tf, prefix, expected)
    assert set(reader.keys()) == set(expected) | {OBJECT_GRAPH_KEY}
    for name, value in expected.items():
        assert_same(reader.get_tensor(name), value, name)
    everything = reader.read_all()
    for name, value in expected.items():
        assert_same(everything[name], value, f"read_all {name}")


def test_tf_many_variables_multi_block_read(tf: ModuleType, tf_many: str) -> None:
    assert os.path.getsize(tf_many + ".index") == 301961
    names = many_names()
    reader = fastckpt.load_checkpoint(tf_many)
    assert list(reader.keys()) == names and len(reader) == MANY
    assert fastckpt.list_variables(tf_many) == [(k, list(s)) for k, s in tf.train.list_variables(tf_many)]
    everything = reader.read_all()
    tf_reader = tf.train.load_checkpoint(tf_many)
    for i, name in enumerate(names):
        assert_same(everything[name], np.array(float(i), np.float32), name)
    for i in (0, 5222, 5223, 5224, MANY - 1):  # around the block boundary of vector 2
        name = names[i]
        assert_same(reader.get_tensor(name), np.asarray(tf_reader.get_tensor(name)), name)
        assert reader.has_tensor(name)
    assert not reader.has_tensor("layer_05222/some/long/variable/name/kernel0")
    assert not reader.has_tensor("m")  # the index separator key is not a tensor


def test_missing_tensor_and_checkpoint_errors(tf: ModuleType, tf_all_dtypes: str, tmp_path: Path) -> None:
    with pytest.raises(tf.errors.NotFoundError):
        tf.train.load_checkpoint(tf_all_dtypes).get_tensor("nope")
    reader = fastckpt.load_checkpoint(tf_all_dtypes)
    with pytest.raises(fastckpt.TensorNotFoundError):
        reader.get_tensor("nope")
    with pytest.raises(KeyError):
        reader["nope"]
    with pytest.raises(tf.errors.NotFoundError):
        tf.train.load_checkpoint(str(tmp_path / "absent"))
    with pytest.raises(fastckpt.CheckpointNotFoundError):
        fastckpt.load_checkpoint(tmp_path / "absent")
    with pytest.raises(FileNotFoundError):
        fastckpt.load_checkpoint(tmp_path / "absent")


# ==================================================================================================
# 2. fastckpt writes, TensorFlow reads
# ==================================================================================================


@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_ours_read_by_tf_load_checkpoint(dtype_name: str, tf: ModuleType, ours_all_dtypes: tuple[str, Any]) -> None:
    require_tf_dtype(tf, dtype_name)
    _, tf_reader = ours_all_dtypes
    tf_dtypes = tf_reader.get_variable_to_dtype_map()
    tf_shapes = tf_reader.get_variable_to_shape_map()
    for name, original in dtype_tensors(dtype_name):
        assert tf_dtype_as_numpy(tf_dtypes[name]) == original.dtype, name
        assert tf_dtypes[name].name == dtype_name
        assert tf_shapes[name] == list(original.shape), name
        assert_same(tf_get(tf_reader, name, tf_dtypes[name]), original, f"TF reading our {name}")


def test_ours_listing_and_strings_read_by_tf(tf: ModuleType, ours_all_dtypes: tuple[str, Any]) -> None:
    prefix, tf_reader = ours_all_dtypes
    expected = dict(supported_tensors(tf) + SPECIAL_STRINGS)
    assert sorted(tf_reader.get_variable_to_shape_map()) == sorted(expected)
    assert [k for k, _ in tf.train.list_variables(prefix)] == sorted(expected)
    for name, original in SPECIAL_STRINGS:
        assert_same(tf_get(tf_reader, name, tf.string), original, f"TF reading our {name}")
    # And fastckpt reads its own file the same way TF does.
    compare_with_tf_reader(tf, prefix, expected)


@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_ours_read_by_tf_restore_v2(dtype_name: str, tf: ModuleType, ours_all_dtypes: tuple[str, Any]) -> None:
    prefix, _ = ours_all_dtypes
    tensors = dtype_tensors(dtype_name)
    tf_dtype = require_tf_dtype(tf, dtype_name)
    restored = tf.raw_ops.RestoreV2(
        prefix=prefix,
        tensor_names=[n for n, _ in tensors],
        shape_and_slices=[""] * len(tensors),
        dtypes=[tf_dtype] * len(tensors),
    )
    for (name, original), tensor in zip(tensors, restored):
        assert tensor.dtype == tf_dtype
        assert_same(tf_numpy(tensor, tf_dtype), original, f"RestoreV2 of our {name}")


def test_ours_quantized_via_dtype_override(tf: ModuleType, tmp_path: Path) -> None:
    prefix = tmp_path / "q"
    ints = {name: _ints(base) for name, base in QUANTIZED.items()}
    with fastckpt.BundleWriter(prefix) as writer:
        for name, values in ints.items():
            writer.add(f"by_name_{name}", values, dtype=name)
            writer.add(f"by_tf_dtype_{name}", values, dtype=getattr(tf, name))
            writer.add(f"structured_{name}", values.view(np_dtype(name)))
    tf_reader = tf.train.load_checkpoint(str(prefix))
    tf_dtypes = tf_reader.get_variable_to_dtype_map()
    for name, values in ints.items():
        for key in (f"by_name_{name}", f"by_tf_dtype_{name}", f"structured_{name}"):
            assert tf_dtypes[key] == getattr(tf, name), key
            assert_same(tf_get(tf_reader, key, tf_dtypes[key]), values.view(np_dtype(name)), key)
            restored = tf.raw_ops.RestoreV2(
                prefix=str(prefix), tensor_names=[key], shape_and_slices=[""], dtypes=[getattr(tf, name)]
            )[0]
            assert_same(tf_numpy(restored, tf_dtypes[key]), values.view(np_dtype(name)), f"RestoreV2 {key}")


def test_ours_partitioned_read_by_tf(tf: ModuleType, tmp_path: Path) -> None:
    full = np.arange(42, dtype=np.float32).reshape(7, 6)
    cube = np.arange(60, dtype=np.int32).reshape(3, 4, 5)
    flags = np.arange(12).reshape(4, 3) % 2 == 1
    prefix = tmp_path / "ours_slices"
    with fastckpt.BundleWriter(prefix) as writer:
        writer.add_slice("rows", [7, 6], "0,3:-", full[0:3])
        writer.add_slice("rows", [7, 6], [(3, 4), None], full[3:7])
        writer.add("plain", full)
        writer.add_slice("grid", [7, 6], [(0, 7), (0, 2)], full[:, 0:2])
        writer.add_slice("grid", [7, 6], "0,4:2,4", full[0:4, 2:6])
        writer.add_slice("grid", [7, 6], [slice(4, 7), slice(2, 6)], full[4:7, 2:6])
        writer.add_slice("cube", [3, 4, 5], "-:0,2:-", cube[:, 0:2])
        writer.add_slice("cube", [3, 4, 5], [None, (2, 2), (0, 5)], cube[:, 2:4])
        writer.add_slice("flags", [4, 3], "2,2:-", flags[2:4])
        writer.add_slice("flags", [4, 3], "0,2:-", flags[0:2])
    expected = {"rows": full, "plain": full, "grid": full, "cube": cube, "flags": flags}
    tf_reader = tf.train.load_checkpoint(str(prefix))
    assert tf_reader.get_variable_to_shape_map() == {k: list(v.shape) for k, v in expected.items()}
    for name, value in expected.items():
        dtype = tf.as_dtype(value.dtype)
        assert_same(tf_get(tf_reader, name, dtype), value, f"TF assembling our {name}")
        assert_same(tf_numpy(tf.raw_ops.RestoreV2(
            prefix=str(prefix), tensor_names=[name], shape_and_slices=[""], dtypes=[dtype])[0], dtype), value, name)
    # RestoreV2 of a sub-slice that crosses the slices we stored.
    spec = "7 6 2,3:1,4"
    part = tf.raw_ops.RestoreV2(prefix=str(prefix), tensor_names=["grid"], shape_and_slices=[spec], dtypes=[tf.float32])
    assert_same(part[0].numpy(), full[2:5, 1:5], f"RestoreV2 {spec}")
    compare_with_tf_reader(tf, prefix, expected)


def test_ours_restored_by_tf1_saver(tf: ModuleType, tmp_path: Path) -> None:
    v1 = tf.compat.v1
    dtypes = [
        "float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "uint16",
        "uint32", "uint64", "bool", "complex64", "complex128", "string",
    ]
    values = {f"v_{d}": dict(ALL_TENSORS)[f"m_{d}"] for d in dtypes}
    values["scalar"] = np.array(2.5, np.float32)
    values["scope/empty"] = np.zeros((0, 3), np.float32)
    part = np.arange(28, dtype=np.float32).reshape(7, 4) * 1.5
    prefix = tmp_path / "for_saver"
    with fastckpt.BundleWriter(prefix, alignment=64) as writer:
        for name, value in values.items():
            writer.add(name, value)
        # Stored in two slices; the graph below partitions the variable in three.
        writer.add_slice("part", [7, 4], "0,4:-", part[0:4])
        writer.add_slice("part", [7, 4], "4,3:-", part[4:7])
    graph = tf.Graph()
    with graph.as_default():
        variables = {}
        for name, value in values.items():
            dtype = tf.string if value.dtype == object else tf.as_dtype(value.dtype)
            initial = tf.zeros(value.shape, dtype) if dtype != tf.string else tf.fill(value.shape, "")
            variables[name] = v1.get_variable(name, initializer=initial)
        part_var = v1.get_variable(
            "part", shape=[7, 4], initializer=v1.zeros_initializer(), partitioner=v1.fixed_size_partitioner(3)
        )
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as sess:
            saver.restore(sess, str(prefix))
            for name, variable in variables.items():
                assert_same(tf_numpy(sess.run(variable), variable.dtype.base_dtype), values[name], f"restored {name}")
            assert_same(sess.run(part_var.as_tensor()), part, "restored partitioned variable")


def test_tf2_checkpoint_copied_by_fastckpt_restores_in_tf(tf: ModuleType, tmp_path: Path) -> None:
    """Read a TF2 checkpoint with fastckpt, write it back with fastckpt (object graph included),
    and restore it into fresh TF2 objects: everything must be consumed and equal."""
    source = _Tf2Model.build(tf, seed=7)
    src_prefix = tf.train.Checkpoint(model=source).save(str(tmp_path / "src" / "ckpt"))
    copy_prefix = str(tmp_path / "copy" / "ckpt")
    (tmp_path / "copy").mkdir()
    fastckpt.save(fastckpt.load_checkpoint(src_prefix).read_all(), copy_prefix)
    target = _Tf2Model.build(tf, seed=8)
    ckpt = tf.train.Checkpoint(model=target)
    ckpt.restore(copy_prefix).assert_consumed()
    want = _Tf2Model.variables(source)
    for key, variable in _Tf2Model.variables(target).items():
        assert_same(tf_numpy(variable, variable.dtype), tf_numpy(want[key], want[key].dtype), key)
    assert int(ckpt.save_counter.numpy()) == 1


def test_ours_many_variables_read_by_tf(tf: ModuleType, tmp_path: Path) -> None:
    names = many_names()
    prefix = fastckpt.save({n: np.float32(i) for i, n in enumerate(names)}, tmp_path / "many")
    tf_reader = tf.train.load_checkpoint(prefix)
    shapes = tf_reader.get_variable_to_shape_map()
    assert len(shapes) == MANY and all(shapes[n] == [] for n in names)
    for i in (0, 1, 5222, 5223, 5224, MANY - 1):
        assert tf_reader.get_tensor(names[i]) == np.float32(i)
    restored = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * MANY,
                                    dtypes=[tf.float32] * MANY)
    assert [float(t.numpy()) for t in restored] == [float(i) for i in range(MANY)]


def test_ours_from_various_array_likes_read_by_tf(tf: ModuleType, tmp_path: Path) -> None:
    """Non-contiguous numpy arrays, str arrays, Python values, tf.Tensor / tf.Variable inputs."""
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    inputs: dict[str, Any] = {
        "fortran": np.asfortranarray(x),
        "strided": x[:, ::2],
        "reversed": x[::-1],
        "transposed": x.T,
        "unicode_str": np.array(["\u00fcber", "\u65e5\u672c", ""]),
        "object_str": np.array(["a", b"b\xff", ""], dtype=object),
        "fixed_bytes": np.array([b"ab", b"c"]),
        "py_float": 1.5,
        "py_list": [[1, 2, 3], [4, 5, 6]],
        "py_bool": True,
        "tf_float": tf.constant(x),
        "tf_bfloat16": tf.constant([1.5, -2.0], tf.bfloat16),
        "tf_variable": tf.Variable(np.arange(4, dtype=np.int16)),
    }
    expected = {
        "fortran": x,
        "strided": x[:, ::2].copy(),
        "reversed": x[::-1].copy(),
        "transposed": x.T.copy(),
        "unicode_str": np.array(["\u00fcber".encode(), "\u65e5\u672c".encode(), b""], dtype=object),
        "object_str": np.array([b"a", b"b\xff", b""], dtype=object),
        "fixed_bytes": np.array([b"ab", b"c"], dtype=object),
        "py_float": np.array(1.5, np.float64),
        "py_list": np.array([[1, 2, 3], [4, 5, 6]], np.int64),
        "py_bool": np.array(True),
        "tf_float": x,
        "tf_bfloat16": np.array([1.5, -2.0], ml_dtypes.bfloat16),
        "tf_variable": np.arange(4, dtype=np.int16),
    }
    prefix = fastckpt.save(inputs, tmp_path / "inputs")
    tf_reader = tf.train.load_checkpoint(prefix)
    tf_dtypes = tf_reader.get_variable_to_dtype_map()
    for name, value in expected.items():
        assert_same(tf_get(tf_reader, name, tf_dtypes[name]), value, f"TF reading our {name}")


def test_ours_big_endian_input_not_silently_corrupted(tf: ModuleType, tmp_path: Path) -> None:
    """A non-native byte order array must be stored with its values (or refused), never reinterpreted."""
    values = {"be_f32": np.arange(5).astype(">f4"), "be_i64": np.array([1, -2, 1 << 40]).astype(">i8")}
    for name, value in values.items():
        prefix = tmp_path / name
        try:
            fastckpt.save({name: value}, prefix)
        except (TypeError, ValueError):
            continue
        got = np.asarray(tf.train.load_checkpoint(str(prefix)).get_tensor(name))
        assert_same(got, value.astype(value.dtype.newbyteorder("=")), f"TF reading our {name}")


_TF_TENSOR_INPUT_SCRIPT = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
import fastckpt
case, prefix = sys.argv[1], sys.argv[2]
with fastckpt.BundleWriter(prefix) as writer:
    if case == "string":
        writer.add("t", tf.constant([b"a", b"\\xff\\x00", b""]))
    else:
        writer.add("t", tf.constant(np.array([1, -2, 127], np.int8).view([("qint8", np.int8)])), dtype="qint8")
print("ok")
"""


@pytest.mark.parametrize("case", ["string", "qint8"])
def test_ours_from_tf_tensors_without_dlpack_support(case: str, tf: ModuleType, tmp_path: Path) -> None:
    """tf.Tensors whose dtype DLPack cannot carry (string, quantized) must still be accepted via
    ``__array__``. Run in a subprocess: TF's ``__dlpack__`` on a string tensor aborts the process."""
    prefix = str(tmp_path / "t")
    proc = subprocess.run(
        [sys.executable, "-c", _TF_TENSOR_INPUT_SCRIPT, case, prefix], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (
        f"fastckpt could not store a tf.constant of dtype {case} (exit code {proc.returncode}):\n"
        + proc.stderr[-1500:]
    )
    tf_reader = tf.train.load_checkpoint(prefix)
    tf_dtype = tf_reader.get_variable_to_dtype_map()["t"]
    if case == "string":
        expected = np.array([b"a", b"\xff\x00", b""], dtype=object)
    else:
        expected = np.array([1, -2, 127], np.int8).view(np_dtype("qint8"))
    assert tf_dtype.name == case
    assert_same(tf_get(tf_reader, "t", tf_dtype), expected, f"TF reading our {case} tensor")


def test_ours_empty_checkpoint_read_by_tf(tf: ModuleType, tmp_path: Path) -> None:
    prefix = fastckpt.save({}, tmp_path / "empty")
    assert os.path.getsize(prefix + DATA_FILE) == 0
    assert tf.train.load_checkpoint(prefix).get_variable_to_shape_map() == {}
    assert tf.train.list_variables(prefix) == [] == fastckpt.list_variables(prefix)


# ==================================================================================================
# 3. Byte identity with tf.raw_ops.SaveV2 (alignment=1, same tensors in the same order)
# ==================================================================================================

#: tensor-bundle.md section 10: SaveV2(prefix, ["a","s"], ["",""], [f32 [1,2,3], string ["ab",""]]).
GOLDEN_DATA = bytes.fromhex("0000803f 00000040 00004040 0200 78270b34 6162".replace(" ", ""))
GOLDEN_INDEX = bytes.fromhex(
    "".join(
        [
            "000006 08011a020801",  # header entry
            "00010f 61 0801120412020803280c35735b8971",  # "a"
            "000111 73 0807120412020802200c2808359188b04d",  # "s"
            "00000000 01000000 00 977a0c0f",  # restarts, count, trailer
            "0000000001000000 00c0f2a1b0",  # empty metaindex block + trailer
            "000102 74 0039 00000000 01000000 00087f7258",  # index block: "t" -> (0, 57)
            "3e084b0e" + "00" * 36 + "57fb808b247547db",  # footer
        ]
    ).replace(" ", "")
)


def _save_both_ways(tf: ModuleType, directory: Path, items: list[tuple[str, np.ndarray[Any, Any]]]) -> list[str]:
    """TF SaveV2, fastckpt.save(alignment=1) and BundleWriter(alignment=1) of the same items."""
    make_dirs(directory)
    theirs = tf_save_v2(tf, directory / "tf", items)
    ours = fastckpt.save(dict(items), directory / "save", alignment=1)
    with fastckpt.BundleWriter(directory / "writer", alignment=1) as writer:
        for name, value in items:
            writer.add(name, value)
    return [theirs, ours, str(directory / "writer")]


def test_golden_example_byte_identical(tf: ModuleType, tmp_path: Path) -> None:
    assert len(GOLDEN_INDEX) == 142 and len(GOLDEN_DATA) == 20
    items = [("a", np.array([1.0, 2.0, 3.0], np.float32)), ("s", np.array([b"ab", b""], dtype=object))]
    theirs, ours, writer = _save_both_ways(tf, tmp_path, items)
    assert read_file(theirs + ".index") == GOLDEN_INDEX, "TF 2.21 no longer writes the spec's golden bytes"
    assert read_file(theirs + DATA_FILE) == GOLDEN_DATA
    assert_same_files(ours, theirs)
    assert_same_files(writer, theirs)


@pytest.mark.parametrize("dtype_name", DTYPE_NAMES)
def test_dtype_byte_identical(dtype_name: str, tf: ModuleType, tmp_path: Path) -> None:
    require_tf_dtype(tf, dtype_name)
    theirs, ours, writer = _save_both_ways(tf, tmp_path, dtype_tensors(dtype_name))
    assert_same_files(ours, theirs)
    assert_same_files(writer, theirs)


def test_all_dtypes_byte_identical(tf: ModuleType, tf_all_dtypes: str, tmp_path: Path) -> None:
    ours = fastckpt.save(dict(supported_tensors(tf)), tmp_path / "ours", alignment=1)
    assert_same_files(ours, tf_all_dtypes)


def test_reversed_order_byte_identical(tf: ModuleType, tmp_path: Path) -> None:
    """The data file follows insertion order while the index stays sorted."""
    items = list(reversed(ALL_TENSORS[:40]))
    theirs, ours, writer = _save_both_ways(tf, tmp_path, items)
    assert_same_files(ours, theirs)
    assert_same_files(writer, theirs)


def test_special_strings_byte_identical(tf: ModuleType, tmp_path: Path) -> None:
    theirs, ours, writer = _save_both_ways(tf, tmp_path, SPECIAL_STRINGS)
    assert_same_files(ours, theirs)
    assert_same_files(writer, theirs)


def test_many_keys_byte_identical(tf: ModuleType, tf_many: str, tmp_path: Path) -> None:
    ours = fastckpt.save({n: np.float32(i) for i, n in enumerate(many_names())}, tmp_path / "many", alignment=1)
    assert os.path.getsize(ours + ".index") == 301961
    assert os.path.getsize(ours + DATA_FILE) == 4 * MANY
    assert_same_files(ours, tf_many)


def _random_keys(seed: int, count: int) -> list[bytes]:
    """Keys full of 0x00 / 0xFF bytes and shared prefixes: hard cases for the index separators."""
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"\x00\x01\x7f\x80\xfe\xff" + b"ab/", dtype=np.uint8)
    keys = {b"\xff" * 50, b"\xff" * 49 + b"\xfe", b"a" * 80, b"a" * 79 + b"\xff"}
    while len(keys) < count:
        head = bytes(rng.choice(alphabet, size=int(rng.integers(1, 4))))
        tail = bytes(rng.choice(alphabet, size=int(rng.integers(40, 90))))
        keys.add(head + tail)
    return sorted(keys, key=lambda k: (k[-1], k))  # insertion order != key order


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_binary_keys_across_blocks_byte_identical(seed: int, tf: ModuleType, tmp_path: Path) -> None:
    keys = _random_keys(seed, 4000)
    tensors = [tf.constant(np.int32(i)) for i in range(len(keys))]
    theirs = str(tmp_path / "tf")
    tf.raw_ops.SaveV2(prefix=theirs, tensor_names=keys, shape_and_slices=[""] * len(keys), tensors=tensors)
    assert os.path.getsize(theirs + ".index") > 262144  # at least two data blocks
    ours = fastckpt.save({k: np.int32(i) for i, k in enumerate(keys)}, tmp_path / "ours", alignment=1)
    assert_same_files(ours, theirs)
    reader = fastckpt.load_checkpoint(theirs)
    assert len(reader) == len(keys)
    for i, key in enumerate(keys):
        assert reader.has_tensor(key), key
    got = reader.read_all([k.decode("utf-8", "surrogateescape") for k in keys])
    assert [int(v) for v in got.values()] == list(range(len(keys)))


def test_huge_keys_byte_identical(tf: ModuleType, tmp_path: Path) -> None:
    """Keys so long that a single entry fills a block (and one that forces a flush before it)."""
    items = [
        ("k" * 300_000, np.float32(1)),
        ("a", np.float32(2)),
        ("z" * 600_000, np.float32(3)),
        ("m" * 262_100, np.float32(4)),
        ("m" * 262_101, np.float32(5)),
    ]
    theirs, ours, writer = _save_both_ways(tf, tmp_path, [(n, np.asarray(v)) for n, v in items])
    assert_same_files(ours, theirs)
    assert_same_files(writer, theirs)
    reader = fastckpt.load_checkpoint(theirs)
    assert list(reader.keys()) == sorted(n for n, _ in items)
    for name, value in items:
        assert_same(reader.get_tensor(name), np.asarray(value), name[:5])


def test_variant_round_trip_byte_identical(tf: ModuleType, tmp_path: Path) -> None:
    """DT_VARIANT (a TensorList) is handed out as opaque serialized protos and written back
    byte for byte; TensorFlow restores the list from fastckpt's file."""
    tensor_list = tf.raw_ops.TensorListFromTensor(
        tensor=tf.constant([1.0, 2.0, 3.0]), element_shape=tf.constant([], tf.int32)
    )
    theirs = str(tmp_path / "tf")
    tf.raw_ops.SaveV2(prefix=theirs, tensor_names=["x", "tl"], shape_and_slices=["", ""],
                      tensors=[tf.constant([7, 8]), tensor_list])
    reader = fastckpt.load_checkpoint(theirs)
    tf_reader = tf.train.load_checkpoint(theirs)
    assert reader.get_variable_to_shape_map() == tf_reader.get_variable_to_shape_map()
    assert tf_reader.get_variable_to_dtype_map()["tl"] == tf.variant
    assert reader.get_variable_to_dtype_map()["tl"] == np.dtype(object)
    opaque = reader.get_tensor("tl")  # a scalar: its serialized VariantTensorDataProto as bytes
    assert isinstance(opaque, bytes) and b"tensorflow::TensorList" in opaque
    ours = str(tmp_path / "ours")
    with fastckpt.BundleWriter(ours, alignment=1) as writer:
        writer.add("x", reader.get_tensor("x"))
        writer.add("tl", opaque, dtype="variant")
    assert_same_files(ours, theirs)
    restored = tf.raw_ops.RestoreV2(prefix=ours, tensor_names=["tl"], shape_and_slices=[""], dtypes=[tf.variant])[0]
    stacked = tf.raw_ops.TensorListStack(input_handle=restored, element_dtype=tf.float32,
                                         element_shape=tf.constant([], tf.int32))
    assert_same(stacked.numpy(), np.array([1.0, 2.0, 3.0], np.float32), "restored TensorList")


def _slice_array(spec: str, dtype: Any = np.float32) -> np.ndarray[Any, Any]:
    """Some data with the shape of the slice ``"<dims> <extents>"``."""
    *dims, extents = spec.split(" ")
    shape = [int(d) if e == "-" else int(e.split(",")[1]) for d, e in zip(dims, extents.split(":"))]
    return (np.arange(int(np.prod(shape))) % 100).astype(dtype).reshape(shape)


def _slice_args(spec: str) -> tuple[list[int], str]:
    *dims, extents = spec.split(" ")
    return [int(d) for d in dims], extents


def test_slices_byte_identical(tf: ModuleType, tmp_path: Path) -> None:
    """testdata.md vector 3 plus TF1-style explicit extents, whole-tensor slices and more dtypes."""
    items = [
        ("part", _slice_array("4 6 0,2:-"), "4 6 0,2:-"),
        ("part", _slice_array("4 6 2,2:-") + 12, "4 6 2,2:-"),
        ("full", np.array([1.0], np.float32), ""),
        ("neg", np.ones((5, 2), np.float64), "10 3 0,5:1,2"),
        ("explicit", _slice_array("4 3 0,2:0,3"), "4 3 0,2:0,3"),
        ("explicit", _slice_array("4 3 2,2:0,3"), "4 3 2,2:0,3"),
        ("whole_dash", _slice_array("2 3 -:-"), "2 3 -:-"),
        ("whole_explicit", _slice_array("2 3 0,2:0,3"), "2 3 0,2:0,3"),
        ("words", np.array([[b"a", b""], [b"\xff", b"long" * 40]], dtype=object), "3 2 1,2:-"),
        ("words", np.array([[b"first", b"row"]], dtype=object), "3 2 0,1:-"),
        ("i64", _slice_array("2 3 4 -:1,2:0,3", np.int64), "2 3 4 -:1,2:0,3"),
        ("i64", _slice_array("2 3 4 -:0,1:-", np.int64), "2 3 4 -:0,1:-"),
        ("bf", _slice_array("8 0,3", ml_dtypes.bfloat16), "8 0,3"),
    ]
    theirs = tf_save_v2(tf, tmp_path / "tf", items)
    prefix = tmp_path / "ours"
    # SaveV2 writes partitions that are not whole (as one shard of a sharded save holds them).
    with fastckpt.BundleWriter(prefix, alignment=1, allow_partial_slices=True) as writer:
        for name, value, spec in items:
            if spec:
                full_shape, extents = _slice_args(spec)
                writer.add_slice(name, full_shape, extents, value)
            else:
                writer.add(name, value)
    assert_same_files(prefix, theirs)
    # The same slices given as (start, length) pairs / None instead of TF's spelling.
    pairs = tmp_path / "pairs"
    with fastckpt.BundleWriter(pairs, alignment=1, allow_partial_slices=True) as writer:
        for name, value, spec in items:
            if not spec:
                writer.add(name, value)
                continue
            full_shape, extents = _slice_args(spec)
            spans = [None if e == "-" else tuple(int(x) for x in e.split(",")) for e in extents.split(":")]
            writer.add_slice(name, full_shape, spans, value)
    assert_same_files(pairs, theirs)


def test_large_slice_offsets_byte_identical(tf: ModuleType, tmp_path: Path) -> None:
    """testdata.md vector 4: slice starts 2^40, 8191, 63, 2^55, 2^62 (multi-byte OrderedCode)."""
    big = 2**62 + 2
    specs = {"t0": (2**40, 10), "t1": (8191, 8192), "t2": (63, 64), "t3": (2**55, 3), "t4": (2**62, 2)}
    items = [(n, np.full((length, 1), i, np.float32), f"{big} 1 {start},{length}:-")
             for i, (n, (start, length)) in enumerate(specs.items())]
    theirs = tf_save_v2(tf, tmp_path / "tf", items)
    prefix = tmp_path / "ours"
    with fastckpt.BundleWriter(prefix, alignment=1, allow_partial_slices=True) as writer:
        for name, value, spec in items:
            full_shape, extents = _slice_args(spec)
            writer.add_slice(name, full_shape, extents, value)
    assert_same_files(prefix, theirs)
    assert fastckpt.list_variables(prefix) == [(n, [big, 1]) for n in specs]


@pytest.mark.parametrize(
    ("extents", "shape"),
    [("3,0:-", (0, 2)), ("3,-1:-", (5, 2)), ("3,-1:-", (2, 2)), ("-1,2:-", (2, 2)), ("4,2:-", (2, 2))],
    ids=["zero-length", "negative-length-full-data", "negative-length", "negative-start", "past-the-end"],
)
def test_invalid_slices_refused_like_tf(extents: str, shape: tuple[int, ...], tf: ModuleType, tmp_path: Path) -> None:
    """SaveV2 refuses these slices of a [5, 2] tensor; fastckpt must not write what TF cannot."""
    data = np.zeros(shape, np.float32)
    with pytest.raises((tf.errors.OpError, ValueError)):
        tf_save_v2(tf, tmp_path / "tf", [("p", data, f"5 2 {extents}")])
    with pytest.raises((ValueError, fastckpt.CheckpointError)):
        with fastckpt.BundleWriter(tmp_path / "ours", alignment=1) as writer:
            writer.add_slice("p", [5, 2], extents, data)
    assert not (tmp_path / "ours.index").exists()


# ==================================================================================================
# 4. Zero-copy facts
# ==================================================================================================


@pytest.mark.parametrize("writer", ["tf", "fastckpt"])
def test_zero_copy_views_outlive_reader(writer: str, tf: ModuleType, tmp_path: Path) -> None:
    values = {
        "odd": np.arange(3, dtype=np.int8),  # makes the following tensors unaligned in TF's file
        "f64": np.linspace(-1, 1, 1000),
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "bf": np.arange(5).astype(ml_dtypes.bfloat16),
        "c": np.array([1 + 1j, 2 - 2j], np.complex64),
    }
    prefix = str(tmp_path / "zc")
    if writer == "tf":
        tf_save_v2(tf, prefix, list(values.items()))
    else:
        fastckpt.save(values, prefix)
    reader = fastckpt.load_checkpoint(prefix)
    views = {name: reader.get_tensor(name) for name in values}
    copies = {name: reader.get_tensor(name, copy=True) for name in values}
    all_copies = reader.read_all()
    all_views = reader.read_all(copy=False)
    for name, view in views.items():
        assert not view.flags.writeable, name
        assert view.base is not None, name
        with pytest.raises(ValueError):
            view[...] = 0
        assert not all_views[name].flags.writeable, name
        assert copies[name].flags.writeable, name
        assert all_copies[name].flags.writeable, name
        if writer == "fastckpt":  # default alignment 64: views are aligned for SIMD
            assert view.ctypes.data % 64 == 0, name
    copies["f32"][0, 0] = 99.0  # a copy is independent of the file
    assert reader.get_tensor("f32")[0, 0] == 0.0
    del reader
    gc.collect()
    # The mapping stays alive as long as a view does.
    for name, view in views.items():
        assert_same(view, values[name], f"view of {name} after the reader is gone")
        assert_same(all_views[name], values[name], f"read_all(copy=False) {name} after the reader is gone")
        assert_same(np.array(view), values[name], name)
    tf_reader = tf.train.load_checkpoint(prefix)
    for name in values:
        assert_same(views[name], np.asarray(tf_reader.get_tensor(name)), f"{name} vs TF")


# ==================================================================================================
# 5. Checkpoint folders and the `checkpoint` state file
# ==================================================================================================


def test_tf1_saver_folder_state_file(tf: ModuleType, tmp_path: Path) -> None:
    v1 = tf.compat.v1
    folder = make_dirs(tmp_path, "train")
    graph = tf.Graph()
    with graph.as_default():
        var = v1.get_variable("w", initializer=tf.constant([0.0, 0.0]))
        step_value = v1.placeholder(tf.float32, [])
        assign = var.assign(tf.stack([step_value, -step_value]))
        saver = v1.train.Saver(max_to_keep=2)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for step in (10, 20, 30):
                sess.run(assign, {step_value: float(step)})
                saver.save(sess, str(folder / "model.ckpt"), global_step=step, write_meta_graph=False)
    state = (folder / "checkpoint").read_text()
    assert str(folder / "model.ckpt-30") in state  # absolute paths by default
    latest = tf.train.latest_checkpoint(str(folder))
    assert latest == str(folder / "model.ckpt-30")
    assert fastckpt.latest_checkpoint(folder) == latest
    assert fastckpt.latest_checkpoint(str(folder)) == latest
    reader = fastckpt.load_checkpoint(folder)
    assert reader.prefix == latest
    assert_same(reader.get_tensor("w"), np.array([30.0, -30.0], np.float32), "w at step 30")
    assert fastckpt.list_variables(folder) == [(k, list(s)) for k, s in tf.train.list_variables(str(folder))]
    assert_same(fastckpt.load_variable(folder, "w"), tf.train.load_variable(str(folder), "w"), "load_variable(dir)")
    assert not (folder / "model.ckpt-10.index").exists()  # max_to_keep removed it


def test_tf1_saver_relative_state_file_after_move(tf: ModuleType, tmp_path: Path) -> None:
    v1 = tf.compat.v1
    folder = make_dirs(tmp_path, "orig")
    graph = tf.Graph()
    with graph.as_default():
        v1.get_variable("v", initializer=tf.constant(np.arange(4, dtype=np.int32)))
        saver = v1.train.Saver(save_relative_paths=True)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, str(folder / "ckpt"), global_step=3, write_meta_graph=False)
    assert 'model_checkpoint_path: "ckpt-3"' in (folder / "checkpoint").read_text()
    moved = tmp_path / "elsewhere"
    shutil.move(str(folder), str(moved))
    latest = tf.train.latest_checkpoint(str(moved))
    assert latest == str(moved / "ckpt-3")
    assert fastckpt.latest_checkpoint(moved) == latest
    reader = fastckpt.load_checkpoint(moved)
    assert reader.prefix == latest
    assert_same(reader.get_tensor("v"), np.arange(4, dtype=np.int32), "v")


def test_checkpoint_manager_folder(tf: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "managed"
    var = tf.Variable(np.zeros(3, np.float64))
    ckpt = tf.train.Checkpoint(v=var)
    manager = tf.train.CheckpointManager(ckpt, str(folder), max_to_keep=2)
    for i in range(1, 4):
        var.assign(np.full(3, float(i)))
        manager.save()
    state = (folder / "checkpoint").read_text()
    assert 'model_checkpoint_path: "ckpt-3"' in state and "all_model_checkpoint_timestamps" in state
    latest = tf.train.latest_checkpoint(str(folder))
    assert latest == manager.latest_checkpoint == str(folder / "ckpt-3")
    assert fastckpt.latest_checkpoint(folder) == latest
    reader = fastckpt.load_checkpoint(folder)
    assert reader.prefix == latest
    assert_same(reader.get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE"), np.full(3, 3.0), "v at save 3")
    assert_same(reader.get_tensor("save_counter/.ATTRIBUTES/VARIABLE_VALUE"), np.array(3, np.int64), "counter")
    compare_with_tf_reader(tf, latest)
    # A relative folder argument resolves like TF's.
    monkeypatch.chdir(tmp_path)
    assert fastckpt.latest_checkpoint("managed") == tf.train.latest_checkpoint("managed") == os.path.join(
        "managed", "ckpt-3"
    )
    assert_same(fastckpt.load_checkpoint("managed").get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE"), np.full(3, 3.0), "rel")
    # Copied elsewhere, the relative state file still points inside the copy.
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert fastckpt.latest_checkpoint(copy) == tf.train.latest_checkpoint(str(copy)) == str(copy / "ckpt-3")


def test_tf2_checkpoint_save_folder(tf: ModuleType, tmp_path: Path) -> None:
    var = tf.Variable([1, 2, 3], dtype=tf.int64)
    ckpt = tf.train.Checkpoint(v=var)
    ckpt.save(str(tmp_path / "ck"))
    var.assign([4, 5, 6])
    second = ckpt.save(str(tmp_path / "ck"))
    assert fastckpt.latest_checkpoint(tmp_path) == tf.train.latest_checkpoint(str(tmp_path)) == second
    assert_same(fastckpt.load_checkpoint(tmp_path).get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE"),
                np.array([4, 5, 6], np.int64), "latest v")


def test_folder_without_usable_state_file(tf: ModuleType, tmp_path: Path) -> None:
    empty = make_dirs(tmp_path, "empty")
    assert tf.train.latest_checkpoint(str(empty)) is None
    assert fastckpt.latest_checkpoint(empty) is None
    with pytest.raises(ValueError):
        tf.train.load_checkpoint(str(empty))
    with pytest.raises(fastckpt.CheckpointNotFoundError):
        fastckpt.load_checkpoint(empty)
    # A state file naming a checkpoint whose files are gone.
    stale = make_dirs(tmp_path, "stale")
    fastckpt.save({"x": np.ones(2)}, stale / "gone", alignment=1)
    (stale / "checkpoint").write_text('model_checkpoint_path: "gone"\nall_model_checkpoint_paths: "gone"\n')
    assert tf.train.latest_checkpoint(str(stale)) == fastckpt.latest_checkpoint(stale) == str(stale / "gone")
    for f in stale.glob("gone.*"):
        f.unlink()
    assert tf.train.latest_checkpoint(str(stale)) is None
    assert fastckpt.latest_checkpoint(stale) is None
    with pytest.raises(fastckpt.CheckpointNotFoundError):
        fastckpt.load_checkpoint(stale)


def test_update_checkpoint_state_with_our_checkpoints(tf: ModuleType, tmp_path: Path) -> None:
    """TF's update_checkpoint_state pointing at fastckpt-written checkpoints: both agree."""
    for step in (1, 2):
        fastckpt.save({"x": np.full(2, step, np.int32)}, tmp_path / f"ours-{step}")
    tf.compat.v1.train.update_checkpoint_state(str(tmp_path), str(tmp_path / "ours-2"),
                                     [str(tmp_path / "ours-1"), str(tmp_path / "ours-2")])
    assert fastckpt.latest_checkpoint(tmp_path) == tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "ours-2")
    assert_same(tf.train.load_checkpoint(str(tmp_path)).get_tensor("x"), np.full(2, 2, np.int32), "TF via folder")
    assert_same(fastckpt.load_checkpoint(tmp_path).get_tensor("x"), np.full(2, 2, np.int32), "fastckpt via folder")


# ==================================================================================================
# 6. Committed fixtures under tests/data/
# ==================================================================================================


def test_committed_fixtures_without_tf() -> None:
    """The committed files read correctly with fastckpt alone (no TensorFlow needed)."""
    fx = fixture_builders()
    assert read_file(f"{fx.GOLDEN_PREFIX}.index") == GOLDEN_INDEX
    assert read_file(f"{fx.GOLDEN_PREFIX}{DATA_FILE}") == GOLDEN_DATA
    total = sum(p.stat().st_size for d in (fx.GOLDEN_DIR, fx.TF1_DIR, fx.TF2_DIR) for p in d.iterdir())
    assert total < 100_000
    cases = [
        (fx.GOLDEN_PREFIX, fx.GOLDEN_DIR, fx.expected_golden(), False),
        (fx.TF1_PREFIX, fx.TF1_DIR, fx.expected_tf1(), True),
        (fx.TF2_PREFIX, fx.TF2_DIR, fx.expected_tf2(), True),
    ]
    for prefix, folder, expected, has_state in cases:
        reader = fastckpt.load_checkpoint(prefix)
        keys = set(expected) | ({fx.OBJECT_GRAPH_KEY} if folder == fx.TF2_DIR else set())
        assert set(reader.keys()) == keys, folder
        for name, value in expected.items():
            assert_same(reader.get_tensor(name), value, f"{folder.name}: {name}")
        if has_state:
            # Relative paths in the state file resolve against the folder.
            assert fastckpt.latest_checkpoint(folder) == str(prefix)
            assert fastckpt.load_checkpoint(folder).prefix == str(prefix)
    assert fastckpt.load_checkpoint(fx.TF1_PREFIX).get_variable_to_shape_map()["embedding"] == [7, 4]


def test_committed_fixtures_match_tf(tf: ModuleType, tmp_path: Path) -> None:
    """TensorFlow agrees with the committed fixtures, and with fastckpt on every tensor in them."""
    fx = fixture_builders()
    compare_with_tf_reader(tf, fx.GOLDEN_PREFIX, fx.expected_golden())
    compare_with_tf_reader(tf, fx.TF1_PREFIX, fx.expected_tf1())
    compare_with_tf_reader(tf, fx.TF2_PREFIX, fx.expected_tf2())
    assert tf.train.latest_checkpoint(str(fx.TF1_DIR)) == fastckpt.latest_checkpoint(fx.TF1_DIR) == str(fx.TF1_PREFIX)
    assert tf.train.latest_checkpoint(str(fx.TF2_DIR)) == fastckpt.latest_checkpoint(fx.TF2_DIR) == str(fx.TF2_PREFIX)
    # The partitioned TF1 variable really is stored as the slices fixed_size_partitioner made.
    debug = tf.train.load_checkpoint(str(fx.TF1_PREFIX)).debug_string()
    assert debug.count(b"\x00embedding\x00") == len(fx.TF1_PARTITIONED["embedding"])
    # Rewriting the golden tensors with fastckpt gives the committed bytes.
    ours = fastckpt.save(fx.expected_golden(), tmp_path / "g", alignment=1)
    assert_same_files(ours, fx.GOLDEN_PREFIX)
