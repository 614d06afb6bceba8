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
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, TypeVar

import numpy as np

from .writer import _as_array

T = TypeVar("T")

_log = logging.getLogger("fastckpt")

#: Arrays at least this big are copied by several threads (numpy releases the GIL while copying).
_PARALLEL_COPY_BYTES = 16 << 20
_COPY_CHUNK_BYTES = 8 << 20


def snapshot(values: Iterable[Any]) -> list[np.ndarray[Any, Any]]:
    """Copies of ``values`` (anything array-like) as numpy arrays, big ones copied in parallel."""
    arrays = [_as_array(v) for v in values]
    copies = [np.empty_like(a, order="C") if a.dtype != object else a.copy() for a in arrays]
    jobs: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    for source, copy in zip(arrays, copies):
        if source.dtype == object:
            continue
        if source.nbytes >= _PARALLEL_COPY_BYTES and source.flags.c_contiguous:
            flat_source, flat_copy = source.reshape(-1).view(np.uint8), copy.reshape(-1).view(np.uint8)
            step = _COPY_CHUNK_BYTES
            jobs.extend((flat_copy[i : i + step], flat_source[i : i + step]) for i in range(0, source.nbytes, step))
        else:
            np.copyto(copy, source)
    if jobs:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fastckpt-copy") as pool:
            list(pool.map(lambda job: np.copyto(job[0], job[1]), jobs))
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
