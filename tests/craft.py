"""A small, independent, pure-Python writer of TensorFlow V2 checkpoints ("tensor bundles"), for tests.

Written from ``/work/shared/spec/tensor-bundle.md`` only (it shares no code with fastckpt). It can
write what TensorFlow writes, byte for byte (``BundleBuilder`` with ``alignment=1``), and — which is
what it is for — files that are *wrong on purpose* while every block checksum is right, so that a
reader cannot stop at "block checksum mismatch" and must look at what the blocks say.

Layers, each usable on its own:

* primitives: ``crc32c`` (table driven, with ``Extend`` semantics), ``mask``/``unmask``, varints,
  fixed-width integers;
* protobuf by hand: ``header_proto``, ``entry_proto``, ``shape_proto``, ``slice_proto`` (and the
  generic ``pb_*`` field encoders, for protos nobody would write);
* OrderedCode slice keys: ``slice_key``;
* SSTable: ``encode_block`` (restart points, optionally lying), ``block_trailer`` (valid masked crc
  over contents ‖ type), ``footer``, ``build_table`` (TensorFlow's TableBuilder algorithm, for byte
  identity) and ``table_from_blocks`` (free layout for hostile files);
* bundle: ``tensor_payload`` / ``string_payload`` and ``BundleBuilder``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from typing import Any, Optional, Union

import numpy as np

# --------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli) and the masking every stored crc goes through

_POLY = 0x82F63B78


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE = _crc_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """crc32c of ``data``; passing the crc of A as ``crc`` gives the crc of A ‖ data (Extend)."""
    c = crc ^ 0xFFFFFFFF
    table = _TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


MASK_DELTA = 0xA282EAD8


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    r = (masked - MASK_DELTA) & 0xFFFFFFFF
    return ((r >> 17) | (r << 15)) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# Integers


def varint(value: int) -> bytes:
    """Unsigned LEB128; a negative value is written as its 64-bit two's complement (10 bytes),
    as protobuf does for negative int32/int64 fields."""
    if value < 0:
        value += 1 << 64
    if value >> 64:
        raise ValueError(f"{value} does not fit 64 bits")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def fixed32(value: int) -> bytes:
    return struct.pack("<I", value & 0xFFFFFFFF)


def fixed64(value: int) -> bytes:
    return struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF)


# --------------------------------------------------------------------------------------------
# Protocol buffers, by hand

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5


def pb_tag(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


def pb_varint(field: int, value: int) -> bytes:
    """A varint field, always written (callers leave out proto3 zero defaults themselves)."""
    return pb_tag(field, WIRE_VARINT) + varint(value)


def pb_bytes(field: int, payload: bytes) -> bytes:
    return pb_tag(field, WIRE_LEN) + varint(len(payload)) + payload


def pb_fixed32(field: int, value: int) -> bytes:
    return pb_tag(field, WIRE_I32) + fixed32(value)


def version_proto(producer: int = 1, min_consumer: int = 0, bad_consumers: Sequence[int] = ()) -> bytes:
    """``VersionDef {int32 producer = 1; int32 min_consumer = 2; repeated int32 bad_consumers = 3}``."""
    out = b""
    if producer:
        out += pb_varint(1, producer)
    if min_consumer:
        out += pb_varint(2, min_consumer)
    if bad_consumers:
        out += pb_bytes(3, b"".join(varint(c) for c in bad_consumers))
    return out


def header_proto(
    num_shards: int = 1,
    endianness: int = 0,
    producer: int = 1,
    min_consumer: int = 0,
    bad_consumers: Sequence[int] = (),
    with_version: bool = True,
) -> bytes:
    """``BundleHeaderProto``; the defaults give TensorFlow's ``08 01 1A 02 08 01``."""
    out = b""
    if num_shards:
        out += pb_varint(1, num_shards)
    if endianness:
        out += pb_varint(2, endianness)
    if with_version:
        out += pb_bytes(3, version_proto(producer, min_consumer, bad_consumers))
    return out


def shape_proto(dims: Sequence[int], unknown_rank: bool = False) -> bytes:
    """``TensorShapeProto``: one ``Dim`` sub-message per dim (``12 00`` for a 0 dim)."""
    out = b"".join(pb_bytes(2, pb_varint(1, d) if d else b"") for d in dims)
    if unknown_rank:
        out += pb_varint(3, 1)
    return out


Extent = Optional[tuple[int, int]]  # (start, length); None (or length -1) = the whole dimension


