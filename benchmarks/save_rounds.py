"""Fresh-process saves round by round, with the kernel's side of each: what makes one round of
``bench_bundle.py``'s save rows slower than another.

Each save runs in a new process, as ``bench_bundle.py``'s do (the same workloads, arrays and
"after idle" wait: the arrays are made and touched, as many bytes as the payload are freed, then
the child sleeps ``--idle`` seconds before the timed save). Around the timed save the child reads
its own CPU time (user and system, all threads), its voluntary and involuntary context switches,
and ``/proc/vmstat`` (``pgalloc_normal``: pages the kernel allocated, machine-wide). A slow round
with the same pages allocated but several times the system time is the kernel working harder per
page (on the VM of ``README.md``: first touches of memory the VM handed back to the host); a slow
round with little CPU time waited (for the disk, a lock or a core). ``--json`` keeps each child's
pid and the ``CLOCK_MONOTONIC`` time its save began, to cut its samples out of a
``perf record -a -g -k CLOCK_MONOTONIC`` of the whole run (``perf script --pid P --time T0,T1``).

Operations, interleaved, their order rotating from round to round (the first op of a round follows
the previous round's last child, whose exit freed its arrays):

- ``fastckpt``: ``fastckpt.save`` (two threads for a batch of 4 MiB or more).
- ``fastckpt-1thread``: the same engine on one thread: ``BundleWriter.add_many`` of groups of at
  most 3 MiB, below the engine's two-thread minimum (a larger tensor goes alone, on two threads).
- ``raw-writev``: ``bench_bundle.py``'s raw row: one ``os.writev`` per 1,024 arrays to a new file.
- ``raw-fallocate``: the data range reserved first (``fallocate(FALLOC_FL_KEEP_SIZE)``, as
  fastckpt does on ext4), then 256 KiB writes straight from the arrays.

A raw row's previous file is deleted before its timer starts. ``--busy N`` keeps N busy loops
running for the whole run (other work on the machine's cores).

``python benchmarks/save_rounds.py --workload W3 --rounds 8``;
``python benchmarks/save_rounds.py --workload W2 --idle 0 --busy 2``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_bundle  # noqa: E402
from _common import ENGINE_WRITE_CALL, touch  # noqa: E402

OPS = ("fastckpt", "fastckpt-1thread", "raw-writev", "raw-fallocate")
ONE_THREAD_GROUP = 3 << 20  # bytes per add_many below the engine's two-thread minimum (4 MiB)
FALLOC_FL_KEEP_SIZE = 1


def vmstat() -> dict[str, int]:
    with open("/proc/vmstat") as f:
        return {key: int(value) for key, value in (line.split() for line in f)}


def save(op: str, arrays: dict[str, Any], path: Path, payload: int) -> None:
    import fastckpt  # imported before the timer by child()

    if op == "fastckpt":
        fastckpt.save(arrays, str(path))
        return
    if op == "fastckpt-1thread":
        with fastckpt.BundleWriter(str(path)) as writer:
            group: list[tuple[str, Any]] = []
            held = 0
            for name, array in arrays.items():
                if group and held + array.nbytes > ONE_THREAD_GROUP:
                    writer.add_many(group)
                    group, held = [], 0
                group.append((name, array))
                held += array.nbytes
            writer.add_many(group)
        return
    views = [memoryview(a).cast("B") for a in arrays.values()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if op == "raw-writev":
            bench_bundle.writev_all(fd, views)
        else:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
            libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, payload)
            for view in views:
                for start in range(0, len(view), ENGINE_WRITE_CALL):
                    call = view[start:start + ENGINE_WRITE_CALL]
                    while call:
                        call = call[os.write(fd, call):]
    finally:
        os.close(fd)


def child(args: argparse.Namespace) -> None:
    import numpy

    import fastckpt  # noqa: F401  (imported here, outside the timer)

    bench_bundle.np = numpy
    bench_bundle.idle_before_save = args.idle
    spec = bench_bundle.Spec(args.workload, args.scale)
    arrays = bench_bundle.make_arrays(spec)
    for array in arrays.values():
        touch(array)
    path = Path(args.dir) / args.child / "ckpt"
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.child.startswith("raw") and path.exists():
        path.unlink()
    bench_bundle.free_as_much_as_tf(spec)  # frees, then sleeps args.idle
    began = time.clock_gettime(time.CLOCK_MONOTONIC)  # to find the save in `perf record -k CLOCK_MONOTONIC`
    before, usage, start = vmstat(), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    save(args.child, arrays, path, spec.payload)
    seconds = time.perf_counter() - start
    after, used = vmstat(), resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "seconds": seconds,
        "pid": os.getpid(),
        "began": began,
        "user": used.ru_utime - usage.ru_utime,
        "system": used.ru_stime - usage.ru_stime,
        "voluntary": used.ru_nvcsw - usage.ru_nvcsw,
        "involuntary": used.ru_nivcsw - usage.ru_nivcsw,
        "pages_allocated": after["pgalloc_normal"] - before["pgalloc_normal"],
    }))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="W3", choices=sorted(bench_bundle.WORKLOADS))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--idle", type=float, default=bench_bundle.IDLE_SECONDS,
                   help="seconds between the free and the save (bench_bundle's 'after idle'; 0: 'just freed')")
    p.add_argument("--ops", default=",".join(OPS), help=f"comma-separated, of: {', '.join(OPS)}")
    p.add_argument("--busy", type=int, default=0, help="busy loops kept running meanwhile")
    p.add_argument("--dir", default=None, help="where to write (default: the system temp folder)")
    p.add_argument("--json", default=None, metavar="OUT.json", help="also write every child's figures")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    ops = args.ops.split(",")
    if unknown := set(ops) - set(OPS):
        raise SystemExit(f"unknown ops: {', '.join(sorted(unknown))}")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        with tempfile.TemporaryDirectory(prefix="save-rounds-", dir=args.dir) as wdir:
            print(f"{args.workload} at scale {args.scale:g}, idle {args.idle:g} s, {args.busy} busy loop(s), "
                  f"in {wdir}; load {load()}")
            runs: dict[str, list[dict[str, float]]] = {op: [] for op in ops}
            for round_ in range(args.rounds):
                for op in ops[round_ % len(ops):] + ops[:round_ % len(ops)]:
                    cmd = [sys.executable, __file__, "--child", op, "--workload", args.workload,
                           "--scale", repr(args.scale), "--idle", repr(args.idle), "--dir", wdir]
                    run = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
                    runs[op].append(run)
                    print(f"  round {round_ + 1} {op:17s} {run['seconds']:7.4f} s  user {run['user']:.3f} "
                          f"system {run['system']:.3f}  switches {run['voluntary']}/{run['involuntary']}  "
                          f"pages {run['pages_allocated']}", flush=True)
    finally:
        for loop in busy:
            loop.kill()
            loop.wait()
    print(f"load {load()}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    print(f"{'op':17s} {'median s':>9s} {'min':>7s} {'max':>7s} {'spread':>6s} {'system s (median, max)':>23s}")
    for op, rows in runs.items():
        wall = [r["seconds"] for r in rows]
        system = [r["system"] for r in rows]
        print(f"{op:17s} {statistics.median(wall):9.4f} {min(wall):7.4f} {max(wall):7.4f} "
              f"{max(wall) / min(wall):6.2f} {statistics.median(system):15.3f} {max(system):7.3f}")


if __name__ == "__main__":
    main()
