"""TF1 Saver benchmark: ``fastckpt.Saver`` against ``tf.compat.v1.train.Saver`` (graph mode, a
Session) on W1 (1 GiB in 16 float32 tensors) and W2 (256 MiB in 8,192 float32 tensors).

Two ways of measuring, both reported:

* **fresh**: every operation in a new process (setup — arrays, TF graph and session — untimed);
  best of ``--repeats``; peak RSS above the baseline from ``_common.Measure``.
* **steady**: one process saves every step of a loop (``global_step``, ``max_to_keep=2``, so old
  checkpoints are deleted as in training) and then restores again and again; the mean time of the
  iterations after the first.

Rows: Saver save (state file and meta graph included, both libraries' defaults), Saver restore
(fastckpt into the caller's existing arrays, in place; TF into its variables), fastckpt sharded
save (``Saver(sharded=True)``: one data file per core, written by that many threads).

    python3 benchmarks/bench_saver.py                       # W1 + W2, best of 3
    python3 benchmarks/bench_saver.py --scale 0.05 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULT_MARK, Measure, log, run_script  # noqa: E402

WORKLOADS = {
    "W1": ("1 GiB in 16 float32 tensors of 64 MiB", 16, (4096, 4096)),
    "W2": ("256 MiB in 8,192 float32 tensors of 32 KiB", 8192, (64, 128)),
}
STEPS = 5
OPS = ["fc_save", "tf_save", "fc_restore", "tf_restore", "fc_sharded_save"]
TARGETS = [
    ("Saver save vs TF Saver", "tf_save", "fc_save", 2.0),
    ("Saver restore vs TF Saver", "tf_restore", "fc_restore", 2.0),
    ("sharded save (2 threads) vs single stream", "fc_save", "fc_sharded_save", 1.3),
]


def shapes(workload: str, scale: float) -> list[tuple[int, int]]:
    _, count, (rows, cols) = WORKLOADS[workload]
    if workload == "W1":
        return [(max(1, int(rows * scale)), cols)] * count
    return [(rows, cols)] * max(1, int(count * scale))


def make_arrays(workload: str, scale: float) -> dict[str, Any]:
    import numpy as np

    return {
        f"layer_{i:05d}/w": np.random.default_rng([7, i]).random(shape, dtype=np.float32)
        for i, shape in enumerate(shapes(workload, scale))
    }


def tf_graph(arrays: dict[str, Any]) -> tuple[Any, Any, Any]:
    """A graph with one reference variable per array, loaded with its value, and a Saver."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf1.Variable(tf1.zeros(a.shape), name=n, use_resource=False) for n, a in arrays.items()]
        saver = tf1.train.Saver(max_to_keep=2)
        sess = tf1.Session(graph=graph)
        sess.run(tf1.global_variables_initializer())
        for variable, array in zip(variables, arrays.values()):
            variable.load(array, sess)
    return graph, sess, saver


# --- operations, each run in a child process ----------------------------------------------------


def child(op: str, workload: str, scale: float, wdir: Path, mode: str) -> dict[str, Any]:
    import fastckpt

    arrays = make_arrays(workload, scale)
    out = wdir / f"{op}_{os.getpid()}"
    out.mkdir()
    source = str(wdir / "source" / "model")  # written by the parent with fastckpt.Saver
    m = Measure()
    steady: list[float] = []

    def repeat(step: Callable[[int], Any]) -> None:
        if mode == "fresh":
            with m:
                step(0)
            return
        for i in range(STEPS):
            t0 = time.perf_counter()
            step(i)
            steady.append(time.perf_counter() - t0)

    if op.startswith("fc_"):
        if op == "fc_restore":
            for a in arrays.values():
                a.fill(0)  # the caller's arrays exist and are in use before the restore
        saver = fastckpt.Saver(arrays, max_to_keep=2, sharded=op == "fc_sharded_save")
        if op == "fc_restore":
            repeat(lambda i: saver.restore(source))
        else:
            repeat(lambda i: saver.save(str(out / "model"), global_step=i))
    else:
        graph, sess, tsaver = tf_graph(arrays)
        with graph.as_default():
            if op == "tf_restore":
                repeat(lambda i: tsaver.restore(sess, source))
            else:
                repeat(lambda i: tsaver.save(sess, str(out / "model"), global_step=i))
        sess.close()
    shutil.rmtree(out, ignore_errors=True)
    if mode == "fresh":
        return m.result()
    later = steady[1:] or steady
    return {"ok": True, "seconds": sum(later) / len(later), "first_seconds": steady[0]}


