"""Path bookkeeping on local paths and object-store URLs alike (``s3://``, ``gs://``, ``az://``,
``abfs[s]://``, ``memory://``): the one place the Python layers ask whether a name is a URL, and
how to join, list, read, write and delete there. Object operations run in the engine (the Rust
``object_store`` crate) with the GIL released; local paths use ``os`` as before.

An object store has no folders: ``dirname``/``join`` work on the key with ``/``, a "folder" exists
as soon as a key starts with it, and ``makedirs`` has nothing to do.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re

from . import _fastckpt

_GLOB = re.compile(r"[*?\[]")


def is_url(path: str) -> bool:
    """Whether ``path`` names an object (``ValueError`` for an unsupported ``scheme://``)."""
    return "://" in path and _fastckpt.storage_is_url(path)


def _root_len(url: str) -> int:
    """Length of ``scheme://bucket`` in ``url``."""
    start = url.index("://") + 3
    slash = url.find("/", start)
    return len(url) if slash < 0 else slash


def join(base: str, *names: str) -> str:
    if not is_url(base):
        return os.path.join(base, *names)
    for name in names:
        base = name if is_url(name) else base.rstrip("/") + "/" + name
    return base


def dirname(path: str) -> str:
    if not is_url(path):
        return os.path.dirname(path)
    path = path.rstrip("/")
    head, _, _ = path.rpartition("/")
    return head if len(head) >= _root_len(path) else path[: _root_len(path)]


def basename(path: str) -> str:
    if not is_url(path):
        return os.path.basename(path)
    return path.rstrip("/").rpartition("/")[2]


def isabs(path: str) -> bool:
    """A URL is absolute; a local path as ``os.path.isabs``."""
    return is_url(path) or os.path.isabs(path)


def relpath(path: str, start: str) -> str:
    """``path`` relative to the folder ``start`` (a URL below ``start`` loses that part; one
    elsewhere stays whole)."""
    if not is_url(start):
        return os.path.relpath(path, start)
    start = start.rstrip("/") + "/"
    return path[len(start) :] if path.startswith(start) else path


def makedirs(path: str) -> None:
    if path and not is_url(path):
        os.makedirs(path, exist_ok=True)


def exists(path: str) -> bool:
    if not is_url(path):
        return os.path.exists(path)
    return _fastckpt.storage_exists(path)


def is_folder(path: str) -> bool:
    """A local directory, or a URL that objects are stored below (an object store's folder)."""
    if not is_url(path):
        return os.path.isdir(path)
    return _fastckpt.storage_is_folder(path)


def read_bytes(path: str) -> bytes:
    if not is_url(path):
        with open(path, "rb") as f:
            return f.read()
    return _fastckpt.storage_read(path)


def remove(path: str) -> None:
    """Deletes a file or object; a missing one is ignored."""
    if not is_url(path):
        try:
            _fastckpt.remove_file(path)  # its space is freed in the background
        except FileNotFoundError:  # another process removed it first
            pass
        return
    _fastckpt.storage_delete(path)


def matching(pattern: str) -> list[str]:
    """Files matching a TensorFlow file pattern (``*``, ``?``, ``[...]`` in the last part of an
    object key; anywhere in a local path), as ``file_io.get_matching_files``."""
    if not is_url(pattern):
        return glob.glob(pattern)
    found = _GLOB.search(pattern)
    if found is None:
        return [pattern] if _fastckpt.storage_exists(pattern) else []
    if "/" in pattern[found.start() :]:
        raise ValueError(f"{pattern}: wildcards are supported in the last part of an object key only")
    listed = _fastckpt.storage_list(pattern[: found.start()])
    return [url for url in listed if fnmatch.fnmatchcase(url, pattern)]
