#!/usr/bin/env python3
"""Graph files: parsing, importing and constant access, fastckpt side by side with TensorFlow.

Workloads (files written by TensorFlow):

* **G1** ("big consts"): a frozen graph holding ~300 MiB of float32 constants in ``tensor_content``
  (64 Consts of 4.7 MiB each, each read by an Identity).
* **G2** ("100k nodes"): 100,000 small nodes (scalar Consts, Placeholders, AddV2/Mul chains).
* **M2**: the G2 graph inside a ``MetaGraphDef`` (a ``.meta`` file).
* **S1**: a ``saved_model.pb`` of about 90 KB (a ``tf.Module`` with three signatures).
* **I1**: a 675-node training graph (an MLP, its gradients and Adam), for the first import.

Operations, each in a fresh Python process (best time of ``--repeats``; peak RSS from VmHWM, reset
just before the operation, see ``_common.Measure``):

* parse: ``fastckpt.read_graph_def`` / ``read_meta_graph`` / ``read_saved_model`` vs
  ``GraphDef`` / ``MetaGraphDef`` / ``SavedModel`` ``.FromString(open(p).read())`` (TensorFlow's
  protobuf runtime, upb), then the length of the node list (of the meta graphs, for a SavedModel)
  inside the timed window: fastckpt decodes a sub-message on first read, so reaching the nodes
  is part of its parse
* import: the parse, then the first ``fastckpt.import_graph_def`` of the process into a fresh
  ``fastckpt.Graph`` vs ``tf.import_graph_def`` into a fresh ``tf.Graph``
* consts: the parse, then ``make_ndarray`` of every Const value, every byte read
  (``fastckpt.make_ndarray`` vs ``tf.make_ndarray``)

Operations inside one long process (a server or a conversion job parsing many graphs), after a
first parse on both sides that is not timed:

* steady: ``GraphDef`` / ``MetaGraphDef`` ``.FromString(data)`` of bytes already in memory, then
  the length of the node list, repeated ``--steady-parses`` times (the previous result dropped
  first); the median parse is the time, the peak RSS is what one parse and its result hold in
  that steady state
* walk: every node of a parsed graph read through Python (``name``, ``op``, the ``input`` list and
  the ``T`` or ``dtype`` attr), the first time after the parse (our nodes decode on that first
  read, protobuf's were decoded by its parse); walk again: the same walk a second time

Targets (speedup = TF time / fastckpt time): parse of G2 and M2 ≥ 1.0× with a peak RSS no higher
than TF's, in a fresh process and steady; S1 parse ≥ 1.0×; the first import of I1 ≥ 5×; parse +
import of G1 and G2 ≥ 5×. The walks have no target: they are reported.

    python3 benchmarks/bench_graph.py                       # full size, best of 3
    python3 benchmarks/bench_graph.py --scale 0.1 --repeats 1
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

from _common import RESULT_MARK, Measure, log, run_script, touch

G1_BYTES = 300 << 20
G1_CONSTS = 64
G2_NODES = 100_000
I1_LAYERS = 6
STEADY_PARSES = 15  # --steady-parses

# What each workload is: the message its file holds, and the operations measured on it.
KINDS = {"G1": "graph", "G2": "graph", "M2": "meta", "S1": "saved_model", "I1": "graph"}
WORKLOAD_OPS = {
    "G1": ("parse", "import", "consts"),
    "G2": ("parse", "steady", "walk", "walk again", "import", "consts"),
    "M2": ("parse", "steady"),
    "S1": ("parse",),
    "I1": ("import",),
}
# (workload, operation) → (minimum speedup, whether fastckpt's peak RSS must not exceed TF's).
TARGETS = {
    ("G2", "parse"): (1.0, True),
    ("M2", "parse"): (1.0, True),
    ("G2", "steady"): (1.0, True),
    ("M2", "steady"): (1.0, True),
    ("S1", "parse"): (1.0, False),
    ("I1", "import"): (5.0, False),
    ("G1", "import"): (5.0, False),
    ("G2", "import"): (5.0, False),
}


def files(wdir: Path) -> dict[str, Path]:
    return {
        "G1": wdir / "big_consts.pb",
        "G2": wdir / "nodes_100k.pb",
        "M2": wdir / "nodes_100k.meta",
        "S1": wdir / "saved_model",
        "I1": wdir / "mlp_train.pb",
    }


# ---- generation (a child with TensorFlow) --------------------------------------------------


def generate(wdir: Path, scale: float) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf

    paths = files(wdir)
    per_const = max(16, int(G1_BYTES * scale) // G1_CONSTS // 4)
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        for i in range(G1_CONSTS):
            value = rng.random(per_const, dtype=np.float32)
            tf.identity(tf.constant(value, name=f"const_{i}"), name=f"out_{i}")
    tf.io.write_graph(graph.as_graph_def(), str(wdir), paths["G1"].name, as_text=False)

    from tensorflow.core.framework import graph_pb2

    gd = graph_pb2.GraphDef()
    gd.versions.producer = graph.graph_def_versions.producer
    count = max(8, int(G2_NODES * scale))
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    previous = ["x", "x"]
    for i in range(1, count):
        node = gd.node.add(name=f"n{i}")
        if i % 3 == 0:
            node.op = "Const"
            node.attr["dtype"].type = 1
            node.attr["value"].tensor.dtype = 1
            node.attr["value"].tensor.float_val.append(float(i))
        else:
            node.op = "AddV2" if i % 3 == 1 else "Mul"
            node.input.extend(previous)
            node.attr["T"].type = 1
        previous = [previous[1], node.name]
    tf.io.write_graph(gd, str(wdir), paths["G2"].name, as_text=False)

    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.meta_info_def.tensorflow_version = tf.__version__
    meta.graph_def.CopyFrom(gd)
    paths["M2"].write_bytes(meta.SerializeToString(deterministic=True))

    _write_saved_model(paths["S1"])
    train = _training_graph()
    tf.io.write_graph(train, str(wdir), paths["I1"].name, as_text=False)
    sizes = {k: _file_of(k, p).stat().st_size for k, p in paths.items()}
    return {"ok": True, "sizes": sizes, "nodes": len(gd.node), "I1 nodes": len(train.node)}


def _training_graph() -> Any:
    """An MLP of I1_LAYERS dense layers with dropout, a softmax loss, its gradients and Adam."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 32], name="x")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        h = x
        for i in range(I1_LAYERS):
            w = v1.get_variable(f"w{i}", [32, 32])
            b = v1.get_variable(f"b{i}", [32], initializer=v1.zeros_initializer())
            h = tf.nn.dropout(tf.nn.relu(tf.matmul(h, w) + b), rate=0.1)
        logits = tf.matmul(h, v1.get_variable("w_out", [32, 10]))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        v1.train.AdamOptimizer().minimize(loss)
    return graph.as_graph_def()


