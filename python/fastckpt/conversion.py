"""Converting checkpoints between TensorFlow's V2 format, safetensors and npz, and reading any of
them like a ``CheckpointReader``.

The engine does the work in Rust with the GIL released, streaming one tensor at a time: memory
stays bounded by the largest tensor that has to be materialised (cast, assembled from partitions)
plus fixed buffers, whatever the checkpoint's size. Outputs are written under temporary names and
renamed when complete.

Formats: ``"tf"`` (a checkpoint prefix, or a folder holding a ``checkpoint`` state file: its
latest checkpoint), ``"safetensors"`` (a ``.safetensors`` file, or a folder holding
``model.safetensors`` or Hugging Face's shards ``model-0000i-of-0000n.safetensors`` with
``model.safetensors.index.json``) and ``"npz"`` (an uncompressed ``np.savez`` file).
"""

from __future__ import annotations

import dataclasses
import glob
import importlib
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

import numpy as np

from . import _fastckpt, _storage
from .protos import CheckpointState
from .reader import CheckpointReader, PathLike, load_checkpoint
from .state import get_checkpoint_state

RenameRules = Union[Mapping[str, str], Sequence[tuple[str, str]], Callable[[str], Union[str, None]]]
Patterns = Union[str, Iterable[str]]

#: Suffixes of the single-file formats.
SUFFIXES = {"safetensors": ".safetensors", "npz": ".npz", "tf": ""}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_size(size: int | str) -> int:
    """Bytes in ``size``: an int, or a string as Hugging Face writes them (``"5GB"`` = 5·10⁹,
    ``"500MiB"`` = 500·2²⁰, ``"100KB"``)."""
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"a shard size must be positive, got {size}")
        return size
    match = _SIZE.match(size)
    if match is None:
        raise ValueError(f"cannot read {size!r} as a size (examples: 5GB, 500MiB, 1000000)")
    number, unit = float(match.group(1)), match.group(2).upper()
    scale = 1 << (10 * "KMGT".index(unit[0]) + 10) if "I" in unit else _UNITS[unit[:1]]
    return parse_size(int(number * scale))


def _patterns(patterns: Patterns | None) -> list[str]:
    if patterns is None:
        return []
    return [patterns] if isinstance(patterns, str) else list(patterns)


def _cast_name(cast: Any) -> str | None:
    if cast is None:
        return None
    if isinstance(cast, str):
        return cast
    return str(np.dtype(cast).name)