def slice_proto(extents: Sequence[Extent]) -> bytes:
    """``TensorSliceProto``: a full dimension is an empty Extent; otherwise ``start`` (omitted when
    0) and ``length`` (always written: it sits in a oneof)."""
    out = b""
    for extent in extents:
        if extent is None or extent[1] == -1:
            body = b""
        else:
            start, length = extent
            body = (pb_varint(1, start) if start else b"") + pb_varint(2, length)
        out += pb_bytes(1, body)
    return out


def entry_proto(
    dtype: int,
    dims: Sequence[int],
    *,
    shard_id: int = 0,
    offset: int = 0,
    size: int = 0,
    crc: Optional[int] = None,
    slices: Sequence[Sequence[Extent]] = (),
    unknown_rank: bool = False,
) -> bytes:
    """``BundleEntryProto`` serialized as TensorFlow does (field order, zero fields left out, the
    shape always present). ``crc`` is the *masked* crc32c to store (left out when ``None``)."""
    out = b""
    if dtype:
        out += pb_varint(1, dtype)
    out += pb_bytes(2, shape_proto(dims, unknown_rank))
    if shard_id:
        out += pb_varint(3, shard_id)
    if offset:
        out += pb_varint(4, offset)
    if size:
        out += pb_varint(5, size)
    if crc:
        out += pb_fixed32(6, crc)
    for extents in slices:
        out += pb_bytes(7, slice_proto(extents))
    return out


# --------------------------------------------------------------------------------------------
# OrderedCode slice keys (EncodeTensorNameSlice)


def _num_increasing(value: int) -> bytes:
    body = value.to_bytes(8, "big").lstrip(b"\0")
    return bytes([len(body)]) + body


def _escape(s: bytes) -> bytes:
    out = bytearray()
    for b in s:
        if b == 0x00:
            out += b"\x00\xff"
        elif b == 0xFF:
            out += b"\xff\x00"
        else:
            out.append(b)
    return bytes(out) + b"\x00\x01"


_SIGNED_HEADER = {2: (0xC0, 0x00), 3: (0xE0, 0x00), 4: (0xF0, 0x00), 5: (0xF8, 0x00), 6: (0xFC, 0x00),
                  7: (0xFE, 0x00), 8: (0xFF, 0x00), 9: (0xFF, 0x80), 10: (0xFF, 0xC0)}


def _signed(v: int) -> bytes:
    x = v if v >= 0 else ~v
    n = next(n for n in range(1, 11) if n == 10 or x < 1 << (7 * n - 1))
    if n == 1:
        return bytes([(0x80 ^ v) & 0xFF])
    kept = bytearray((v & ((1 << 80) - 1)).to_bytes(10, "big")[10 - n:])
    kept[0] ^= _SIGNED_HEADER[n][0]
    kept[1] ^= _SIGNED_HEADER[n][1]
    return bytes(kept)


def slice_key(name: bytes, extents: Sequence[Extent]) -> bytes:
    """The index key of one slice of tensor ``name`` (full dimensions as start 0, length -1)."""
    key = _num_increasing(0) + _escape(name) + _num_increasing(len(extents))
    for extent in extents:
        start, length = (0, -1) if extent is None else extent
        key += _signed(start) + _signed(length)
    return key


# --------------------------------------------------------------------------------------------
# SSTable

MAGIC = 0xDB4775248B80FB57
FOOTER_LEN = 48
BLOCK_SIZE = 262144
NO_COMPRESSION, SNAPPY = 0, 1


def encode_block(
    entries: Iterable[tuple[bytes, bytes]],
    restart_interval: int = 16,
    *,
    restarts: Optional[Sequence[int]] = None,
    num_restarts: Optional[int] = None,
) -> bytes:
    """Block contents: prefix-compressed entries, the restart array, its count. ``restarts`` and
    ``num_restarts`` override what is written after the entries (to make the block lie)."""
    out = bytearray()
    points = []
    last = b""
    for i, (key, value) in enumerate(entries):
        if i % restart_interval == 0:
            points.append(len(out))
            shared = 0
        else:
            shared = 0
            for a, b in zip(last, key):
                if a != b:
                    break
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        last = key
    if not points:
        points = [0]
    if restarts is not None:
        points = list(restarts)
    for p in points:
        out += fixed32(p)
    out += fixed32(len(points) if num_restarts is None else num_restarts)
    return bytes(out)


EMPTY_BLOCK = encode_block([])


def block_trailer(contents: bytes, kind: int = NO_COMPRESSION) -> bytes:
    return bytes([kind]) + fixed32(mask(crc32c(bytes([kind]), crc32c(contents))))


def block_handle(offset: int, size: int) -> bytes:
    return varint(offset) + varint(size)


