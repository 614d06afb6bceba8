"""Writing checkpoints: ``save`` for a mapping of arrays, ``BundleWriter`` to stream them.

Files are written under temporary names and renamed into place by ``finish``; until then (and if
anything fails) an earlier checkpoint at the same prefix is untouched. With ``sync=True`` the files
and their folder are flushed to the device as well, so that a finished checkpoint survives a power
loss. Every checksum covers the bytes as written, even when another thread changes an array during
the save.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Union

import numpy as np

from . import _fastckpt
from ._dtypes import NAMES, STRING, VARIANT, enum_of
from .reader import Name, PathLike, _decode, _encode

#: One slice of a partitioned tensor: TensorFlow's spelling ``"0,2:-"``, or per dimension a
#: ``(start, length)`` pair, a ``slice`` object, or ``None`` for the whole dimension.
SliceSpec = Union[str, Sequence[Union[tuple[int, int], slice, None]]]


def _as_array(value: Any) -> np.ndarray[Any, Any]:
    """Anything array-like as a numpy array, without copying when it can be avoided.

    ``__array__`` and the buffer protocol come first; ``__dlpack__`` serves objects that offer
    nothing else (TensorFlow aborts the process when asked for a DLPack capsule of a string
    tensor, so it is never tried on objects that can give an array directly).
    """
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch: leave autograd and the device
        value = value.detach().cpu()
        name = str(value.dtype).removeprefix("torch.")
        if name == "bfloat16" or name.startswith("float8_"):
            # numpy has no such type and torch gives no array of it: its bits, seen as ml_dtypes'.
            import ml_dtypes
            import torch

            bits = value.view(torch.int16 if name == "bfloat16" else torch.uint8)
            return np.asarray(bits.numpy()).view(getattr(ml_dtypes, name))
    if hasattr(value, "__dlpack__") and not hasattr(value, "__array__") and not _has_buffer(value):
        return np.from_dlpack(value)
    return np.asarray(value)


def _has_buffer(value: Any) -> bool:
    try:
        memoryview(value)
    except TypeError:
        return False
    return True


def _elements(array: np.ndarray[Any, Any], dtype: int) -> list[bytes]:
    """The elements of a string or variant tensor as ``bytes``. Like TensorFlow's
    ``make_tensor_proto``, only ``bytes`` and ``str`` (UTF-8) are strings, and a variant element is
    a serialized ``VariantTensorDataProto`` (``bytes``); anything else is refused rather than
    converted (``bytes(5)`` would be five zero bytes)."""
    expected = "binary or unicode string" if dtype == STRING else "serialized VariantTensorDataProto (bytes)"
    if array.dtype.kind not in "OSU":
        raise TypeError(f"{NAMES[dtype]} elements must each be a {expected}, not {array.dtype} numbers")
    out = []
    for index, x in enumerate(array.reshape(-1).tolist()):
        if isinstance(x, bytes):
            out.append(x)
        elif isinstance(x, str) and dtype == STRING:
            out.append(x.encode("utf-8"))
        else:
            raise TypeError(f"expected {expected}, got {type(x).__name__} {_short_repr(x)} at flat index {index}")
    return out


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _payload(array: np.ndarray[Any, Any], dtype: int) -> Any:
    """What the engine takes: a contiguous byte buffer, or a list of bytes for strings/variants."""
    if dtype in (STRING, VARIANT):
        return _elements(array, dtype)
    if array.dtype.kind in "OSU":
        raise TypeError(f"{array.dtype} data cannot be stored as {NAMES[dtype]}")
    if array.dtype.byteorder == ">":  # checkpoints hold little-endian data
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.ndim and array.flags.c_contiguous:
        return array.view(np.uint8)  # the same memory, one cheap view (a training loop's usual case)
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _name_bytes(name: Any) -> bytes:
    if not isinstance(name, (str, bytes)):
        raise TypeError(f"tensor names must be str or bytes, got {type(name).__name__} {_short_repr(name)}")
    return _encode(name)


def _converted(name: bytes, value: Any, dtype: Any) -> tuple[int, np.ndarray[Any, Any], Any]:
    """The dtype enum, the array and the engine's payload of tensor ``name``. Conversion errors are
    raised as ``TypeError`` or ``ValueError`` naming the tensor."""
    try:
        array = _as_array(value)
        enum = enum_of(array.dtype if dtype is None else dtype)
        return enum, array, _payload(array, enum)
    except (TypeError, ValueError) as error:
        cls = TypeError if isinstance(error, TypeError) else ValueError
        raise cls(f"cannot save tensor '{_decode(name)}': {error}") from error


def _prepare(name: Name, value: Any, dtype: Any) -> tuple[bytes, int, list[int], Any]:
    """What the engine's ``add`` takes: name bytes, dtype enum, shape and payload."""
    key = _name_bytes(name)
    enum, array, payload = _converted(key, value, dtype)
    return key, enum, list(array.shape), payload


def _prepare_pair(pair: Any) -> tuple[bytes, int, list[int], Any]:
    """``_prepare`` of one ``(name, value)`` pair of ``add_many``, for the pairs the engine does not
    take as they are (it takes ``str``/``bytes`` names with C-contiguous numpy arrays of the
    common dtypes itself)."""
    try:
        name, value = pair
    except (TypeError, ValueError):
        raise TypeError(f"add_many takes (name, value) pairs, got {_short_repr(pair)}") from None
    return _prepare(name, value, None)


