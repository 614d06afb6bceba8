"""TensorFlow's tests of the tensor bundle itself and of the ops over it, replayed against fastckpt:
``tensor_bundle_test.cc`` (merging and its directory structure, partitioned variables and slice
lookups, header versions, checksums, truncated data, endianness, variant tensors),
``save_restore_ops_test.py`` / ``RestoreV2`` with ``shape_and_slices``, and ``MergeV2Checkpoints``
with ``allow_missing_files``. The files are written by TensorFlow 2.21 and each step is run through
TensorFlow and fastckpt on the same files."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

import craft  # noqa: E402

import fastckpt  # noqa: E402
from fastckpt.distributed import Slice, restore  # noqa: E402


def save_v2(tf: ModuleType, prefix: Path | str, tensors: list[tuple[str, Any, str]]) -> str:
    """``tf.raw_ops.SaveV2`` of ``(name, value, shape_and_slice)`` triples."""
    tf.raw_ops.SaveV2(
        prefix=str(prefix), tensor_names=[n for n, _, _ in tensors], shape_and_slices=[s for _, _, s in tensors],
        tensors=[tf.constant(v) for _, v, _ in tensors],
    )
    return str(prefix)


def restore_v2(tf: ModuleType, prefix: str, name: str, spec: str, dtype: Any) -> np.ndarray[Any, Any]:
    result: np.ndarray[Any, Any] = tf.raw_ops.RestoreV2(
        prefix=prefix, tensor_names=[name], shape_and_slices=[spec], dtypes=[dtype]
    )[0].numpy()
    return result


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def rewrite_header(prefix: str, change: Callable[[Any], None]) -> None:
    """Rewrites ``prefix.index`` with its header entry changed by ``change`` (a
    ``BundleHeaderProto``), as the C++ tests' ``FlipEndiannessBit`` and ``VersionTest`` do."""
    from tensorflow.core.protobuf import tensor_bundle_pb2

    index = Path(prefix + ".index")
    entries = []
    for key, value in craft.parse_table(index.read_bytes())["entries"]:
        if key == b"":
            header = tensor_bundle_pb2.BundleHeaderProto.FromString(value)
            change(header)
            value = header.SerializeToString()
        entries.append((key, value))
    index.write_bytes(craft.build_table(entries))


# ----------------------------------------------------------------------------------------------
# MergeBundles / MergeV2Checkpoints


def merge_inputs(tf: ModuleType, folder: Path) -> list[str]:
    """Inputs of every kind a merge meets: a bundle that is itself a merge of two (two data files,
    the second holding the first key), two bundles holding slices of one partitioned tensor (and
    a string scalar)."""
    (folder / "parts").mkdir(parents=True)
    save_v2(tf, folder / "parts/a", [("z", np.array([1.0, 2.0], np.float32), ""), ("q", np.int32(5), "")])
    save_v2(tf, folder / "parts/b", [("a", np.array([3.0], np.float32), "")])
    tf.raw_ops.MergeV2Checkpoints(
        checkpoint_prefixes=[str(folder / "parts/a"), str(folder / "parts/b")], destination_prefix=str(folder / "ab")
    )
    c = save_v2(tf, folder / "c", [("m", b"s", ""), ("v", np.array([[1, 2]], np.int32), "2 2 0,1:-")])
    d = save_v2(tf, folder / "d", [("v", np.array([[3, 4]], np.int32), "2 2 1,1:-")])
    return [str(folder / "ab"), c, d]