def footer(metaindex: tuple[int, int], index: tuple[int, int], magic: int = MAGIC) -> bytes:
    handles = block_handle(*metaindex) + block_handle(*index)
    if len(handles) > 40:
        raise ValueError("handles do not fit the footer")
    return handles + bytes(40 - len(handles)) + fixed64(magic)


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    i = 0
    while i < min(len(start), len(limit)) and start[i] == limit[i]:
        i += 1
    if i < min(len(start), len(limit)):
        b = start[i]
        if b < 0xFF and b + 1 < limit[i]:
            return start[:i] + bytes([b + 1])
    return start


def short_successor(key: bytes) -> bytes:
    for i, b in enumerate(key):
        if b != 0xFF:
            return key[:i] + bytes([b + 1])
    return key


class _BlockBuffer:
    """A block being built, TensorFlow's BlockBuilder: a restart every ``interval`` entries."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.buf = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last = b""

    def add(self, key: bytes, value: bytes) -> None:
        if self.counter < self.interval:
            shared = 0
            while shared < min(len(self.last), len(key)) and self.last[shared] == key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.counter = 0
            shared = 0
        self.buf += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        self.last = key
        self.counter += 1

    def size_estimate(self) -> int:
        return len(self.buf) + 4 * len(self.restarts) + 4

    def finish(self) -> bytes:
        return bytes(self.buf) + b"".join(fixed32(r) for r in self.restarts) + fixed32(len(self.restarts))


def build_table(entries: Sequence[tuple[bytes, bytes]], block_size: int = BLOCK_SIZE) -> bytes:
    """A table exactly as TensorFlow's TableBuilder writes it for bundles (keys must be sorted)."""
    out = bytearray()
    index = _BlockBuffer(1)
    block = _BlockBuffer(16)
    pending: Optional[tuple[int, int]] = None
    last_key = b""

    def write_block(contents: bytes) -> tuple[int, int]:
        handle = (len(out), len(contents))
        out.extend(contents + block_trailer(contents))
        return handle

    def flush() -> None:
        nonlocal block, pending
        if block.buf:
            pending = write_block(block.finish())
            block = _BlockBuffer(16)

    for n, (key, value) in enumerate(entries):
        if n and len(key) + len(value) >= 2 * block_size:
            flush()
        if pending is not None:
            index.add(shortest_separator(last_key, key), block_handle(*pending))
            pending = None
        last_key = key
        block.add(key, value)
        if block.size_estimate() >= block_size:
            flush()
    flush()
    metaindex = write_block(EMPTY_BLOCK)
    if pending is not None:
        index.add(short_successor(last_key), block_handle(*pending))
    index_handle = write_block(index.finish())
    out += footer(metaindex, index_handle)
    return bytes(out)


def table_from_blocks(
    data_blocks: Sequence[Union[bytes, tuple[bytes, int]]],
    *,
    index_keys: Optional[Sequence[bytes]] = None,
    index_values: Optional[Sequence[bytes]] = None,
    index_block: Optional[bytes] = None,
    index_kind: int = NO_COMPRESSION,
    footer_handles: Optional[tuple[tuple[int, int], tuple[int, int]]] = None,
    magic: int = MAGIC,
) -> bytes:
    """A table laid out freely, every trailer crc valid: ``data_blocks`` are block contents (or
    ``(contents, kind)`` for a compression type), written back to back; then the empty metaindex
    block; then an index block (one entry per data block, keys ``index_keys`` — default "\\xff"*8 —
    and values ``index_values`` — default the true handles — unless ``index_block`` gives its raw
    contents); then a footer (``footer_handles`` overrides the true handles)."""
    out = bytearray()
    handles = []
    for block in data_blocks:
        contents, kind = (block, NO_COMPRESSION) if isinstance(block, bytes) else block
        handles.append((len(out), len(contents)))
        out += contents + block_trailer(contents, kind)
    meta = (len(out), len(EMPTY_BLOCK))
    out += EMPTY_BLOCK + block_trailer(EMPTY_BLOCK)
    if index_block is None:
        keys = list(index_keys) if index_keys is not None else [b"\xff" * 8 + bytes([i]) for i in range(len(handles))]
        values = list(index_values) if index_values is not None else [block_handle(*h) for h in handles]
        index_block = encode_block(list(zip(keys, values)), restart_interval=1)
    index = (len(out), len(index_block))
    out += index_block + block_trailer(index_block, index_kind)
    out += footer(*(footer_handles or (meta, index)), magic=magic)
    return bytes(out)