def convert(
    src: PathLike,
    dst: PathLike,
    *,
    to: str | None = None,
    rename: RenameRules | None = None,
    include: Patterns | None = None,
    exclude: Patterns | None = None,
    cast: Any = None,
    max_shard_size: int | str | None = None,
    alignment: int = 64,
    progress: bool | Callable[[str, int], object] = False,
    friendly_names: bool = False,
    skip_unsupported: bool = False,
) -> list[str]:
    """Converts the checkpoint ``src`` into ``dst`` and returns the files written.

    - ``to``: ``"tf"``, ``"safetensors"`` or ``"npz"``; by default from ``dst``'s suffix
      (``.safetensors``, ``.npz``), else a TF checkpoint prefix. ``to="safetensors"`` with a ``dst``
      that has no ``.safetensors`` suffix writes a folder: ``model.safetensors``, or with
      ``max_shard_size`` (bytes, or ``"5GB"``) Hugging Face's shards and index. A TF output with
      ``max_shard_size`` is one checkpoint whose tensors are spread over several data files
      (``P.data-0000i-of-0000n``) of at most that size each (a larger tensor alone).
    - ``include`` / ``exclude``: glob patterns matched against whole source names (``"optimizer/*"``),
      or regular expressions written ``"re:…"`` that may match anywhere (``"re:OPTIMIZER_SLOT"``).
    - ``friendly_names``: TF2 tensors named by their object's path through the model, from the
      checkpoint's object graph (``model/_operations/1/_kernel`` for a Keras 3 kernel stored under
      ``optimizer/_trainable_variables/0/.ATTRIBUTES/VARIABLE_VALUE``; the names
      ``object_graph(src).friendly_path(key)`` gives); optimizer state with no route through the
      model keeps its optimizer path; other sources lose ``/.ATTRIBUTES/VARIABLE_VALUE``.
    - ``rename``: ordered ``(pattern, replacement)`` rules (a dict or pairs; ``re.sub`` syntax,
      each applied to the result of the one before), or a callable that receives each source name
      and returns the output name, or ``None`` to leave the tensor out.
    - ``cast``: ``"bfloat16"``, ``"float16"`` or ``"float32"``: float32/float64 tensors are rounded
      to it (to nearest even, as numpy and ``ml_dtypes`` do; NaN and inf kept).
    - ``alignment``: TF output only, the alignment of every tensor in the data file.
    - ``skip_unsupported``: tensors the output format cannot hold (strings, variants, quantized types;
      for npz also bfloat16 and float8) are left out with a warning instead of raising.
    - ``progress``: ``True`` shows a progress bar (tqdm, when installed) on stderr; a callable is
      called with ``(name, nbytes)`` after each tensor.

    Partitioned variables are written whole. The object graph of a TF2 checkpoint stays out of
    safetensors and npz files; its keys are recorded in the safetensors metadata. In a TF output
    it keeps its name, ``_CHECKPOINTABLE_OBJECT_GRAPH``, whatever the rules (TensorFlow looks it up
    by that name), and its keys name the renamed tensors.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    rules: list[tuple[str, str]] = []
    names: dict[bytes, str | None] | None = None
    if callable(rename):
        # The engine takes names as their bytes: str keys of the listing encode back exactly.
        names = {name.encode("utf-8", "surrogateescape"): rename(name) for name in _fastckpt.Source(src).listing()}
    elif isinstance(rename, Mapping):
        rules = list(rename.items())
    elif rename is not None:
        rules = [(pattern, replacement) for pattern, replacement in rename]
    callback, close = _progress(progress, src)
    try:
        files, skipped = _fastckpt.convert(
            src,
            dst,
            to=to,
            include=_patterns(include),
            exclude=_patterns(exclude),
            friendly_names=friendly_names,
            rename=rules,
            names=names,
            cast=_cast_name(cast),
            max_shard_size=None if max_shard_size is None else parse_size(max_shard_size),
            alignment=alignment,
            skip_unsupported=skip_unsupported,
            progress=callback,
        )
    finally:
        close()
    if skipped:
        warnings.warn(
            f"{src}: left out {len(skipped)} tensor(s) the output format cannot hold: {', '.join(skipped)}",
            stacklevel=2,
        )
    return [os.fspath(f) for f in files]


def _progress(
    progress: bool | Callable[[str, int], object], src: str
) -> tuple[Callable[[str, int], object] | None, Callable[[], object]]:
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return None, lambda: None
    tqdm = _tqdm()
    if tqdm is None:
        return (lambda name, nbytes: print(f"{name}: {nbytes} bytes", file=sys.stderr)), lambda: None
    bar = tqdm(desc=os.path.basename(src), unit="B", unit_scale=True, file=sys.stderr)
    return (lambda name, nbytes: bar.update(nbytes)), bar.close


class TensorFileReader(CheckpointReader):
    """A safetensors file or folder, or an npz file, with ``CheckpointReader``'s interface.
    Arrays are read-only views into the mapped file (``copy=True``: owned copies)."""

    def __init__(self, path: PathLike) -> None:
        self._prefix = os.fspath(path)
        self._source = _fastckpt.Source(self._prefix)
        self._reader: _fastckpt.Reader | _fastckpt.Source | None = self._source
        self._entries = None

    @property
    def format(self) -> str:
        """``"safetensors"`` or ``"npz"``."""
        return self._source.format

    def __repr__(self) -> str:
        if self._reader is None:
            return f"TensorFileReader({self._prefix!r}, closed)"
        return f"TensorFileReader({self._prefix!r}, {self.format}, {len(self)} tensors)"


def open(path: PathLike, *, verify: bool = True) -> CheckpointReader:
    """Opens a checkpoint in any supported format: a TF prefix or folder (``load_checkpoint``;
    ``verify`` applies to it), a ``.safetensors`` file or folder, or an ``.npz`` file."""
    path = os.fspath(path)
    if path.endswith((".safetensors", ".npz")) or _is_safetensors_folder(path):
        return TensorFileReader(path)
    return load_checkpoint(path, verify=verify)


# --- many checkpoints --------------------------------------------------------------------------


@dataclasses.dataclass
class ConvertManyResult:
    """What ``convert_many`` did: each source with the files written, sources whose output already
    existed (``skip_existing``), and failures with their reason."""

    converted: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def expand_sources(sources: Iterable[PathLike], *, all_checkpoints: bool = False) -> list[str]:
    """The checkpoints named by ``sources``: glob patterns expanded; a folder holding a
    ``checkpoint`` state file stands for its latest checkpoint (every listed one with
    ``all_checkpoints``); ``P.index`` for the prefix ``P``. A pattern that matches nothing is
    kept, so that it is reported as missing."""
    found: list[str] = []
    for source in sources:
        text = os.fspath(source)
        matches = sorted(_storage.matching(text)) if glob.has_magic(text) else [text]
        for path in matches or [text]:
            if path.endswith(".index") and _storage.exists(path):
                path = path[: -len(".index")]
            state = _folder_state(path)
            if state is not None:
                listed = list(state.all_model_checkpoint_paths) if all_checkpoints else []
                found.extend(listed or [state.model_checkpoint_path])
            elif path not in found:
                found.append(path)
    return found


def _folder_state(path: str) -> CheckpointState | None:
    """The state of a checkpoint folder (paths joined onto it), or ``None`` when ``path`` has no
    usable state file: it is then converted, or reported, as it is."""
    try:
        return get_checkpoint_state(path)
    except ValueError:  # a state file naming no checkpoint
        return None


def _is_safetensors_folder(path: str) -> bool:
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, f)) for f in ("model.safetensors", "model.safetensors.index.json")
    )


def _output_path(dst_dir: str, name: str, to: str, folder: bool) -> str:
    return _storage.join(dst_dir, name if folder else name + SUFFIXES[to])


def _output_exists(path: str, to: str, folder: bool) -> bool:
    if to == "tf":
        return _storage.exists(path + ".index")
    if folder:
        return _is_safetensors_folder(path)
    return os.path.isfile(path)


def _output_names(sources: Sequence[str]) -> list[str]:
    """A file name per source: its base name, with its folder's name in front where two sources
    share a base name."""
    bases = [os.path.basename(os.path.normpath(s)) for s in sources]
    for suffix in (".safetensors", ".npz"):
        bases = [b[: -len(suffix)] if b.endswith(suffix) else b for b in bases]
    return [
        f"{os.path.basename(os.path.dirname(os.path.normpath(s)))}-{b}" if bases.count(b) > 1 else b
        for s, b in zip(sources, bases)
    ]


def _convert_one(src: str, dst: str, options: dict[str, Any]) -> tuple[str, list[str] | None, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return src, convert(src, dst, **options), ""
    except Exception as error:  # every failure is reported with its reason, none stops the others
        return src, None, f"{type(error).__name__}: {error}"


#: What ``convert_many`` runs its conversions on: ``"local"`` worker processes, or ``"ray"`` tasks.
BACKENDS = ("local", "ray")

#: Called by an executor with each finished conversion: source, files written (None when it
#: failed) and the reason of a failure.
_Done = Callable[[str, Union[list[str], None], str], object]


def convert_many(
    sources: Iterable[PathLike],
    dst_dir: PathLike,
    *,
    to: str = "safetensors",
    jobs: int | None = None,
    skip_existing: bool = False,
    all_checkpoints: bool = False,
    progress: bool = False,
    backend: str = "local",
    ray_address: str | None = None,
    **options: Any,
) -> ConvertManyResult:
    """Converts many checkpoints into ``dst_dir``, one output per source named after it
    (``model.ckpt-100.safetensors``), at most ``jobs`` at a time. Sources are expanded by
    ``expand_sources``. A failing source does not stop the others; every failure is listed with its
    reason. With ``skip_existing``, sources whose output exists are skipped, so an interrupted run
    can be resumed. ``options`` are those of ``convert``; ``progress`` shows one bar over the
    sources (tqdm, when installed).

    ``backend="local"`` runs worker processes on this machine (``jobs`` defaults to the number of
    CPUs). ``backend="ray"`` runs each conversion as a Ray task (``pip install 'fastckpt[ray]'``):
    on the Ray instance this process is connected to (``ray.init``) if any, else on the cluster at
    ``ray_address`` (``"head:6379"``, ``"ray://head:10001"``, ``"auto"``), else on a local instance
    sized to the machine; what the call connects to or starts, it disconnects or stops after it
    (``jobs`` defaults to no limit: the cluster's CPUs decide). On a cluster of several machines,
    sources and ``dst_dir`` must be paths every node sees (a shared file system) or object-store
    URLs."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: the backends are {', '.join(map(repr, BACKENDS))}")
    ray = _import_ray() if backend == "ray" else None
    dst = os.fspath(dst_dir)
    if to not in SUFFIXES:
        raise ValueError(f"unknown checkpoint format {to!r}: the formats are 'tf', 'safetensors' and 'npz'")
    folder = to == "safetensors" and options.get("max_shard_size") is not None
    expanded = expand_sources(sources, all_checkpoints=all_checkpoints)
    result = ConvertManyResult()
    todo: list[tuple[str, str]] = []
    for src, name in zip(expanded, _output_names(expanded)):
        out = _output_path(dst, name, to, folder)
        if skip_existing and _output_exists(out, to, folder):
            result.skipped.append(src)
        else:
            todo.append((src, out))
    if not todo:
        return result
    _storage.makedirs(dst)
    options = {**options, "to": to}
    bar = _bar(progress, len(todo))
    outcomes: dict[str, tuple[list[str] | None, str]] = {}

    def done(src: str, files: list[str] | None, reason: str) -> None:
        outcomes[src] = (files, reason)
        if bar is not None:
            bar.update(1)

    try:
        if ray is not None:
            _run_on_ray(ray, todo, options, jobs, ray_address, done)
        else:
            _run_in_processes(todo, options, jobs, done)
    finally:
        if bar is not None:
            bar.close()
    for src, _ in todo:
        files, reason = outcomes[src]
        if files is None:
            result.failed.append((src, reason))
        else:
            result.converted.append((src, files))
    return result


