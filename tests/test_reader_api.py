"""The reader's API as a user meets it: argument types, ``close``/``with``, the ``Mapping``
protocol, and messages about partitioned tensors."""

from __future__ import annotations

import os
from collections.abc import ItemsView, KeysView, Mapping, ValuesView
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import fastckpt

W = np.arange(6, dtype=np.float32).reshape(2, 3)
STEP = np.int64(7)
WORDS = np.array([b"a", b"bc"], dtype=object)


@pytest.fixture()
def prefix(tmp_path: Path) -> str:
    return fastckpt.save({"w": W, "step": STEP, "words": WORDS}, tmp_path / "ckpt")


def _expected() -> dict[str, Any]:
    return {"step": np.asarray(STEP), "w": W, "words": WORDS}


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.get_tensor(123),
        lambda r: r.get_tensor(None),
        lambda r: r.get_tensor(["w"]),
        lambda r: r.has_tensor(None),
        lambda r: r.has_tensor(1.5),
        lambda r: r[123],
        lambda r: r.get(123),
        lambda r: r.read_all([1, 2]),
        lambda r: r.read_all("w"),
        lambda r: r.read_all(b"w"),
    ],
    ids=["get_tensor_int", "get_tensor_none", "get_tensor_list", "has_tensor_none", "has_tensor_float",
         "getitem_int", "get_int", "read_all_ints", "read_all_str", "read_all_bytes"],
)
def test_wrong_argument_types_raise_type_error(prefix: str, call: Callable[[Any], Any]) -> None:
    reader = fastckpt.load_checkpoint(prefix)
    with pytest.raises(TypeError, match="str or bytes|iterable of tensor names"):
        call(reader)


def test_load_variable_name_types(prefix: str) -> None:
    np.testing.assert_array_equal(fastckpt.load_variable(prefix, b"w:0"), W)
    with pytest.raises(TypeError, match="str or bytes"):
        fastckpt.load_variable(prefix, 123)  # type: ignore[arg-type]


def test_bytes_names_accepted(prefix: str) -> None:
    reader = fastckpt.load_checkpoint(prefix)
    np.testing.assert_array_equal(reader.get_tensor(b"w"), W)
    assert reader.has_tensor(b"step") and b"w" in reader and 123 not in reader
    assert list(reader.read_all([b"w", "step"])) == ["w", "step"]


def test_is_a_mapping(prefix: str) -> None:
    reader = fastckpt.load_checkpoint(prefix)
    assert isinstance(reader, Mapping)
    keys, values, items = reader.keys(), reader.values(), reader.items()
    assert isinstance(keys, KeysView) and isinstance(values, ValuesView) and isinstance(items, ItemsView)
    assert list(keys) == ["step", "w", "words"] and len(keys) == 3 and "w" in keys
    assert [name for name, _ in items] == list(keys)
    for (name, array), value in zip(items, values):
        np.testing.assert_array_equal(array, _expected()[name])
        np.testing.assert_array_equal(value, _expected()[name])
    np.testing.assert_array_equal(reader.get("w"), W)
    assert reader.get("missing") is None and reader.get("missing", 5) == 5
    assert "w" in reader and "missing" not in reader


def test_equality_as_mapping_defines_it(prefix: str, tmp_path: Path) -> None:
    reader = fastckpt.load_checkpoint(prefix)
    assert reader == reader
    assert reader == fastckpt.load_checkpoint(prefix)
    assert reader == _expected()
    assert _expected() == reader
    changed = dict(_expected(), w=W + 1)
    assert reader != changed
    assert reader != {k: v for k, v in _expected().items() if k != "w"}
    assert reader != dict(_expected(), extra=np.zeros(1))
    assert reader != dict(_expected(), w=W.reshape(3, 2))
    other = fastckpt.save(changed, tmp_path / "other")
    assert reader != fastckpt.load_checkpoint(other)
    assert reader != ["step", "w", "words"]
    with pytest.raises(TypeError, match="unhashable"):
        hash(reader)


CLOSED_CALLS: dict[str, Callable[[Any], Any]] = {
    "get_tensor": lambda r: r.get_tensor("w"),
    "has_tensor": lambda r: r.has_tensor("w"),
    "getitem": lambda r: r["w"],
    "get": lambda r: r.get("w"),
    "contains": lambda r: "w" in r,
    "len": len,
    "iter": iter,
    "keys": lambda r: list(r.keys()),
    "values": lambda r: list(r.values()),
    "items": lambda r: list(r.items()),
    "shape_map": lambda r: r.get_variable_to_shape_map(),
    "dtype_map": lambda r: r.get_variable_to_dtype_map(),
    "read_all": lambda r: r.read_all(),
    "eq": lambda r: r == {},
    "self_eq": lambda r: r == r,
    "with": lambda r: r.__enter__(),
}


