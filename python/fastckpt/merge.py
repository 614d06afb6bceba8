"""One checkpoint from several parts: ``merge_bundles`` (TensorFlow's ``MergeV2Checkpoints``) and
the sharded save built on it, where several threads each write one data file of the checkpoint.

On a local path each part is a bundle of its own in a temporary folder, whose data file the merge
renames into place. Object stores cannot rename: there each part uploads its data under the final
name ``P.data-<i>-of-<n>`` and puts only its index in the temporary folder; the merge PUTs the
joined index last, so that until then ``P`` has no index and no reader sees the new checkpoint.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _fastckpt, _storage
from .reader import PathLike
from .writer import BundleWriter, _as_array


def merge_bundles(
    prefixes: Sequence[PathLike],
    output_prefix: PathLike,
    delete_inputs: bool = True,
    *,
    allow_missing_files: bool = False,
    sync: bool = False,
) -> str:
    """Merges the checkpoints at ``prefixes`` into one at ``output_prefix``, as TensorFlow's
    ``MergeV2Checkpoints``: their data files are renamed (not copied) to
    ``output_prefix.data-0000i-of-0000n`` and one index points at them; the inputs' index files
    are deleted, and with ``delete_inputs`` their folders too when left empty. Two inputs holding
    the same tensor (other than slices of one partitioned tensor) raise ``ValueError``
    (``Duplicate tensor keyed by …``) before anything is moved. An input without an index
    raises ``FileNotFoundError``; with ``allow_missing_files`` (as the op's attribute) it is
    skipped, and only none at all is an error. ``sync=True``: the new index and the folder are
    on the device when this returns. Returns ``output_prefix``.

    On object storage (``s3://``…) the inputs are parts written by
    ``BundleWriter(part, merged_prefix=output_prefix, shard=i, num_shards=n)``, whose data objects
    already have their final names: the merge checks that they are all there and PUTs the one
    index (the commit point)."""
    output = os.fspath(output_prefix)
    paths = [os.fspath(p) for p in prefixes]
    if allow_missing_files:
        paths = [p for p in paths if _storage.exists(p + ".index")]
    _fastckpt.merge_bundles(paths, output, delete_inputs, sync)
    return output


def _balanced_groups(sizes: Sequence[int], n: int) -> list[list[int]]:
    """Indices split into at most ``n`` non-empty groups of similar byte totals (largest first,
    each to the lightest group), each group in its original order."""
    loads = [0] * n
    groups: list[list[int]] = [[] for _ in range(n)]
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lightest = loads.index(min(loads))
        groups[lightest].append(i)
        loads[lightest] += sizes[i]
    return [sorted(g) for g in groups if g]


def _discard_parts(temp: str, prefix: str, num_shards: int) -> None:
    """Deletes what the parts of an unfinished save at ``prefix`` left: the folder ``temp`` (on
    object storage the part indexes in it) and, on object storage, the data objects they uploaded
    under their final names (``num_shards`` of them; 0: the parts only). Best effort: a failure
    here must not hide the save's own error."""
    if not _storage.is_url(prefix):
        shutil.rmtree(temp, ignore_errors=True)
        return
    leftovers = _storage.matching(_storage.join(temp, "part-*"))
    leftovers += [f"{prefix}.data-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]
    for url in leftovers:
        try:
            _storage.remove(url)
        except Exception:  # pragma: no cover - the store went away as well
            pass


def save_sharded(
    tensors: Mapping[Any, Any],
    prefix: PathLike,
    num_shards: int = 1,
    *,
    max_shard_size: int | str | None = None,
    alignment: int = 64,
    sync: bool = False,
) -> str:
    """Saves ``tensors`` as one checkpoint with several data files, each written by a thread of its
    own: up to ``num_shards`` files of similar size, or with ``max_shard_size`` (bytes, or
    ``"5GB"``) as many as consecutive tensors need at that size each. On a local path each thread
    writes a temporary part (``P_temp…/part-0000i-of-0000n``, as TensorFlow's sharded Saver does)
    that is merged into place; on object storage each uploads its data object under its final
    name and the index is PUT after all of them. Either way an earlier checkpoint at ``prefix``
    keeps its index until the merge, and a failed save leaves no index and deletes its parts.
    ``sync=True``: every part is fsynced, and after the merge the index and the folder too."""
    prefix = os.fspath(prefix)
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    items = list(tensors.items())
    arrays = [(name, _as_array(value)) for name, value in items]
    sizes = [a.nbytes for _, a in arrays]
    if max_shard_size is not None:
        from .conversion import parse_size

        groups = _fastckpt.plan_shards(sizes, parse_size(max_shard_size))
    else:
        groups = _balanced_groups(sizes, min(num_shards, max(len(arrays), 1)))
    if len(groups) <= 1:
        with BundleWriter(prefix, alignment=alignment, sync=sync) as writer:
            writer.add_many(arrays)
        return prefix
    count = len(groups)
    temp = f"{prefix}_temp_{uuid.uuid4().hex}"
    parts = [_storage.join(temp, f"part-{i:05d}-of-{count:05d}") for i in range(count)]
    in_place = _storage.is_url(prefix)

    def write(i: int) -> None:
        merged = prefix if in_place else None
        with BundleWriter(parts[i], alignment=alignment, sync=sync, merged_prefix=merged, shard=i, num_shards=count) as writer:
            writer.add_many(arrays[j] for j in groups[i])

    try:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="fastckpt-shard") as pool:
            list(pool.map(write, range(count)))
        merge_bundles(parts, prefix, delete_inputs=True, sync=sync)
    except BaseException:
        _discard_parts(temp, prefix, count)
        raise
    if not in_place:
        shutil.rmtree(temp, ignore_errors=True)
    return prefix