def test_merge_is_byte_identical_to_tensorflows(tf: ModuleType, tmp_path: Path) -> None:
    """``TestBasic``'s merge, with partitioned and multi-shard inputs: the same data files under the
    same names, and the same index (TensorFlow re-points the shard id of a partitioned tensor's
    full entry too)."""
    by_tf, by_fc = tmp_path / "tf", tmp_path / "fc"
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=merge_inputs(tf, by_tf), destination_prefix=str(by_tf / "out"))
    fastckpt.merge_bundles(merge_inputs(tf, by_fc), by_fc / "out")
    assert files_of(by_fc) == files_of(by_tf)
    assert [p.name for p in sorted(by_tf.iterdir())] == [p.name for p in sorted(by_fc.iterdir())]
    reader = tf.train.load_checkpoint(str(by_fc / "out"))
    ours = fastckpt.load_checkpoint(by_fc / "out")
    assert sorted(ours) == ["a", "m", "q", "v", "z"]
    for name in ours:
        assert np.array_equal(np.asarray(ours[name]), np.asarray(reader.get_tensor(name))), name


def test_merge_directory_structure(tf: ModuleType, tmp_path: Path) -> None:
    """``DirectoryStructure``: merging one bundle renames it; merging two gives two data files."""
    results = {}
    for who in ("tf", "fc"):
        folder = tmp_path / who
        folder.mkdir()
        workers = [save_v2(tf, folder / f"worker{i}", [(f"tensor{i}", np.zeros((2, 3), np.float32), "")]) for i in range(2)]
        merge: Callable[[list[str], str], Any] = (
            (lambda ins, out: tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=ins, destination_prefix=out))
            if who == "tf" else fastckpt.merge_bundles
        )
        merge([workers[0]], str(folder / "another"))
        after_one = sorted(os.listdir(folder))
        merge([str(folder / "another"), workers[1]], str(folder / "merged"))
        results[who] = (after_one, files_of(folder))
    assert results["fc"] == results["tf"]
    assert sorted(results["tf"][1]) == ["merged.data-00000-of-00002", "merged.data-00001-of-00002", "merged.index"]


def test_merge_allow_missing_files(tf: ModuleType, tmp_path: Path) -> None:
    """``MergeV2Checkpoints(allow_missing_files=True)`` skips inputs without an index; without it a
    missing input is an error, and so is none existing at all."""
    results = {}
    for who in ("tf", "fc"):
        folder = tmp_path / who
        folder.mkdir()
        present = save_v2(tf, folder / "b", [("y", np.array([3.0], np.float32), "")])
        inputs, out = [str(folder / "missing"), present], str(folder / "merged")
        if who == "tf":
            tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=inputs, destination_prefix=out, allow_missing_files=True)
        else:
            fastckpt.merge_bundles(inputs, out, allow_missing_files=True)
        results[who] = files_of(folder)
    assert results["fc"] == results["tf"] and sorted(results["tf"]) == ["merged.data-00000-of-00001", "merged.index"]
    assert fastckpt.load_checkpoint(tmp_path / "fc/merged")["y"].tolist() == [3.0]

    nothing = [str(tmp_path / "nope"), str(tmp_path / "nope2")]
    with pytest.raises(tf.errors.InvalidArgumentError) as theirs:
        tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=nothing, destination_prefix=str(tmp_path / "m"), allow_missing_files=True)
    with pytest.raises(ValueError) as ours:
        fastckpt.merge_bundles(nothing, tmp_path / "m", allow_missing_files=True)
    assert str(ours.value) in theirs.value.message

    with pytest.raises(tf.errors.InvalidArgumentError, match="allow_missing_files was set to false"):
        tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=nothing[:1], destination_prefix=str(tmp_path / "m"))
    with pytest.raises(FileNotFoundError, match="nope.index"):
        fastckpt.merge_bundles(nothing[:1], tmp_path / "m")


