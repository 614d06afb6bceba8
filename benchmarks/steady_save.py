"""Steady-state saves: one process saves the same arrays again and again, warm, as a training loop
saving every N steps does. Run by ``bench_steady.py`` (``rows(args)``) or alone:
``python benchmarks/steady_save.py [--scale F] [--repeats N] [--dir D]``.

Workload W2: 8,192 float32 tensors of 32 KiB (256 MiB), on tmpfs by default (``/dev/shm``) so that
no disk writeback disturbs the passes. TensorFlow saves EagerTensors made once before the passes
(a training loop's variables already are tensors); fastckpt saves the numpy arrays. One untimed
warm-up pass of every operation comes first; then ``--repeats`` rounds run every operation once
each, the order rotating from round to round, so that load on the machine hits all of them alike.
The GC is collected before and disabled during each pass. Every checkpoint written is checked
once at the end (fastckpt's with verified checksums, both against the source arrays).

Rows, per tensor (µs):

- ``raw write()``: the payload, already in one buffer, written with ``os.write`` to a new file
  (``raw-<pass>.bin``) in the engine's 256 KiB calls: the kernel's copy into fresh page cache,
  which no save avoids. (One call of the whole payload lets the page cache take large folios,
  which on the VM of ``README.md`` often come from memory handed back to the host: 67-88
  µs/tensor in a run's first rounds, 7 later, in one run at ``--scale 0.25`` on ext4.) The
  previous pass's file is deleted after the timer stops, as a save's replaced or dropped files
  are freed off the caller's thread. (Until session 7 the row rewrote one file with
  ``O_TRUNC``: on ext4 that timed the freeing of the last pass's file at the open and a
  writeback of the new data started at the close (ext4's ``auto_da_alloc`` for files truncated
  and rewritten), 14 ms and 4 ms of each 64 MiB pass on ``/tmp`` here, more than the write.)
- ``crc32c + memcpy``: the engine's crc32c and a copy of every tensor's bytes, in one call (the
  ``crc32c_copy`` helper of the read benchmarks; the row is left out where it does not exist).
- ``same prefix``: every save replaces the previous checkpoint at one prefix.
- ``rotating prefixes``: ``ckpt-<step>``, the checkpoint three saves back deleted (a manager
  keeping 3), so the files are new each time. Each library deletes as its own managers do:
  fastckpt with ``remove_checkpoint`` (unlinked at once, the space freed by a background thread),
  TensorFlow's files with ``os.unlink`` (``tf.train.CheckpointManager`` deletes synchronously).
- ``engine overhead``: fastckpt's same-prefix save − raw write() − crc32c + memcpy; target ≤ 2 µs.

Between passes the script waits (untimed, ``os.sync()``) until every file written so far is on the
disk, as ``bench_bundle.py`` does before each save: a training loop saves every N steps, and the
kernel writes a checkpoint back in between. Without the wait a pass paid for the one before it: on
ext4 a save over an existing checkpoint starts writing the new files back (ext4 does the same for
TensorFlow's rename, inside its ``SaveV2`` call; fastckpt on its background thread, 65–100 ms of
``sync_file_range`` per 256 MiB on this VM), and the pass right after it took 17–19 µs/tensor
instead of 8 (session 13).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ENGINE_WRITE_CALL  # noqa: E402
from bench_steady import add_common_arguments, rotating_rounds, run_alone, summarise, w2_setup  # noqa: E402

GROUP = "steady save W2"
KEEP = 3
TF_SAME = "TF SaveV2, same prefix"
FC_SAME = "fastckpt.save, same prefix"
RAW = "raw write() of the same bytes"
FLOOR = "crc32c + memcpy (floor)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options this module reads (the driver may already have added them)."""
    add_common_arguments(parser)


def _remove_prefix(prefix: str) -> None:
    folder, stem = os.path.split(prefix)
    for name in os.listdir(folder):
        if name.startswith(stem + "."):
            os.unlink(os.path.join(folder, name))


