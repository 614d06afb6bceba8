"""One checkpoint from several parts: ``merge_bundles`` (TensorFlow's ``MergeV2Checkpoints``) and
the sharded save built on it, where several threads each write one data file of the checkpoint.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _fastckpt
from .reader import PathLike
from .writer import BundleWriter, _as_array


def merge_bundles(
    prefixes: Sequence[PathLike], output_prefix: PathLike, delete_inputs: bool = True, *, sync: bool = False
) -> str:
    """Merges the checkpoints at ``prefixes`` into one at ``output_prefix``, as TensorFlow's
    ``MergeV2Checkpoints``: their data files are renamed (not copied) to
    ``output_prefix.data-0000i-of-0000n`` and one index points at them; the inputs' index files
    are deleted, and with ``delete_inputs`` their folders too when left empty. Two inputs holding
    the same tensor (other than slices of one partitioned tensor) raise ``ValueError``
    (``Duplicate tensor keyed by …``) before anything is moved. ``sync=True``: the new index and
    the folder are on the device when this returns. Returns ``output_prefix``."""
    output = os.fspath(output_prefix)
    _fastckpt.merge_bundles([os.fspath(p) for p in prefixes], output, delete_inputs, sync)
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


def save_sharded(
    tensors: Mapping[Any, Any], prefix: PathLike, num_shards: int, *, alignment: int = 64, sync: bool = False
) -> str:
    """Saves ``tensors`` as one checkpoint with up to ``num_shards`` data files, each written by a
    thread of its own into a temporary part (``P_temp…/part-0000i-of-0000n``, as TensorFlow's
    sharded Saver does) and merged into place; an earlier checkpoint at ``prefix`` stays whole
    until the merge. ``sync=True``: every part is fsynced, and after the merge the index and the
    folder too."""
    prefix = os.fspath(prefix)
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    items = list(tensors.items())
    arrays = [(name, _as_array(value)) for name, value in items]
    groups = _balanced_groups([a.nbytes for _, a in arrays], min(num_shards, max(len(arrays), 1)))
    if len(groups) <= 1:
        with BundleWriter(prefix, alignment=alignment, sync=sync) as writer:
            writer.add_many(arrays)
        return prefix
    temp_dir = f"{prefix}_temp_{uuid.uuid4().hex}"
    parts = [os.path.join(temp_dir, f"part-{i:05d}-of-{len(groups):05d}") for i in range(len(groups))]

    def write(i: int) -> None:
        with BundleWriter(parts[i], alignment=alignment, sync=sync) as writer:
            writer.add_many(arrays[j] for j in groups[i])

    try:
        with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="fastckpt-shard") as pool:
            list(pool.map(write, range(len(groups))))
        merge_bundles(parts, prefix, delete_inputs=True, sync=sync)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return prefix