def _write_saved_model(path: Path) -> None:
    """A tf.Module of 15 dense layers with three signatures: about 90 KB of saved_model.pb."""
    import tensorflow as tf

    spec = tf.TensorSpec([None, 16], tf.float32)

    class Model(tf.Module):  # type: ignore[misc]  # TensorFlow has no type information
        def __init__(self) -> None:
            super().__init__()
            self.ws = [tf.Variable(tf.random.normal([16, 16], seed=i), name=f"w{i}") for i in range(15)]
            self.bs = [tf.Variable(tf.zeros([16]), name=f"b{i}") for i in range(15)]

        @tf.function(input_signature=[spec])  # type: ignore[untyped-decorator]
        def __call__(self, x: Any) -> Any:
            for w, b in zip(self.ws, self.bs):
                x = tf.nn.relu(tf.matmul(x, w) + b)
            return x

        @tf.function(input_signature=[spec])  # type: ignore[untyped-decorator]
        def score(self, x: Any) -> Any:
            return tf.reduce_sum(self.__call__(x) * 2.0, axis=1)

        @tf.function(input_signature=[spec])  # type: ignore[untyped-decorator]
        def normalized(self, x: Any) -> Any:
            y = self.__call__(x)
            return y / (tf.norm(y, axis=1, keepdims=True) + 1e-6)

    model = Model()
    signatures = {"serving_default": model.__call__, "score": model.score, "normalized": model.normalized}
    tf.saved_model.save(model, str(path), signatures=signatures)


def _file_of(workload: str, path: Path) -> Path:
    """The file a workload's parse reads (a SavedModel is a folder)."""
    return path / "saved_model.pb" if KINDS[workload] == "saved_model" else path


# ---- measured operations (a fresh child each) ----------------------------------------------


def _fc_parse(workload: str, path: Path) -> Any:
    import fastckpt

    kind = KINDS[workload]
    if kind == "meta":
        return fastckpt.read_meta_graph(path)
    if kind == "saved_model":
        return fastckpt.read_saved_model(path)
    return fastckpt.read_graph_def(path)


def _tf_parse(workload: str, path: Path) -> Any:
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    message = {"graph": graph_pb2.GraphDef, "meta": meta_graph_pb2.MetaGraphDef}.get(
        KINDS[workload], saved_model_pb2.SavedModel
    )
    with open(_file_of(workload, path), "rb") as f:
        return message.FromString(f.read())


def _size(parsed: Any) -> int:
    """Nodes of a graph or meta graph, meta graphs of a SavedModel: reaches into the result."""
    if hasattr(parsed, "meta_graphs"):
        return len(parsed.meta_graphs)
    if hasattr(parsed, "graph_def"):
        return len(parsed.graph_def.node)
    return len(parsed.node)