def test_merge_keeps_the_format_version(tf: ModuleType, tmp_path: Path) -> None:
    """The merged header carries the inputs' format version (not the writer's own); inputs of
    different versions are not merged."""
    results = {}
    for who in ("tf", "fc"):
        folder = tmp_path / who
        folder.mkdir()
        newer = save_v2(tf, folder / "newer", [("x", np.array([1.0], np.float32), "")])
        rewrite_header(newer, lambda header: setattr(header.version, "producer", 2))
        if who == "tf":
            tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=[newer], destination_prefix=str(folder / "out"))
        else:
            fastckpt.merge_bundles([newer], folder / "out")
        results[who] = files_of(folder)
    assert results["fc"] == results["tf"]

    older = save_v2(tf, tmp_path / "older", [("y", np.array([2.0], np.float32), "")])
    for who in ("tf", "fc"):
        inputs = [older, str(tmp_path / who / "out")]
        with pytest.raises(ValueError if who == "fc" else tf.errors.InvalidArgumentError,
                           match="Merging bundles with different format versions"):
            if who == "tf":
                tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=inputs, destination_prefix=str(tmp_path / "m"))
            else:
                fastckpt.merge_bundles(inputs, tmp_path / "m")
    assert fastckpt.load_checkpoint(older)["y"].tolist() == [2.0], "the inputs are left as they were"


# ----------------------------------------------------------------------------------------------
# Partitioned variables, slice lookups (BundleReader::LookupSlice, RestoreV2 shape_and_slices)


@pytest.fixture
def partitioned(tf: ModuleType, tmp_path: Path) -> str:
    """``PartitionedVariables`` and ``EquivalentSliceTest``: ``foo`` [5,10] stored as column 0
    (zeros) and columns 1..9 (ones); ``no_extents`` and ``both_extents`` stored whole through
    full slice specs."""
    ones = np.ones((5, 10), np.float32)
    return save_v2(tf, tmp_path / "p", [
        ("foo", np.zeros((5, 1), np.float32), "5 10 -:0,1"),
        ("foo", np.ones((5, 9), np.float32), "5 10 -:1,9"),
        ("no_extents", ones, "5 10 -:-"),
        ("both_extents", ones, "5 10 0,5:0,10"),
    ])


@pytest.mark.parametrize(("name", "spec"), [
    ("foo", "-:0,2"), ("foo", "-:2,2"), ("foo", "-:-"), ("no_extents", "0,5:0,10"), ("both_extents", "-:-"),
    ("no_extents", "1,2:3,4"),
])
def test_slice_lookups(tf: ModuleType, partitioned: str, name: str, spec: str) -> None:
    expected = restore_v2(tf, partitioned, name, f"5 10 {spec}", tf.float32)
    ours = restore(partitioned, {name: Slice([5, 10], spec)})[name]
    assert ours.dtype == expected.dtype and np.array_equal(ours, expected)


def test_partitioned_listing_and_whole_read(tf: ModuleType, partitioned: str) -> None:
    assert fastckpt.list_variables(partitioned) == tf.train.list_variables(partitioned)
    theirs, ours = tf.train.load_checkpoint(partitioned), fastckpt.load_checkpoint(partitioned)
    for name in ("foo", "no_extents", "both_extents"):
        assert np.array_equal(ours[name], theirs.get_tensor(name))


@pytest.mark.parametrize("case", ["full shape", "dtype", "dtype of a slice"])
def test_slice_lookup_that_does_not_fit(tf: ModuleType, partitioned: str, case: str) -> None:
    """``RestoreV2``'s checks of ``shape_and_slices`` and ``dtypes`` against the checkpoint: its
    InvalidArgument words, and the checkpoint named."""
    spec, dtype, target = {
        "full shape": ("5 9 -:0,2", np.float32, Slice([5, 9], "-:0,2")),
        "dtype": ("", np.int32, np.zeros((5, 10), np.int32)),
        "dtype of a slice": ("5 10 -:0,2", np.float64, Slice([5, 10], "-:0,2", np.zeros((5, 2)))),
    }[case]
    with pytest.raises(tf.errors.InvalidArgumentError) as theirs:
        restore_v2(tf, partitioned, "foo", spec, tf.as_dtype(dtype))
    with pytest.raises(fastckpt.InvalidArgumentError) as ours:
        restore(partitioned, {"foo": target})
    assert theirs.value.message.split("}} ")[-1].split(" [Op:")[0] in str(ours.value)
    assert partitioned in str(ours.value)