def _ops(scratch: Path, names: list[str], arrays: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Every operation: one save pass, returning the prefix (or file) it wrote."""
    import numpy as np

    import fastckpt
    from fastckpt import _fastckpt

    payload = np.concatenate([arrays[n].reshape(-1) for n in names]).view(np.uint8)
    ops: dict[str, Callable[[], str]] = {}
    raw_passes = [0]

    def raw_write() -> str:
        raw_passes[0] += 1
        path = str(scratch / f"raw-{raw_passes[0]}.bin")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = payload.data
            while view:
                view = view[os.write(fd, view[:ENGINE_WRITE_CALL]) :]
        finally:
            os.close(fd)
        return path

    ops[RAW] = raw_write
    crc32c_copy = getattr(_fastckpt, "crc32c_copy", None)
    if crc32c_copy is not None:
        landing = np.empty_like(payload)
        tensor_bytes = arrays[names[0]].nbytes

        def crc_copy() -> str:
            crc32c_copy(payload, landing, tensor_bytes)
            return ""

        ops[FLOOR] = crc_copy

    def fc_same() -> str:
        return fastckpt.save(arrays, str(scratch / "fc-same" / "ckpt"))

    steps = {"fc": 0, "tf": 0}

    def rotating(library: str, save: Callable[[str], None], remove: Callable[[str], None]) -> Callable[[], str]:
        def one() -> str:
            step = steps[library] = steps[library] + 1
            folder = scratch / f"{library}-rotating"
            save(str(folder / f"ckpt-{step}"))
            if step > KEEP:
                remove(str(folder / f"ckpt-{step - KEEP}"))
            return str(folder / f"ckpt-{step}")

        return one

    def fc_save(prefix: str) -> None:
        fastckpt.save(arrays, prefix)

    ops[FC_SAME] = fc_same
    ops["fastckpt.save, rotating prefixes"] = rotating("fc", fc_save, fastckpt.remove_checkpoint)

    import tensorflow as tf

    tensors = [tf.constant(arrays[n]) for n in names]
    slices = [""] * len(names)

    def tf_save(prefix: str) -> None:
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=slices, tensors=tensors)

    def tf_same() -> str:
        prefix = str(scratch / "tf-same" / "ckpt")
        tf_save(prefix)
        return prefix

    ops[TF_SAME] = tf_same
    ops["TF SaveV2, rotating prefixes"] = rotating("tf", tf_save, _remove_prefix)
    return ops


def _check(written: dict[str, str], arrays: dict[str, Any]) -> set[str]:
    """The operations whose last checkpoint does not hold the source arrays."""
    import numpy as np

    import fastckpt

    wrong = set()
    for op, prefix in written.items():
        if not prefix or op == RAW:
            continue
        reader = fastckpt.load_checkpoint(prefix, verify=True)  # also TF's files: verified checksums
        if sorted(reader.keys()) != sorted(arrays) or any(
            not np.array_equal(reader.get_tensor(n), a) for n, a in arrays.items()
        ):
            wrong.add(op)
    return wrong


def rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    arrays, repeats, parent = w2_setup(args, seed=9)
    names, count = list(arrays), len(arrays)
    scratch = Path(tempfile.mkdtemp(prefix="fastckpt-steady-save-", dir=parent))
    try:
        for sub in ("fc-same", "tf-same", "fc-rotating", "tf-rotating"):
            (scratch / sub).mkdir()
        ops = _ops(scratch, names, arrays)
        written: dict[str, str] = {}

        def one_pass(op: str) -> float:
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                path = ops[op]()
                elapsed = time.perf_counter() - t0
            finally:
                gc.enable()
            if op == RAW and op in written:
                os.unlink(written[op])  # untimed: the row is the write into fresh pages alone
            written[op] = path
            os.sync()  # untimed: the next pass finds no writeback under way (see the module comment)
            return elapsed

        times = rotating_rounds(list(ops), repeats, one_pass)
        return _summarise(times, _check(written, arrays), count)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _summarise(times: dict[str, list[float]], wrong: set[str], count: int) -> list[dict[str, Any]]:
    overhead = ("engine overhead (same prefix - raw write - floor)", FC_SAME, (RAW, FLOOR))
    return summarise(GROUP, times, count, wrong, lambda op: op.replace("fastckpt.save", "TF SaveV2"), [overhead])


def main(argv: list[str] | None = None) -> int:
    return run_alone(__doc__, add_arguments, rows, argv)


if __name__ == "__main__":
    sys.exit(main())