def _consts(graph_def: Any, make_ndarray: Callable[[Any], Any]) -> int:
    folded = 0
    for node in graph_def.node:
        if node.op == "Const":
            folded ^= touch(make_ndarray(node.attr["value"].tensor))
    return folded


def op_fc_parse(workload: str, path: Path, m: Measure) -> None:
    import fastckpt  # noqa: F401  (imported before the clock starts)

    with m:
        m.extra["size"] = _size(_fc_parse(workload, path))


def op_tf_parse(workload: str, path: Path, m: Measure) -> None:
    import tensorflow  # noqa: F401
    from tensorflow.core.framework import graph_pb2  # noqa: F401
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2  # noqa: F401

    with m:
        m.extra["size"] = _size(_tf_parse(workload, path))


def _message_class(lib: str, workload: str) -> Any:
    """The class whose ``FromString`` parses the workload's file: fastckpt's or protobuf's."""
    if lib == "fc":
        import fastckpt

        return {"graph": fastckpt.GraphDef, "meta": fastckpt.MetaGraphDef}[KINDS[workload]]
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    return {"graph": graph_pb2.GraphDef, "meta": meta_graph_pb2.MetaGraphDef}[KINDS[workload]]


def steady(lib: str, workload: str, path: Path, m: Measure) -> None:
    """Repeated ``FromString`` in one process after an untimed first one; the median is the time."""
    message = _message_class(lib, workload)
    data = path.read_bytes()
    parsed = message.FromString(data)
    m.extra["size"] = _size(parsed)
    del parsed
    times = []
    with m:
        for _ in range(STEADY_PARSES):
            parsed = None  # the previous result goes first, as in a loop over files
            t0 = time.perf_counter()
            parsed = message.FromString(data)
            _size(parsed)
            times.append(time.perf_counter() - t0)
    m.extra["seconds"] = statistics.median(times)
    m.extra["spread"] = max(times) / min(times)


def _walk(graph_def: Any) -> int:
    """Reads every node's name, op, inputs and its ``T`` (else ``dtype``) attr."""
    folded = 0
    for node in graph_def.node:
        folded += len(node.name) + len(node.op) + sum(len(i) for i in node.input)
        attr = node.attr
        folded += (attr["T"] if "T" in attr else attr["dtype"]).type
    return folded


def walk(lib: str, workload: str, path: Path, m: Measure, again: bool) -> None:
    parsed = _message_class(lib, workload).FromString(path.read_bytes())
    if again:
        _walk(parsed)
    with m:
        m.extra["fold"] = _walk(parsed)


def op_fc_import(workload: str, path: Path, m: Measure) -> None:
    import fastckpt

    with m:
        graph = fastckpt.import_graph_def(_fc_parse(workload, path), name="", graph=fastckpt.Graph())
    m.extra["ops"] = len(graph.get_operations())


def op_tf_import(workload: str, path: Path, m: Measure) -> None:
    import tensorflow as tf

    with m:
        graph = tf.Graph()
        with graph.as_default():
            tf.import_graph_def(_tf_parse(workload, path), name="")
    m.extra["ops"] = len(graph.get_operations())


def op_fc_consts(workload: str, path: Path, m: Measure) -> None:
    import fastckpt

    with m:
        m.extra["fold"] = _consts(_fc_parse(workload, path), fastckpt.make_ndarray)


def op_tf_consts(workload: str, path: Path, m: Measure) -> None:
    import tensorflow as tf

    with m:
        m.extra["fold"] = _consts(_tf_parse(workload, path), tf.make_ndarray)


OPS: dict[str, Callable[[str, Path, Measure], None]] = {
    "fc_parse": op_fc_parse,
    "tf_parse": op_tf_parse,
    "fc_import": op_fc_import,
    "tf_import": op_tf_import,
    "fc_consts": op_fc_consts,
    "tf_consts": op_tf_consts,
    "fc_steady": lambda w, p, m: steady("fc", w, p, m),
    "tf_steady": lambda w, p, m: steady("tf", w, p, m),
    "fc_walk": lambda w, p, m: walk("fc", w, p, m, again=False),
    "tf_walk": lambda w, p, m: walk("tf", w, p, m, again=False),
    "fc_walk again": lambda w, p, m: walk("fc", w, p, m, again=True),
    "tf_walk again": lambda w, p, m: walk("tf", w, p, m, again=True),
}


def child_main(args: argparse.Namespace) -> int:
    if args.child == "generate":
        result = generate(Path(args.dir), args.scale)
    else:
        m = Measure()
        OPS[args.child](args.workload, files(Path(args.dir))[args.workload], m)
        result = m.result()
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# ---- parent --------------------------------------------------------------------------------