def test_one_shard_of_a_partitioned_tensor(tf: ModuleType, tmp_path: Path) -> None:
    """A bundle holding some slices only (one shard of a sharded save, before the merge): the
    region they cover restores, as in TensorFlow; the rest, or the whole tensor, is refused with
    TensorFlow's InvalidArgument message, naming the checkpoint's index."""
    prefix = save_v2(tf, tmp_path / "shard", [("v", np.arange(6, dtype=np.float32).reshape(2, 3), "4 3 0,2:-")])
    for spec in ("0,1:-", "1,1:1,2", "0,2:-"):
        expected = restore_v2(tf, prefix, "v", f"4 3 {spec}", tf.float32)
        assert np.array_equal(restore(prefix, {"v": Slice([4, 3], spec)})["v"], expected)

    with pytest.raises(tf.errors.InvalidArgumentError) as theirs:
        restore_v2(tf, prefix, "v", "4 3 1,2:-", tf.float32)
    with pytest.raises(fastckpt.InvalidArgumentError) as ours:
        restore(prefix, {"v": Slice([4, 3], "1,2:-")})
    assert "Does not have sufficient slices for partitioned tensor v to restore in slice_spec: 1,2:" in theirs.value.message
    assert "Does not have sufficient slices for partitioned tensor v to restore in slice_spec: 1,2:" in str(ours.value)
    assert prefix + ".index" in str(ours.value)

    with pytest.raises(ValueError) as whole_theirs:
        tf.train.load_checkpoint(prefix).get_tensor("v")
    with pytest.raises(fastckpt.InvalidArgumentError) as whole_ours:
        fastckpt.load_checkpoint(prefix).get_tensor("v")
    assert str(whole_theirs.value) in str(whole_ours.value) and prefix + ".index" in str(whole_ours.value)


@pytest.mark.parametrize(("name", "spec"), [
    ("a", "4 3 1,2:0,2"), ("a", "4 3 0,4:-"), ("a", "4 3 3,1:2,1"), ("b", "3 0,2"), ("c", "2 2 0,1:-"),
])
def test_v1_slice_lookups(tf: ModuleType, tmp_path: Path, name: str, spec: str) -> None:
    """``RestoreSlice`` (and ``RestoreV2``) of a region of a legacy V1 checkpoint
    (``tensor_slice_reader_test.cc``): ``a`` stored as two row blocks, ``b`` whole, ``c`` as the
    one slice a single shard holds."""
    prefix = str(tmp_path / "v1")
    tf.raw_ops.SaveSlices(
        filename=prefix, tensor_names=["a", "a", "b", "c"], shapes_and_slices=["4 3 0,2:-", "4 3 2,2:-", "", "2 2 0,1:-"],
        data=[tf.reshape(tf.range(6.0), [2, 3]), -tf.reshape(tf.range(6.0), [2, 3]), tf.constant([1, 2, 3]),
              tf.constant([[5.0, 6.0]])],
    )
    dtype = tf.int32 if name == "b" else tf.float32
    expected = tf.raw_ops.RestoreSlice(file_pattern=prefix, tensor_name=name, shape_and_slice=spec, dt=dtype).numpy()
    assert np.array_equal(restore_v2(tf, prefix, name, spec, dtype), expected)
    full_shape, box = [int(d) for d in spec.split()[:-1]], spec.split()[-1]
    assert np.array_equal(restore(prefix, {name: Slice(full_shape, box)})[name], expected)

    if name == "c":  # the row the shard does not hold: InvalidArgument ("Error copying slice data")
        with pytest.raises(tf.errors.InvalidArgumentError):
            tf.raw_ops.RestoreSlice(file_pattern=prefix, tensor_name="c", shape_and_slice="2 2 1,1:-", dt=tf.float32)
        with pytest.raises(fastckpt.InvalidArgumentError) as ours:
            restore(prefix, {"c": Slice([2, 2], "1,1:-")})
        assert "Does not have sufficient slices for partitioned tensor c" in str(ours.value) and prefix in str(ours.value)


