"""Distributed save benchmark: ``fastckpt.distributed.save`` from 8 MPI processes against 1
process, on the same data, plus a plain single-process ``fastckpt.save`` of it for reference.

The data (``--size-mib``, default 1024): 56 float32 tensors of size/64 each, dealt round-robin to
the ranks, and one partitioned variable of size/8 whose rows are split evenly over the ranks.
Each run is one ``mpiexec -n P`` job; inside it every rank builds only its own share (untimed),
then ``barrier → save → barrier`` is timed ``--repeats`` times after one warm-up save
(``global_step`` per repeat,
``max_to_keep=1`` so that old checkpoints are deleted as in training). Reported per run: the
median wall time of the save, the aggregate throughput, its two phases (the slowest rank's part
write, until its part is complete; rank 0's merge) and the CPU time of all ranks together (user +
system of the ranks' own threads, which does not depend on what else the machine runs).

    python3 benchmarks/bench_distributed.py                          # 1 GiB, 8 vs 1 process
    python3 benchmarks/bench_distributed.py --size-mib 256 --repeats 5 --json out.json

Needs ``mpiexec`` (the PyPI ``mpich`` wheel) and ``mpi4py``. Writes go to the page cache unless
``--sync`` is given; use a folder on the disk under test with ``--dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULT_MARK, log, run_script  # noqa: E402

WHOLE_TENSORS = 56


def shares(rank: int, size: int, total: int) -> dict[str, Any]:
    """Rank ``rank``'s tensors of the ``total``-byte checkpoint (deterministic random float32)."""
    import numpy as np

    from fastckpt import distributed

    unit = total // 64 // 4  # elements of one whole tensor
    rng = np.random.default_rng([11, rank])
    tensors: dict[str, Any] = {
        f"layer_{i:03d}/kernel": rng.random(unit, dtype=np.float32) for i in range(rank, WHOLE_TENSORS, size)
    }
    rows, cols = 8 * size, max(1, 8 * unit // (8 * size))  # size/8 bytes, divisible by the ranks
    mine = rows // size
    tensors["embedding"] = distributed.Slice(
        [rows, cols], f"{rank * mine},{mine}:-", rng.random((mine, cols), dtype=np.float32)
    )
    return tensors


def child(args: argparse.Namespace) -> None:
    import fastckpt
    from fastckpt import distributed

    coordinator = distributed.MPICoordinator()
    rank, size = coordinator.rank, coordinator.size
    tensors = shares(rank, size, args.size_mib << 20)
    nbytes = sum((v.value if isinstance(v, distributed.Slice) else v).nbytes for v in tensors.values())

    # Phase timers around the module's own steps (measurement only).
    phases: dict[str, float] = {}
    write_part, merge = distributed._write_part, distributed.merge_bundles  # type: ignore[attr-defined]

    def timed_write(*a: Any, **k: Any) -> None:
        t = time.perf_counter()
        write_part(*a, **k)
        phases["write"] = time.perf_counter() - t

    def timed_merge(*a: Any, **k: Any) -> str:
        t = time.perf_counter()
        result = merge(*a, **k)
        phases["merge"] = time.perf_counter() - t
        return result

    distributed._write_part, distributed.merge_bundles = timed_write, timed_merge  # type: ignore[attr-defined]
    folder = os.path.join(args.dir, f"p{size}")
    runs = []
    for step in range(args.repeats + 1):  # step 0: a warm-up (first-touch page faults), not counted
        coordinator.barrier()
        t0, cpu0 = time.perf_counter(), time.process_time()
        distributed.save(
            tensors, os.path.join(folder, "model"), coordinator=coordinator, global_step=step, sync=args.sync, max_to_keep=1
        )
        cpu = time.process_time() - cpu0
        coordinator.barrier()
        wall = time.perf_counter() - t0
        gathered = coordinator.all_gather((phases.get("write", 0.0), cpu))
        if step > 0:
            write, cpu = max(w for w, _ in gathered), sum(c for _, c in gathered)
            runs.append({"wall": wall, "write": write, "merge": phases.get("merge", 0.0), "cpu": cpu})
    total = sum(n for _, n in coordinator.all_gather((0, nbytes)))
    plain = []
    if size == 1:  # reference: the same tensors as one ordinary checkpoint, no parts, no merge
        flat = {k: v.value if isinstance(v, distributed.Slice) else v for k, v in tensors.items()}
        for step in range(args.repeats):
            t0 = time.perf_counter()
            fastckpt.save(flat, os.path.join(folder, f"plain-{step}"), sync=args.sync)
            plain.append(time.perf_counter() - t0)
            fastckpt.remove_checkpoint(os.path.join(folder, f"plain-{step}"))
    if rank == 0:
        result = {
            "ok": True,
            "procs": size,
            "bytes": total,
            "wall": statistics.median(r["wall"] for r in runs),
            "write": statistics.median(r["write"] for r in runs),
            "merge": statistics.median(r["merge"] for r in runs),
            "cpu": statistics.median(r["cpu"] for r in runs),
            "plain": statistics.median(plain) if plain else None,
            "runs": runs,
        }
        print(RESULT_MARK + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--procs", default="1,8", help="process counts to compare (default 1,8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sync", action="store_true", help="fsync every part and the merged index")
    parser.add_argument("--dir", default=None, help="where the scratch folder is made (default: system temp)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    mpiexec = Path(sys.executable).parent / "mpiexec"
    launcher = str(mpiexec) if mpiexec.exists() else shutil.which("mpiexec")
    if launcher is None:
        raise SystemExit("mpiexec not found: pip install mpich mpi4py")
    scratch = tempfile.mkdtemp(prefix="fastckpt-bench-dist-", dir=args.dir)
    log(f"load before: {os.getloadavg()}, {os.cpu_count()} CPUs, {args.size_mib} MiB, scratch {scratch}")
    results = []
    try:
        for procs in [int(p) for p in args.procs.split(",")]:
            command = [launcher, "-n", str(procs), sys.executable, __file__, "--child", "--dir", scratch]
            command += ["--size-mib", str(args.size_mib), "--repeats", str(args.repeats)] + (["--sync"] if args.sync else [])
            result = run_script(command, retries=0)
            if not result.get("ok"):
                raise SystemExit(f"{procs} processes failed: {result.get('error')}")
            results.append(result)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"load after: {os.getloadavg()}")
    base = results[0]["wall"]
    print(f"{'processes':>9} {'save s':>8} {'GB/s':>6} {'vs ' + str(results[0]['procs']):>6} {'write s':>8} {'merge s':>8} {'CPU s':>6}")
    for r in results:
        rate = r["bytes"] / r["wall"] / 1e9
        print(
            f"{r['procs']:>9} {r['wall']:>8.3f} {rate:>6.2f} {base / r['wall']:>5.2f}x {r['write']:>8.3f} "
            f"{r['merge']:>8.3f} {r['cpu']:>6.3f}"
        )
    plain = next((r["plain"] for r in results if r["plain"] is not None), None)
    if plain is not None:
        print(f"{'plain save':>9} {plain:>8.3f} {results[0]['bytes'] / plain / 1e9:>6.2f}   (fastckpt.save, 1 process, same data)")
    if args.json:
        Path(args.json).write_text(json.dumps({"load": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
