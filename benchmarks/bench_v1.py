#!/usr/bin/env python3
"""Reading legacy V1 (TensorSlice) checkpoints: fastckpt side by side with TensorFlow.

Workloads (written by TensorFlow's V1 writer, ``tf.raw_ops.Save``; random float32 data):

* **V1a**: 256 MiB in 16 tensors of 2048×2048.
* **V1b**: 32 MiB in 2,048 tensors of 64×64.

Operation, each in a fresh Python process (best time of ``--repeats``; peak RSS above the start,
see ``_common.Measure``): open the checkpoint and read every tensor, every byte touched —
``fastckpt.load_checkpoint(p).read_all()`` vs ``tf.train.load_checkpoint(p)`` and ``get_tensor``
per name (the reader ``tf.train`` offers for V1 files).

    python3 benchmarks/bench_v1.py                       # full size, best of 3
    python3 benchmarks/bench_v1.py --scale 0.1 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import RESULT_MARK, Measure, log, run_script, touch

WORKLOADS = {"V1a": (16, 2048 * 2048), "V1b": (2048, 64 * 64)}


def generate(wdir: Path, scale: float) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf

    sizes = {}
    for name, (count, elements) in WORKLOADS.items():
        per = max(16, int(elements * scale))
        tensors = [tf.constant(np.random.default_rng([7, i]).random(per, dtype=np.float32)) for i in range(count)]
        path = wdir / name
        tf.raw_ops.Save(filename=str(path), tensor_names=[f"t{i:05d}" for i in range(count)], data=tensors)
        sizes[name] = path.stat().st_size
    return {"ok": True, "sizes": sizes}


def op_fc_read(path: Path, m: Measure) -> None:
    import fastckpt

    with m:
        with fastckpt.load_checkpoint(path) as reader:
            m.extra["fold"] = sum(touch(a) for a in reader.read_all().values())


def op_tf_read(path: Path, m: Measure) -> None:
    import tensorflow as tf

    with m:
        reader = tf.train.load_checkpoint(str(path))
        m.extra["fold"] = sum(touch(reader.get_tensor(n)) for n in sorted(reader.get_variable_to_shape_map()))


def best(op: str, workload: str, wdir: Path, repeats: int) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", op, "--workload", workload, "--dir", str(wdir)]
    good = [r for r in (run_script(cmd) for _ in range(repeats)) if r.get("ok")]
    return min(good, key=lambda r: r["seconds"]) if good else {"ok": False}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workload", default="V1a", help=argparse.SUPPRESS)
    ap.add_argument("--scale", type=float, default=1.0, help="shrink every tensor by this factor")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None, help="scratch folder parent (default: system temp dir)")
    args = ap.parse_args()
    if args.child:
        if args.child == "generate":
            result = generate(Path(args.dir), args.scale)
        else:
            m = Measure()
            {"fc_read": op_fc_read, "tf_read": op_tf_read}[args.child](Path(args.dir) / args.workload, m)
            result = m.result()
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0

    wdir = Path(tempfile.mkdtemp(prefix="fastckpt-bench-v1-", dir=args.dir))
    try:
        gen = run_script([sys.executable, os.path.abspath(__file__), "--child", "generate",
                          "--scale", repr(args.scale), "--dir", str(wdir)])
        if not gen.get("ok"):
            log(f"generation failed: {gen.get('error')}")
            return 1
        load = os.getloadavg()
        print(f"cpus {os.cpu_count()}, load average at start {load[0]:.2f}; scale {args.scale}, best of {args.repeats}")
        print(f"  {'workload':<10}{'MiB':>8}{'fastckpt':>12}{'TensorFlow':>12}{'speedup':>9}{'fc peak MiB':>13}"
              f"{'tf peak MiB':>13}")
        for workload in WORKLOADS:
            fc, tf = (best(f"{lib}_read", workload, wdir, args.repeats) for lib in ("fc", "tf"))
            if not (fc.get("ok") and tf.get("ok")):
                print(f"  {workload:<10} FAILED")
                continue
            same = "" if fc["fold"] == tf["fold"] else "  WARNING: values differ"
            print(f"  {workload:<10}{gen['sizes'][workload] / (1 << 20):>8.1f}{fc['seconds'] * 1e3:>10.1f}ms"
                  f"{tf['seconds'] * 1e3:>10.1f}ms{tf['seconds'] / fc['seconds']:>8.1f}x"
                  f"{fc['peak_above_mib']:>13.1f}{tf['peak_above_mib']:>13.1f}{same}")
    finally:
        shutil.rmtree(wdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