def _extents(spec: SliceSpec, full_shape: Sequence[int]) -> list[tuple[int, int]]:
    if isinstance(spec, str):
        parts = spec.split(":")
        pairs: list[Any] = [None if p == "-" else tuple(int(x) for x in p.split(",")) for p in parts]
    else:
        pairs = list(spec)
    if len(pairs) != len(full_shape):
        raise ValueError(f"slice {spec!r} has {len(pairs)} dimensions, the tensor has {len(full_shape)}")
    extents = []
    for item, dim in zip(pairs, full_shape):
        if item is None:
            extents.append((0, -1))
        elif isinstance(item, slice):
            start, stop, step = item.indices(dim)
            if step != 1:
                raise ValueError("slices of a partitioned tensor cannot have a step")
            extents.append((0, -1) if (start, stop) == (0, dim) else (start, stop - start))
        else:
            start, length = item
            extents.append((int(start), int(length)))
    return extents


class BundleWriter:
    """Writes a checkpoint tensor by tensor, with memory for one tensor at a time.

    ``alignment`` pads each tensor's start to a multiple of that many bytes (default 64, so that
    views are aligned); ``alignment=1`` writes byte for byte what ``tf.raw_ops.SaveV2`` writes.
    ``sync=True`` makes ``finish`` durable: data and index are fsynced, renamed into place, and the
    folder is fsynced. Slices of a partitioned tensor (``add_slice``) must not overlap, and
    ``finish`` refuses a partitioned tensor they do not cover whole, unless
    ``allow_partial_slices=True`` (one shard of a sharded save, to be merged with the others).
    Use as a context manager: the checkpoint is finished on success, discarded on an exception.

    On object storage, where nothing can be renamed, ``merged_prefix`` makes this writer part
    ``shard`` of ``num_shards`` of the checkpoint at ``merged_prefix``: its data is uploaded
    straight to ``merged_prefix.data-<shard>-of-<num_shards>``, ``finish`` writes only this part's
    index at ``prefix``, and ``merge_bundles(parts, merged_prefix)`` joins the parts' indexes
    into the one index of the checkpoint (no data copied).
    """

    def __init__(
        self,
        prefix: PathLike,
        *,
        alignment: int = 64,
        sync: bool = False,
        allow_partial_slices: bool = False,
        merged_prefix: PathLike | None = None,
        shard: int = 0,
        num_shards: int = 1,
    ) -> None:
        self._prefix = os.fspath(prefix)
        merged = None if merged_prefix is None else os.fspath(merged_prefix)
        self._writer = _fastckpt.Writer(self._prefix, alignment, sync, allow_partial_slices, merged, shard, num_shards)

    @property
    def prefix(self) -> str:
        return self._prefix

    def add(self, name: Name, value: Any, *, dtype: Any = None) -> None:
        """Appends tensor ``name``. ``dtype`` overrides the inferred TensorFlow dtype (e.g.
        ``"qint8"`` for int8 data)."""
        self._writer.add(*_prepare(name, value, dtype))

    def add_many(self, tensors: Iterable[tuple[Name, Any]]) -> None:
        """Appends ``(name, value)`` pairs in order, handing them to the engine in batches (at most
        32 MiB of copied data held at a time), which saves per-call costs on many small tensors."""
        self._writer.add_many(tensors, _prepare_pair)

    def add_slice(
        self, name: Name, full_shape: Sequence[int], slice_spec: SliceSpec, value: Any, *, dtype: Any = None
    ) -> None:
        """Appends one slice of the partitioned tensor ``name`` (readers assemble the slices)."""
        key = _name_bytes(name)
        enum, _array, payload = _converted(key, value, dtype)
        try:
            extents = _extents(slice_spec, full_shape)
        except (TypeError, ValueError) as error:
            cls = TypeError if isinstance(error, TypeError) else ValueError
            raise cls(f"cannot save slice {slice_spec!r} of tensor '{_decode(key)}': {error}") from error
        self._writer.add_slice(key, enum, [int(d) for d in full_shape], extents, payload)

    def finish(self) -> str:
        """Writes the index and moves the files into place; returns the prefix."""
        self._writer.finish()
        return self._prefix

    def abort(self) -> None:
        """Discards what was written; an earlier checkpoint at the prefix stays as it was."""
        self._writer.abort()

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()


def save(
    tensors: Mapping[str, Any] | Mapping[bytes, Any],
    prefix: PathLike,
    *,
    alignment: int = 64,
    num_shards: int = 1,
    max_shard_size: int | str | None = None,
    sync: bool = False,
) -> str:
    """Saves ``{name: array}`` as a checkpoint at ``prefix``; returns the prefix. Arrays may be
    numpy arrays or anything with ``__array__``, ``__dlpack__`` or the buffer protocol (torch
    tensors on any device, bfloat16 and float8 included). With
    ``num_shards > 1`` the tensors are spread over that many data files written in parallel by as
    many threads; with ``max_shard_size`` (bytes, or ``"5GB"``) consecutive tensors fill data
    files of at most that size, a larger tensor alone in one (``fastckpt.merge.save_sharded``; on
    object storage too). ``sync=True``: the checkpoint is on the device when this returns (see
    ``BundleWriter``)."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save() takes a mapping of tensor names to arrays, got {type(tensors).__name__}")
    if num_shards != 1 or max_shard_size is not None:
        from .merge import save_sharded

        return save_sharded(tensors, prefix, num_shards, max_shard_size=max_shard_size, alignment=alignment, sync=sync)
    with BundleWriter(prefix, alignment=alignment, sync=sync) as writer:
        writer.add_many(tensors.items())
    return writer.prefix
