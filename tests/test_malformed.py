"""Malformed and hostile checkpoints: fastckpt must refuse them cleanly.

Every damaged or absurd file must make fastckpt raise a ``fastckpt.CheckpointError`` subclass whose
message names the file (and the tensor, where there is one) — never crash, abort, hang, raise a
foreign exception (``ValueError``, ``MemoryError``, pyo3's ``PanicException`` …) or allocate memory
out of proportion to the files.

How:

* ``craft.py`` (next to this file) is an independent pure-Python writer of bundles. It is checked
  here against TensorFlow's golden bytes and against ``fastckpt.save(..., alignment=1)``, then used
  to build indexes whose block checksums are all *valid* while their contents are absurd — so that
  fastckpt cannot stop at "block checksum mismatch".
* Every probe of a damaged checkpoint runs in a child process (``child_jobs.py``) with an
  address-space limit (``RLIMIT_AS`` = its size after warm-up + ``AS_HEADROOM``), so that a huge
  allocation fails loudly (``MemoryError`` in numpy, an abort in Rust) instead of going unnoticed;
  its peak-RSS growth per job is measured (``VmHWM`` after resetting it) and bounded by
  ``RSS_BUDGET_MB``; and a job that does not finish within ``HANG_GUARD_S`` is killed and reported
  as a hang. A crash (signal, abort) loses only the job that caused it: the next jobs run in a new
  child.
* The exhaustive sweeps (every truncation of the index and of the data file, every bit of both)
  run in children too, and report their findings grouped by kind.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import ml_dtypes
import numpy as np
import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

import craft  # noqa: E402
from child_jobs import RSS_BUDGET_MB, JobResult, run_jobs  # noqa: E402

import fastckpt  # noqa: E402
from fastckpt import (  # noqa: E402
    CheckpointError,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    InvalidArgumentError,
)



def crc(data: bytes) -> int:
    return craft.mask(craft.crc32c(data))


# ============================================================================================
# The reference checkpoint of the sweeps (written by fastckpt itself)

PART = np.arange(12, dtype=np.float32).reshape(4, 3) * 10


def sample_tensors() -> dict[str, np.ndarray]:
    return {
        "dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4) / 4,
        "dense/bias": np.array([0.5, -1.5], np.float64),
        "global_step": np.array(42, np.int64),
        "mask": np.array([True, False, True]),
        "names": np.array([b"ab", b"", b"xyz"], dtype=object),
        "empty": np.zeros((0, 3), np.float32),
        "half": np.arange(5, dtype=np.float16),
        "bf16": np.arange(4).astype(ml_dtypes.bfloat16),
        "cplx": np.array([1 + 2j, -3j], np.complex64),
    }


def expected_sample() -> dict[str, np.ndarray]:
    out = sample_tensors()
    out["part"] = PART
    return out


def write_sample(prefix: str, alignment: int) -> str:
    with fastckpt.BundleWriter(prefix, alignment=alignment) as w:
        for name, value in sample_tensors().items():
            w.add(name, value)
        w.add_slice("part", [4, 3], "0,2:-", PART[:2])
        w.add_slice("part", [4, 3], "2,2:-", PART[2:])
    return prefix


def same_array(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == object:
        return a.reshape(-1).tolist() == b.reshape(-1).tolist()
    return a.tobytes() == b.tobytes()


def tensor_ranges(prefix: str) -> dict[str, list[tuple[int, int, Optional[int]]]]:
    """For every listed tensor of a single-shard bundle: the ``(offset, size, header_len)`` data
    ranges it is read from (its slices' for a partitioned tensor); ``header_len`` is the length of
    the lengths + length-checksum prefix of a string tensor, else None."""
    with open(prefix + ".index", "rb") as f:
        entries = {k: craft.parse_entry(v) for k, v in craft.parse_table(f.read())["entries"] if k}
    data = open(craft.data_path(prefix), "rb").read()

    def one(e: dict[str, Any]) -> tuple[int, int, Optional[int]]:
        header = None
        if e["dtype"] == craft.DT_STRING:
            n = int(np.prod(e["dims"])) if e["dims"] else 1
            pos = e["offset"]
            for _ in range(n):
                _, pos = craft.read_varint(data, pos)
            header = pos + 4 - e["offset"]
        return e["offset"], e["size"], header

    out = {}
    for key, e in entries.items():
        if key.startswith(b"\0"):
            continue
        if e["slices"]:
            out[key.decode()] = [one(entries[craft.slice_key(key, s)]) for s in e["slices"]]
        else:
            out[key.decode()] = [one(e)]
    return out


# ============================================================================================
# Child side: probing one checkpoint


def _summary(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            data = [x.hex() if isinstance(x, bytes) else repr(x) for x in value.reshape(-1).tolist()[:64]]
        else:
            raw = value.tobytes()
            data = raw.hex() if len(raw) <= 512 else f"crc32c={craft.crc32c(raw[:4096])}"
        return {"shape": list(value.shape), "dtype": str(value.dtype), "data": data}
    if isinstance(value, dict):
        return {str(k): _summary(v) for k, v in list(value.items())[:64]}
    if isinstance(value, (list, tuple)):
        return [_summary(v) for v in value[:64]]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)


def _outcome(fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "value": _summary(fn())}
    except BaseException as e:  # noqa: BLE001 - PanicException derives from BaseException
        return {
            "ok": False,
            "type": type(e).__name__,
            "classes": [c.__name__ for c in type(e).__mro__],
            "msg": str(e),
        }


def probe(prefix: str, names: Sequence[str]) -> dict[str, Any]:
    """Opens ``prefix`` (verify on, then off) and does everything a user could: list, look up,
    read every name as a view and as a copy, read everything at once. Returns what happened."""
    log: dict[str, Any] = {}
    for verify in (True, False):
        tag = "verify" if verify else "noverify"
        box: dict[str, Any] = {}

        def open_reader(verify: bool = verify) -> None:
            box["r"] = fastckpt.load_checkpoint(prefix, verify=verify)

        log[f"{tag}/open"] = _outcome(open_reader)
        r = box.pop("r", None)
        if r is None:
            continue
        log[f"{tag}/keys"] = _outcome(r.keys)
        log[f"{tag}/shapes"] = _outcome(r.get_variable_to_shape_map)
        log[f"{tag}/dtypes"] = _outcome(lambda r=r: {k: str(v) for k, v in r.get_variable_to_dtype_map().items()})
        for name in names:
            log[f"{tag}/has:{name}"] = _outcome(lambda r=r, name=name: r.has_tensor(name))
            for copy in (False, True):
                op = f"{tag}/{'copy' if copy else 'view'}:{name}"
                log[op] = _outcome(lambda r=r, name=name, copy=copy: r.get_tensor(name, copy=copy))
        log[f"{tag}/read_all"] = _outcome(lambda r=r: r.read_all())
        log[f"{tag}/read_all_views"] = _outcome(lambda r=r: r.read_all(copy=False))
        del r
    return log


# ============================================================================================
# Hostile checkpoints: construction

GOOD = np.arange(6, dtype=np.float32).reshape(2, 3)
GOOD_BYTES = GOOD.tobytes()
GOOD_ENTRY = craft.entry_proto(1, [2, 3], size=len(GOOD_BYTES), crc=crc(GOOD_BYTES))
AT = len(GOOD_BYTES)  # where the data of "bad" starts
BAD = np.array([7, 8], np.float32)
BAD_BYTES = BAD.tobytes()
BAD_ENTRY = craft.entry_proto(1, [2], offset=AT, size=len(BAD_BYTES), crc=crc(BAD_BYTES))
HEADER = craft.header_proto()

Build = Callable[[str], None]


@dataclass
class Hostile:
    """One damaged checkpoint and what fastckpt must do with it.

    ``expect``: the exception class required (``None``: a control that must read correctly).
    The checkpoint may be refused at open; if the open succeeds, reading each of ``must_fail`` (as
    a view and as a copy) and ``read_all`` must raise it, and ``healthy`` tensors must still read
    correctly. Every message must contain one of ``files`` (suffixes of the prefix: ".index",
    ".data-…", "" for the prefix) and, if set, ``tensor``.
    """

    id: str
    build: Build
    expect: Optional[type] = CorruptCheckpointError
    tensor: Optional[str] = "bad"
    names: tuple[str, ...] = ("bad", "good")
    must_fail: tuple[str, ...] = ("bad",)
    healthy: tuple[str, ...] = ("good",)
    files: tuple[str, ...] = (".index", ".data-")
    values: dict[str, Any] = field(default_factory=dict)  # for controls: name -> expected array
    cost: float = 1.0


def bundle(bad: Optional[bytes] = BAD_ENTRY, data: bytes = BAD_BYTES, extra: Sequence[tuple[bytes, bytes]] = (),
           header: Optional[bytes] = None, num_shards: int = 1) -> Build:
    """'good' (float32 [2,3] at offset 0) plus the entry ``bad`` whose bytes ``data`` follow."""

    def build(prefix: str) -> None:
        entries = [(b"good", GOOD_ENTRY)] + ([(b"bad", bad)] if bad is not None else []) + list(extra)
        craft.write_bundle(prefix, entries, GOOD_BYTES + data, header=header, num_shards=num_shards)

    return build


def big_endian_bundle(bad: bytes, data: bytes) -> Build:
    """As ``bundle`` with a big-endian header: 'good' stored big-endian, ``data`` after it."""
    good = GOOD.astype(">f4").tobytes()

    def build(prefix: str) -> None:
        entries = [(b"good", craft.entry_proto(1, [2, 3], size=len(good), crc=crc(good))), (b"bad", bad)]
        craft.write_bundle(prefix, entries, good + data, header=craft.header_proto(endianness=1))

    return build


def bad_entry(dtype: int, dims: Sequence[int], data: bytes, **kw: Any) -> tuple[bytes, bytes]:
    """An entry for ``data`` stored right after 'good', with a valid crc; ``kw`` overrides."""
    fields = {"offset": AT, "size": len(data), "crc": crc(data)}
    fields.update(kw)
    return craft.entry_proto(dtype, dims, **fields), data


def entry_case(id: str, dtype: int, dims: Sequence[int], data: bytes, expect: Optional[type] = CorruptCheckpointError,
               **kw: Any) -> Hostile:
    entry, data = bad_entry(dtype, dims, data, **kw)
    return Hostile(id, bundle(entry, data), expect=expect)


def base_entries(order: Optional[Sequence[int]] = None) -> list[tuple[bytes, bytes]]:
    entries = [(b"", HEADER), (b"bad", BAD_ENTRY), (b"good", GOOD_ENTRY)]
    return [entries[i] for i in order] if order is not None else entries


BASE_BLOCK = craft.encode_block(base_entries())


def table_case(id: str, expect: Optional[type] = CorruptCheckpointError, *,
               blocks: Optional[Sequence[Any]] = None, raw: Optional[Callable[[bytes], bytes]] = None,
               **layout: Any) -> Hostile:
    """A table-level hostile case: the index laid out by ``craft.table_from_blocks`` (all block
    checksums valid; ``raw`` may edit the final bytes), the data file healthy."""

    def build(prefix: str) -> None:
        index = craft.table_from_blocks(list(blocks) if blocks is not None else [BASE_BLOCK], **layout)
        craft.write_file(prefix + ".index", raw(index) if raw else index)
        craft.write_file(craft.data_path(prefix), GOOD_BYTES + BAD_BYTES)

    control = expect is None
    return Hostile(id, build, expect=expect, tensor=None, must_fail=(), healthy=(),
                   values={"good": GOOD, "bad": BAD} if control else {})


def part_case(id: str, slices: Sequence[Sequence[craft.Extent]], slice_entries: Optional[dict[bytes, tuple[bytes, bytes]]] = None,
              full: Sequence[int] = (4, 3), dtype: int = 1, expect: Optional[type] = CorruptCheckpointError,
              cost: float = 1.0) -> Hostile:
    """'bad' partitioned: full entry with ``slices``; ``slice_entries`` maps slice key → (entry
    value, data) — by default every listed slice gets a correct entry holding PART's rows."""

    def build(prefix: str) -> None:
        data = bytearray(GOOD_BYTES)
        extra = [(b"bad", craft.entry_proto(dtype, full, slices=slices))]
        if slice_entries is None:
            for s in {tuple(x) for x in slices}:
                region = tuple(slice(0, None) if e is None else slice(e[0], e[0] + e[1]) for e in s)
                block = np.ascontiguousarray(PART[region])
                payload = block.tobytes()
                extra.append((craft.slice_key(b"bad", list(s)), craft.entry_proto(
                    1, list(block.shape), offset=len(data), size=len(payload), crc=crc(payload))))
                data += payload
        else:
            for key, (value, payload) in slice_entries.items():
                extra.append((key, value))
                data += payload
        craft.write_bundle(prefix, [(b"good", GOOD_ENTRY)] + extra, bytes(data))

    return Hostile(id, build, expect=expect, values={"bad": PART, "good": GOOD} if expect is None else {}, cost=cost)


def slice_entry_at(key_extents: Sequence[craft.Extent], dtype: int, dims: Sequence[int], payload: bytes,
                   offset: int = AT, **kw: Any) -> dict[bytes, tuple[bytes, bytes]]:
    fields = {"offset": offset, "size": len(payload), "crc": crc(payload)}
    fields.update(kw)
    return {craft.slice_key(b"bad", list(key_extents)): (craft.entry_proto(dtype, dims, **fields), payload)}


def string_bytes(lengths: Sequence[int], tail: bytes, c1_override: Optional[int] = None) -> bytes:
    """String-tensor data with the given (possibly lying) lengths, a length checksum that matches
    them (unless overridden) and ``tail`` as element bytes."""
    c1 = 0
    for n in lengths:
        c1 = craft.crc32c(n.to_bytes(4 if n <= 0xFFFFFFFF else 8, "little"), c1)
    c1 = c1 if c1_override is None else c1_override
    return b"".join(craft.varint(n) for n in lengths) + craft.fixed32(craft.mask(c1)) + tail


def missing_files_cases() -> list[Hostile]:
    def data_missing(prefix: str) -> None:
        bundle()(prefix)
        os.unlink(craft.data_path(prefix))

    def index_missing(prefix: str) -> None:
        os.makedirs(os.path.dirname(prefix), exist_ok=True)

    def index_empty(prefix: str) -> None:
        bundle()(prefix)
        craft.write_file(prefix + ".index", b"")

    def index_is_directory(prefix: str) -> None:
        bundle()(prefix)
        os.unlink(prefix + ".index")
        os.mkdir(prefix + ".index")

    def data_is_directory(prefix: str) -> None:
        bundle()(prefix)
        os.unlink(craft.data_path(prefix))
        os.mkdir(craft.data_path(prefix))

    def data_empty(prefix: str) -> None:
        bundle()(prefix)
        craft.write_file(craft.data_path(prefix), b"")

    def data_short(prefix: str) -> None:
        bundle()(prefix)
        craft.write_file(craft.data_path(prefix), GOOD_BYTES + BAD_BYTES[:5])

    data1 = (".data-00000-of-00001",)
    return [
        Hostile("data_file_missing", data_missing, CheckpointNotFoundError, tensor=None, must_fail=("bad", "good"),
                healthy=(), files=data1),
        Hostile("index_file_missing", index_missing, CheckpointNotFoundError, tensor=None, files=(".index",)),
        Hostile("index_file_empty", index_empty, tensor=None, files=(".index",)),
        Hostile("index_is_a_directory", index_is_directory, CheckpointError, tensor=None, files=(".index",)),
        Hostile("data_is_a_directory", data_is_directory, CheckpointError, tensor=None, must_fail=("bad", "good"),
                healthy=(), files=data1),
        Hostile("data_file_empty", data_empty, tensor=None, must_fail=("bad", "good"), healthy=(), files=data1),
        Hostile("data_file_short", data_short, files=data1),
    ]


def dtype_cases() -> list[Hostile]:
    out = []
    values = {"invalid_0": 0, "resource_20": 20, "unknown_34": 34, "unknown_77": 77, "unknown_100": 100,
              "unknown_1000": 1000, "u32_max": 0xFFFFFFFF, "negative_1": -1}
    values.update({f"reference_{v}": v for v in range(101, 134)})
    for label, value in values.items():
        out.append(entry_case(f"dtype_{label}", value, [2], BAD_BYTES))
    return out


def shape_cases() -> list[Hostile]:
    one = b"\x07"
    return [
        entry_case("dim_negative", 1, [-1], BAD_BYTES),
        entry_case("dim_negative_second", 1, [2, -3], BAD_BYTES),
        entry_case("dim_int64_min", 1, [-(2**63)], BAD_BYTES),
        entry_case("elements_overflow_2pow40_squared", 1, [2**40, 2**40], BAD_BYTES),
        entry_case("elements_overflow_uint8", 4, [2**62, 4], BAD_BYTES),
        entry_case("bytes_overflow_float32", 1, [2**62], BAD_BYTES),
        entry_case("rank_255", 4, [1] * 255, one),
        entry_case("rank_300", 4, [1] * 300, one),
        entry_case("rank_5000", 4, [1] * 5000, one),
        entry_case("unknown_rank_with_dims", 1, [2], BAD_BYTES, unknown_rank=True),
        # Valid for TensorFlow (rank 65 <= 254; 0 elements with a huge other dim) but impossible as
        # numpy arrays: fastckpt must say so with a CheckpointError, not let numpy's ValueError out.
        entry_case("rank_65_valid_for_tf", 4, [1] * 65, one, expect=CheckpointError),
        entry_case("zero_elements_absurd_dims", 1, [0, 2**62], b"", expect=CheckpointError, crc=crc(b"")),
    ]


def range_cases() -> list[Hostile]:
    return [
        entry_case("offset_past_end", 1, [2], BAD_BYTES, offset=10**6),
        entry_case("size_past_end", 1, [16], BAD_BYTES, size=64),
        entry_case("offset_plus_size_overflows_int64", 1, [2], BAD_BYTES, offset=2**63 - 4),
        entry_case("offset_negative", 1, [2], BAD_BYTES, offset=-8),
        entry_case("size_negative", 1, [2], BAD_BYTES, size=-8),
        entry_case("size_not_dtype_times_elements", 1, [2], BAD_BYTES + b"\0" * 4),
        entry_case("size_missing", 1, [2], BAD_BYTES, size=0),
        entry_case("shard_id_equals_num_shards", 1, [2], BAD_BYTES, shard_id=1),
        entry_case("shard_id_negative", 1, [2], BAD_BYTES, shard_id=-1),
        entry_case("shard_id_int32_min", 1, [2], BAD_BYTES, shard_id=-(2**31)),
        entry_case("shard_id_overflows_int32", 1, [2], BAD_BYTES, shard_id=2**31),
        # Claims of huge tensors whose bytes are not in the (tiny) data file: the claim must be
        # refused before anything of that size is allocated (copy=True included).
        entry_case("claims_4GiB_past_end", 1, [2**30], b"", size=2**32, crc=1),
        entry_case("claims_1TiB_past_end", 1, [2**38], b"", size=2**40, crc=1),
        entry_case("claims_8EiB_past_end", 4, [2**63 - 1], b"", offset=0, size=2**63 - 1, crc=1),
        # Big-endian bundles are byte-swapped into memory of their own (no views): the same claims
        # must be refused before that memory is allocated, too.
        Hostile("big_endian_control", big_endian_bundle(craft.entry_proto(
            1, [2], offset=AT, size=8, crc=crc(BAD.astype(">f4").tobytes())), BAD.astype(">f4").tobytes()),
            expect=None, values={"good": GOOD, "bad": BAD}),
        Hostile("big_endian_offset_past_end", big_endian_bundle(
            craft.entry_proto(1, [2], offset=10**6, size=8, crc=1), b"")),
        Hostile("big_endian_claims_1TiB_past_end", big_endian_bundle(
            craft.entry_proto(1, [2**38], offset=AT, size=2**40, crc=1), b"")),
    ]


def string_cases() -> list[Hostile]:
    DT_STRING, DT_VARIANT = 7, 21
    payload, payload_crc = craft.string_payload([b"ab"])
    return [
        entry_case("string_count_2pow40_with_7_bytes", DT_STRING, [2**40], payload),
        entry_case("string_count_2pow20_with_7_bytes", DT_STRING, [2**20], payload),
        entry_case("string_lengths_exceed_size", DT_STRING, [3], string_bytes([100, 100, 100], b"abc")),
        entry_case("string_length_2pow62", DT_STRING, [1], string_bytes([2**62], b"abc")),
        entry_case("string_length_u64_max", DT_STRING, [2], string_bytes([2**64 - 1, 1], b"abc")),
        entry_case("string_lengths_unterminated", DT_STRING, [2], b"\xff" * 6),
        entry_case("string_no_length_checksum", DT_STRING, [2], b"\x00\x00"),
        entry_case("string_length_checksum_wrong", DT_STRING, [2], string_bytes([1, 1], b"ab", c1_override=12345)),
        entry_case("string_more_elements_than_lengths", DT_STRING, [4], payload),
        entry_case("variant_count_2pow40", DT_VARIANT, [2**40], b"\x00" + craft.fixed32(craft.mask(0))),
        entry_case("variant_length_past_end", DT_VARIANT, [1], craft.varint(2**40) + b"abc"),
    ]


def partition_cases() -> list[Hostile]:
    full, top, bottom = [None, None], [(0, 2), None], [(2, 2), None]
    rows = PART[:2].tobytes()
    dup = 2**15
    wide = 2**17
    big_slice = bytes(range(256)) * (wide // 256)
    s_payload, s_crc = craft.string_payload([b""] * 2**16)
    return [
        part_case("partitioned_control", [top, bottom], expect=None),
        # One shard's slices only: not corrupt, but not the whole tensor (TensorFlow: InvalidArgument).
        part_case("partitioned_slices_do_not_cover", [top], expect=InvalidArgumentError),
        part_case("partitioned_same_slice_twice", [top, top]),
        part_case("partitioned_slice_out_of_bounds", [top, [(3, 2), None]]),
        part_case("partitioned_slice_negative_start", [[(-1, 2), None], bottom]),
        part_case("partitioned_slice_negative_length", [[(0, -2), None], bottom]),
        part_case("partitioned_slice_extent_overflow", [top, [(2**62, 2**62), None]]),
        part_case("partitioned_slice_rank_mismatch", [[(0, 4)]]),
        part_case("partitioned_slice_no_extents", [[]]),
        part_case("partitioned_slice_entry_missing", [top, bottom],
                  slice_entries=slice_entry_at(top, 1, [2, 3], rows)),
        part_case("partitioned_slice_entry_wrong_dtype", [top],
                  slice_entries=slice_entry_at(top, 3, [2, 3], rows)),
        part_case("partitioned_slice_entry_wrong_shape", [top],
                  slice_entries=slice_entry_at(top, 1, [3, 2], rows)),
        part_case("partitioned_slice_entry_itself_partitioned", [top],
                  slice_entries={craft.slice_key(b"bad", top): (craft.entry_proto(1, [2, 3], slices=[top]), b"")}),
        part_case("partitioned_slice_entry_past_end", [top],
                  slice_entries=slice_entry_at(top, 1, [2, 3], rows, offset=10**6)),
        part_case("partitioned_full_slice_is_whole_tensor_missing", [full], slice_entries={}),
        # A huge full shape with a tiny slice: the coverage check must refuse it before allocating.
        part_case("partitioned_huge_shape_tiny_slice", [[(0, 1), (0, 1)]], full=[2**30, 2**30], dtype=4,
                  slice_entries=slice_entry_at([(0, 1), (0, 1)], 4, [1, 1], b"\x07"), expect=InvalidArgumentError),
        part_case("partitioned_huge_shape_huge_slice_not_stored", [[(0, 2**30), (0, 2**30)]], full=[2**30, 2**30],
                  dtype=4, slice_entries=slice_entry_at([(0, 2**30), (0, 2**30)], 4, [2**30, 2**30], b"\x07",
                                                        size=2**60)),
        # The same 128 KiB slice listed 2**15 times "covers" a 4 GiB tensor by count: an index of
        # 256 KiB and a data file of 128 KiB must not make fastckpt allocate 4 GiB.
        part_case("partitioned_duplicate_slices_inflate_4GiB", [[(0, 1), None]] * dup, full=[dup, wide], dtype=4,
                  slice_entries=slice_entry_at([(0, 1), None], 4, [1, wide], big_slice), cost=3),
        # The same for strings: 2**31 elements claimed from 2**15 copies of a 64 Ki-element slice.
        part_case("partitioned_duplicate_string_slices_inflate_2pow31", [[(0, 1), None]] * dup, full=[dup, 2**16],
                  dtype=7, slice_entries={craft.slice_key(b"bad", [(0, 1), None]): (
                      craft.entry_proto(7, [1, 2**16], offset=AT, size=len(s_payload), crc=s_crc), s_payload)},
                  cost=3),
    ]


def header_cases() -> list[Hostile]:
    def max_shards(prefix: str) -> None:
        n = 2**31 - 1
        entries = [(b"good", GOOD_ENTRY), (b"bad", craft.entry_proto(1, [2], shard_id=n - 1, size=8, crc=crc(BAD_BYTES)))]
        craft.write_bundle(prefix, entries, GOOD_BYTES, header=craft.header_proto(num_shards=n), num_shards=n)

    h = dict(tensor=None, must_fail=(), healthy=())
    return [
        Hostile("header_missing", bundle(header=b"omit"), **h),
        Hostile("header_unparsable", bundle(header=b"\x0a\xff\x01"), **h),
        Hostile("header_wire_type_7", bundle(header=b"\x0f\x01"), **h),
        Hostile("header_min_consumer_2", bundle(header=craft.header_proto(min_consumer=2)), InvalidArgumentError, **h),
        Hostile("header_producer_negative", bundle(header=craft.header_proto(producer=-1)), InvalidArgumentError, **h),
        Hostile("header_bad_consumer_1", bundle(header=craft.header_proto(bad_consumers=[1])), InvalidArgumentError, **h),
        Hostile("header_num_shards_0", bundle(header=craft.header_proto(num_shards=0)), **h),
        Hostile("header_num_shards_negative", bundle(header=craft.header_proto(num_shards=-1)), **h),
        Hostile("header_num_shards_overflows_int32", bundle(header=craft.header_proto(num_shards=2**31)), **h),
        # 2**31-1 shards declared, only shard 0 on disk: no per-shard allocation; 'good' (shard 0)
        # reads, 'bad' (the last shard) is a missing file named as such.
        Hostile("header_num_shards_int32_max", max_shards, CheckpointNotFoundError, tensor=None,
                files=(".data-2147483646-of-2147483647",)),
    ]


def entry_value_cases() -> list[Hostile]:
    return [
        Hostile("entry_unparsable_len_past_end", bundle(b"\x0a\xff", b"")),
        Hostile("entry_wire_type_7", bundle(b"\x08\x01\x0f", b"")),
        Hostile("entry_truncated_varint", bundle(b"\x08", b"")),
        Hostile("entry_field_number_0", bundle(b"\x00\x01", b"")),
        Hostile("entry_shape_not_a_message", bundle(b"\x08\x01\x10\x05", b"")),
        Hostile("entry_crc_wrong_wire_type", bundle(b"\x08\x01\x12\x02\x12\x00\x30\x01", b"")),
    ]


def table_cases() -> list[Hostile]:
    blk = BASE_BLOCK
    meta = (len(blk) + 5, len(craft.EMPTY_BLOCK))
    entries = base_entries()
    garbage = bytes((i * 37 + 11) & 0xFF for i in range(64))
    two_blocks = [craft.encode_block(base_entries([0, 1])), craft.encode_block(base_entries([2]))]

    def footer_edit(new40: bytes) -> Callable[[bytes], bytes]:
        return lambda b: b[:-48] + new40 + b[-8:]

    return [
        table_case("table_control", None),
        table_case("snappy_literal_block_control", None, blocks=[(craft.snappy_literal(blk), craft.SNAPPY)]),
        table_case("restart_past_entries", blocks=[craft.encode_block(entries, restarts=[0, 4000])]),
        table_case("restart_offset_u32_max", blocks=[craft.encode_block(entries, restarts=[0xFFFFFFFF])]),
        table_case("restart_first_not_zero", blocks=[craft.encode_block(entries, restarts=[1])]),
        table_case("restart_count_zero", blocks=[craft.encode_block(entries, restarts=[], num_restarts=0)]),
        table_case("restart_count_exceeds_block", blocks=[craft.encode_block(entries, num_restarts=10**6)]),
        table_case("restart_count_u32_max", blocks=[craft.encode_block(entries, num_restarts=0xFFFFFFFF)]),
        table_case("block_shorter_than_4_bytes", blocks=[b"\x01\x00"]),
        table_case("index_restart_past_entries",
                   index_block=craft.encode_block([(b"\xff", craft.block_handle(0, len(blk)))], 1, restarts=[0, 999])),
        table_case("index_restart_count_exceeds_block",
                   index_block=craft.encode_block([(b"\xff", craft.block_handle(0, len(blk)))], 1, num_restarts=10**6)),
        table_case("index_block_empty", index_block=craft.EMPTY_BLOCK),
        table_case("handle_past_end", index_values=[craft.block_handle(10**6, 64)]),
        table_case("handle_size_2pow63", index_values=[craft.block_handle(0, 2**63)]),
        table_case("handle_size_u64_max", index_values=[craft.block_handle(0, 2**64 - 1)]),
        table_case("handle_offset_u64_max", index_values=[craft.block_handle(2**64 - 1, 10)]),
        table_case("handle_unterminated_varint", index_values=[b"\x80\x80"]),
        table_case("handle_empty", index_values=[b""]),
        table_case("handle_points_at_metaindex", index_values=[craft.block_handle(*meta)]),
        table_case("handle_one_byte_short", index_values=[craft.block_handle(0, len(blk) - 1)]),
        table_case("same_block_listed_twice", index_keys=[b"good", b"\xff"],
                   index_values=[craft.block_handle(0, len(blk))] * 2),
        table_case("bad_magic", magic=craft.MAGIC ^ 1),
        table_case("zero_magic", magic=0),
        table_case("footer_handles_absurd", footer_handles=((2**63, 2**63), (2**63, 2**63))),
        table_case("footer_index_is_the_data_block", footer_handles=(meta, (0, len(blk)))),
        table_case("footer_index_is_the_metaindex", footer_handles=(meta, meta)),
        table_case("footer_handles_unterminated", raw=footer_edit(b"\xff" * 40)),
        table_case("snappy_garbage", blocks=[(garbage, craft.SNAPPY)]),
        table_case("snappy_claims_4GiB", blocks=[(craft.varint(2**32 - 1) + b"\x00" * 8, craft.SNAPPY)]),
        table_case("snappy_truncated", blocks=[(craft.snappy_literal(blk)[:-3], craft.SNAPPY)]),
        table_case("snappy_index_garbage", index_block=garbage, index_kind=craft.SNAPPY),
        table_case("block_type_2", blocks=[(blk, 2)]),
        table_case("block_type_255", blocks=[(blk, 255)]),
        table_case("index_block_type_2", index_kind=2),
        table_case("keys_out_of_order", blocks=[craft.encode_block(base_entries([0, 2, 1]))]),
        table_case("keys_duplicated", blocks=[craft.encode_block(base_entries([0, 1, 1, 2]))]),
        table_case("keys_out_of_order_across_blocks",
                   blocks=[craft.encode_block(base_entries([0, 2])), craft.encode_block(base_entries([1]))],
                   index_keys=[b"good", b"\xff"]),
        # The index's separators against the keys of the blocks they point to (TF seeks through
        # them, so a key outside its block's range is one TF cannot find).
        table_case("two_blocks_tight_separators_control", None, blocks=two_blocks, index_keys=[b"bad", b"good"]),
        table_case("two_blocks_short_separators_control", None, blocks=two_blocks, index_keys=[b"c", b"h"]),
        table_case("index_separator_below_its_block", index_keys=[b"bad"]),
        table_case("index_separators_out_of_order", blocks=two_blocks, index_keys=[b"zz", b"h"]),
        table_case("index_separators_equal", blocks=two_blocks, index_keys=[b"h", b"h"]),
        table_case("block_key_not_above_previous_separator", blocks=two_blocks, index_keys=[b"h", b"zz"]),
        table_case("block_key_equal_to_previous_separator", blocks=two_blocks, index_keys=[b"good", b"zz"]),
        table_case("damaged_key_inside_previous_range",
                   blocks=[two_blocks[0], craft.encode_block([(b"bzzz", GOOD_ENTRY)])], index_keys=[b"c", b"h"]),
        table_case("entry_shared_longer_than_previous_key",
                   blocks=[b"\x03\x00\x06" + HEADER + craft.fixed32(0) + craft.fixed32(1)]),
        table_case("entry_value_runs_past_block", blocks=[b"\x00\x00\x7f" + HEADER + craft.fixed32(0) + craft.fixed32(1)]),
        table_case("entry_key_runs_past_block", blocks=[b"\x00\x7f\x06" + HEADER + craft.fixed32(0) + craft.fixed32(1)]),
        table_case("entry_varint_runs_past_block", blocks=[b"\x00\x00\xff\xff\xff" + craft.fixed32(0) + craft.fixed32(1)]),
    ]


# Legacy V1 (TensorSlice) files: one table at the prefix, metadata under "", one record per slice.

def v1_meta(tensors: Sequence[tuple[bytes, int, Sequence[int], Sequence[Sequence[craft.Extent]]]],
            version: bytes = craft.version_proto(1)) -> bytes:
    """``SavedTensorSlices { meta: { tensor: [SavedSliceMeta {name, shape, type, slice*}], versions } }``."""
    body = b"".join(
        craft.pb_bytes(1, craft.pb_bytes(1, name) + craft.pb_bytes(2, craft.shape_proto(dims)) + craft.pb_varint(3, dtype)
                       + b"".join(craft.pb_bytes(4, craft.slice_proto(s)) for s in slices))
        for name, dtype, dims, slices in tensors)
    return craft.pb_bytes(1, body + craft.pb_bytes(2, version))


def v1_record(name: bytes, extents: Sequence[craft.Extent], tensor_proto: bytes) -> tuple[bytes, bytes]:
    """The key and ``SavedTensorSlices { data: SavedSlice {name, slice, data} }`` of one slice."""
    key = craft.slice_key(name, [e if e is not None else (0, -1) for e in extents])
    saved = craft.pb_bytes(1, name) + craft.pb_bytes(2, craft.slice_proto(extents)) + craft.pb_bytes(3, tensor_proto)
    return key, craft.pb_bytes(2, saved)


def v1_floats(values: Sequence[float]) -> bytes:
    """A TensorProto holding ``values`` in ``float_val`` (packed), as TensorFlow's V1 writer does."""
    return craft.pb_bytes(5, np.asarray(values, "<f4").tobytes())


V1_GOOD = v1_record(b"good", [None, None], v1_floats(GOOD.reshape(-1).tolist()))


def v1_file(bad_meta: Optional[tuple[bytes, int, Sequence[int], Sequence[Sequence[craft.Extent]]]] = None,
            bad_records: Sequence[tuple[bytes, bytes]] = (), meta: Optional[bytes] = None,
            with_meta: bool = True) -> Build:
    """A V1 file holding 'good' (float32 [2,3]) plus, if given, the tensor ``bad``; ``meta``
    replaces the metadata record, ``with_meta=False`` leaves it out."""

    def build(prefix: str) -> None:
        tensors = [(b"good", 1, [2, 3], [[None, None]])] + ([bad_meta] if bad_meta else [])
        entries = dict([(b"", meta if meta is not None else v1_meta(tensors)), V1_GOOD, *bad_records])
        if not with_meta:
            del entries[b""]
        craft.write_file(prefix, craft.build_table(sorted(entries.items())))

    return build


def v1_cases() -> list[Hostile]:
    bad_full = [None]
    bad_values = v1_record(b"bad", bad_full, v1_floats(BAD.tolist()))

    def flipped(prefix: str) -> None:
        v1_file((b"bad", 1, [2], [bad_full]), [bad_values])(prefix)
        data = bytearray(open(prefix, "rb").read())
        data[len(data) // 2] ^= 0x04
        craft.write_file(prefix, bytes(data))

    def truncated(prefix: str) -> None:
        v1_file((b"bad", 1, [2], [bad_full]), [bad_values])(prefix)
        data = open(prefix, "rb").read()
        craft.write_file(prefix, data[:-20])

    halves = [[(0, 1)], [(1, 1)]]
    v1 = ("",)
    return [
        Hostile("v1_control", v1_file((b"bad", 1, [2], [bad_full]), [bad_values]), None, files=v1,
                values={"good": GOOD, "bad": BAD}),
        Hostile("v1_control_partitioned", v1_file((b"bad", 1, [2], halves), [
            v1_record(b"bad", halves[0], v1_floats([7.0])), v1_record(b"bad", halves[1], v1_floats([8.0]))]),
            None, files=v1, values={"good": GOOD, "bad": BAD}),
        Hostile("v1_block_byte_flipped", flipped, tensor=None, must_fail=("bad", "good"), healthy=(), files=v1),
        # Without its footer the file is no table: no checkpoint of either format, and the file at
        # the prefix is reported as corrupt (TensorFlow: DataLoss, "not an sstable").
        Hostile("v1_truncated", truncated, tensor=None, must_fail=("bad", "good"),
                healthy=(), files=v1),
        Hostile("v1_no_metadata", v1_file(bad_records=[bad_values], with_meta=False), tensor=None, files=v1),
        Hostile("v1_newer_version", v1_file(meta=v1_meta([], craft.version_proto(1, min_consumer=5))),
                InvalidArgumentError, tensor=None, files=v1),
        Hostile("v1_shape_overflows", v1_file((b"bad", 1, [1 << 40, 1 << 40], [[None, None]]), [bad_values]),
                files=v1),
        Hostile("v1_absurd_shape_few_values", v1_file((b"bad", 1, [1 << 28, 64], [[None, None]]),
                                                      [v1_record(b"bad", [None, None], v1_floats([1.0]))]), files=v1),
        Hostile("v1_absurd_string_count", v1_file((b"bad", 7, [1 << 40], [bad_full]),
                                                  [v1_record(b"bad", bad_full, craft.pb_bytes(8, b"x"))]), files=v1),
        Hostile("v1_too_many_values", v1_file((b"bad", 1, [2], [bad_full]),
                                              [v1_record(b"bad", bad_full, v1_floats([1, 2, 3]))]), files=v1),
        Hostile("v1_values_in_wrong_field", v1_file((b"bad", 1, [2], [bad_full]),
                                                    [v1_record(b"bad", bad_full, craft.pb_bytes(6, bytes(16)))]),
                files=v1),
        Hostile("v1_record_missing", v1_file((b"bad", 1, [2], [bad_full])), files=v1),
        Hostile("v1_record_of_another_tensor", v1_file((b"bad", 1, [2], [bad_full]), [
            (bad_values[0], v1_record(b"good", bad_full, v1_floats([1, 2]))[1])]), files=v1),
        Hostile("v1_record_not_a_proto", v1_file((b"bad", 1, [2], [bad_full]), [(bad_values[0], b"\xff\xff")]),
                files=v1),
        Hostile("v1_unsupported_dtype", v1_file((b"bad", 14, [2], [bad_full]), [bad_values]), files=v1),
        Hostile("v1_slice_outside_shape", v1_file((b"bad", 1, [2], [[(1, 5)]]), [bad_values]), files=v1),
        Hostile("v1_slices_overlap", v1_file((b"bad", 1, [2], [[(0, 2)], [(1, 1)]]), [bad_values]), files=v1),
        Hostile("v1_slices_do_not_cover", v1_file((b"bad", 1, [2], [halves[0]]), [
            v1_record(b"bad", halves[0], v1_floats([7.0]))]), files=v1),
    ]


def all_hostile_cases() -> list[Hostile]:
    cases = (missing_files_cases() + dtype_cases() + shape_cases() + range_cases() + string_cases()
             + partition_cases() + header_cases() + entry_value_cases() + table_cases() + v1_cases())
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases


HOSTILE = all_hostile_cases()


# ============================================================================================
# Hostile checkpoints: judging what the child saw


def _message_problems(op: str, out: dict[str, Any], case: Hostile, prefix: str) -> list[str]:
    problems = []
    if case.expect is not None and case.expect.__name__ not in out["classes"]:
        problems.append(f"{op}: raised {out['type']}, expected {case.expect.__name__}: {out['msg']!r}")
    if not any(prefix + suffix in out["msg"] for suffix in case.files):
        wanted = " or ".join(repr(prefix + s + ("…" if s.endswith("-") else "")) for s in case.files)
        problems.append(f"{op}: message does not name the file ({wanted}): {out['msg']!r}")
    if case.tensor and f"{case.tensor}" not in out["msg"].replace(prefix, ""):
        problems.append(f"{op}: message does not name the tensor {case.tensor!r}: {out['msg']!r}")
    return problems


def judge(case: Hostile, prefix: str, result: JobResult) -> list[str]:
    if result.status != "done":
        return [f"{result.status}: {result.detail}"]
    if result.error:
        return [f"probe failed in the harness: {result.error}"]
    problems = []
    if result.rss_growth_mb > RSS_BUDGET_MB:
        problems.append(f"peak RSS grew by {result.rss_growth_mb:.0f} MB (budget {RSS_BUDGET_MB} MB)")
    log: dict[str, Any] = result.value
    for op, out in log.items():
        if not out["ok"] and "CheckpointError" not in out["classes"]:
            problems.append(f"{op}: raised {out['type']}, not a CheckpointError: {out['msg']!r}")
    for tag in ("verify", "noverify"):
        opened = log[f"{tag}/open"]
        if case.expect is None:  # a control: everything reads, values right
            for op, out in log.items():
                if not out["ok"]:
                    problems.append(f"{op}: control failed: {out['type']}: {out['msg']!r}")
            for name, array in case.values.items():
                for mode in ("view", "copy"):
                    got = log.get(f"{tag}/{mode}:{name}", {}).get("value")
                    if got != _summary(np.asarray(array)):
                        problems.append(f"{tag}/{mode}:{name}: wrong value {got!r}")
            continue
        if not opened["ok"]:
            if "CheckpointError" in opened["classes"]:
                problems += _message_problems(f"{tag}/open", opened, case, prefix)
            continue
        failed = [op for op, out in log.items() if op.startswith(tag) and not out["ok"]]
        if not failed:
            problems.append(f"{tag}: opened and read everything without an error")
        for name in case.must_fail:
            for mode in ("view", "copy"):
                op = f"{tag}/{mode}:{name}"
                out = log[op]
                if out["ok"]:
                    problems.append(f"{op}: returned {out['value']!r} instead of raising")
                elif "CheckpointError" in out["classes"]:
                    problems += _message_problems(op, out, case, prefix)
        if case.must_fail:
            for op in (f"{tag}/read_all", f"{tag}/read_all_views"):
                if log[op]["ok"]:
                    problems.append(f"{op}: did not raise")
        for name in case.healthy:
            for mode in ("view", "copy"):
                op = f"{tag}/{mode}:{name}"
                if not log[op]["ok"] or log[op]["value"] != _summary(GOOD):
                    problems.append(f"{op}: the healthy tensor did not read correctly: {log[op]!r}")
    return problems


# ============================================================================================
# Sweeps (run in children)


def _problem(problems: list[tuple[str, str]], kind: str, detail: str) -> None:
    problems.append((kind, detail))


def _sweep_report(checked: int, problems: list[tuple[str, str]]) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {}
    for kind, detail in problems:
        k = kinds.setdefault(kind, {"count": 0, "examples": []})
        k["count"] += 1
        if len(k["examples"]) < 3:
            k["examples"].append(detail)
    return {"checked": checked, "kinds": kinds}


def _read_everything(prefix: str, copy: bool) -> dict[str, Any]:
    r = fastckpt.load_checkpoint(prefix)
    out = r.read_all(copy=copy)
    out["__keys__"] = list(r.keys())
    return out


def sweep_index_truncation(src: str, work: str) -> dict[str, Any]:
    """Every length 0..len-1 of the index: a CorruptCheckpointError naming the index at open
    (or at the latest while reading everything)."""
    prefix = os.path.join(work, "ck")
    shutil.copy(craft.data_path(src), craft.data_path(prefix))
    index = open(src + ".index", "rb").read()
    problems: list[tuple[str, str]] = []
    for n in range(len(index)):
        craft.write_file(prefix + ".index", index[:n])
        try:
            _read_everything(prefix, copy=n % 2 == 0)
            _problem(problems, "truncated index accepted", f"{n} of {len(index)} bytes")
        except CheckpointError as e:
            if not isinstance(e, CorruptCheckpointError):
                _problem(problems, f"{type(e).__name__} instead of CorruptCheckpointError", f"{n} bytes: {e}")
            if prefix + ".index" not in str(e):
                _problem(problems, "message does not name the index file", f"{n} bytes: {e}")
        except BaseException as e:  # noqa: BLE001
            _problem(problems, f"{type(e).__name__} (not a CheckpointError)", f"{n} bytes: {e}")
    return _sweep_report(len(index), problems)


def _check_read(problems: list[tuple[str, str]], where: str, fn: Callable[[], Any], expected: Any, *,
                error: Optional[type], allow_error: Optional[type] = None, path: str = "", name: str = "",
                shape_only: bool = False) -> None:
    """One read: with ``error`` set it must raise that (message naming ``path`` and ``name``);
    else it must return ``expected`` (only its shape and dtype if ``shape_only``), or raise
    ``allow_error``."""
    try:
        got = fn()
    except BaseException as e:  # noqa: BLE001
        if not isinstance(e, CheckpointError):
            _problem(problems, f"{type(e).__name__} (not a CheckpointError)", f"{where}: {e}")
            return
        if error is None:
            if allow_error is not None and isinstance(e, allow_error):
                return
            _problem(problems, f"unexpected {type(e).__name__} for an intact tensor", f"{where}: {e}")
            return
        if not isinstance(e, error):
            _problem(problems, f"{type(e).__name__} instead of {error.__name__}", f"{where}: {e}")
        if path not in str(e):
            _problem(problems, "message does not name the data file", f"{where}: {e}")
        if name not in str(e):
            _problem(problems, "message does not name the tensor", f"{where}: {e}")
        return
    if error is not None:
        _problem(problems, f"no error (expected {error.__name__})", where)
        return
    got_a, exp_a = np.asarray(got), np.asarray(expected)
    if shape_only:
        if got_a.shape != exp_a.shape or got_a.dtype != exp_a.dtype:
            _problem(problems, "wrong shape or dtype", f"{where}: {got_a.dtype}{got_a.shape}")
    elif not same_array(got_a, exp_a):
        _problem(problems, "wrong value", f"{where}: {got_a!r}")


def sweep_data_truncation(src: str, work: str) -> dict[str, Any]:
    """Every length 0..len of the data file: reading a tensor whose bytes are cut raises a
    CorruptCheckpointError naming the data file and the tensor (view and copy, verify on); the
    other tensors read correctly."""
    prefix = os.path.join(work, "ck")
    shutil.copy(src + ".index", prefix + ".index")
    data = open(craft.data_path(src), "rb").read()
    ranges = tensor_ranges(src)
    expected = expected_sample()
    path = craft.data_path(prefix)
    problems: list[tuple[str, str]] = []
    for n in range(len(data) + 1):
        craft.write_file(path, data[:n])
        r = fastckpt.load_checkpoint(prefix)
        any_cut = False
        for name, parts in ranges.items():
            cut = any(size > 0 and off + size > n for off, size, _ in parts)
            maybe = not cut and any(size == 0 and off > n for off, size, _ in parts)  # empty tensor past the end
            any_cut |= cut
            for copy in (False, True):
                _check_read(problems, f"{n} bytes, {name} {'copy' if copy else 'view'}",
                            lambda: r.get_tensor(name, copy=copy), expected[name],
                            error=CorruptCheckpointError if cut else None,
                            allow_error=CorruptCheckpointError if maybe else None, path=path, name=name)
        try:
            r.read_all()
            if any_cut:
                _problem(problems, "read_all did not raise", f"{n} bytes")
        except CheckpointError:
            if not any_cut and n == len(data):
                _problem(problems, "read_all raised on the intact file", f"{n} bytes")
        except BaseException as e:  # noqa: BLE001
            _problem(problems, f"{type(e).__name__} (not a CheckpointError)", f"read_all, {n} bytes: {e}")
        del r
    return _sweep_report(len(data) + 1, problems)


def _harmless_index_bits(index: bytes) -> set[tuple[int, int]]:
    """Bits of the index whose flip fastckpt cannot be expected to notice, precisely: those of the
    metaindex block and its trailer (never read, as in TensorFlow), and those of the footer's first
    40 bytes whose flip leaves the *index* handle as decoded unchanged (the metaindex handle and
    the zero padding are not used). Every other flip hits bytes covered by a block crc, the index
    handle or the magic, and must be reported."""
    layout = craft.parse_table(index)
    harmless = set()
    meta_off, meta_size = layout["metaindex"]
    for byte in range(meta_off, meta_off + meta_size + 5):
        harmless.update((byte, bit) for bit in range(8))
    footer_at = layout["footer_at"]
    for byte in range(footer_at, footer_at + 40):
        for bit in range(8):
            flipped = bytearray(index[footer_at:footer_at + 40])
            flipped[byte - footer_at] ^= 1 << bit
            try:
                _, p = craft.read_varint(flipped, 0)
                _, p = craft.read_varint(flipped, p)
                off, p = craft.read_varint(flipped, p)
                size, p = craft.read_varint(flipped, p)
                ok = p <= 40 and (off, size) == layout["index"]
            except IndexError:
                ok = False
            if ok:
                harmless.add((byte, bit))
    return harmless


def sweep_index_bitflips(src: str, work: str) -> dict[str, Any]:
    """Every bit of the index flipped: a CorruptCheckpointError (naming the index) unless the bit
    is one fastckpt never reads (``_harmless_index_bits``); then the data must be unchanged."""
    prefix = os.path.join(work, "ck")
    shutil.copy(craft.data_path(src), craft.data_path(prefix))
    index = open(src + ".index", "rb").read()
    harmless = _harmless_index_bits(index)
    expected = expected_sample()
    problems: list[tuple[str, str]] = []
    counts = {"harmless_bits": len(harmless), "harmless_but_reported": 0}
    for byte in range(len(index)):
        for bit in range(8):
            flipped = bytearray(index)
            flipped[byte] ^= 1 << bit
            craft.write_file(prefix + ".index", bytes(flipped))
            where = f"byte {byte} bit {bit}"
            try:
                got = _read_everything(prefix, copy=(byte + bit) % 2 == 0)
            except CheckpointError as e:
                if (byte, bit) in harmless:
                    counts["harmless_but_reported"] += 1
                if not isinstance(e, CorruptCheckpointError):
                    _problem(problems, f"{type(e).__name__} instead of CorruptCheckpointError", f"{where}: {e}")
                elif prefix + ".index" not in str(e) and prefix + ".data" not in str(e):
                    _problem(problems, "message does not name the file", f"{where}: {e}")
                continue
            except BaseException as e:  # noqa: BLE001
                _problem(problems, f"{type(e).__name__} (not a CheckpointError)", f"{where}: {e}")
                continue
            if (byte, bit) not in harmless:
                _problem(problems, "flipped bit accepted", where)
            keys = got.pop("__keys__")
            if keys != sorted(expected) or any(not same_array(got[k], expected[k]) for k in expected):
                _problem(problems, "flipped bit changed the data silently", where)
    report = _sweep_report(len(index) * 8, problems)
    report.update(counts)
    return report


def sweep_data_bitflips(src: str, work: str, start: int, stop: int) -> dict[str, Any]:
    """Bits ``start..stop`` of the data file flipped, one at a time. verify=True: reading the
    tensor that owns the byte raises ChecksumMismatchError naming the data file and the tensor
    (views and copies; a flip in a string tensor's lengths or length checksum may be reported as
    the CorruptCheckpointError it causes); every other tensor reads correctly. verify=False:
    every tensor comes back with the right shape and dtype (a string tensor may still be refused
    by its always-checked length checksum)."""
    prefix = os.path.join(work, "ck")
    shutil.copy(src + ".index", prefix + ".index")
    data = open(craft.data_path(src), "rb").read()
    ranges = tensor_ranges(src)
    expected = expected_sample()
    path = craft.data_path(prefix)
    problems: list[tuple[str, str]] = []
    for bitpos in range(start, min(stop, len(data) * 8)):
        byte, bit = divmod(bitpos, 8)
        flipped = bytearray(data)
        flipped[byte] ^= 1 << bit
        craft.write_file(path, bytes(flipped))
        owner, in_lengths = None, False
        for name, parts in ranges.items():
            for off, size, header in parts:
                if off <= byte < off + size:
                    owner, in_lengths = name, header is not None and byte < off + header
        for copy in (False, True):
            r = fastckpt.load_checkpoint(prefix, verify=True)
            for name in ranges:
                error = None
                if name == owner:
                    error = CorruptCheckpointError if in_lengths else ChecksumMismatchError
                _check_read(problems, f"verify, byte {byte} bit {bit} ({owner or 'padding'}), {name} "
                            f"{'copy' if copy else 'view'}", lambda: r.get_tensor(name, copy=copy),
                            expected[name], error=error, path=path, name=name)
            del r
        r = fastckpt.load_checkpoint(prefix, verify=False)
        copy = bitpos % 2 == 1
        for name in ranges:
            _check_read(problems, f"no verify, byte {byte} bit {bit} ({owner or 'padding'}), {name}",
                        lambda: r.get_tensor(name, copy=copy), expected[name], error=None,
                        allow_error=CorruptCheckpointError if (name == owner and in_lengths) else None,
                        shape_only=name == owner)
        del r
    return _sweep_report(max(0, min(stop, len(data) * 8) - start), problems)


MAPPED_BAD = np.arange(16384, dtype=np.float32)  # 64 KiB: pages past a truncation point


def build_for_truncation_while_mapped(prefix: str) -> None:
    data = MAPPED_BAD.tobytes()
    bundle(craft.entry_proto(1, [MAPPED_BAD.size], offset=AT, size=len(data), crc=crc(data)), data)(prefix)


def probe_truncated_while_mapped(prefix: str, copy: bool) -> dict[str, Any]:
    """Maps the data file (by reading 'good'), then cuts it in place to 'good's bytes, as another
    program overwriting the file would, and reads 'bad'."""
    r = fastckpt.load_checkpoint(prefix)
    first = _outcome(lambda: r.get_tensor("good", copy=True))
    os.truncate(craft.data_path(prefix), len(GOOD_BYTES))
    return {"first": first, "read": _outcome(lambda: r.get_tensor("bad", copy=copy))}


# ============================================================================================
# Fixtures: build everything, run every child job once


@dataclass
class Outcomes:
    results: dict[str, JobResult]
    prefixes: dict[str, str]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    root = str(tmp_path_factory.mktemp("malformed"))
    jobs: list[dict[str, Any]] = []
    prefixes: dict[str, str] = {}
    for case in HOSTILE:
        prefix = os.path.join(root, "cases", case.id, "ckpt")
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
        case.build(prefix)
        prefixes[case.id] = prefix
        jobs.append({"id": case.id, "func": "probe", "kwargs": {"prefix": prefix, "names": list(case.names)},
                     "cost": case.cost})
    for copy in (False, True):
        prefix = os.path.join(root, "mapped", str(copy), "ckpt")
        os.makedirs(os.path.dirname(prefix))
        build_for_truncation_while_mapped(prefix)
        prefixes[f"mapped:{copy}"] = prefix
        jobs.append({"id": f"mapped:{copy}", "func": "probe_truncated_while_mapped",
                     "kwargs": {"prefix": prefix, "copy": copy}})
    # Sweeps: the index with alignment 1 (as TensorFlow's SaveV2), the data file with fastckpt's
    # default alignment of 64 (so that padding is covered too).
    dense = write_sample(os.path.join(root, "sample1", "ckpt"), alignment=1)
    aligned = write_sample(os.path.join(root, "sample64", "ckpt"), alignment=64)
    data_bits = os.path.getsize(craft.data_path(aligned)) * 8
    sweeps = [("index_truncation", "sweep_index_truncation", dense, {}, 2),
              ("data_truncation", "sweep_data_truncation", aligned, {}, 3),
              ("index_bitflips", "sweep_index_bitflips", dense, {}, 6)]
    chunks = 4
    step = -(-data_bits // chunks)
    for i in range(chunks):
        sweeps.append((f"data_bitflips_{i}", "sweep_data_bitflips", aligned,
                       {"start": i * step, "stop": (i + 1) * step}, 6))
    for sid, func, src, extra, cost in sweeps:
        work = os.path.join(root, "sweeps", sid)
        os.makedirs(work)
        jobs.append({"id": f"sweep:{sid}", "func": func, "kwargs": {"src": src, "work": work, **extra}, "cost": cost})
    harness = os.path.join(root, "harness")
    os.makedirs(harness)
    return Outcomes(run_jobs(jobs, harness, "test_malformed"), prefixes)


# ============================================================================================
# Tests: craft.py itself


def test_craft_primitives() -> None:
    assert craft.crc32c(b"") == 0
    assert craft.crc32c(b"123456789") == 0xE3069283
    assert craft.crc32c(b"56789", craft.crc32c(b"1234")) == 0xE3069283  # Extend
    assert craft.mask(0) == 0xA282EAD8
    assert craft.mask(craft.crc32c(b"a")) == 0x28E46E78
    assert all(craft.unmask(craft.mask(v)) == v for v in (0, 1, 0xFFFFFFFF, 0x12345678))
    assert craft.varint(300) == b"\xac\x02" and craft.varint(-1) == b"\xff" * 9 + b"\x01"
    assert craft.header_proto() == bytes.fromhex("08011a020801")
    assert craft.header_proto(endianness=1) == bytes.fromhex("080110011a020801")
    assert craft.entry_proto(1, [3], size=12, crc=0x71895B73) == bytes.fromhex("0801120412020803280c35735b8971")
    assert craft.entry_proto(1, [4, 6], slices=[[(0, 2), None], [(2, 2), None]]).endswith(
        bytes.fromhex("3a060a0210020a00 3a080a04080210020a00"))
    assert craft.slice_key(b"part", [(0, 2), None]) == bytes.fromhex("0070617274000101028082807f")
    assert craft.slice_key(b"scope/w", [(2, 2), (0, 3)]) == b"\x00scope/w\x00\x01\x01\x02\x82\x82\x80\x83"
    assert craft.slice_key(b"a\0b\xffc", [(0, 2)]) == bytes.fromhex("006100ff62ff0063000101018082")
    for value, encoded in [(0, "80"), (-1, "7f"), (63, "bf"), (-64, "40"), (64, "c040"), (275, "c113"),
                           (8191, "dfff"), (8192, "e02000"), (2**40, "fd0000000000"), (-65, "3fbf"),
                           (2**55, "ff8080000000000000"), (2**62, "ffc04000000000000000")]:
        assert craft._signed(value).hex() == encoded, value
    assert craft.EMPTY_BLOCK == bytes.fromhex("0000000001000000")
    assert craft.block_trailer(craft.EMPTY_BLOCK) == bytes.fromhex("00c0f2a1b0")
    assert craft.string_payload([b"ab", b""])[0] == bytes.fromhex("02007827 0b346162")
    assert craft.string_payload([])[0] == bytes.fromhex("d8ea82a2")


def test_craft_writes_tensorflow_golden_bytes() -> None:
    """tensor-bundle.md §10: TF 2.21's SaveV2 output, byte for byte (fixture in tests/data)."""
    b = craft.BundleBuilder()
    b.add("a", np.array([1, 2, 3], np.float32))
    b.add("s", np.array([b"ab", b""], dtype=object))
    golden = os.path.join(TESTS_DIR, "data", "savev2_golden", "g")
    assert b.index_bytes() == open(golden + ".index", "rb").read()
    assert bytes(b.data) == open(golden + ".data-00000-of-00001", "rb").read()


TENSOR_SETS = {
    "mixed": {
        "b": np.array([[1.5, -2.0], [3.25, 4.0]], np.float64),
        "a": np.arange(7, dtype=np.int32),
        "scalar": np.array(3, np.int64),
        "flags": np.array([True, False]),
        "s": np.array([[b"x", b""], [b"yz", b"\x00\xff"]], dtype=object),
        "empty_s": np.array([], dtype=object),
        "zero": np.zeros((0, 4), np.float32),
        "h": np.arange(3, dtype=np.float16),
        "bf": np.arange(3).astype(ml_dtypes.bfloat16),
        "c": np.array([1j, 2], np.complex128),
        "u": np.array([1, 2], np.uint64),
    },
    "tf2_names": {f"model/layer_{i:02d}/kernel/.ATTRIBUTES/VARIABLE_VALUE": np.full((i % 3, 2), i, np.float32)
                  for i in range(40)},
    "binary_names": {"\u00e9t\u00e9": np.ones(2, np.int8), "a\x00b": np.ones(1, np.uint8), "z": np.zeros(3, np.int16)},
    "many_keys_two_blocks": {f"layer_{i:05d}/" + "k" * 80: np.array([i], np.int32) for i in range(3000)},
}


@pytest.mark.parametrize("which", sorted(TENSOR_SETS))
def test_craft_is_byte_identical_to_fastckpt_save(tmp_path: Any, which: str) -> None:
    tensors = TENSOR_SETS[which]
    prefix = fastckpt.save(tensors, str(tmp_path / "fc"), alignment=1)
    b = craft.BundleBuilder()
    for name, value in tensors.items():
        b.add(name, value)
    index = b.index_bytes()
    if which == "many_keys_two_blocks":
        assert len(craft.parse_table(index)["data_blocks"]) >= 2
    assert index == open(prefix + ".index", "rb").read()
    assert bytes(b.data) == open(craft.data_path(prefix), "rb").read()
    # and fastckpt reads what craft wrote
    mine = b.write(str(tmp_path / "craft"))
    r = fastckpt.load_checkpoint(mine)
    assert sorted(r.keys()) == sorted(tensors)
    for name, value in tensors.items():
        assert same_array(r.get_tensor(name), np.asarray(value)), name


def test_craft_partitioned_is_byte_identical_to_bundlewriter(tmp_path: Any) -> None:
    prefix = str(tmp_path / "fc")
    with fastckpt.BundleWriter(prefix, alignment=1) as w:
        w.add("plain", np.arange(3, dtype=np.float32))
        w.add_slice("part", [4, 3], "0,2:-", PART[:2])
        w.add_slice("part", [4, 3], "2,2:-", PART[2:])
    b = craft.BundleBuilder()
    b.add("plain", np.arange(3, dtype=np.float32))
    b.add_slice("part", [4, 3], [(0, 2), None], PART[:2])
    b.add_slice("part", [4, 3], [(2, 2), None], PART[2:])
    assert b.index_bytes() == open(prefix + ".index", "rb").read()
    assert bytes(b.data) == open(craft.data_path(prefix), "rb").read()


def test_fastckpt_reads_craft_tables_with_small_blocks_and_snappy(tmp_path: Any) -> None:
    """Sanity of the hostile constructions' building blocks: a bundle in many tiny blocks, and one
    whose data blocks are (valid, literal-only) Snappy, read back correctly."""
    tensors = {f"t{i:03d}": np.full((2,), i, np.int32) for i in range(100)}
    b = craft.BundleBuilder(alignment=8)
    for name, value in tensors.items():
        b.add(name, value)
    prefix = str(tmp_path / "small")
    b.write(prefix, block_size=200)
    assert len(craft.parse_table(open(prefix + ".index", "rb").read())["data_blocks"]) > 10
    r = fastckpt.load_checkpoint(prefix)
    assert all(same_array(r.get_tensor(k), v) for k, v in tensors.items())
    # the same entries, re-laid out with Snappy data blocks of two entries each
    items = [(b"", craft.header_proto())] + sorted(b.entries.items())
    blocks = [(craft.snappy_literal(craft.encode_block(items[i:i + 2])), craft.SNAPPY) for i in range(0, len(items), 2)]
    keys = [items[min(i + 1, len(items) - 1)][0] for i in range(0, len(items), 2)]
    craft.write_file(prefix + ".index", craft.table_from_blocks(blocks, index_keys=keys))
    r = fastckpt.load_checkpoint(prefix)
    assert all(same_array(r.get_tensor(k), v) for k, v in tensors.items())


# ============================================================================================
# Tests: hostile checkpoints


@pytest.mark.parametrize("case", HOSTILE, ids=[c.id for c in HOSTILE])
def test_hostile_checkpoint(outcomes: Outcomes, case: Hostile) -> None:
    prefix = outcomes.prefixes[case.id]
    problems = judge(case, prefix, outcomes.results[case.id])
    assert not problems, f"{case.id} ({prefix}):\n  " + "\n  ".join(problems)


# ============================================================================================
# Tests: exhaustive sweeps


def _assert_sweep(result: JobResult) -> dict[str, Any]:
    assert result.status == "done", result.describe()
    assert not result.error, result.error
    report: dict[str, Any] = result.value
    assert report["checked"] > 0
    lines = [f"{k}: {v['count']} times, e.g. {v['examples']}" for k, v in report["kinds"].items()]
    assert not lines, "\n".join(lines)
    return report


def test_every_index_truncation_is_refused(outcomes: Outcomes) -> None:
    _assert_sweep(outcomes.results["sweep:index_truncation"])


def test_every_data_truncation_is_reported_on_the_affected_tensors(outcomes: Outcomes) -> None:
    _assert_sweep(outcomes.results["sweep:data_truncation"])


def test_every_index_bit_flip_is_detected(outcomes: Outcomes) -> None:
    report = _assert_sweep(outcomes.results["sweep:index_bitflips"])
    # The bits that may go unnoticed lie in the metaindex block (8 bytes + trailer) and the
    # footer's first 40 bytes only.
    assert 0 < report["harmless_bits"] <= (8 + 5 + 40) * 8


@pytest.mark.parametrize("chunk", range(4))
def test_every_data_bit_flip_is_detected(outcomes: Outcomes, chunk: int) -> None:
    _assert_sweep(outcomes.results[f"sweep:data_bitflips_{chunk}"])


# ============================================================================================
# Tests: a data file cut while mapped


@pytest.mark.parametrize("copy", [False, True], ids=["view", "copy"])
def test_data_file_truncated_while_mapped(outcomes: Outcomes, copy: bool) -> None:
    """Another program truncates the data file after fastckpt mapped it (TensorFlow writers on a
    filesystem without atomic rename write in place). Reading a tensor whose bytes are gone must
    raise a CheckpointError naming the file and the tensor, not crash (SIGBUS on the mapping) or
    leak a bare OSError."""
    result = outcomes.results[f"mapped:{copy}"]
    assert result.status == "done", result.describe()
    assert not result.error, result.error
    assert result.value["first"]["ok"], result.value["first"]
    out = result.value["read"]
    assert not out["ok"], f"read cut tensor: {out}"
    assert "CheckpointError" in out["classes"], f"{out['type']}: {out['msg']}"
    prefix = outcomes.prefixes[f"mapped:{copy}"]
    assert craft.data_path(prefix) in out["msg"] and "'bad'" in out["msg"], out["msg"]