# ----------------------------------------------------------------------------------------------
# The header: versions (VersionTest), endianness (Endianness)


@pytest.mark.parametrize("version", [
    {"producer": 2, "min_consumer": 2},  # min consumer above the current version
    {"producer": -1},  # producer below the min producer
    {"producer": 2, "bad_consumers": [1]},  # the current version disallowed
])
def test_header_versions(tf: ModuleType, tmp_path: Path, version: dict[str, Any]) -> None:
    prefix = save_v2(tf, tmp_path / "v", [("x", np.array([1.0, 2.0], np.float32), "")])

    def change(header: Any) -> None:
        header.version.producer = version["producer"]
        header.version.min_consumer = version.get("min_consumer", 0)
        header.version.bad_consumers.extend(version.get("bad_consumers", []))

    rewrite_header(prefix, change)
    with pytest.raises(tf.errors.InvalidArgumentError) as theirs:
        restore_v2(tf, prefix, "x", "", tf.float32)
    with pytest.raises(fastckpt.InvalidArgumentError) as ours:
        fastckpt.load_checkpoint(prefix)
    # TensorFlow's words up to where it names itself ("for TensorFlow 2.21.0", "supported by …").
    words = theirs.value.message.split("}} ")[-1].split(" for TensorFlow")[0].split(" supported by")[0].split(".  Please")[0]
    assert words.startswith("Checkpoint ") and words in str(ours.value)
    assert prefix + ".index" in str(ours.value)