def _run_in_processes(todo: list[tuple[str, str]], options: dict[str, Any], jobs: int | None, done: _Done) -> None:
    """The local executor: ``jobs`` worker processes (default: the number of CPUs), each handed one
    conversion at a time, so that a worker that dies (killed, out of memory, a crash in native
    code) fails only the source it was converting; a new worker takes its place."""
    count = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    waiting = list(reversed(todo))
    idle: list[_Worker] = []
    busy: dict[_Worker, str] = {}
    try:
        while waiting or busy:
            while waiting and len(busy) < count:
                reused = bool(idle)
                worker = idle.pop() if reused else _Worker()
                src, out = waiting.pop()
                if worker.start(src, out, options):
                    busy[worker] = src
                elif reused:  # it died while idle: the conversion goes to another worker
                    waiting.append((src, out))
                else:
                    done(src, None, f"WorkerDied: the process started to convert it {worker.death()}")
            ready = multiprocessing.connection.wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in [w for w in busy if w.conn in ready or w.process.sentinel in ready]:
                src = busy.pop(worker)
                outcome = worker.result()
                if outcome is None:
                    done(src, None, f"WorkerDied: the process converting it {worker.death()}")
                else:
                    idle.append(worker)
                    done(*outcome)
    finally:
        for worker in idle:
            worker.stop()
        for worker in busy:  # only when interrupted (Ctrl-C, an error): its output stays unfinished
            worker.kill()


