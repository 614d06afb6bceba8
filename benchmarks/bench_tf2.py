#!/usr/bin/env python3
"""TF2 object checkpoints: ``fastckpt.Checkpoint`` / ``CheckpointManager`` side by side with
``tf.train.Checkpoint`` / ``tf.train.CheckpointManager``, and what an asynchronous save costs the
caller.

Workloads (the same data as bench_bundle.py): **W1** 1 GiB in 16 float32 tensors of 4096×4096,
**W2** 256 MiB in 8,192 float32 tensors of 64×128. Objects: ``model/v/vNNNN`` (a ``tf.Module``
holding a dict of variables for TensorFlow, ``{"model": {"v": {...}}}`` for fastckpt).

Operations, each in a fresh Python process (best time of ``--repeats``; peak RSS above the start,
see ``_common.Measure``); the arrays or variables exist before the clock starts:

* write: ``Checkpoint.write(prefix)`` vs ``tf.train.Checkpoint.write``
* read: ``Checkpoint().read(prefix)`` (new arrays, every byte read from the file) vs
  ``tf.train.Checkpoint(...).read(prefix)`` into existing variables
* manager save: ``CheckpointManager.save()`` (state file, retention) vs TF's
* async: ``Checkpoint.save(prefix, blocking=False)`` — how long the caller is blocked — against one
  in-memory copy of the arrays (``np.copy`` of each) in the same process; the full save until
  ``result()`` is shown too.

``--steady N`` also runs each write/read N times in one process (a training loop saving every
step) and reports the median iteration.

    python3 benchmarks/bench_tf2.py                          # full size, best of 3
    python3 benchmarks/bench_tf2.py --scale 0.1 --repeats 1  # smoke test
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
from typing import Any, Callable

from _common import RESULT_MARK, Measure, log, run_script

WORKLOADS = {"W1": (16, (4096, 4096)), "W2": (8192, (64, 128))}


def arrays(workload: str, scale: float) -> dict[str, Any]:
    import numpy as np

    count, shape = WORKLOADS[workload]
    if workload == "W1":
        shape = (max(1, int(shape[0] * scale)), shape[1])
    else:
        count = max(1, int(count * scale))
    return {f"v{i:04d}": np.random.default_rng([7, i]).random(shape, dtype=np.float32) for i in range(count)}


def tf_objects(values: dict[str, Any]) -> tuple[Any, Any]:
    import tensorflow as tf

    root = tf.Module()
    root.v = {name: tf.Variable(value) for name, value in values.items()}
    return root, tf.train.Checkpoint(model=root)


def prefix_of(wdir: Path, lib: str, workload: str) -> str:
    return str(wdir / f"{lib}-{workload}" / "ckpt")


# ---- measured operations (a fresh child each) ----------------------------------------------


def op_fc_write(a: argparse.Namespace, m: Measure) -> None:
    import fastckpt

    ckpt = fastckpt.Checkpoint(model={"v": arrays(a.workload, a.scale)})
    with m:
        ckpt.write(prefix_of(Path(a.dir), "fc", a.workload))


def op_tf_write(a: argparse.Namespace, m: Measure) -> None:
    _, ckpt = tf_objects(arrays(a.workload, a.scale))
    with m:
        ckpt.write(prefix_of(Path(a.dir), "tf", a.workload))


def op_fc_read(a: argparse.Namespace, m: Measure) -> None:
    import fastckpt

    with m:
        tree = fastckpt.Checkpoint().read(prefix_of(Path(a.dir), "fc", a.workload))
    m.extra["tensors"] = len(tree["model"]["v"])


def op_tf_read(a: argparse.Namespace, m: Measure) -> None:
    import numpy as np

    _, ckpt = tf_objects({k: np.zeros_like(v) for k, v in arrays(a.workload, a.scale).items()})
    with m:
        ckpt.read(prefix_of(Path(a.dir), "tf", a.workload)).assert_consumed()


def op_fc_manager(a: argparse.Namespace, m: Measure) -> None:
    import fastckpt

    manager = fastckpt.CheckpointManager(
        fastckpt.Checkpoint(model={"v": arrays(a.workload, a.scale)}), Path(a.dir) / f"fcm-{a.workload}", 3
    )
    with m:
        manager.save()


def op_tf_manager(a: argparse.Namespace, m: Measure) -> None:
    import tensorflow as tf

    _, ckpt = tf_objects(arrays(a.workload, a.scale))
    manager = tf.train.CheckpointManager(ckpt, str(Path(a.dir) / f"tfm-{a.workload}"), 3)
    with m:
        manager.save()


def op_fc_async(a: argparse.Namespace, m: Measure) -> None:
    import numpy as np

    import fastckpt

    values = arrays(a.workload, a.scale)
    started = time.perf_counter()
    copies = [np.copy(v) for v in values.values()]
    m.extra["copy_seconds"] = time.perf_counter() - started
    del copies
    ckpt = fastckpt.Checkpoint(model={"v": values})
    with m:
        future = ckpt.save(prefix_of(Path(a.dir), "fca", a.workload), blocking=False)
    future.result()
    m.extra["total_seconds"] = time.perf_counter() - m.t0


def steady(a: argparse.Namespace, lib: str, what: str) -> dict[str, Any]:
    """``a.steady`` iterations of one operation in this process; the median and every time."""
    values = arrays(a.workload, a.scale)
    prefix = prefix_of(Path(a.dir), f"{lib}-steady", a.workload)
    run: Callable[[], Any]
    if lib == "fc":
        import fastckpt

        ckpt = fastckpt.Checkpoint(model={"v": values})
        ckpt.write(prefix)
        run = (lambda: ckpt.write(prefix)) if what == "write" else (lambda: ckpt.read(prefix))
    else:
        _, tf_ckpt = tf_objects(values)
        tf_ckpt.write(prefix)
        run = (lambda: tf_ckpt.write(prefix)) if what == "write" else (lambda: tf_ckpt.read(prefix).assert_consumed())
    times = []
    for _ in range(a.steady):
        os.sync()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return {"ok": True, "seconds": statistics.median(times), "all": times}


OPS: dict[str, Callable[[argparse.Namespace, Measure], None]] = {
    "fc_write": op_fc_write,
    "tf_write": op_tf_write,
    "fc_read": op_fc_read,
    "tf_read": op_tf_read,
    "fc_manager": op_fc_manager,
    "tf_manager": op_tf_manager,
    "fc_async": op_fc_async,
}


def child_main(a: argparse.Namespace) -> int:
    if a.child.startswith("steady_"):
        _, lib, what = a.child.split("_")
        result = steady(a, lib, what)
    else:
        m = Measure()
        OPS[a.child](a, m)
        result = m.result()
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# ---- parent --------------------------------------------------------------------------------


def best(a: argparse.Namespace, op: str, workload: str, wdir: Path, repeats: int) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", op, "--workload", workload, "--dir", str(wdir),
           "--scale", repr(a.scale), "--steady", str(a.steady)]
    runs = [run_script(cmd) for _ in range(repeats)]
    good = [r for r in runs if r.get("ok")]
    if not good:
        return runs[0]
    fastest = min(good, key=lambda r: r["seconds"])
    if "peak_above_mib" in fastest:
        fastest["peak_above_mib"] = max(r["peak_above_mib"] for r in good)
    return fastest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workload", default="W1", help=argparse.SUPPRESS)
    ap.add_argument("--workloads", default="W1,W2")
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the workloads (W1 rows, W2 tensor count)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steady", type=int, default=5, help="iterations of the steady-state loop (0: skip)")
    ap.add_argument("--dir", default=None, help="scratch folder parent (default: system temp dir)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.child:
        return child_main(a)

    wdir = Path(tempfile.mkdtemp(prefix="fastckpt-bench-tf2-", dir=a.dir))
    t0 = time.time()
    results: dict[str, Any] = {}
    verdicts = []
    try:
        load = os.getloadavg()
        print(f"cpus {os.cpu_count()}, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
              f"scale {a.scale}, best of {a.repeats}")
        for workload in a.workloads.split(","):
            count = len(arrays(workload, a.scale))
            size = sum(v.nbytes for v in arrays(workload, a.scale).values()) / (1 << 20)
            print(f"\n{workload}: {count} tensors, {size:.0f} MiB")
            print(f"  {'operation':<22}{'fastckpt':>11}{'TensorFlow':>12}{'speedup':>9}{'fc peak MiB':>13}{'tf peak MiB':>13}")
            for what in ("write", "read", "manager"):
                fc, tf = (best(a, f"{lib}_{what}", workload, wdir, a.repeats) for lib in ("fc", "tf"))
                results[f"{workload}/{what}"] = {"fastckpt": fc, "tensorflow": tf}
                if not (fc.get("ok") and tf.get("ok")):
                    print(f"  {what:<22} FAILED: fastckpt {fc.get('error', 'ok')} | TF {tf.get('error', 'ok')}")
                    continue
                ratio = tf["seconds"] / fc["seconds"]
                print(f"  {what:<22}{fc['seconds']:>10.3f}s{tf['seconds']:>11.3f}s{ratio:>8.1f}x"
                      f"{fc['peak_above_mib']:>13.1f}{tf['peak_above_mib']:>13.1f}")
                if workload == "W2" and what in ("write", "manager"):
                    verdicts.append((f"W2 {what} >= 10x TF", ratio, ratio >= 10))
            if a.steady:
                for what in ("write", "read"):
                    fc, tf = (best(a, f"steady_{lib}_{what}", workload, wdir, 1) for lib in ("fc", "tf"))
                    results[f"{workload}/steady_{what}"] = {"fastckpt": fc, "tensorflow": tf}
                    if fc.get("ok") and tf.get("ok"):
                        print(f"  {'steady ' + what + f' (x{a.steady})':<22}{fc['seconds']:>10.3f}s"
                              f"{tf['seconds']:>11.3f}s{tf['seconds'] / fc['seconds']:>8.1f}x")
                    else:
                        print(f"  steady {what} FAILED: {fc.get('error', 'ok')} | {tf.get('error', 'ok')}")
            asy = best(a, "fc_async", workload, wdir, a.repeats)
            results[f"{workload}/async"] = asy
            if asy.get("ok"):
                blocked, copy = asy["seconds"], asy["copy_seconds"]
                print(f"  async save: caller blocked {blocked:.3f}s, one copy of the arrays {copy:.3f}s "
                      f"({blocked / copy:.2f}x), whole save {asy['total_seconds']:.3f}s")
                verdicts.append((f"{workload} async blocked <= copy", blocked / copy, blocked <= copy * 1.1))
            else:
                print(f"  async FAILED: {asy.get('error')}")
        print("\ntargets")
        for label, value, ok in verdicts:
            print(f"  {label:<28}{value:>8.2f}  {'PASS' if ok else 'FAIL'}")
        load = os.getloadavg()
        print(f"\nload average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; total {time.time() - t0:.0f} s")
        if a.scale != 1:
            print(f"NOTE: scaled run (--scale {a.scale}); the targets are meant for full size.")
        if a.json:
            Path(a.json).write_text(json.dumps({"args": vars(a), "results": results}, indent=1))
    finally:
        if not a.keep:
            shutil.rmtree(wdir, ignore_errors=True)
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
