"""Many processes, one checkpoint: every process saves the tensors it holds (whole arrays, or its
``Slice`` of a partitioned variable) and one process merges them; on restore every process reads
exactly the slices it needs, whatever slicing wrote them.

Saving goes as TensorFlow's sharded save does::

    rank r:  prefix_temp/part-0000r-of-0000n.{index,data-00000-of-00001}     (each process)
    ── all_gather (barrier): every part is complete ──
    rank 0:  merge_bundles(parts) → prefix.index + prefix.data-0000r-of-0000n (files renamed)
             then the ``checkpoint`` state file; the result is broadcast to every rank

On object storage, which cannot rename, rank r uploads its data straight to its final name
``prefix.data-0000r-of-0000n`` and only its index to ``prefix_temp/part-0000r-of-0000n.index``;
rank 0 reads those small indexes back, joins them and PUTs ``prefix.index``.

The index is written last, so a process that dies before the barrier leaves no new checkpoint and
the previous one intact; the next save to the same prefix clears what was left in ``prefix_temp``.
The name check before writing gathers every rank's list of names on rank 0 only, which
broadcasts its verdict.

Processes talk through a ``Coordinator``: ``MPICoordinator`` (mpi4py), ``TorchCoordinator``
(torch.distributed) or ``LocalCoordinator`` (one process). Every collective step gathers each
rank's outcome, so that all ranks return the same result or raise the same error.
"""

from __future__ import annotations

import logging
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from . import _storage
from ._dtypes import dtype_mismatch, enum_of
from .errors import CheckpointError, InvalidArgumentError, TensorNotFoundError
from .merge import _discard_parts, merge_bundles
from .reader import CheckpointReader, PathLike, _resolve_prefix, tensor_array
from .state import get_checkpoint_state, remove_checkpoint, update_checkpoint_state
from .writer import BundleWriter, SliceSpec, _extents

__all__ = ["Coordinator", "LocalCoordinator", "MPICoordinator", "Slice", "TorchCoordinator", "restore", "save"]

_log = logging.getLogger("fastckpt")

T = TypeVar("T")


@runtime_checkable
class Coordinator(Protocol):
    """What ``save`` and ``restore`` need from the processes' launcher: this process's ``rank``
    among ``size`` processes, a ``barrier``, and collectives of small picklable objects."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    def barrier(self) -> None: ...

    def broadcast(self, obj: T, root: int = 0) -> T:
        """``obj`` of rank ``root``, on every rank."""
        ...

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        ...

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        """Every rank's ``obj``, in rank order, on rank ``root``; ``None`` on the others."""
        ...


class LocalCoordinator:
    """A single process: rank 0 of 1."""

    rank = 0
    size = 1

    def barrier(self) -> None:
        pass

    def broadcast(self, obj: T, root: int = 0) -> T:
        if root != 0:
            raise ValueError(f"broadcast root {root} is not a rank of a single process")
        return obj

    def all_gather(self, obj: Any) -> list[Any]:
        return [obj]

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        return [self.broadcast(obj, root)]


class MPICoordinator:
    """The processes of an MPI communicator (``mpi4py``; ``COMM_WORLD`` unless ``comm`` is given),
    e.g. launched by ``mpiexec -n 8 python train.py``."""

    def __init__(self, comm: Any = None) -> None:
        if comm is None:
            from mpi4py import MPI

            comm = MPI.COMM_WORLD
        self._comm = comm

    @property
    def rank(self) -> int:
        return int(self._comm.Get_rank())

    @property
    def size(self) -> int:
        return int(self._comm.Get_size())

    def barrier(self) -> None:
        self._comm.Barrier()

    def broadcast(self, obj: T, root: int = 0) -> T:
        result: T = self._comm.bcast(obj, root=root)
        return result

    def all_gather(self, obj: Any) -> list[Any]:
        return list(self._comm.allgather(obj))

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        gathered = self._comm.gather(obj, root=root)
        return None if gathered is None else list(gathered)