class _Worker:
    """A conversion process of the local executor, fed through a pipe. Fresh interpreters
    ("spawn"): the workers share nothing with a parent that may hold threads."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), name="fastckpt-convert")
        self.process.start()
        child.close()

    def start(self, src: str, out: str, options: dict[str, Any]) -> bool:
        """Hands it a conversion; ``False`` when it is no longer there to take it."""
        try:
            self.conn.send((src, out, options))
        except (BrokenPipeError, ConnectionResetError):
            self.stop()
            return False
        return True

    def result(self) -> tuple[str, list[str] | None, str] | None:
        """The outcome of its conversion, or ``None`` when it died before sending one."""
        try:
            outcome: tuple[str, list[str] | None, str] = self.conn.recv()
        except (EOFError, ConnectionResetError):
            self.stop()
            return None
        return outcome

    def death(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"

    def stop(self) -> None:
        """Ends it when it is waiting for work (or gone): asks first, kills it if that is not enough."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        self.kill()

    def kill(self) -> None:
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
        self.conn.close()


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """A worker's loop: converts what it is sent until told to stop (``None``) or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(_convert_one(*task))


def _run_on_ray(
    ray: Any, todo: list[tuple[str, str]], options: dict[str, Any], jobs: int | None, address: str | None, done: _Done
) -> None:
    """The Ray executor: one task per conversion, at most ``jobs`` in flight (default: all of them,
    Ray schedules them on the cluster's CPUs). A task whose worker died (a crash, a lost node,
    after Ray's own retries) is a failure of that source, reported like any other."""
    connect = not ray.is_initialized()
    if connect and address is None:
        # A new instance of our own (not one found on the machine): a worker slot per CPU.
        ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
    elif connect:
        ray.init(address=address, logging_level=logging.WARNING)
    try:
        task = ray.remote(num_cpus=1)(_convert_one)
        waiting = iter(todo)
        running: dict[Any, str] = {}
        limit = jobs or len(todo)
        while True:
            for src, out in itertools.islice(waiting, max(0, limit - len(running))):
                running[task.remote(src, out, options)] = src
            if not running:
                break
            [ref], _ = ray.wait(list(running), num_returns=1)
            src = running.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as error:
                outcome = (src, None, f"{type(error).__name__}: {error}")
            done(*outcome)
    finally:
        if connect:
            ray.shutdown()


def _import_ray() -> Any:
    """The ``ray`` module (an optional dependency), or an ImportError that says how to get it."""
    try:
        return importlib.import_module("ray")
    except ImportError as error:
        raise ImportError(
            f"the Ray backend of convert_many needs Ray ({error}): pip install 'fastckpt[ray]'"
        ) from error


def _tqdm() -> Any:
    """tqdm's progress bar class when tqdm is installed (an optional dependency), else None."""
    try:
        return importlib.import_module("tqdm").tqdm
    except ImportError:
        return None


def _bar(progress: bool, total: int) -> Any:
    tqdm = _tqdm() if progress else None
    return None if tqdm is None else tqdm(total=total, unit="ckpt", file=sys.stderr)
