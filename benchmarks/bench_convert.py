#!/usr/bin/env python3
"""Conversion of a TF checkpoint to safetensors: fastckpt.convert against the usual path
(``tf.train.load_checkpoint`` + ``get_tensor`` for every tensor, then
``safetensors.numpy.save_file``).

Workloads as in bench_bundle.py (W1: 1 GiB in 16 float32 tensors; W2: 256 MiB in 8,192). Every
conversion runs in a fresh child process (this script, ``--child``), libraries imported before
the clock starts; time and peak RSS above the start (VmHWM reset just before) come from
``_common.Measure``; the best of ``--repeats`` runs is reported, with the median. The source is
read once beforehand, so both paths start from a warm page cache. The outputs of both paths are
checked to hold the same tensors with the same bytes.

    python3 benchmarks/bench_convert.py                # W1 and W2, 3 repeats
    python3 benchmarks/bench_convert.py --scale 0.05 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

from _common import RESULT_MARK, Measure, log, run_script

MIB = 1 << 20
WORKLOADS = {"W1": (16, 1 << 30), "W2": (8192, 256 << 20)}


def make_source(prefix: Path, count: int, total: int) -> None:
    import numpy as np

    import fastckpt

    per_tensor = total // count // 4
    rng = np.random.default_rng(0)
    block = rng.standard_normal(per_tensor).astype(np.float32)
    writer = fastckpt.BundleWriter(str(prefix), alignment=1)  # what TF's SaveV2 writes
    for i in range(count):
        block[:1] = i
        writer.add(f"layer_{i:05d}/kernel", block)
    writer.finish()


def child(op: str, src: str, dst: str) -> dict[str, Any]:
    if op == "usual":
        import safetensors.numpy
        import tensorflow as tf

        with Measure() as m:
            reader = tf.train.load_checkpoint(src)
            tensors = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
            safetensors.numpy.save_file(tensors, dst)
            del tensors, reader
    else:
        import fastckpt

        with Measure() as m:
            fastckpt.convert(src, dst)
    return m.result()


def same_outputs(a: str, b: str) -> bool:
    from safetensors import safe_open

    with safe_open(a, "np") as fa, safe_open(b, "np") as fb:
        if set(fa.keys()) != set(fb.keys()):
            return False
        return all(fa.get_tensor(k).tobytes() == fb.get_tensor(k).tobytes() for k in fa.keys())


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W1,W2")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0, help="size factor (tensor count kept)")
    p.add_argument("--scratch", default=None, help="folder for the files (default: a temporary one)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--src", default=None, help=argparse.SUPPRESS)
    p.add_argument("--dst", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(RESULT_MARK + json.dumps(child(args.child, args.src, args.dst)), flush=True)
        return 0

    scratch = Path(tempfile.mkdtemp(prefix="bench_convert_", dir=args.scratch))
    results: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"}
    try:
        for name in args.workloads.split(","):
            count, total = WORKLOADS[name]
            total = int(total * args.scale) // count // 4 * count * 4
            prefix = scratch / name / "ckpt"
            log(f"{name}: writing {total / MIB:.0f} MiB in {count} tensors")
            make_source(prefix, count, total)
            for f in prefix.parent.iterdir():  # warm the page cache
                f.read_bytes()
            runs: dict[str, list[dict[str, Any]]] = {"usual": [], "fastckpt": []}
            for _ in range(args.repeats):
                for op in runs:
                    dst = scratch / name / f"{op}.safetensors"
                    cmd = [sys.executable, __file__, "--child", op, "--src", str(prefix), "--dst", str(dst)]
                    result = run_script(cmd)
                    if not result.get("ok"):
                        log(f"  {op} failed: {result.get('error')}")
                        return 1
                    runs[op].append(result)
                    log(f"  {op:9s} {result['seconds']:.3f} s  peak +{result['peak_above_mib']:.0f} MiB")
            same = same_outputs(str(scratch / name / "usual.safetensors"), str(scratch / name / "fastckpt.safetensors"))
            summary = {}
            for op, rs in runs.items():
                best = min(r["seconds"] for r in rs)
                summary[op] = {
                    "best_s": best,
                    "median_s": statistics.median(r["seconds"] for r in rs),
                    "gb_per_s": total / best / 1e9,
                    "peak_mib": min(r["peak_above_mib"] for r in rs),
                }
            speedup = summary["usual"]["best_s"] / summary["fastckpt"]["best_s"]
            memory = summary["fastckpt"]["peak_mib"] / max(summary["usual"]["peak_mib"], 1e-9)
            results[name] = {"bytes": total, "tensors": count, "same_output": same, "speedup": speedup,
                             "memory_ratio": memory, **summary}
            shutil.rmtree(scratch / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\nTF checkpoint -> safetensors ({results['machine']}); best of {args.repeats}")
    print(f"{'workload':9s} {'path':9s} {'best s':>8s} {'median s':>9s} {'GB/s':>6s} {'peak MiB':>9s}")
    for name in args.workloads.split(","):
        r = results[name]
        for op in ("usual", "fastckpt"):
            s = r[op]
            print(f"{name:9s} {op:9s} {s['best_s']:8.3f} {s['median_s']:9.3f} {s['gb_per_s']:6.2f} {s['peak_mib']:9.0f}")
        verdict = "ok" if r["speedup"] >= 3 and r["memory_ratio"] <= 0.5 else "below target"
        print(f"{name:9s} speed-up {r['speedup']:.1f}x (target >= 3x), peak memory {r['memory_ratio']:.2f} of the "
              f"usual path's (target <= 0.5): {verdict}; outputs identical: {r['same_output']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
