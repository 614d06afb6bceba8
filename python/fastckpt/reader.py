"""Reading checkpoints: ``load_checkpoint`` and the ``CheckpointReader`` it returns, with the
methods of ``tf.train.load_checkpoint``'s reader plus a mapping interface and parallel reads."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, Union

import numpy as np

from . import _fastckpt
from ._dtypes import NUMPY_DTYPES
from .errors import CheckpointNotFoundError
from .state import latest_checkpoint

PathLike = Union[str, "os.PathLike[str]"]
Name = Union[str, bytes]


def _encode(name: Name) -> bytes:
    return name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")


def _decode(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def _resolve_prefix(path: PathLike) -> str:
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointNotFoundError(
                f"Couldn't find 'checkpoint' file or checkpoints in given directory {path}"
            )
        return latest
    if path.endswith(".index") and not os.path.exists(path + ".index"):
        return path[: -len(".index")]
    return path


class CheckpointReader:
    """An open V2 checkpoint, backed by memory-mapped data files.

    Numeric tensors come back as read-only numpy views into the mapping (the mapping lives as long
    as any view does); ``copy=True`` gives owned, writeable arrays. With ``verify=True`` (the
    default) a tensor's crc32c is checked the first time its bytes are handed out.
    """

    def __init__(self, prefix: PathLike, *, verify: bool = True) -> None:
        self._reader = _fastckpt.Reader(os.fspath(prefix), verify)
        self._entries: dict[str, tuple[int, tuple[int, ...]]] | None = None

    @property
    def prefix(self) -> str:
        return os.fspath(self._reader.prefix)

    def _listing(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        if self._entries is None:
            self._entries = {_decode(name): (dtype, shape) for name, dtype, shape in self._reader.entries()}
        return self._entries

    def get_tensor(self, name: Name, *, copy: bool = False) -> np.ndarray[Any, Any]:
        """The tensor ``name``; partitioned tensors are assembled, strings are object arrays of bytes."""
        return self._reader.get(_encode(name), copy)

    def has_tensor(self, name: Name) -> bool:
        return self._reader.has(_encode(name))

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        return {name: list(shape) for name, (_, shape) in self._listing().items()}

    def get_variable_to_dtype_map(self) -> dict[str, np.dtype[Any]]:
        return {name: NUMPY_DTYPES[dtype] for name, (dtype, _) in self._listing().items()}

    def keys(self) -> list[str]:
        """Tensor names, sorted; the per-slice entries of partitioned tensors are hidden."""
        return list(self._listing())

    def read_all(self, names: Iterable[Name] | None = None, *, copy: bool = True) -> dict[str, np.ndarray[Any, Any]]:
        """Reads many tensors (all by default) in parallel with the GIL released."""
        keys = self.keys() if names is None else [n if isinstance(n, str) else _decode(n) for n in names]
        arrays = self._reader.get_many([_encode(k) for k in keys], copy)
        return dict(zip(keys, arrays))

    def __getitem__(self, name: Name) -> np.ndarray[Any, Any]:
        return self.get_tensor(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, (str, bytes)) and self.has_tensor(name)

    def __len__(self) -> int:
        return len(self._listing())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __repr__(self) -> str:
        return f"CheckpointReader({self.prefix!r}, {len(self)} tensors)"


def load_checkpoint(ckpt_dir_or_file: PathLike, *, verify: bool = True) -> CheckpointReader:
    """Opens a checkpoint by prefix, or the latest one of a folder holding a ``checkpoint`` file."""
    return CheckpointReader(_resolve_prefix(ckpt_dir_or_file), verify=verify)


def list_variables(ckpt_dir_or_file: PathLike) -> list[tuple[str, list[int]]]:
    """``[(name, shape)]`` sorted by name, as ``tf.train.list_variables``."""
    shapes = load_checkpoint(ckpt_dir_or_file, verify=False).get_variable_to_shape_map()
    return sorted(shapes.items())


def load_variable(ckpt_dir_or_file: PathLike, name: str) -> np.ndarray[Any, Any]:
    """One tensor, as ``tf.train.load_variable`` (a trailing ``:0`` is ignored); an owned copy."""
    if name.endswith(":0"):
        name = name[:-2]
    return load_checkpoint(ckpt_dir_or_file).get_tensor(name, copy=True)