@pytest.mark.parametrize("call", list(CLOSED_CALLS.values()), ids=list(CLOSED_CALLS))
def test_every_call_after_close_raises_value_error(prefix: str, call: Callable[[Any], Any]) -> None:
    reader = fastckpt.load_checkpoint(prefix)
    reader.close()
    with pytest.raises(ValueError, match=f"reader of {prefix} is closed"):
        call(reader)


def test_with_block_closes_and_arrays_outlive_the_reader(prefix: str) -> None:
    with fastckpt.load_checkpoint(prefix) as reader:
        assert not reader.closed
        view = reader.get_tensor("w")
        copy = reader.get_tensor("w", copy=True)
    assert reader.closed and "closed" in repr(reader) and reader.prefix == prefix
    reader.close()  # a second close is harmless
    np.testing.assert_array_equal(view, W)
    np.testing.assert_array_equal(copy, W)
    with pytest.raises(ValueError, match="closed"):
        reader.get_tensor("w")


def test_partition_messages_name_variable_and_slice(tmp_path: Path) -> None:
    full = np.arange(12, dtype=np.float32).reshape(4, 3)
    with fastckpt.BundleWriter(tmp_path / "ckpt") as writer:
        writer.add_slice("embedding", [4, 3], "0,2:-", full[:2])
        writer.add_slice("embedding", [4, 3], "2,2:-", full[2:])
    data = tmp_path / "ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[0] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(fastckpt.ChecksumMismatchError) as caught:
        fastckpt.load_checkpoint(tmp_path / "ckpt").get_tensor("embedding")
    message = str(caught.value)
    assert "tensor 'embedding (slice 0,2:-)'" in message, message
    assert "\\x00" not in message, message


