"""Saves that run in the background (``blocking=False``) for ``Checkpoint``, ``CheckpointManager``
and ``Saver``.

A save is split in two: a *snapshot* taken on the caller's thread (one in-memory copy of every
array, so the caller may change its arrays as soon as the call returns) and the *write* of that
snapshot, run on a thread of its own. Each owner (a checkpoint, manager or saver) has at most one
save in flight: the next save first waits for it, which keeps memory to one snapshot and the
files and state file in call order. The writer threads are not daemons, so the interpreter waits
for a pending save before it exits and nothing is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any, TypeVar

import numpy as np

from . import _fastckpt
from .writer import _as_array

T = TypeVar("T")

_log = logging.getLogger("fastckpt")

#: Arrays from this size on are copied by the engine's threads in pieces; smaller ones by numpy,
#: whose per-call cost is lower.
_PARALLEL_BYTES = 1 << 20


def snapshot(values: Iterable[Any]) -> list[np.ndarray[Any, Any]]:
    """Copies of ``values`` (anything array-like) as new numpy arrays; big contiguous ones are
    copied by the engine's threads with the GIL released (strings as object arrays)."""
    arrays = [_as_array(v) for v in values]
    copies: list[np.ndarray[Any, Any]] = []
    sources, dests = [], []
    for array in arrays:
        if array.nbytes < _PARALLEL_BYTES or array.dtype == object or not array.flags.c_contiguous:
            copies.append(array.copy())
            continue
        copy = np.empty_like(array)
        copies.append(copy)
        sources.append(array.reshape(-1).view(np.uint8))
        dests.append(copy.reshape(-1).view(np.uint8))
    if sources:
        _fastckpt.copy_into(sources, dests)
    return copies


def _run(work: Callable[[], T], future: Future[T]) -> None:
    try:
        result = work()
    except BaseException as error:  # handed to whoever asks the future
        _log.warning("fastckpt: background save failed: %s", error)
        future.set_exception(error)
    else:
        future.set_result(result)


class BackgroundSaves:
    """The background saves of one owner: at most one in flight, started in call order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Future[Any] | None = None

    def submit(self, prepare: Callable[[], Callable[[], T]]) -> Future[T]:
        """Waits for the previous save, runs ``prepare`` here (it takes the snapshot and returns
        the write), then runs the write on a new thread. The future holds its result or error."""
        with self._lock:
            self.wait()
            work = prepare()
            future: Future[T] = Future()
            future.set_running_or_notify_cancel()
            threading.Thread(target=_run, args=(work, future), name="fastckpt-save", daemon=False).start()
            self._pending = future
            return future

    def wait(self) -> None:
        """Waits until no save of this owner is running (errors stay with their futures)."""
        pending = self._pending
        if pending is not None:
            wait_futures([pending])