class TorchCoordinator:
    """The processes of an initialised ``torch.distributed`` process group (the default group
    unless ``group`` is given), through its object collectives; any backend that supports them
    (``gloo`` on CPU)."""

    def __init__(self, group: Any = None) -> None:
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("TorchCoordinator needs an initialised torch.distributed process group")
        self._dist = dist
        self._group = group

    @property
    def rank(self) -> int:
        return int(self._dist.get_rank(self._group))

    @property
    def size(self) -> int:
        return int(self._dist.get_world_size(self._group))

    def barrier(self) -> None:
        self._dist.barrier(group=self._group)

    def broadcast(self, obj: T, root: int = 0) -> T:
        """``root`` is a rank of the group; torch wants its rank in the default group."""
        src = root if self._group is None else self._dist.get_global_rank(self._group, root)
        box = [obj]
        self._dist.broadcast_object_list(box, src=src, group=self._group)
        return box[0]

    def all_gather(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.size
        self._dist.all_gather_object(out, obj, group=self._group)
        return out

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        dst = root if self._group is None else self._dist.get_global_rank(self._group, root)
        out: list[Any] | None = [None] * self.size if self.rank == root else None
        self._dist.gather_object(obj, out, dst=dst, group=self._group)
        return out


class Slice:
    """One process's part of a partitioned variable of shape ``full_shape``: the box ``spec`` in
    TensorFlow's spelling (``"2,2:-"``: rows 2..4, every column) or, per dimension, a
    ``(start, length)`` pair, a ``slice`` or ``None`` for the whole dimension. For ``save``,
    ``value`` holds the part's data; for ``restore``, ``value`` may be an array to fill in place
    (a new one is made otherwise)."""

    def __init__(self, full_shape: Sequence[int], spec: SliceSpec, value: Any = None) -> None:
        self.full_shape = tuple(operator.index(d) for d in full_shape)
        self.spec = spec
        self.value = value

    def region(self, name: str) -> list[tuple[int, int]]:
        """Per dimension ``(start, length)``, checked against ``full_shape``; errors name the
        tensor."""
        try:
            extents = _extents(self.spec, self.full_shape)
            full = (0, -1)  # how _extents marks a whole dimension
            region = [(0, dim) if extent == full else extent for extent, dim in zip(extents, self.full_shape)]
            for (start, length), dim in zip(region, self.full_shape):
                if start < 0 or length < 0 or start + length > dim:
                    raise ValueError(f"extent {start},{length} does not fit a dimension of {dim}")
        except (TypeError, ValueError) as error:
            raise ValueError(f"tensor '{name}': slice {self.spec!r} of shape {list(self.full_shape)}: {error}") from None
        return region

    def __repr__(self) -> str:
        return f"Slice(full_shape={list(self.full_shape)}, spec={self.spec!r})"


# ----------------------------------------------------------------------------------------------
# Collective steps: each rank's outcome is gathered, and a failure anywhere fails every rank.


class _Failure:
    """An exception raised on one rank (``None``: rank 0 judging all of them; its message names
    the ranks), as it travels to the others: its type (when every rank can unpickle it: Python's
    own and fastckpt's) and its message."""

    def __init__(self, rank: int | None, error: BaseException) -> None:
        kind = type(error)
        self.rank = rank
        self.kind: type[BaseException] | None = kind if kind.__module__.split(".")[0] in ("builtins", "fastckpt") else None
        self.kind_name = kind.__qualname__
        self.message = str(error)

    def exception(self) -> BaseException:
        message = self.message if self.rank is None else f"rank {self.rank}: {self.message}"
        try:
            if self.kind is not None:
                return self.kind(message)
        except Exception:  # a type that is not built from a message
            pass
        return CheckpointError(f"{self.kind_name} on {message}")


def _exchanged(what: str, call: Callable[[], T]) -> T:
    """A collective call of the coordinator. When the call itself fails (a rank died, the process
    group broke), the error says which checkpoint was being saved or restored; the launcher's own
    error is its cause."""
    try:
        return call()
    except Exception as e:
        raise CheckpointError(
            f"{what}: the processes could not exchange results ({type(e).__name__}: {e}); did another rank stop?"
        ) from e


def _collective(coordinator: Coordinator, what: str, work: Callable[[], T]) -> list[T]:
    """Runs ``work`` on every rank and gathers the results (a barrier); raises the first failing
    rank's error on every rank. ``what``: the operation, for errors of the gathering itself."""
    try:
        outcome: Any = work()
        error: Exception | None = None
    except Exception as e:
        outcome, error = _Failure(coordinator.rank, e), e
    outcomes = _exchanged(what, lambda: coordinator.all_gather(outcome))
    _raise_first(outcomes, error)
    return outcomes


def _judged(coordinator: Coordinator, what: str, work: Callable[[], T], judge: Callable[[list[T]], None]) -> None:
    """Runs ``work`` on every rank; rank 0 alone receives the results and hands them to ``judge``.
    Its verdict (the first failure: of a rank's work or of the judgement) is broadcast and raised
    on every rank. Memory and traffic grow with the number of ranks on rank 0 only."""
    try:
        outcome: Any = work()
        error: Exception | None = None
    except Exception as e:
        outcome, error = _Failure(coordinator.rank, e), e
    outcomes = _exchanged(what, lambda: coordinator.gather(outcome, root=0))
    verdict: _Failure | None = None
    if outcomes is not None:
        verdict = next((o for o in outcomes if isinstance(o, _Failure)), None)
        if verdict is None:
            try:
                judge(outcomes)
            except Exception as e:
                verdict, error = _Failure(None, e), e
    _raise_first([_exchanged(what, lambda: coordinator.broadcast(verdict, root=0))], error)


def _raise_first(outcomes: Sequence[Any], own: Exception | None) -> None:
    failure = next((o for o in outcomes if isinstance(o, _Failure)), None)
    if failure is not None:
        raise failure.exception() from own


# ----------------------------------------------------------------------------------------------
# Saving


def _step_prefix(prefix: str, global_step: Any) -> str:
    if global_step is None:
        return prefix
    return f"{prefix}-{operator.index(np.asarray(global_step).item())}"


def _manifest(tensors: Mapping[str, Any]) -> dict[str, Any]:
    """What this rank saves, as small as the name check needs: name → ``None`` (a whole tensor)
    or the full shape of the partitioned variable a ``Slice`` belongs to. Slices are checked here,
    before anything is written."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save() takes a mapping of tensor names to arrays or Slices, got {type(tensors).__name__}")
    manifest: dict[str, Any] = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, got {type(name).__name__} {name!r}")
        if isinstance(value, Slice):
            region = value.region(name)
            shape = tuple(np.shape(value.value))
            if value.value is None or shape != tuple(length for _, length in region):
                raise ValueError(
                    f"tensor '{name}': slice {value.spec!r} of shape {list(value.full_shape)} needs a value of "
                    f"shape {[length for _, length in region]}, got {None if value.value is None else list(shape)}"
                )
            manifest[name] = value.full_shape
        else:
            manifest[name] = None
    return manifest


def _check_names(manifests: Sequence[Mapping[str, Any]]) -> None:
    """A name may be saved by several ranks only as slices of one partitioned variable of one
    full shape (whether the slices cover it exactly is the merge's to check)."""
    first: dict[str, tuple[int, Any]] = {}
    for rank, manifest in enumerate(manifests):
        for name, entry in manifest.items():
            if name not in first:
                first[name] = (rank, entry)
                continue
            other_rank, other = first[name]
            if entry is None or other is None:
                raise ValueError(
                    f"tensor '{name}' is saved by rank {other_rank} and by rank {rank}; only the "
                    "distributed.Slice parts of one partitioned variable may come from several ranks"
                )
            if entry != other:
                raise ValueError(
                    f"tensor '{name}': rank {other_rank} saves a slice of shape {list(other)}, "
                    f"rank {rank} a slice of shape {list(entry)}"
                )


def _write_part(
    path: str, tensors: Mapping[str, Any], alignment: int, sync: bool, merged: str | None, rank: int, size: int
) -> None:
    """This rank's part; with ``merged`` (object storage) its data object gets its final name."""
    part = BundleWriter(
        path, alignment=alignment, sync=sync, allow_partial_slices=True, merged_prefix=merged, shard=rank, num_shards=size
    )
    with part as writer:
        writer.add_many((name, value) for name, value in tensors.items() if not isinstance(value, Slice))
        for name, value in tensors.items():
            if isinstance(value, Slice):
                writer.add_slice(name, value.full_shape, value.spec, value.value)


def _commit(parts: list[str], prefix: str, temp: str, sync: bool, max_to_keep: int | None) -> str:
    """Rank 0's share: the merge, then the state file and retention."""
    try:
        merge_bundles(parts, prefix, delete_inputs=True, sync=sync)
    except BaseException:
        _discard_parts(temp, prefix, len(parts))
        raise
    if not _storage.is_url(prefix):
        _discard_parts(temp, prefix, len(parts))  # the renamed parts' empty folder
    save_dir = _storage.dirname(prefix) or "."
    state = get_checkpoint_state(save_dir)
    same = _same_path(prefix)  # the state file's paths come back joined onto the folder
    paths = [p for p in (state.all_model_checkpoint_paths if state else []) if _same_path(p) != same] + [prefix]
    stale: list[str] = []
    if max_to_keep is not None and max_to_keep > 0 and len(paths) > max_to_keep:
        stale, paths = paths[:-max_to_keep], paths[-max_to_keep:]
    update_checkpoint_state(save_dir, prefix, paths)
    for old in stale:
        try:
            remove_checkpoint(old)
        except Exception as e:  # deleting old checkpoints is best effort, as in TensorFlow
            _log.warning("Ignoring: %s", e)
    return prefix


def _same_path(path: str) -> str:
    return path if _storage.is_url(path) else os.path.normpath(path)


def _clear_leftovers(temp: str, prefix: str) -> None:
    """Rank 0, before anyone writes: what a save to ``prefix`` that died left behind (its parts;
    on object storage also its data objects, when no index at ``prefix`` refers to them)."""
    _discard_parts(temp, prefix, 0)
    if _storage.is_url(prefix) and not _storage.exists(f"{prefix}.index"):
        for data in _storage.matching(f"{prefix}.data-*"):
            _storage.remove(data)


def save(
    tensors: Mapping[str, Any],
    prefix: PathLike,
    *,
    coordinator: Coordinator | None = None,
    global_step: Any = None,
    sync: bool = False,
    max_to_keep: int | None = None,
    alignment: int = 64,
) -> str:
    """Saves every process's ``tensors`` as one checkpoint at ``prefix`` (``prefix-<global_step>``
    when a step is given) and returns that prefix on every rank; every rank must call it.

    ``tensors`` maps names to arrays this process alone saves, or to ``Slice`` parts of a
    partitioned variable; a name saved whole by two ranks raises ``ValueError`` naming both, and
    the slices of a variable from all ranks must cover it exactly once. Each process writes
    ``prefix_temp/part-<rank>-of-<size>``; after a barrier rank 0 merges the parts (data files
    renamed, not copied) and updates the ``checkpoint`` state file of the folder, deleting
    checkpoints beyond the newest ``max_to_keep``. An error on any rank is raised on every rank.
    ``sync=True``: the checkpoint is on the device when this returns.

    On object storage (``s3://``…) rank r uploads its data straight to
    ``prefix.data-<r>-of-<size>`` and its index to ``prefix_temp/``; rank 0 joins the indexes into
    ``prefix.index``, PUT after every rank finished (no data copied).
    """
    coord = LocalCoordinator() if coordinator is None else coordinator
    rank, size = coord.rank, coord.size
    prefix = _step_prefix(os.fspath(prefix), global_step)
    temp = f"{prefix}_temp"
    parts = [_storage.join(temp, f"part-{i:05d}-of-{size:05d}") for i in range(size)]
    merged = prefix if _storage.is_url(prefix) else None
    what = f"saving checkpoint {prefix} (rank {rank} of {size})"

    def describe() -> dict[str, Any]:
        if rank == 0:  # nobody writes before this step ends
            _clear_leftovers(temp, prefix)
        return _manifest(tensors)

    _judged(coord, what, describe, _check_names)
    try:
        _collective(coord, what, lambda: _write_part(parts[rank], tensors, alignment, sync, merged, rank, size))
    except Exception:
        # Once the gather has answered, every rank is past its write and the parts of the failed
        # save can go. If the gather itself failed (a rank died), others may still be writing:
        # they fail as well, and the next save clears whatever they leave (see `describe`).
        if rank == 0:
            _discard_parts(temp, prefix, size)
        raise
    outcome: Any = None
    error: Exception | None = None
    if rank == 0:
        try:
            outcome = _commit(parts, prefix, temp, sync, max_to_keep)
        except Exception as e:
            outcome, error = _Failure(rank, e), e
    outcome = _exchanged(what, lambda: coord.broadcast(outcome, root=0))
    _raise_first([outcome], error)
    result: str = outcome
    return result


# ----------------------------------------------------------------------------------------------
# Restoring


def _fill(reader: CheckpointReader, listing: Mapping[str, Any], name: str, target: Any) -> np.ndarray[Any, Any]:
    """Reads ``name`` (or the box a ``Slice`` names) into the target array, or a new one;
    ``listing`` maps the checkpoint's names to their numpy dtype and shape."""
    if name not in listing:
        raise TensorNotFoundError(f"Key {name} not found in checkpoint {reader.prefix}")
    dtype, shape = listing[name]
    where = f" (checkpoint {reader.prefix})"
    if isinstance(target, Slice):
        if target.full_shape != shape:  # RestoreV2's words for a shape_and_slices of another shape
            raise InvalidArgumentError(
                f"tensor_name = {name}; shape in shape_and_slice spec {_dims(target.full_shape)} does not match "
                f"the shape stored in checkpoint: {_dims(shape)}{where}"
            )
        region = target.region(name)
        out = target.value
    else:
        region = [(0, dim) for dim in shape]
        out = target
    lengths = tuple(length for _, length in region)
    if out is None:
        out = np.empty(lengths, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"tensor '{name}' is restored into numpy arrays, not {type(out).__name__}")
    if out.dtype != dtype:  # RestoreV2's words
        raise InvalidArgumentError(dtype_mismatch(name, enum_of(out.dtype), enum_of(dtype)) + where)
    if out.shape != lengths:
        raise ValueError(
            f"tensor '{name}': the checkpoint holds {dtype} of shape {list(lengths)} for it, "
            f"the array to fill is {out.dtype} of shape {list(out.shape)}"
        )
    if dtype.kind == "O":  # strings: decoded whole, then cut
        out[...] = tensor_array(reader.get_tensor(name))[tuple(slice(s, s + n) for s, n in region)]
    elif out.flags.c_contiguous and out.flags.writeable:
        reader._read_region(name, region, out.reshape(-1).view(np.uint8))
    else:
        buffer = np.empty(lengths, dtype=dtype)
        reader._read_region(name, region, buffer.reshape(-1).view(np.uint8))
        out[...] = buffer
    return out


def _dims(shape: Sequence[int]) -> str:
    """A shape as TensorFlow prints it: ``[5,10]``."""
    return "[" + ",".join(map(str, shape)) + "]"


def restore(
    prefix: PathLike, wanted: Mapping[str, Any], *, coordinator: Coordinator | None = None, verify: bool = True
) -> dict[str, np.ndarray[Any, Any]]:
    """Reads, on each process, the tensors it needs from the checkpoint at ``prefix`` (or the
    latest one of a folder, as rank 0 finds it): ``wanted`` maps names to arrays to fill in
    place with the whole tensor, or to ``Slice(full_shape, spec)`` for one box of it (filled into
    ``Slice.value`` when given). Only the stored pieces that meet a wanted box are read, however
    many processes wrote the checkpoint and however they split it. Returns name → array. A
    missing name (``KeyError``) or a shape or dtype that does not fit (``ValueError``; a dtype or
    full shape other than the checkpoint's: ``InvalidArgumentError``, RestoreV2's words) on any rank
    is raised on every rank; every rank must call it."""
    coord = LocalCoordinator() if coordinator is None else coordinator
    what = f"restoring checkpoint {os.fspath(prefix)} (rank {coord.rank} of {coord.size})"
    path = _collective(coord, what, lambda: _resolve_prefix(prefix) if coord.rank == 0 else "")[0]

    def read() -> dict[str, np.ndarray[Any, Any]]:
        if not isinstance(wanted, Mapping):
            raise TypeError(f"restore() takes a mapping of tensor names to arrays or Slices, got {type(wanted).__name__}")
        with CheckpointReader(path, verify=verify) as reader:
            dtypes, shapes = reader.get_variable_to_dtype_map(), reader.get_variable_to_shape_map()
            listing = {name: (dtypes[name], tuple(shape)) for name, shape in shapes.items()}
            return {name: _fill(reader, listing, name, target) for name, target in wanted.items()}

    restored: dict[str, np.ndarray[Any, Any]] = {}

    def read_and_keep() -> None:
        restored.update(read())

    _collective(coord, what, read_and_keep)  # arrays stay local; only the outcome travels
    return restored