def _evict(path: Path) -> None:
    """Drops the file's clean pages from the page cache, so the next read goes to the disk (on
    tmpfs the pages stay, and the reads below are warm: they must agree all the same)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="needs posix_fadvise")
def test_large_views_read_from_disk_are_verified(tmp_path: Path) -> None:
    """A large tensor whose pages are not cached is checked by reading the file, not through
    the mapping: the view shows the stored bytes, and a damaged byte names file and tensor."""
    big = np.random.default_rng(8).random((3, 1 << 20), dtype=np.float32)  # 12 MiB
    prefix = fastckpt.save({"big": big, "small": W}, str(tmp_path / "ckpt"))
    data = tmp_path / "ckpt.data-00000-of-00001"
    _evict(data)
    view = fastckpt.load_checkpoint(prefix).get_tensor("big")
    assert not view.flags.writeable
    np.testing.assert_array_equal(view, big)
    del view
    with open(data, "r+b") as f:
        f.seek(big.nbytes // 2)
        byte = f.read(1)
        f.seek(big.nbytes // 2)
        f.write(bytes([byte[0] ^ 0x10]))
    _evict(data)
    reader = fastckpt.load_checkpoint(prefix)
    with pytest.raises(fastckpt.ChecksumMismatchError) as caught:
        reader.get_tensor("big")
    message = str(caught.value)
    assert "'big'" in message and str(data) in message, message
    np.testing.assert_array_equal(reader.get_tensor("small"), W)


def test_other_file_at_the_prefix_is_no_checkpoint(tmp_path: Path) -> None:
    # TensorFlow opens it as a V1 file and reports DataLoss; the message also says the index is missing.
    (tmp_path / "model").write_bytes(b"not a table" * 10)
    with pytest.raises(fastckpt.CorruptCheckpointError, match=r"/model: not a checkpoint: no \.index file beside it"):
        fastckpt.load_checkpoint(tmp_path / "model")


@pytest.mark.parametrize("kind", ["Reader", "Source"])
def test_glue_get_takes_str_and_bytes_names(tmp_path: Path, kind: str) -> None:
    # The front hands get_tensor's name to the glue as it came (no bytes object per call): the
    # glue encodes a str as the front's _encode does, lone surrogates included.
    from fastckpt import _fastckpt

    raw = np.arange(3, dtype=np.int16)
    glue: Any
    if kind == "Reader":
        tensors: dict[Any, Any] = {"w": W, b"raw\xff": raw}
        glue = _fastckpt.Reader(str(fastckpt.save(tensors, tmp_path / "ckpt")), True)
    else:
        np.savez(tmp_path / "t.npz", w=W)
        glue = _fastckpt.Source(str(tmp_path / "t.npz"))
    for copy in (False, True):
        np.testing.assert_array_equal(glue.get("w", copy), W)
        np.testing.assert_array_equal(glue.get(b"w", copy), W)
        if kind == "Reader":
            np.testing.assert_array_equal(glue.get("raw\udcff", copy), raw)
        with pytest.raises(TypeError, match="a tensor name must be str or bytes, not int"):
            glue.get(5, copy)


def test_encode_is_the_glue_rule() -> None:
    # One rule for a name's key bytes: the front's _encode is the glue's, which Reader.get applies.
    from fastckpt import _fastckpt
    from fastckpt.reader import _encode

    assert _encode is _fastckpt.tensor_key_bytes
    name = b"raw\xff"
    assert _encode(name) is name
    assert _encode("w/é") == "w/é".encode()
    assert _encode("raw\udcff") == b"raw\xff"
    with pytest.raises(UnicodeEncodeError):
        _encode("lone \ud800")
    with pytest.raises(TypeError, match="^a tensor name must be str or bytes, not int$"):
        _encode(3)  # type: ignore[arg-type]


def test_common_get_tensor_runs_no_python_frame_and_keeps_its_contract(prefix: str, tmp_path: Path) -> None:
    # get_tensor is the glue's (ReaderBase): its common call reaches the engine without a Python
    # frame; out=, a closed reader and readers of other formats go to the Python _get_tensor.
    import inspect
    import sys

    reader = fastckpt.load_checkpoint(prefix)
    frames: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            frames.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        view = reader.get_tensor("w")
        copy = reader.get_tensor(name=b"w", copy=True)
    finally:
        sys.setprofile(None)
    assert frames == []
    np.testing.assert_array_equal(view, W)
    assert not view.flags.writeable and copy.flags.writeable
    np.testing.assert_array_equal(copy, W)
    out = np.zeros_like(W)
    assert reader.get_tensor("w", out=out) is out
    np.testing.assert_array_equal(out, W)
    with pytest.raises(TypeError, match="positional argument"):
        reader.get_tensor("w", True)  # type: ignore[misc]

    signature = inspect.signature(fastckpt.CheckpointReader.get_tensor)
    assert list(signature.parameters) == ["self", "name", "copy", "out"]
    assert signature.parameters["copy"].kind is inspect.Parameter.KEYWORD_ONLY
    assert (signature.parameters["copy"].default, signature.parameters["out"].default) == (False, None)
    assert "partitioned tensors are assembled" in (fastckpt.CheckpointReader.get_tensor.__doc__ or "")

    np.savez(tmp_path / "t.npz", w=W)
    other = fastckpt.conversion.open(tmp_path / "t.npz")
    np.testing.assert_array_equal(other.get_tensor("w", copy=True), W)
    other.close()
    with pytest.raises(ValueError, match="is closed"):
        other.get_tensor("w")


def test_a_copy_shares_the_open_reader_and_pickling_still_refuses(prefix: str) -> None:
    import copy
    import pickle

    reader = fastckpt.load_checkpoint(prefix)
    twin = copy.copy(reader)
    np.testing.assert_array_equal(twin.get_tensor("w", copy=True), W)
    assert twin.prefix == prefix and twin._reader is reader._reader
    twin.close()
    assert twin.closed and not reader.closed
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(reader)


def test_benchmark_floors_read_and_checksum_every_chunk(tmp_path: Path) -> None:
    # benchmarks/steady_read.py's floor (memcpy + crc32c) and its [info] row (pread + crc32c).
    from fastckpt import _fastckpt

    data = np.arange(3 * 4096, dtype=np.uint8)
    (tmp_path / "data").write_bytes(data.tobytes())
    copied, read = np.zeros_like(data), np.zeros_like(data)
    last = _fastckpt.crc32c_copy(data, copied, 4096)
    assert _fastckpt.crc32c_pread(tmp_path / "data", read, 4096) == last
    np.testing.assert_array_equal(read, data)
    np.testing.assert_array_equal(copied, data)
    with pytest.raises(OSError):
        _fastckpt.crc32c_pread(tmp_path / "data", np.zeros(4 * 4096, np.uint8), 4096)
    with pytest.raises(ValueError, match="writable"):
        _fastckpt.crc32c_pread(tmp_path / "data", data[::2], 4096)