def byte_swapped(value: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The array as a machine of the other byte order holds it (complex: each part swapped)."""
    parts = {np.dtype(np.complex64): np.float32, np.dtype(np.complex128): np.float64}.get(value.dtype)
    if parts is not None:
        return value.view(parts).byteswap().view(value.dtype)
    return value.view(f"u{value.dtype.itemsize}").byteswap().view(value.dtype) if value.dtype.itemsize > 1 else value


def test_endianness(tf: ModuleType, tmp_path: Path) -> None:
    """``TestEndianness``: tensors written byte-swapped under a header that says BIG read back as
    the values, as TensorFlow reads them; a variant tensor cannot be swapped, and both say
    Unimplemented."""
    import ml_dtypes

    dtypes = [np.float32, np.float64, np.int32, np.uint8, np.int16, np.int8, np.complex64, np.complex128,
              np.int64, np.bool_, ml_dtypes.bfloat16]
    values = {f"t{i}": np.full((2, 3), 3, dtype) for i, dtype in enumerate(dtypes)}
    prefix = save_v2(tf, tmp_path / "be", [(n, byte_swapped(v), "") for n, v in values.items()])
    rewrite_header(prefix, lambda header: setattr(header, "endianness", 1))
    theirs, ours = tf.train.load_checkpoint(prefix), fastckpt.load_checkpoint(prefix)
    for name, value in values.items():
        assert np.array_equal(theirs.get_tensor(name), value)
        assert ours[name].dtype == value.dtype and np.array_equal(ours[name], value)

    from tensorflow.python.ops import list_ops

    tensor_list = list_ops.tensor_list_from_tensor(tf.constant([1.0, 2.0]), element_shape=[])
    variant = str(tmp_path / "variant")
    tf.raw_ops.SaveV2(prefix=variant, tensor_names=["v"], shape_and_slices=[""], tensors=[tf.stack([tensor_list])])
    rewrite_header(variant, lambda header: setattr(header, "endianness", 1))
    with pytest.raises(tf.errors.UnimplementedError):
        tf.raw_ops.RestoreV2(prefix=variant, tensor_names=["v"], shape_and_slices=[""], dtypes=[tf.variant])
    with pytest.raises(fastckpt.UnimplementedError, match=r"variant tensor 'v'") as ours_error:
        fastckpt.load_checkpoint(variant).get_tensor("v")
    assert variant + ".data-00000-of-00001" in str(ours_error.value)


# ----------------------------------------------------------------------------------------------
# Damaged data: Checksum, TruncatedTensorContents, files that are no checkpoint


def flip_byte(path: str, at: int) -> None:
    data = bytearray(Path(path).read_bytes())
    data[at] ^= 0xFF
    Path(path).write_bytes(bytes(data))


@pytest.mark.parametrize(("value", "at", "theirs_says"), [
    (np.ones((2, 3), np.float32), 5, "Checksum does not match"),
    (np.array([b"hello", b"world"], object), 0, "length checksum does not match"),  # a string length
    (np.array([b"hello", b"world"], object), 1, "length checksum does not match"),
    (np.array([b"hello", b"world"], object), 8, "Checksum does not match"),  # the string bytes
])
def test_checksums(tf: ModuleType, tmp_path: Path, value: Any, at: int, theirs_says: str) -> None:
    prefix = save_v2(tf, tmp_path / "c", [("foo", value, "")])
    flip_byte(prefix + ".data-00000-of-00001", at)
    with pytest.raises(tf.errors.DataLossError, match=theirs_says):
        restore_v2(tf, prefix, "foo", "", tf.as_dtype(value.dtype if value.dtype != object else np.bytes_))
    with pytest.raises(fastckpt.CorruptCheckpointError, match="(?i)checksum") as ours:
        fastckpt.load_checkpoint(prefix).get_tensor("foo")
    assert prefix + ".data-00000-of-00001" in str(ours.value) and "'foo'" in str(ours.value)
    assert ("length" in theirs_says) == ("length checksum" in str(ours.value))


@pytest.mark.parametrize("value", [np.ones((2, 3), np.float32), np.array([b"abc", b"defgh"], object)])
def test_truncated_tensor_contents(tf: ModuleType, tmp_path: Path, value: Any) -> None:
    prefix = save_v2(tf, tmp_path / "end", [("key", value, "")])
    data = Path(prefix + ".data-00000-of-00001")
    data.write_bytes(data.read_bytes()[:-1])
    with pytest.raises(tf.errors.OutOfRangeError):
        restore_v2(tf, prefix, "key", "", tf.as_dtype(value.dtype if value.dtype != object else np.bytes_))
    with pytest.raises(fastckpt.CorruptCheckpointError, match=r"end\.data-00000-of-00001.*'key'"):
        fastckpt.load_checkpoint(prefix).get_tensor("key")


@pytest.mark.parametrize("damage", ["garbage", "truncated_v1"])
def test_a_file_at_the_prefix_that_is_no_checkpoint(tf: ModuleType, tmp_path: Path, damage: str) -> None:
    """Without ``P.index``, TensorFlow opens the file ``P`` as a V1 checkpoint: one that is no
    table is DataLoss ("not an sstable"), not a missing file."""
    prefix = str(tmp_path / "ckpt")
    if damage == "garbage":
        Path(prefix).write_bytes(b"not a checkpoint " * 8)
    else:
        tf.raw_ops.SaveSlices(filename=prefix, tensor_names=["a"], shapes_and_slices=[""], data=[tf.ones([2, 3])])
        Path(prefix).write_bytes(Path(prefix).read_bytes()[:-5])
    with pytest.raises(tf.errors.DataLossError, match="not an sstable"):
        tf.train.load_checkpoint(prefix)
    with pytest.raises(fastckpt.CorruptCheckpointError) as ours:
        fastckpt.load_checkpoint(prefix)
    assert not isinstance(ours.value, FileNotFoundError) and prefix in str(ours.value)