def snappy_literal(data: bytes) -> bytes:
    """``data`` as a raw Snappy block made of literals only (valid, uncompressed)."""
    out = bytearray(varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start:start + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Bundle contents

DT = {
    "float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "string": 7,
    "complex64": 8, "int64": 9, "bool": 10, "bfloat16": 14, "uint16": 17, "complex128": 18,
    "float16": 19, "uint32": 22, "uint64": 23,
}
DT_STRING = 7


def string_payload(elements: Sequence[bytes]) -> tuple[bytes, int]:
    """DT_STRING data (little-endian bundle) and its masked entry crc32c."""
    lengths = b"".join(varint(len(e)) for e in elements)
    c1 = 0
    for e in elements:
        c1 = crc32c(struct.pack("<I", len(e)) if len(e) <= 0xFFFFFFFF else struct.pack("<Q", len(e)), c1)
    stored = fixed32(mask(c1))
    c = crc32c(stored, c1)
    for e in elements:
        c = crc32c(e, c)
    return lengths + stored + b"".join(elements), mask(c)


def dtype_enum(array: np.ndarray) -> int:
    if array.dtype == object or array.dtype.kind in "SU":
        return DT_STRING
    return DT[array.dtype.name]


def tensor_payload(array: Any) -> tuple[int, list[int], bytes, int]:
    """``(dtype enum, dims, stored bytes, masked crc32c)`` of a numpy array (little-endian)."""
    array = np.asarray(array)
    dtype = dtype_enum(array)
    dims = list(array.shape)
    if dtype == DT_STRING:
        elements = [x if isinstance(x, bytes) else str(x).encode() for x in array.reshape(-1).tolist()]
        data, crc = string_payload(elements)
    else:
        data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        crc = mask(crc32c(data))
    return dtype, dims, data, crc


class BundleBuilder:
    """Collects tensors (data appended in the order added, as BundleWriter does) and raw index
    entries, then writes ``P.index`` and the data file(s).

    ``entries`` maps key → serialized value and may be edited (or extended with absurd values)
    before ``write``; ``header`` likewise holds the serialized header (``None`` leaves it out).
    """

    def __init__(self, alignment: int = 1, header: Optional[bytes] = None) -> None:
        self.alignment = alignment
        self.data = bytearray()
        self.entries: dict[bytes, bytes] = {}
        self.header: Optional[bytes] = header_proto() if header is None else header
        self.locations: dict[bytes, tuple[int, int]] = {}  # key -> (offset, size) in the data file
        self._partitions: dict[bytes, tuple[int, list[int], list[Sequence[Extent]]]] = {}

    @staticmethod
    def _key(name: Union[str, bytes]) -> bytes:
        return name.encode() if isinstance(name, str) else name

    def _append(self, data: bytes) -> int:
        offset = len(self.data)
        self.data += data
        if self.alignment > 1 and len(self.data) % self.alignment:
            self.data += bytes(self.alignment - len(self.data) % self.alignment)
        return offset

    def add(self, name: Union[str, bytes], array: Any) -> bytes:
        key = self._key(name)
        dtype, dims, data, crc = tensor_payload(array)
        offset = self._append(data)
        self.locations[key] = (offset, len(data))
        self.entries[key] = entry_proto(dtype, dims, offset=offset, size=len(data), crc=crc)
        return key

    def add_slice(self, name: Union[str, bytes], full_shape: Sequence[int], extents: Sequence[Extent], array: Any) -> bytes:
        """One stored slice of a partitioned tensor (its full entry is rewritten with each slice)."""
        key = self._key(name)
        skey = slice_key(key, extents)
        self.add(skey, array)
        dtype = dtype_enum(np.asarray(array))
        _, _, slices = self._partitions.setdefault(key, (dtype, list(full_shape), []))
        slices.append(list(extents))
        self.entries[key] = entry_proto(dtype, full_shape, slices=slices)
        return skey

    def index_bytes(self, block_size: int = BLOCK_SIZE) -> bytes:
        items = sorted(self.entries.items())
        if self.header is not None:
            items.insert(0, (b"", self.header))
        return build_table(items, block_size)

    def write(self, prefix: Union[str, os.PathLike], num_shards: int = 1, block_size: int = BLOCK_SIZE) -> str:
        prefix = os.fspath(prefix)
        write_file(prefix + ".index", self.index_bytes(block_size))
        write_file(data_path(prefix, 0, num_shards), bytes(self.data))
        return prefix


def data_path(prefix: str, shard: int = 0, num_shards: int = 1) -> str:
    return f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"


def write_file(path: str, data: bytes) -> None:
    """Writes by rename, so that a reader still mapping the old file never sees it change."""
    tmp = path + ".craft-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_bundle(prefix: Union[str, os.PathLike], entries: Sequence[tuple[bytes, bytes]], data: bytes = b"",
                 *, header: Optional[bytes] = None, num_shards: int = 1) -> str:
    """A bundle from raw index entries (sorted here; the header, TensorFlow's by default, added
    under key ``b""`` unless it is ``b"omit"``) and a data file for shard 0."""
    prefix = os.fspath(prefix)
    items = sorted(entries)
    if header != b"omit":
        items.insert(0, (b"", header_proto(num_shards=num_shards) if header is None else header))
    write_file(prefix + ".index", build_table(items))
    write_file(data_path(prefix, 0, num_shards), data)
    return prefix


