"""The ``checkpoint`` state file of a checkpoint folder, with ``tf.train``'s functions and rules:
``get_checkpoint_state``, ``update_checkpoint_state``, ``generate_checkpoint_state_proto``,
``latest_checkpoint``, ``wait_for_new_checkpoint``, ``checkpoints_iterator``, ``checkpoint_exists``,
``get_checkpoint_mtimes``, ``remove_checkpoint`` and ``meta_graph_filename``.

The file is text-format ``CheckpointState``; the engine parses and writes it (atomically). What
goes into it follows TensorFlow's ``checkpoint_management`` to the letter, including its path
rules (absolute vs relative, ``os.path.relpath`` against the folder), because TensorFlow and
fastckpt must understand each other's state files. A folder may be an object-store URL
(``s3://bucket/run``): the same rules apply through ``_storage``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Union

from . import _fastckpt, _storage
from ._fastckpt import CheckpointState
from .errors import DecodeError, InvalidFileError

PathLike = Union[str, "os.PathLike[str]"]

STATE_FILE = "checkpoint"

_log = logging.getLogger("fastckpt")


def _state_path(save_dir: str, latest_filename: str | None) -> str:
    return _storage.join(save_dir, STATE_FILE if latest_filename is None else latest_filename)


def get_checkpoint_state(checkpoint_dir: PathLike, latest_filename: str | None = None) -> CheckpointState | None:
    """The ``CheckpointState`` of ``checkpoint_dir``, with relative paths joined onto the folder.

    As ``tf.train.get_checkpoint_state``: ``None`` when there is no state file or it cannot be
    read or parsed (logged); ``InvalidFileError`` (a ``ValueError``) when it names no
    ``model_checkpoint_path`` (an empty file, for instance). A field given twice keeps its last value.
    """
    checkpoint_dir = os.fspath(checkpoint_dir)
    path = _state_path(checkpoint_dir, latest_filename)
    if not _storage.exists(path):
        return None
    try:
        content = _storage.read_bytes(path)
        state = _fastckpt.parse_checkpoint_state(content)
    except (OSError, DecodeError) as e:
        _log.warning("%s: %s", type(e).__name__, e)
        _log.warning("%s: Checkpoint ignored", path)
        return None
    if not state.model_checkpoint_path:
        raise InvalidFileError("Invalid checkpoint state loaded from " + checkpoint_dir)
    if not _storage.isabs(state.model_checkpoint_path):
        state.model_checkpoint_path = _storage.join(checkpoint_dir, state.model_checkpoint_path)
    paths = state.all_model_checkpoint_paths
    for i, p in enumerate(list(paths)):
        if not _storage.isabs(p):
            paths[i] = _storage.join(checkpoint_dir, p)
    return state


def generate_checkpoint_state_proto(
    save_dir: PathLike,
    model_checkpoint_path: str,
    all_model_checkpoint_paths: Sequence[str] | None = None,
    all_model_checkpoint_timestamps: Sequence[float] | None = None,
    last_preserved_timestamp: float | None = None,
) -> CheckpointState:
    """The ``CheckpointState`` a state file in ``save_dir`` would hold, as
    ``tf.compat.v1.train.generate_checkpoint_state_proto``.

    ``model_checkpoint_path`` is appended to ``all_model_checkpoint_paths`` unless it is already
    last; timestamps, if given, must be one per path (``ValueError``); when ``save_dir`` itself is
    relative, relative paths are rewritten relative to it (absolute ones stay as they are). A list
    given as ``all_model_checkpoint_paths`` is updated in place, as TensorFlow updates it (its
    tests count on that).
    """
    save_dir = os.fspath(save_dir)
    model = model_checkpoint_path
    given = all_model_checkpoint_paths
    paths = given if isinstance(given, list) else list(given or [])
    if not paths or paths[-1] != model:
        _log.info("%s is not in all_model_checkpoint_paths. Manually adding it.", model)
        paths.append(model)
    timestamps = list(all_model_checkpoint_timestamps or [])
    if timestamps and len(timestamps) != len(paths):
        raise ValueError(
            "Checkpoint timestamps, if provided, must match checkpoint paths (got "
            f"paths {paths} and timestamps {all_model_checkpoint_timestamps})"
        )
    if not _storage.isabs(save_dir):
        model = model if os.path.isabs(model) else os.path.relpath(model, save_dir)
        paths[:] = [p if os.path.isabs(p) else os.path.relpath(p, save_dir) for p in paths]
    return CheckpointState(
        model_checkpoint_path=model,
        all_model_checkpoint_paths=paths,
        all_model_checkpoint_timestamps=[float(t) for t in timestamps],
        last_preserved_timestamp=None if last_preserved_timestamp is None else float(last_preserved_timestamp),
    )


def update_checkpoint_state(
    save_dir: PathLike,
    model_checkpoint_path: str,
    all_model_checkpoint_paths: Sequence[str] | None = None,
    latest_filename: str | None = None,
    all_model_checkpoint_timestamps: Sequence[float] | None = None,
    last_preserved_timestamp: float | None = None,
    *,
    save_relative_paths: bool = False,
) -> None:
    """Replaces the state file of ``save_dir`` atomically, as ``tf.train.update_checkpoint_state``:
    the file holds ``generate_checkpoint_state_proto``'s state, after ``save_relative_paths`` has
    made absolute paths relative to ``save_dir``. A prefix equal to the state file's own path is
    refused (``RuntimeError``).
    """
    save_dir = os.fspath(save_dir)
    state_path = _state_path(save_dir, latest_filename)
    model = model_checkpoint_path
    paths = all_model_checkpoint_paths  # without save_relative_paths, a list is updated as TF's
    if save_relative_paths:
        model = _storage.relpath(model, save_dir) if _storage.isabs(model) else model
        paths = [_storage.relpath(p, save_dir) if _storage.isabs(p) else p for p in paths or []]
    state = generate_checkpoint_state_proto(
        save_dir, model, paths, all_model_checkpoint_timestamps, last_preserved_timestamp
    )
    if state_path == state.model_checkpoint_path:
        raise RuntimeError(
            f"Save path '{model_checkpoint_path}' conflicts with path used for "
            "checkpoint state.  Please use a different save path."
        )
    _fastckpt.write_checkpoint_state(
        state_path,
        state.model_checkpoint_path,
        list(state.all_model_checkpoint_paths),
        list(state.all_model_checkpoint_timestamps),
        state.last_preserved_timestamp,
    )


def _matches(pattern: str) -> list[str]:
    """Files matching a TensorFlow file pattern (``*``, ``?``, ``[...]``), as
    ``file_io.get_matching_files``."""
    return _storage.matching(pattern)


def latest_checkpoint(checkpoint_dir: PathLike, latest_filename: str | None = None) -> str | None:
    """The newest checkpoint prefix named by the state file of ``checkpoint_dir``, or ``None`` when
    there is no state file or no file matches the prefix (V2 ``P.index``, else the V1 file ``P``,
    which may be a pattern such as ``model-?????-of-00002``), as ``tf.train.latest_checkpoint``."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not state.model_checkpoint_path:
        return None
    prefix: str = state.model_checkpoint_path
    if _matches(prefix + ".index") or _matches(prefix):
        return prefix
    _log.error("Couldn't match files for checkpoint %s", prefix)
    return None