# --- parent -------------------------------------------------------------------------------------


def run_workload(workload: str, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    import fastckpt

    wdir = scratch / workload
    (wdir / "source").mkdir(parents=True)
    arrays = make_arrays(workload, args.scale)
    nbytes = sum(a.nbytes for a in arrays.values())
    fastckpt.Saver(arrays).save(str(wdir / "source" / "model"), write_meta_graph=False)
    del arrays
    results: dict[str, Any] = {"bytes": nbytes, "fresh": {}, "steady": {}}
    for mode in ("fresh", "steady"):
        for op in OPS:
            runs = []
            for rep in range(args.repeats if mode == "fresh" else 1):
                cmd = [sys.executable, __file__, "--child", op, workload, str(args.scale), str(wdir), mode]
                runs.append(run_script(cmd))
                log(f"  {workload} {mode:6s} {op:16s} {_fmt(runs[-1])}")
            ok = [r for r in runs if r.get("ok")]
            results[mode][op] = min(ok, key=lambda r: r["seconds"]) if ok else runs[-1]
    return results


def _fmt(r: dict[str, Any]) -> str:
    if not r.get("ok"):
        return "FAILED " + str(r.get("error", ""))[-300:]
    peak = f", peak +{r['peak_above_mib']:.0f} MiB" if "peak_above_mib" in r else ""
    return f"{r['seconds']:.3f} s{peak}"


def report(workload: str, res: dict[str, Any]) -> list[dict[str, Any]]:
    gib = res["bytes"] / 2**30
    print(f"\n{workload}: {WORKLOADS[workload][0]} ({gib:.3f} GiB)")
    print(f"  {'operation':18s} {'fresh s':>9s} {'GB/s':>7s} {'peak MiB':>9s} {'steady s':>9s}")
    for op in OPS:
        f, s = res["fresh"].get(op, {}), res["steady"].get(op, {})
        fs = f.get("seconds") if f.get("ok") else None
        ss = s.get("seconds") if s.get("ok") else None
        rate = f"{res['bytes'] / fs / 1e9:7.2f}" if fs else "      -"
        peak = f"{f['peak_above_mib']:9.0f}" if f.get("ok") else "        -"
        print(f"  {op:18s} {fs or float('nan'):9.3f} {rate} {peak} {ss or float('nan'):9.3f}")
    checks = []
    for what, slow, fast, target in TARGETS:
        for mode in ("fresh", "steady"):
            a, b = res[mode].get(slow, {}), res[mode].get(fast, {})
            ratio = a["seconds"] / b["seconds"] if a.get("ok") and b.get("ok") else None
            checks.append({"workload": workload, "mode": mode, "what": what, "ratio": ratio, "target": target})
            verdict = "-" if ratio is None else ("PASS" if ratio >= target else "MISS")
            print(f"  {what} [{mode}]: {ratio or float('nan'):.2f}x (target >= {target}x) {verdict}")
    restore = res["fresh"].get("fc_restore", {})
    if restore.get("ok"):
        peak = restore["peak_above_mib"]
        print(f"  in-place restore peak RSS beyond the caller's arrays: {peak:.0f} MiB (target <= 64) "
              + ("PASS" if peak <= 64 else "MISS"))
        checks.append({"workload": workload, "what": "in-place restore peak MiB", "value": peak, "target": 64})
    return checks


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="W1,W2")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--dir", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--child", nargs=5, metavar=("OP", "WORKLOAD", "SCALE", "DIR", "MODE"))
    args = p.parse_args(argv)
    if args.child:
        op, workload, scale, wdir, mode = args.child
        result = child(op, workload, float(scale), Path(wdir), mode)
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="fastckpt-bench-saver-", dir=args.dir))
    all_checks: list[dict[str, Any]] = []
    results = {}
    try:
        for workload in args.workloads.split(","):
            results[workload] = run_workload(workload, args, scratch)
            all_checks += report(workload, results[workload])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "checks": all_checks}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
