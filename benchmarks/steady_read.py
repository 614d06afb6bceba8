"""Steady-state restores: one process reads the same checkpoint again and again with a warm page
cache, as a training loop or an evaluation job does. Run by ``bench_steady.py`` (``rows(args)``)
or alone: ``python benchmarks/steady_read.py [--scale F] [--repeats N] [--dir D]``.

Workload W2: 8,192 float32 tensors of 32 KiB (256 MiB), written once by fastckpt and once by
TensorFlow's ``SaveV2`` (each library reads its own file). Every operation is one *pass* over all
tensors, reads every byte (``touch``) and is checked against the source digests. One untimed
warm-up pass of every operation comes first; then ``--repeats`` rounds run every operation once
each, the order rotating from round to round, so that load on the machine hits all of them alike.
The GC is collected before and disabled during each pass; the arrays of a pass are dropped before
the next one (steady state: the allocator reuses or re-faults memory as a real loop would).

Rows, per tensor (µs) and as a ratio to TensorFlow's ``load_checkpoint(p).get_tensor`` loop:

- ``touch only``: the XOR fold of every source array; subtracted when the overhead is computed.
- ``crc32c + memcpy``: the engine's own crc32c and a copy of each tensor's bytes out of the mapped
  data file into a buffer, in one call without Python in between: what reading a tensor cannot
  avoid. ``engine overhead`` = ``get_tensor(copy=True)`` − touch − this.
- ``pread + crc32c [info]``: the same in the engine's way, a ``pread`` of each tensor's bytes from
  the data file into that buffer and their crc32c, in one call: ``get_tensor(copy=True)`` − touch
  − this is what the lookup, the array and the Python call add; this − the floor is the kernel's
  ``pread`` beyond a ``memcpy``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import touch  # noqa: E402
from bench_steady import add_common_arguments, rotating_rounds, run_alone, summarise, w2_setup  # noqa: E402

GROUP = "steady read W2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options this module reads (the driver may already have added them)."""
    add_common_arguments(parser)


def _digest(digests: dict[str, int]) -> str:
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(f"{name}={digests[name]:016x}\n".encode())
    return h.hexdigest()[:16]


def _ops(fc_prefix: str, tf_prefix: str, names: list[str], arrays: dict[str, Any]) -> dict[str, Callable[[], dict[str, Any]]]:
    """Every operation: a function doing one pass and returning the arrays it produced, still
    alive, with their digests (computed inside the timed pass)."""
    import fastckpt

    ops: dict[str, Callable[[], dict[str, Any]]] = {}

    def touch_only() -> dict[str, Any]:
        return {n: touch(arrays[n]) for n in names}

    ops["touch only"] = touch_only

    # The floor: crc32c + memcpy of every tensor's bytes (the data file, in the page cache, read
    # once into memory) into a buffer written before, one engine call, no Python per tensor.
    import numpy as np
    from fastckpt import _fastckpt

    stored = np.fromfile(f"{fc_prefix}.data-00000-of-00001", dtype=np.uint8)
    chunk = stored.nbytes // len(names)
    landing = np.ones_like(stored)

    def crc_copy() -> dict[str, Any]:
        _fastckpt.crc32c_copy(stored, landing, chunk)
        return {}

    ops["crc32c + memcpy (floor)"] = crc_copy

    def pread_crc() -> dict[str, Any]:
        _fastckpt.crc32c_pread(f"{fc_prefix}.data-00000-of-00001", landing, chunk)
        return {}

    ops["pread + crc32c [info]"] = pread_crc

    def fc_views() -> dict[str, Any]:
        r = fastckpt.load_checkpoint(fc_prefix, verify=True)
        got = {n: r.get_tensor(n) for n in names}
        return {n: touch(a) for n, a in got.items()} | {"@keep": got}

    def fc_copy() -> dict[str, Any]:
        r = fastckpt.load_checkpoint(fc_prefix, verify=True)
        got = {n: r.get_tensor(n, copy=True) for n in names}
        return {n: touch(a) for n, a in got.items()} | {"@keep": got}

    def fc_read_all() -> dict[str, Any]:
        r = fastckpt.load_checkpoint(fc_prefix, verify=True)
        got = r.read_all(names, copy=True)
        return {n: touch(a) for n, a in got.items()} | {"@keep": got}

    reused = {n: np.empty_like(a) for n, a in arrays.items()}

    def fc_read_into() -> dict[str, Any]:
        r = fastckpt.load_checkpoint(fc_prefix, verify=True)
        r.read_into(reused)
        return {n: touch(a) for n, a in reused.items()}

    ops["fastckpt views, verify=True"] = fc_views
    ops["fastckpt get_tensor(copy=True)"] = fc_copy
    ops["fastckpt read_all(copy=True)"] = fc_read_all
    ops["fastckpt read_into(same arrays) [info]"] = fc_read_into

    import tensorflow as tf

    def tf_get_tensor() -> dict[str, Any]:
        r = tf.train.load_checkpoint(tf_prefix)
        got = {n: r.get_tensor(n) for n in names}
        return {n: touch(a) for n, a in got.items()} | {"@keep": got}

    ops["TF load_checkpoint get_tensor"] = tf_get_tensor
    return ops


def rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    import fastckpt

    arrays, repeats, parent = w2_setup(args, seed=8)
    names, count = list(arrays), len(arrays)
    expected = _digest({n: touch(a) for n, a in arrays.items()})
    scratch = Path(tempfile.mkdtemp(prefix="fastckpt-steady-read-", dir=parent))
    try:
        import tensorflow as tf

        fc_prefix, tf_prefix = str(scratch / "fc"), str(scratch / "tf")
        fastckpt.save(arrays, fc_prefix)
        tf.raw_ops.SaveV2(
            prefix=tf_prefix,
            tensor_names=names,
            shape_and_slices=[""] * count,
            tensors=[tf.constant(arrays[n]) for n in names],
        )
        ops = _ops(fc_prefix, tf_prefix, names, arrays)
        wrong: set[str] = set()

        def one_pass(op: str) -> float:
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                result = ops[op]()
                elapsed = time.perf_counter() - t0
            finally:
                gc.enable()
            result.pop("@keep", None)
            if result and _digest(result) != expected:
                wrong.add(op)
            return elapsed

        times = rotating_rounds(list(ops), repeats, one_pass)
        return _summarise(times, wrong, count)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


TF_ROW = "TF load_checkpoint get_tensor"
FLOOR_ROW = "crc32c + memcpy (floor)"
TOUCH_ROW = "touch only"
#: The rows whose per-tensor cost beyond touch and the floor is held to <= 2 us.
OVERHEAD_ROWS = ("fastckpt get_tensor(copy=True)", "fastckpt read_all(copy=True)")


def _summarise(times: dict[str, list[float]], wrong: set[str], count: int) -> list[dict[str, Any]]:
    overheads = [(f"engine overhead of {op.removeprefix('fastckpt ')}", op, (TOUCH_ROW, FLOOR_ROW)) for op in OVERHEAD_ROWS]
    return summarise(GROUP, times, count, wrong, lambda op: TF_ROW, overheads)


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, add_arguments, rows, argv)


if __name__ == "__main__":
    sys.exit(main())
