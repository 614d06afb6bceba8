"""Reading checkpoints: ``load_checkpoint`` and the ``CheckpointReader`` it returns, with the
methods of ``tf.train.load_checkpoint``'s reader plus a mapping interface and parallel reads."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Union

import numpy as np

from . import _fastckpt, _storage
from ._dtypes import ENUM_NAMES, NUMPY_DTYPES
from .errors import CheckpointNotFoundError, NoCheckpointInFolderError, TensorNotFoundError
from .state import checkpoint_exists, latest_checkpoint

PathLike = Union[str, "os.PathLike[str]"]
Name = Union[str, bytes]


#: A tensor name's key bytes: a ``str``'s UTF-8 (lone surrogates as ``surrogateescape`` gives
#: them back), a ``bytes`` as it is; ``TypeError`` for anything else. The glue's rule, which
#: ``Reader.get`` applies itself.
_encode = _fastckpt.tensor_key_bytes


def _decode(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


#: TensorFlow's words for a folder holding neither a state file nor checkpoints.
_NO_CHECKPOINT_IN_FOLDER = "Couldn't find 'checkpoint' file or checkpoints in given directory {}"


def _is_folder(url: str) -> bool:
    """Whether objects are stored below ``url``; a listing that fails (a missing bucket, no right
    to list) counts as no, and opening the checkpoint then says what is wrong."""
    try:
        return _storage.is_folder(url)
    except OSError:
        return False


def _resolve_prefix(path: PathLike) -> str:
    path = os.fspath(path)
    if _storage.is_url(path):
        if _storage.exists(path + ".index"):
            return path
        # A folder of objects has no entry of its own: a URL naming no checkpoint but holding a
        # state file, or any object below it (as for TensorFlow's object-store file systems), is
        # a folder.
        if _storage.exists(_storage.join(path, "checkpoint")):
            latest = latest_checkpoint(path)
            if latest is None:
                raise NoCheckpointInFolderError(f"Couldn't find checkpoints named by the state file in {path}")
            return latest
        if path.endswith(".index"):
            return path[: -len(".index")]
        if _is_folder(path):
            raise NoCheckpointInFolderError(_NO_CHECKPOINT_IN_FOLDER.format(path))
        return path
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise NoCheckpointInFolderError(_NO_CHECKPOINT_IN_FOLDER.format(path))
        return latest
    if path.endswith(".index") and not os.path.exists(path + ".index"):
        return path[: -len(".index")]
    return path


class CheckpointReader(_fastckpt.ReaderBase, Mapping[str, Any]):
    """An open checkpoint: a V2 bundle backed by memory-mapped data files, or a legacy V1
    (TensorSlice) file, whose values are decoded into arrays of their own.

    Numeric tensors come back as read-only numpy views into the mapping (the mapping lives as long
    as any view does); ``copy=True`` gives owned, writeable arrays. A scalar tensor comes back as
    TensorFlow's reader gives it: a numpy scalar, ``bytes`` for a string (``read_all`` keeps 0-d
    arrays). With ``verify=True`` (the default) a tensor's crc32c is checked the first time its
    bytes are handed out.

    A read-only ``Mapping`` from tensor name to array (``reader["w"]``, ``keys()``, ``items()``,
    ``get()``, ``in``); ``close()`` or a ``with`` block releases the files (arrays already handed
    out stay valid), after which every call raises ``ValueError``.
    """

    def __init__(self, prefix: PathLike, *, verify: bool = True) -> None:
        self._prefix = os.fspath(prefix)
        # A Source (fastckpt.convert.TensorFileReader) has the same methods for other formats.
        try:
            self._reader = _fastckpt.Reader(self._prefix, verify)
        except CheckpointNotFoundError:
            if _storage.is_url(self._prefix) or checkpoint_exists(self._prefix):
                raise  # a data file is missing, or the store's own answer: the error says which
            # Neither P.index nor a V1 file P: TensorFlow's words (its tests look for them), and
            # the index file looked for first.
            raise CheckpointNotFoundError(
                errno.ENOENT,
                f"Unsuccessful TensorSliceReader constructor: Failed to find any matching files for {self._prefix}",
                self._prefix + ".index",
            ) from None
        self._entries: dict[str, tuple[int, tuple[int, ...]]] | None = None

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def closed(self) -> bool:
        return self._reader is None

    def close(self) -> None:
        """Releases the index and the data files; closing twice is harmless."""
        self._reader = None
        self._entries = None

    def __enter__(self) -> CheckpointReader:
        self._open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # _reader lives in the glue base (ReaderBase), not in __dict__: a copy shares it, as it
        # shares the other attributes; pickling fails on it, as it always has.
        return {**self.__dict__, "_reader": self._reader}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def _open(self) -> _fastckpt.Reader | _fastckpt.Source:
        if self._reader is None:
            raise ValueError(f"the checkpoint reader of {self._prefix} is closed")
        return self._reader

    def _read_into(self, names: list[bytes], buffers: list[Any]) -> None:
        """Reads tensors straight into the caller's writable C-contiguous byte views (in place
        restores of ``Saver`` and ``Checkpoint``); TensorFlow checkpoints only."""
        reader = self._open()
        if not isinstance(reader, _fastckpt.Reader):
            raise TypeError(f"{self._prefix} is not a TensorFlow checkpoint")
        reader.read_into(names, buffers)

    def _read_region(self, name: Name, region: list[tuple[int, int]], buffer: Any) -> None:
        """Reads the box ``region`` (per dimension ``(start, length)``) of a tensor into the
        caller's writable C-contiguous byte view (``fastckpt.distributed.restore``); TensorFlow
        checkpoints only."""
        reader = self._open()
        if not isinstance(reader, _fastckpt.Reader):
            raise TypeError(f"{self._prefix} is not a TensorFlow checkpoint")
        reader.read_region(_encode(name), region, buffer)

    def _listing(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        reader = self._open()
        if self._entries is None:
            self._entries = reader.listing()
        return self._entries

    # get_tensor(name, *, copy=False, out=None) and the _reader it reads from are the glue's
    # (ReaderBase, documented there): the common call runs no Python frame; the others come here.

    def _get_tensor(
        self, name: Name, *, copy: bool = False, out: np.ndarray[Any, Any] | None = None
    ) -> Any:
        """``get_tensor`` with ``out``, of a closed reader, or of a reader of another format."""
        if out is not None:
            self.read_into({_encode(name): out})
            return out
        reader = self._open()
        return reader.get(name, copy)

    def read_into(
        self, arrays: Mapping[str, np.ndarray[Any, Any]] | Mapping[bytes, np.ndarray[Any, Any]]
    ) -> None:
        """Reads every tensor named in ``arrays`` into the array under its name, in parallel with
        the GIL released: each array must be writeable, C-contiguous and of the tensor's dtype
        and shape, and no two may overlap. Fixed-size dtypes only (not strings or variants);
        TensorFlow has no equivalent."""
        reader = self._open()
        if not isinstance(reader, _fastckpt.Reader):
            raise TypeError(f"{self._prefix} is not a TensorFlow checkpoint")
        reader.read_arrays(arrays, self._target)

    def _target(self, name: Name, array: Any) -> tuple[bytes, Any]:
        """The key and the byte view ``read_into`` reads tensor ``name`` into, or the error saying
        why ``array`` cannot take it (the engine checks the usual pairs itself and asks here only
        about the others)."""
        key = _encode(name)
        entry = self._listing().get(_decode(key))
        if entry is None:
            raise TensorNotFoundError(f"Key {_decode(key)} not found in checkpoint {self._prefix}")
        dtype, shape = NUMPY_DTYPES.get(entry[0]), entry[1]
        if dtype is None or dtype.hasobject:
            raise TypeError(f"tensor '{_decode(key)}' in {self._prefix} is not of a fixed-size dtype")
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
            got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
            raise ValueError(f"tensor '{_decode(key)}' in {self._prefix} is {dtype} {shape}; cannot read it into {got}")
        if not array.flags.writeable or not array.flags.c_contiguous:
            raise ValueError(f"tensor '{_decode(key)}': read_into needs a writeable C-contiguous array")
        return key, array.reshape(-1).view(np.uint8)

    def has_tensor(self, name: Name) -> bool:
        key = _encode(name)
        return self._open().has(key)

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        return {name: list(shape) for name, (_, shape) in self._listing().items()}

    def get_variable_to_dtype_map(self) -> dict[str, np.dtype[Any]]:
        return {name: NUMPY_DTYPES[dtype] for name, (dtype, _) in self._listing().items()}

    def debug_string(self) -> bytes:
        """One line per tensor, sorted by name, as TensorFlow's reader prints them:
        ``b"v0 (DT_FLOAT) [2,3]\\n"``. A partitioned tensor is one line with its full shape
        (TensorFlow prints a line per slice, under the slice's binary key); for a V1 checkpoint
        TensorFlow's order is a hash map's."""
        lines = [
            f"{name} ({ENUM_NAMES[dtype]}) [{','.join(map(str, shape))}]\n" for name, (dtype, shape) in self._listing().items()
        ]
        return "".join(lines).encode("utf-8", "surrogateescape")

    def read_all(self, names: Iterable[Name] | None = None, *, copy: bool = True) -> dict[str, np.ndarray[Any, Any]]:
        """Reads many tensors (all by default) in parallel with the GIL released."""
        if isinstance(names, (str, bytes)):
            raise TypeError(f"names must be an iterable of tensor names, not one {type(names).__name__}")
        keys = list(self._listing()) if names is None else [n if type(n) is str else _decode(_encode(n)) for n in names]
        arrays = self._open().get_many([k.encode("utf-8", "surrogateescape") for k in keys], copy)
        return dict(zip(keys, arrays))

    def __getitem__(self, name: Name) -> Any:
        return self.get_tensor(name)

    def __contains__(self, name: object) -> bool:
        reader = self._open()
        return isinstance(name, (str, bytes)) and reader.has(_encode(name))

    def __len__(self) -> int:
        return len(self._listing())

    def __iter__(self) -> Iterator[str]:
        """Tensor names, sorted; the per-slice entries of partitioned tensors are hidden."""
        return iter(list(self._listing()))

    def __eq__(self, other: object) -> bool:
        """As ``Mapping``: the same names, and equal arrays (same shape, equal elements) under each."""
        if not isinstance(other, Mapping):
            return NotImplemented
        if self is other:
            self._open()
            return True
        if len(self) != len(other) or any(name not in other for name in self):
            return False
        return all(_same_array(self[name], other[name]) for name in self)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self._reader is None:
            return f"CheckpointReader({self._prefix!r}, closed)"
        return f"CheckpointReader({self._prefix!r}, {len(self)} tensors)"


def tensor_array(value: Any) -> np.ndarray[Any, Any]:
    """What ``get_tensor`` returned, as an array: a scalar's numpy scalar or ``bytes`` becomes a
    0-d array (an object array for ``bytes``, as a string tensor's array is)."""
    return np.array(value, dtype=object) if isinstance(value, bytes) else np.asarray(value)


def _same_array(a: Any, b: Any) -> bool:
    a, b = tensor_array(a), tensor_array(b)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def load_checkpoint(ckpt_dir_or_file: PathLike, *, verify: bool = True) -> CheckpointReader:
    """Opens a checkpoint by prefix, or the latest one of a folder holding a ``checkpoint`` file."""
    return CheckpointReader(_resolve_prefix(ckpt_dir_or_file), verify=verify)


def list_variables(ckpt_dir_or_file: PathLike) -> list[tuple[str, list[int]]]:
    """``[(name, shape)]`` sorted by name, as ``tf.train.list_variables``."""
    with load_checkpoint(ckpt_dir_or_file, verify=False) as reader:
        return sorted(reader.get_variable_to_shape_map().items())


def load_variable(ckpt_dir_or_file: PathLike, name: Name) -> Any:
    """One tensor, as ``tf.train.load_variable`` (a trailing ``:0`` is ignored); an owned copy, or
    a scalar as ``get_tensor`` gives it."""
    key = _encode(name)
    if key.endswith(b":0"):
        key = key[:-2]
    with load_checkpoint(ckpt_dir_or_file) as reader:
        return reader.get_tensor(key, copy=True)