def wait_for_new_checkpoint(
    checkpoint_dir: PathLike,
    last_checkpoint: str | None = None,
    seconds_to_sleep: float = 1,
    timeout: float | None = None,
) -> str | None:
    """Polls ``latest_checkpoint(checkpoint_dir)`` every ``seconds_to_sleep`` until it names a
    checkpoint other than ``last_checkpoint`` and returns it, as
    ``tf.train.wait_for_new_checkpoint``; ``None`` once the next poll would come after ``timeout``
    seconds."""
    _log.info("Waiting for new checkpoint at %s", checkpoint_dir)
    give_up = None if timeout is None else time.time() + timeout
    while True:
        found = latest_checkpoint(checkpoint_dir)
        if found is not None and found != last_checkpoint:
            _log.info("Found new checkpoint at %s", found)
            return found
        if give_up is not None and time.time() + seconds_to_sleep > give_up:
            return None
        time.sleep(seconds_to_sleep)


def checkpoints_iterator(
    checkpoint_dir: PathLike,
    min_interval_secs: float = 0,
    timeout: float | None = None,
    timeout_fn: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """Yields each new latest checkpoint of ``checkpoint_dir`` as it appears, as
    ``tf.train.checkpoints_iterator``: at most one every ``min_interval_secs``; after ``timeout``
    seconds without one it stops, or asks ``timeout_fn`` whether to stop (true) or wait again."""
    last: str | None = None
    while True:
        found = wait_for_new_checkpoint(checkpoint_dir, last, timeout=timeout)
        if found is not None:
            started = time.time()
            last = found
            yield found
            pause = started + min_interval_secs - time.time()
            if pause > 0:
                time.sleep(pause)
        elif timeout_fn is None:
            _log.info("Timed-out waiting for a checkpoint (without timeout_fn).")
            return
        if timeout_fn is not None and timeout_fn():
            _log.info("Done. No new checkpoints will be generated.")
            return


def checkpoint_exists(checkpoint_prefix: PathLike) -> bool:
    """Whether a V2 (``P.index``) or V1 (``P``, possibly a pattern) checkpoint exists at the prefix."""
    prefix = os.fspath(checkpoint_prefix)
    return bool(_matches(prefix + ".index") or _matches(prefix))


def get_checkpoint_mtimes(checkpoint_prefixes: Sequence[PathLike]) -> list[float]:
    """The modification times of the checkpoints that exist among ``checkpoint_prefixes``, as
    ``tf.compat.v1.train.get_checkpoint_mtimes``: each one's ``P.index`` (V2), else its file ``P``
    (V1, possibly a pattern), in whole seconds since the Epoch as TensorFlow's file system reports
    them; missing checkpoints are skipped, so the list may be shorter than the prefixes. Local
    paths only (an object store's URL is a ``ValueError``).
    """
    mtimes = []
    for checkpoint_prefix in checkpoint_prefixes:
        prefix = os.fspath(checkpoint_prefix)
        if _storage.is_url(prefix):
            raise ValueError(f"{prefix}: modification times are read from local files only")
        found = _matches(prefix + ".index") or _matches(prefix)
        if found:
            mtimes.append(float(os.stat(found[0]).st_mtime_ns // 1_000_000_000))
    return mtimes


def meta_graph_filename(checkpoint_filename: str, meta_graph_suffix: str = "meta") -> str:
    """``P.meta`` for the prefix ``P``; a V1 sharded pattern's ``-?????-of-N`` tail is dropped."""
    base = re.sub(r"-[\d\?]+-of-\d+$", "", checkpoint_filename)
    return ".".join([base, meta_graph_suffix])


def remove_checkpoint(checkpoint_prefix: PathLike, checkpoint_format_version: int = 2, meta_graph_suffix: str = "meta") -> None:
    """Deletes the checkpoint's files: its meta graph, and ``P.index`` + ``P.data-*`` (V2, the
    default) or the file ``P`` (V1, ``checkpoint_format_version=1``); missing files are ignored."""
    prefix = os.fspath(checkpoint_prefix)
    patterns = [meta_graph_filename(prefix, meta_graph_suffix)]
    if checkpoint_format_version == 2:
        patterns += [prefix + ".index", prefix + ".data-?????-of-?????"]
    else:
        patterns.append(prefix)
    for pattern in patterns:
        for path in _matches(pattern):
            try:
                if _storage.is_url(path):
                    _storage.remove(path)
                else:
                    _fastckpt.remove_file(path)  # its space is freed in the background
            except FileNotFoundError:
                _log.warning(
                    "Hit NotFoundError when deleting '%s', possibly because another "
                    "process/thread is also deleting/moving the same file",
                    path,
                )