# --------------------------------------------------------------------------------------------
# Reading back (trusting, for tests only: no validation beyond what is needed to walk the file)


def read_varint(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """``(value, position after it)``."""
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def parse_block(contents: bytes) -> list[tuple[bytes, bytes]]:
    """The entries of a block, in order (the restart array is only used to find their end)."""
    (count,) = struct.unpack_from("<I", contents, len(contents) - 4)
    end = len(contents) - 4 - 4 * count
    entries, key, pos = [], b"", 0
    while pos < end:
        shared, pos = read_varint(contents, pos)
        non_shared, pos = read_varint(contents, pos)
        value_len, pos = read_varint(contents, pos)
        key = key[:shared] + contents[pos:pos + non_shared]
        pos += non_shared
        entries.append((key, contents[pos:pos + value_len]))
        pos += value_len
    return entries


def parse_table(data: bytes) -> dict[str, Any]:
    """Layout and entries of an uncompressed table: ``entries`` [(key, value)], ``data_blocks``
    [(offset, size)], ``metaindex`` and ``index`` (offset, size), ``footer_at``, and the byte
    lengths of the two handles in the footer (``meta_handle_len``, ``index_handle_len``)."""
    footer_at = len(data) - FOOTER_LEN
    meta_off, p = read_varint(data, footer_at)
    meta_size, p = read_varint(data, p)
    meta_handle_len = p - footer_at
    index_off, q = read_varint(data, p)
    index_size, q = read_varint(data, q)
    blocks, entries = [], []
    for _, handle in parse_block(data[index_off:index_off + index_size]):
        off, pos = read_varint(handle)
        size, _ = read_varint(handle, pos)
        blocks.append((off, size))
        entries += parse_block(data[off:off + size])
    return {
        "entries": entries,
        "data_blocks": blocks,
        "metaindex": (meta_off, meta_size),
        "index": (index_off, index_size),
        "footer_at": footer_at,
        "meta_handle_len": meta_handle_len,
        "index_handle_len": q - p,
    }


def parse_fields(message: bytes) -> list[tuple[int, int, Any]]:
    """``[(field, wire type, value)]`` of a protobuf message (LEN values as bytes)."""
    out, pos = [], 0
    while pos < len(message):
        tag, pos = read_varint(message, pos)
        field, wire = tag >> 3, tag & 7
        if wire == WIRE_VARINT:
            value, pos = read_varint(message, pos)
        elif wire == WIRE_I64:
            value, pos = struct.unpack_from("<Q", message, pos)[0], pos + 8
        elif wire == WIRE_I32:
            value, pos = struct.unpack_from("<I", message, pos)[0], pos + 4
        elif wire == WIRE_LEN:
            n, pos = read_varint(message, pos)
            value, pos = message[pos:pos + n], pos + n
        else:
            raise ValueError(f"wire type {wire}")
        out.append((field, wire, value))
    return out


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_entry(value: bytes) -> dict[str, Any]:
    """A ``BundleEntryProto`` as a dict: dtype, dims, shard_id, offset, size, crc, slices."""
    entry: dict[str, Any] = {"dtype": 0, "dims": [], "shard_id": 0, "offset": 0, "size": 0, "crc": 0, "slices": []}
    for field, _, v in parse_fields(value):
        if field == 1:
            entry["dtype"] = v
        elif field == 2:
            for f, _, dim in parse_fields(v):
                if f == 2:
                    entry["dims"].append(next((_signed64(x) for g, _, x in parse_fields(dim) if g == 1), 0))
        elif field in (3, 4, 5):
            entry[{3: "shard_id", 4: "offset", 5: "size"}[field]] = _signed64(v)
        elif field == 6:
            entry["crc"] = v
        elif field == 7:
            extents = []
            for f, _, ext in parse_fields(v):
                if f == 1:
                    fields = {g: _signed64(x) for g, _, x in parse_fields(ext)}
                    extents.append((fields.get(1, 0), fields[2]) if 2 in fields else None)
            entry["slices"].append(extents)
    return entry