def has_fc_import() -> bool:
    import fastckpt

    return hasattr(fastckpt, "import_graph_def") and hasattr(fastckpt, "Graph")


def best(op: str, workload: str, wdir: Path, repeats: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", op, "--workload", workload, "--dir", str(wdir),
               "--steady-parses", str(STEADY_PARSES)]
        runs.append(run_script(cmd))
    good = [r for r in runs if r.get("ok")]
    if not good:
        return runs[0]
    fastest = min(good, key=lambda r: r["seconds"])
    fastest["peak_above_mib"] = max(r["peak_above_mib"] for r in good)
    fastest["end_anon_above_mib"] = max(r["end_anon_above_mib"] for r in good)
    return fastest


def main() -> int:
    global STEADY_PARSES
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--workload", default="G1", help=argparse.SUPPRESS)
    ap.add_argument("--workloads", default=",".join(KINDS))
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the workloads (consts bytes, node count)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steady-parses", type=int, default=STEADY_PARSES,
                    help="parses timed in one process for the steady rows (their median is the time)")
    ap.add_argument("--dir", default=None, help="scratch folder parent (default: system temp dir)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    STEADY_PARSES = args.steady_parses
    if args.child:
        return child_main(args)

    wdir = Path(tempfile.mkdtemp(prefix="fastckpt-bench-graph-", dir=args.dir))
    t0 = time.time()
    try:
        gen = run_script([sys.executable, os.path.abspath(__file__), "--child", "generate",
                          "--scale", repr(args.scale), "--dir", str(wdir)])
        if not gen.get("ok"):
            log(f"generation failed: {gen.get('error')}")
            return 1
        importing = has_fc_import()
        results: dict[str, dict[str, Any]] = {}
        rows = []
        load = os.getloadavg()
        print(f"cpus {os.cpu_count()}, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
              f"scale {args.scale}, best of {args.repeats}")
        if not importing:
            print("fastckpt.import_graph_def is not available in this build: parse only")
        for workload in args.workloads.split(","):
            size_mib = gen["sizes"][workload] / (1 << 20)
            print(f"\n{workload}: {files(wdir)[workload].name}, {size_mib:.2f} MiB")
            print(f"  {'operation':<14}{'fastckpt':>12}{'TensorFlow':>12}{'speedup':>9}"
                  f"{'fc peak MiB':>13}{'tf peak MiB':>13}{'fc anon MiB':>13}  constants")
            for what in WORKLOAD_OPS[workload]:
                if what == "import" and not importing:
                    continue
                fc, tf = (best(f"{lib}_{what}", workload, wdir, args.repeats) for lib in ("fc", "tf"))
                results[f"{workload}/{what}"] = {"fastckpt": fc, "tensorflow": tf}
                if not (fc.get("ok") and tf.get("ok")):
                    print(f"  {what:<14} FAILED: fastckpt {fc.get('error', 'ok')} | TF {tf.get('error', 'ok')}")
                    continue
                ratio = tf["seconds"] / fc["seconds"]
                copied = "copied" if fc["end_anon_above_mib"] > 0.5 * size_mib else "not copied"
                if workload != "G1":
                    copied = "n/a (scalar consts)" if what == "consts" else "-"
                print(f"  {what:<14}{fc['seconds'] * 1e3:>10.2f}ms{tf['seconds'] * 1e3:>10.2f}ms{ratio:>8.2f}x"
                      f"{fc['peak_above_mib']:>13.1f}{tf['peak_above_mib']:>13.1f}{fc['end_anon_above_mib']:>13.1f}"
                      f"  {copied}")
                if (workload, what) in TARGETS:
                    rows.append((workload, what, ratio, fc["peak_above_mib"], tf["peak_above_mib"]))
                if what in ("consts", "walk", "walk again") and fc.get("fold") != tf.get("fold"):
                    print(f"  WARNING: fastckpt and TensorFlow {what} results differ")
        print("\ntargets (speedup = TF time / fastckpt time; memory = peak RSS above the start)")
        for workload, what, ratio, fc_peak, tf_peak in rows:
            least, memory = TARGETS[(workload, what)]
            passed = ratio >= least and (not memory or fc_peak <= tf_peak)
            goal = f">= {least:.1f}x" + (", peak <= TF's" if memory else "")
            mem = f"  {fc_peak:.1f} vs {tf_peak:.1f} MiB" if memory else ""
            print(f"  {workload} {what:<8}{ratio:>7.2f}x{mem:<22}  target {goal:<22}{'PASS' if passed else 'FAIL'}")
        load = os.getloadavg()
        print(f"\nload average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; total {time.time() - t0:.0f} s")
        if args.scale != 1:
            print(f"NOTE: scaled run (--scale {args.scale}); the target is meant for full size.")
        if args.json:
            Path(args.json).write_text(json.dumps({"args": vars(args), "generate": gen, "results": results}, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(wdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
