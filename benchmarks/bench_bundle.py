#!/usr/bin/env python3
"""Side-by-side benchmark of fastckpt against TensorFlow, safetensors and numpy.

Three workloads (W1: 1 GiB in 16 float32 tensors of 64 MiB; W2: 256 MiB in 8,192 float32 tensors
of 32 KiB; W3: a realistic mix of 154 float32 tensors of 64 KiB to 60 MiB, 351 MiB, shaped like a
ResNet-50 with momentum slots beside a BERT-medium encoder) are saved and restored by every library,
and written once more with raw ``os.writev`` calls of the same bytes to one file (the hardware's pace).
Every measured operation runs in a fresh child process (this same script, ``--child OP``) so that
its peak RSS can be read cleanly from ``/proc/self/status``: the kernel's high-water mark (VmHWM) is
reset just before the operation (``echo 5 > /proc/self/clear_refs``) and read just after it, while
everything it produced is still alive. Timings (wall clock, ``time.perf_counter``) come from the
same children; the best, the median and the spread (max/min) of ``--repeats`` runs are reported,
and the save targets are checked on medians.

Restores are materialised: every byte of every tensor is read by the same "touch" for every
library (an XOR fold of all 64-bit words, numpy's ``bitwise_xor.reduce``), and the per-tensor
digests are compared with those of the source arrays, so a reader that hands back wrong or lazy
data is caught. Checkpoints are written first and then read once (untimed) before the restores,
so every reader starts from a warm page cache.

See benchmarks/README.md for what each number means.

    python3 benchmarks/bench_bundle.py                          # full run, 3 repeats
    python3 benchmarks/bench_bundle.py --scale 0.05 --repeats 1 # quick smoke run
    python3 benchmarks/bench_bundle.py --kinds save --repeats 7 # saves only, the save targets
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

from _common import RESULT_MARK, Measure, log, run_script, touch  # shared with bench_graph.py

MIB = 1 << 20
GIB = 1 << 30
OPEN_WARM_LOOPS = 20

# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------

def realistic_mix() -> list[tuple[str, tuple[int, ...]]]:
    """W3: the variables of two familiar models whose tensors hold 64 KiB or more, in the order a
    training script creates them: a ResNet-50 (bottleneck blocks [3, 4, 6, 3], each convolution
    kernel followed by its momentum slot) and a BERT-medium encoder (vocabulary 30,522, 8 layers,
    hidden 512, feed-forward 2,048). Smaller tensors (biases, norms) are left out."""
    shapes: list[tuple[str, tuple[int, ...]]] = []

    def variable(name: str, shape: tuple[int, ...], slot: bool) -> None:
        if 4 * math.prod(shape) < 64 << 10:
            return
        shapes.append((name, shape))
        if slot:
            shapes.append((name + "/.OPTIMIZER_SLOT/optimizer/momentum", shape))

    channels = 64
    for stage, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
        for block in range(blocks):
            base = f"resnet/stage{stage + 1}/block{block + 1}"
            variable(f"{base}/conv1/kernel", (1, 1, channels, width), True)
            variable(f"{base}/conv2/kernel", (3, 3, width, width), True)
            variable(f"{base}/conv3/kernel", (1, 1, width, 4 * width), True)
            if block == 0:
                variable(f"{base}/shortcut/kernel", (1, 1, channels, 4 * width), True)
            channels = 4 * width
    variable("resnet/fc/kernel", (channels, 1000), True)
    hidden, ffn = 512, 2048
    variable("bert/embeddings/word_embeddings", (30522, hidden), False)
    variable("bert/embeddings/position_embeddings", (512, hidden), False)
    for layer in range(8):
        base = f"bert/encoder/layer_{layer}"
        for part in ("attention/query", "attention/key", "attention/value", "attention/output"):
            variable(f"{base}/{part}/kernel", (hidden, hidden), False)
        variable(f"{base}/intermediate/kernel", (hidden, ffn), False)
        variable(f"{base}/output/kernel", (ffn, hidden), False)
    return shapes


#: name -> (description, tensor count, tensor shape, what --scale shrinks); W3's shapes come from
#: realistic_mix().
WORKLOADS: dict[str, tuple[str, int, tuple[int, ...], str]] = {
    "W1": ("1 GiB in 16 float32 tensors of 64 MiB", 16, (4096, 4096), "rows"),
    "W2": ("256 MiB in 8,192 float32 tensors of 32 KiB", 8192, (64, 128), "count"),
    "W3": ("351 MiB in 154 float32 tensors of 64 KiB-60 MiB (ResNet-50 + momentum, BERT-medium)",
           len(realistic_mix()), (), "rows"),
}


class Spec:
    """One workload at one scale: tensor names and shapes (in save order), bytes."""

    def __init__(self, workload: str, scale: float) -> None:
        if workload not in WORKLOADS:
            raise SystemExit(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS)}")
        desc, count, shape, axis = WORKLOADS[workload]
        if workload == "W3":
            named = [(f"w3/{name}", shape) for name, shape in realistic_mix()]
        else:
            named = [(f"{workload.lower()}/layer_{i:05d}/kernel", shape) for i in range(count)]
        if axis == "rows":  # W1, W3: keep every tensor, shrink each along its last dimension
            named = [(name, (*shape[:-1], max(1, round(shape[-1] * scale)))) for name, shape in named]
        else:  # W2: keep 32 KiB tensors, fewer of them
            named = named[: max(1, round(count * scale))]
        self.workload = workload
        self.description = desc if scale == 1.0 else f"{desc}, scaled by {scale:g}"
        self.count = len(named)
        self.names = [name for name, _ in named]
        self.shapes = [shape for _, shape in named]
        self.sizes = [4 * int(math.prod(shape)) for shape in self.shapes]
        self.payload = sum(self.sizes)
        self.seed = 20240 + sorted(WORKLOADS).index(workload)

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "description": self.description,
            "tensors": self.count,
            "shapes": sorted({str(list(shape)) for shape in self.shapes}) if self.count <= 16 else "various",
            "dtype": "float32",
            "tensor_bytes": {"min": min(self.sizes), "max": max(self.sizes)},
            "payload_bytes": self.payload,
        }


# --------------------------------------------------------------------------------------------
# Operations: (op id, library, module needed, kind, label). Kinds: save, restore, open.
# --------------------------------------------------------------------------------------------

OPS: list[tuple[str, str, str, str, str]] = [
    ("fc_save", "fastckpt", "fastckpt", "save", "save: fastckpt.save (alignment=64)"),
    ("tf_savev2", "tensorflow", "tensorflow", "save", "save: raw_ops.SaveV2 (EagerTensors ready)"),
    ("tf_savev2_conv", "tensorflow", "tensorflow", "save", "save: SaveV2 incl. np->tf.constant"),
    ("st_save", "safetensors", "safetensors", "save", "save: safetensors.numpy.save_file"),
    ("np_savez", "numpy", "numpy", "save", "save: np.savez (uncompressed)"),
    ("raw_write", "raw", "numpy", "save", "save: raw writev() of the same bytes"),
    ("fc_save_idle", "fastckpt", "fastckpt", "save", "save after idle: fastckpt.save"),
    ("tf_savev2_idle", "tensorflow", "tensorflow", "save", "save after idle: raw_ops.SaveV2"),
    ("st_save_idle", "safetensors", "safetensors", "save", "save after idle: safetensors save_file"),
    ("raw_write_idle", "raw", "numpy", "save", "save after idle: raw writev()"),
    ("fc_views", "fastckpt", "fastckpt", "restore", "restore: get_tensor views, verify=True"),
    ("fc_read_all", "fastckpt", "fastckpt", "restore", "restore: read_all(copy=True)"),
    ("fc_copy", "fastckpt", "fastckpt", "restore", "restore: get_tensor(copy=True) each"),
    ("fc_views_noverify", "fastckpt", "fastckpt", "restore", "restore: views, verify=False [info]"),
    ("fc_views_tfckpt", "fastckpt", "fastckpt", "restore", "restore: views of TF-written ckpt [info]"),
    ("tf_restorev2", "tensorflow", "tensorflow", "restore", "restore: raw_ops.RestoreV2 + .numpy()"),
    ("tf_load_ckpt", "tensorflow", "tensorflow", "restore", "restore: train.load_checkpoint.get_tensor"),
    ("st_load_file", "safetensors", "safetensors", "restore", "restore: safetensors.numpy.load_file"),
    ("st_safe_open", "safetensors", "safetensors", "restore", "restore: safe_open + get_tensor each"),
    ("np_load", "numpy", "numpy", "restore", "restore: np.load(npz)[name] each"),
    ("fc_open", "fastckpt", "fastckpt", "open", "open(verify=False) + views, no touch"),
    ("fc_list", "fastckpt", "fastckpt", "open", "list: fastckpt.list_variables"),
    ("tf_list", "tensorflow", "tensorflow", "open", "list: tf.train.list_variables"),
]
OP_INFO = {op: (lib, module, kind, label) for op, lib, module, kind, label in OPS}

#: which checkpoint each op writes or reads (key into paths_for())
OP_FILE = {
    "fc_save": "fastckpt", "tf_savev2": "tensorflow", "tf_savev2_conv": "tensorflow",
    "st_save": "safetensors", "np_savez": "numpy", "raw_write": "raw",
    "fc_save_idle": "fastckpt", "tf_savev2_idle": "tensorflow", "st_save_idle": "safetensors",
    "raw_write_idle": "raw",
    "fc_views": "fastckpt", "fc_read_all": "fastckpt", "fc_copy": "fastckpt",
    "fc_views_noverify": "fastckpt", "fc_views_tfckpt": "tensorflow", "fc_open": "fastckpt",
    "fc_list": "fastckpt", "tf_list": "tensorflow",
    "tf_restorev2": "tensorflow", "tf_load_ckpt": "tensorflow",
    "st_load_file": "safetensors", "st_safe_open": "safetensors", "np_load": "numpy",
}
#: the save op whose output a restore needs (the last save to that file wins; all are equivalent)
FILE_WRITER = {"fastckpt": "fc_save", "tensorflow": "tf_savev2", "safetensors": "st_save", "numpy": "np_savez"}


def paths_for(wdir: Path) -> dict[str, Path]:
    return {
        "fastckpt": wdir / "fastckpt" / "ckpt",
        "tensorflow": wdir / "tf" / "ckpt",
        "safetensors": wdir / "safetensors" / "model.safetensors",
        "numpy": wdir / "numpy" / "arrays.npz",
        "raw": wdir / "raw" / "payload.bin",
    }


# --------------------------------------------------------------------------------------------
# Child side: /proc/self/status, data, touch, and one function per operation
# --------------------------------------------------------------------------------------------

np: Any = None  # numpy, imported in the child only


def make_arrays(spec: Spec) -> dict[str, Any]:
    """The workload's source arrays, deterministic (one seeded generator per tensor)."""
    return {
        name: np.random.default_rng([spec.seed, i]).random(shape, dtype=np.float32)
        for i, (name, shape) in enumerate(zip(spec.names, spec.shapes))
    }


def signature(digests: dict[str, int]) -> str:
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(f"{name}={digests[name]:016x}\n".encode())
    return h.hexdigest()[:16]


def record_read(m: Measure, arrays: dict[str, Any], digests: dict[str, int]) -> None:
    m.extra["signature"] = signature(digests)
    m.extra["tensors_read"] = len(arrays)
    m.extra["bytes_read"] = int(sum(a.nbytes for a in arrays.values()))


def warm_tf() -> Any:
    """Imports TensorFlow and initialises its eager context outside the timed region (generous
    to TF: its one-off start-up cost is not charged to any operation)."""
    import tensorflow as tf

    (tf.constant(np.zeros(4, np.float32)) + 1.0).numpy()
    return tf


# --- saves ---


#: Seconds a "save after idle" child waits between freeing memory and saving (set by child_main).
IDLE_SECONDS = 4.0
idle_before_save = 0.0


def free_as_much_as_tf(spec: Spec) -> None:
    """Gives back to the kernel as many freshly touched bytes as the payload, as TF's save child
    does when it drops its numpy arrays after making EagerTensors of them. Where free memory is
    short, a save that finds just-freed pages fills the page cache much faster (W1 on a busy
    2-core machine: a raw write() 0.51-0.54 s after freeing 1 GiB against 1.5-4.2 s without), so
    every save child starts from the same state."""
    scratch = np.ones(spec.payload, dtype=np.uint8)
    del scratch
    gc.collect()
    settle()


def settle() -> None:
    """The "save after idle" ops wait here, as a training loop's save comes long after any large
    free. Where the kernel reports free memory to a hypervisor (virtio-balloon free page
    reporting, 2 s after a free), freed blocks are then no longer backed, and a save that fills
    the page cache in large folios takes a host fault for each page it touches."""
    time.sleep(idle_before_save)


def c_fc_save(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    import fastckpt

    arrays = make_arrays(spec)
    m.extra["signature"] = signature({n: touch(a) for n, a in arrays.items()})
    free_as_much_as_tf(spec)
    with m:
        fastckpt.save(arrays, str(paths["fastckpt"]))


def c_tf_savev2(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    tf = warm_tf()
    arrays = make_arrays(spec)
    m.extra["signature"] = signature({n: touch(a) for n, a in arrays.items()})
    names = list(arrays)
    t0 = time.perf_counter()
    tensors = [tf.constant(arrays[n]) for n in names]
    m.extra["convert_seconds"] = time.perf_counter() - t0
    del arrays  # the caller's data is now the EagerTensors
    gc.collect()
    settle()
    with m:
        tf.raw_ops.SaveV2(
            prefix=str(paths["tensorflow"]), tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors
        )


def c_tf_savev2_conv(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    tf = warm_tf()
    arrays = make_arrays(spec)
    m.extra["signature"] = signature({n: touch(a) for n, a in arrays.items()})
    names = list(arrays)
    with m:
        tensors = [tf.constant(arrays[n]) for n in names]
        tf.raw_ops.SaveV2(
            prefix=str(paths["tensorflow"]), tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors
        )


def c_st_save(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    from safetensors.numpy import save_file

    arrays = make_arrays(spec)
    m.extra["signature"] = signature({n: touch(a) for n, a in arrays.items()})
    free_as_much_as_tf(spec)
    with m:
        save_file(arrays, str(paths["safetensors"]))


def c_np_savez(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    arrays = make_arrays(spec)
    m.extra["signature"] = signature({n: touch(a) for n, a in arrays.items()})
    free_as_much_as_tf(spec)
    with m:
        np.savez(str(paths["numpy"]), **arrays)


def c_raw_write(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    """The floor for every save: the arrays' bytes handed to the kernel in one ``os.writev`` per
    1,024 arrays (the most one call takes), on a new file, like the libraries' saves, no fsync."""
    arrays = make_arrays(spec)
    m.extra["signature"] = signature({n: touch(a) for n, a in arrays.items()})
    views = [memoryview(a).cast("B") for a in arrays.values()]
    free_as_much_as_tf(spec)
    with m:
        fd = os.open(str(paths["raw"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            writev_all(fd, views)
        finally:
            os.close(fd)


def writev_all(fd: int, views: list[memoryview]) -> None:
    """Writes ``views`` in order with one ``os.writev`` per 1,024 of them (the most one call
    takes), finishing what a short write left."""
    for start in range(0, len(views), 1024):
        group = views[start:start + 1024]
        written = os.writev(fd, group)
        for view in group:
            rest, written = view[min(written, len(view)):], max(0, written - len(view))
            while rest:
                rest = rest[os.write(fd, rest):]


# --- restores: each opens the file, gets every tensor, touches every byte, all timed ---


def _fc_views(path: Path, m: Measure, verify: bool) -> None:
    import fastckpt

    with m:
        r = fastckpt.load_checkpoint(str(path), verify=verify)
        arrays = {n: r.get_tensor(n) for n in r.keys()}
        digests = {n: touch(a) for n, a in arrays.items()}
    record_read(m, arrays, digests)


def c_fc_views(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    _fc_views(paths["fastckpt"], m, verify=True)


def c_fc_views_noverify(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    _fc_views(paths["fastckpt"], m, verify=False)


def c_fc_views_tfckpt(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    _fc_views(paths["tensorflow"], m, verify=True)


def c_fc_read_all(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    import fastckpt

    with m:
        r = fastckpt.load_checkpoint(str(paths["fastckpt"]), verify=True)
        arrays = r.read_all(copy=True)
        digests = {n: touch(a) for n, a in arrays.items()}
    record_read(m, arrays, digests)


def c_fc_copy(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    import fastckpt

    with m:
        r = fastckpt.load_checkpoint(str(paths["fastckpt"]), verify=True)
        arrays = {n: r.get_tensor(n, copy=True) for n in r.keys()}
        digests = {n: touch(a) for n, a in arrays.items()}
    record_read(m, arrays, digests)


def c_tf_restorev2(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    tf = warm_tf()
    names = list(spec.names)  # RestoreV2's caller knows names and dtypes
    n = len(names)
    with m:
        tensors = tf.raw_ops.RestoreV2(
            prefix=str(paths["tensorflow"]), tensor_names=names, shape_and_slices=[""] * n, dtypes=[tf.float32] * n
        )
        arrays = {name: t.numpy() for name, t in zip(names, tensors)}
        digests = {name: touch(a) for name, a in arrays.items()}
    record_read(m, arrays, digests)


def c_tf_load_ckpt(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    tf = warm_tf()
    with m:
        r = tf.train.load_checkpoint(str(paths["tensorflow"]))
        arrays = {n: r.get_tensor(n) for n in r.get_variable_to_shape_map()}
        digests = {n: touch(a) for n, a in arrays.items()}
    record_read(m, arrays, digests)


def c_st_load_file(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    from safetensors.numpy import load_file

    with m:
        arrays = load_file(str(paths["safetensors"]))
        digests = {n: touch(a) for n, a in arrays.items()}
    record_read(m, arrays, digests)


def c_st_safe_open(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    from safetensors import safe_open

    with m:
        with safe_open(str(paths["safetensors"]), framework="np") as f:
            arrays = {n: f.get_tensor(n) for n in f.keys()}
        digests = {n: touch(a) for n, a in arrays.items()}
    record_read(m, arrays, digests)


def c_np_load(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    with m:
        with np.load(str(paths["numpy"])) as z:
            arrays = {n: z[n] for n in z.files}
        digests = {n: touch(a) for n, a in arrays.items()}
    record_read(m, arrays, digests)


# --- open ---


def c_fc_open(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    import fastckpt

    prefix = str(paths["fastckpt"])
    with m:  # the first open in a fresh process
        r = fastckpt.load_checkpoint(prefix, verify=False)
        views = [r.get_tensor(n) for n in r.keys()]
    m.extra["tensors_read"] = len(views)
    del views, r
    warm = []
    for _ in range(OPEN_WARM_LOOPS):  # the same, repeated in this process
        t0 = time.perf_counter()
        r = fastckpt.load_checkpoint(prefix, verify=False)
        views = [r.get_tensor(n) for n in r.keys()]
        warm.append(time.perf_counter() - t0)
        del views, r
    m.extra["warm_min_seconds"] = min(warm)
    m.extra["warm_median_seconds"] = statistics.median(warm)


def _list_variables(m: Measure, list_variables: Callable[[str], list[Any]], prefix: str) -> None:
    """``list_variables`` of every name and shape (what a user inspecting a checkpoint calls):
    the first call in a fresh process, then the same repeated in it."""
    with m:
        listed = list_variables(prefix)
    m.extra["tensors_read"] = len(listed)
    warm = []
    for _ in range(OPEN_WARM_LOOPS):
        t0 = time.perf_counter()
        list_variables(prefix)
        warm.append(time.perf_counter() - t0)
    m.extra["warm_min_seconds"] = min(warm)
    m.extra["warm_median_seconds"] = statistics.median(warm)


def c_fc_list(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    import fastckpt

    _list_variables(m, fastckpt.list_variables, str(paths["fastckpt"]))


def c_tf_list(spec: Spec, paths: dict[str, Path], m: Measure) -> None:
    import tensorflow as tf

    _list_variables(m, tf.train.list_variables, str(paths["tensorflow"]))


CHILD_FUNCS: dict[str, Callable[[Spec, dict[str, Path], Measure], None]] = {
    "fc_save": c_fc_save, "tf_savev2": c_tf_savev2, "tf_savev2_conv": c_tf_savev2_conv,
    "st_save": c_st_save, "np_savez": c_np_savez, "raw_write": c_raw_write,
    "fc_save_idle": c_fc_save, "tf_savev2_idle": c_tf_savev2, "st_save_idle": c_st_save,
    "raw_write_idle": c_raw_write,
    "fc_views": c_fc_views, "fc_read_all": c_fc_read_all, "fc_copy": c_fc_copy,
    "fc_views_noverify": c_fc_views_noverify, "fc_views_tfckpt": c_fc_views_tfckpt,
    "tf_restorev2": c_tf_restorev2, "tf_load_ckpt": c_tf_load_ckpt,
    "st_load_file": c_st_load_file, "st_safe_open": c_st_safe_open, "np_load": c_np_load,
    "fc_open": c_fc_open, "fc_list": c_fc_list, "tf_list": c_tf_list,
}
assert set(CHILD_FUNCS) == set(OP_INFO)


def child_main(args: argparse.Namespace) -> int:
    global np, idle_before_save
    import numpy

    np = numpy
    idle_before_save = IDLE_SECONDS if args.child.endswith("_idle") else 0.0
    spec = Spec(args.workload, args.scale)
    m = Measure()
    CHILD_FUNCS[args.child](spec, paths_for(Path(args.dir)), m)
    print(RESULT_MARK + json.dumps(m.result()), flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# Parent side: run children, summarise, print
# --------------------------------------------------------------------------------------------


def run_child(op: str, spec: Spec, scale: float, wdir: Path) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", op, "--workload", spec.workload,
           "--scale", repr(scale), "--dir", str(wdir)]
    return run_script(cmd)


def prewarm(files: list[Path]) -> Optional[float]:
    """Reads every file once so that all readers start from a warm page cache; returns the
    resident fraction afterwards (from fincore, when available)."""
    buf = bytearray(16 * MIB)
    view = memoryview(buf)
    for path in files:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(view):
                pass
    if not files or shutil.which("fincore") is None:
        return None
    try:
        out = subprocess.run(["fincore", "--bytes", "--raw", "--noheadings", "-o", "RES,SIZE", *map(str, files)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True).stdout
        res = size = 0
        for line in out.split("\n"):
            if line.strip():
                r, s = line.split()[:2]
                res, size = res + int(r), size + int(s)
        return res / size if size else None
    except (subprocess.CalledProcessError, ValueError):
        return None


def ckpt_files(path: Path) -> list[Path]:
    """The files making up the checkpoint at ``path`` (a prefix or a single file)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.parent.glob(path.name + ".*") if p.is_file())


def fs_type(path: Path) -> str:
    best, kind = "", "?"
    target = os.path.realpath(path)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1]
                if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, f"{parts[2]} ({parts[0]} on {mnt})"
    except OSError:
        pass
    return kind


def version_of(*dists: str) -> str:
    for d in dists:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def machine_info(scratch: Path) -> dict[str, Any]:
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gib": round(mem / GIB, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "scratch": str(scratch),
        "scratch_fs": fs_type(scratch),
        "versions": {
            "fastckpt": version_of("fastckpt"),
            "tensorflow": version_of("tensorflow-cpu", "tensorflow"),
            "safetensors": version_of("safetensors"),
            "numpy": version_of("numpy"),
        },
    }


def cpu_busy_seconds() -> Optional[float]:
    """CPU seconds spent busy by the whole machine so far (all CPUs, from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    guest = sum(fields[8:10]) if len(fields) > 9 else 0  # already counted in user/nice
    return (sum(fields) - idle - guest) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds used by this process and its (finished) children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def summarise(op: str, runs: list[dict[str, Any]], spec: Spec, expected_sig: Optional[str]) -> dict[str, Any]:
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        errs = [r.get("error", "?") for r in runs]
        return {"ok": False, "error": errs[0] if errs else "not run", "runs": runs}
    secs = [r["seconds"] for r in ok]
    best, median = min(secs), statistics.median(secs)
    summ: dict[str, Any] = {
        "ok": True,
        "best_seconds": best,
        "median_seconds": median,
        "spread": max(secs) / best if best > 0 else float("inf"),
        "gbps": spec.payload / best / 1e9 if best > 0 else float("inf"),
        "median_gbps": spec.payload / median / 1e9 if median > 0 else float("inf"),
        "peak_above_mib": max(r["peak_above_mib"] for r in ok),
        "peak_x_payload": max(r["peak_above_mib"] for r in ok) * MIB / spec.payload,
        "end_anon_above_mib": max(r["end_anon_above_mib"] for r in ok),
        "end_file_above_mib": max(r["end_file_above_mib"] for r in ok),
        "hwm_reset": all(r["hwm_reset"] for r in ok),
        "failed_runs": len(runs) - len(ok),
        "runs": runs,
    }
    kind = OP_INFO[op][2]
    problems = []
    if expected_sig is not None and kind in ("save", "restore"):
        bad = [r for r in ok if r.get("signature") != expected_sig]
        if bad:
            problems.append(f"DATA MISMATCH in {len(bad)} run(s)")
    if kind == "restore":
        if any(r.get("tensors_read") != spec.count or r.get("bytes_read") != spec.payload for r in ok):
            problems.append("WRONG TENSOR COUNT/BYTES")
    if kind == "open":
        summ["warm_min_seconds"] = min(r["warm_min_seconds"] for r in ok)
    if len(runs) != len(ok):
        problems.append(f"{len(runs) - len(ok)} run(s) failed")
    summ["problems"] = problems
    return summ


def run_workload(name: str, args: argparse.Namespace, scratch: Path, available: dict[str, bool]) -> dict[str, Any]:
    spec = Spec(name, args.scale)
    wdir = scratch / name
    wdir.mkdir(parents=True, exist_ok=True)
    paths = paths_for(wdir)
    runs: dict[str, list[dict[str, Any]]] = {op: [] for op in OP_INFO}
    log(f"== {name}: {spec.description} ({spec.payload / MIB:.1f} MiB payload), {args.repeats} repeat(s)")

    def skip_reason(op: str) -> Optional[str]:
        _lib, module, kind, _label = OP_INFO[op]
        if not available.get(module, False):
            return f"{module} not installed"
        if kind != "save":
            writer_module = OP_INFO[FILE_WRITER[OP_FILE[op]]][1]
            if not available.get(writer_module, False):
                return f"no checkpoint ({writer_module} not installed)"
            if not ckpt_files(paths[OP_FILE[op]]):
                return "no checkpoint (its save failed)"
        return None

    def run(op: str, rep: int) -> None:
        if OP_INFO[op][2] not in args.kinds:
            return
        reason = skip_reason(op)
        if reason:
            runs[op].append({"ok": False, "error": reason})
            return
        res = run_child(op, spec, args.scale, wdir)
        runs[op].append(res)
        shown = f"{res['seconds']:.4f} s, peak +{res['peak_above_mib']:.1f} MiB" if res.get("ok") else "FAILED"
        log(f"  [{name} rep {rep + 1}/{args.repeats}] {op:18s} {shown}")
        if not res.get("ok"):
            log("    " + res["error"].replace("\n", "\n    "))

    save_ops = [op for op in OP_INFO if OP_INFO[op][2] == "save"]
    restore_ops = [op for op in OP_INFO if OP_INFO[op][2] == "restore"]
    def rotated(ops: list[str], rep: int) -> list[str]:
        """Each repeat starts with another library, so none is always first after a quiet spell
        (the first large write of a run can be much slower, whoever does it)."""
        k = rep % len(ops)
        return ops[k:] + ops[:k]

    # Saves, round-robin over libraries. Each starts on an empty folder with no dirty pages
    # pending (os.sync, untimed), so no save pays for the previous one's writeback.
    for rep in range(args.repeats):
        for op in rotated(save_ops, rep):
            target = paths[OP_FILE[op]]
            shutil.rmtree(target.parent, ignore_errors=True)
            target.parent.mkdir(parents=True)
            os.sync()
            run(op, rep)
    # Rewrite each library's reference checkpoint with its plain save when a later op of the same
    # library overwrote it and failed (tf_savev2_conv writes the same file as tf_savev2).
    for lib_file, writer in FILE_WRITER.items():
        if not ckpt_files(paths[lib_file]) and any(r.get("ok") for r in runs[writer]):
            log(f"  {lib_file} checkpoint missing after the saves; rewriting it with {writer}")
            paths[lib_file].parent.mkdir(parents=True, exist_ok=True)
            run_child(writer, spec, args.scale, wdir)
    os.sync()

    sigs = {r["signature"] for op in save_ops for r in runs[op] if r.get("ok")}
    expected_sig = next(iter(sigs)) if len(sigs) == 1 else None
    if len(sigs) > 1:
        log(f"  WARNING: save children disagree on the source data ({sigs}); data checks disabled")

    files = [f for lib, p in paths.items() if lib != "raw" for f in ckpt_files(p)]
    file_sizes = {lib: sum(f.stat().st_size for f in ckpt_files(p)) for lib, p in paths.items()}
    resident = prewarm(files) if args.kinds != {"save"} else None
    log(f"  page cache warmed: {sum(file_sizes.values()) / MIB:.1f} MiB in {len(files)} files"
        + (f", {resident * 100:.1f}% resident" if resident is not None else ""))

    for rep in range(args.repeats):
        for op in rotated(restore_ops, rep):
            run(op, rep)
    open_ops = [op for op in OP_INFO if OP_INFO[op][2] == "open"]
    for rep in range(args.repeats):
        for op in rotated(open_ops, rep):
            run(op, rep)

    summary = {op: summarise(op, runs[op], spec, expected_sig) for op in OP_INFO}
    result = {
        "spec": spec.as_dict(),
        "file_bytes": file_sizes,
        "page_cache_resident_fraction": resident,
        "source_signature": expected_sig,
        "ops": summary,
    }
    if not args.keep:
        shutil.rmtree(wdir, ignore_errors=True)
    return result


# --- report ---


def print_table(name: str, res: dict[str, Any]) -> None:
    spec = res["spec"]
    payload_mib = spec["payload_bytes"] / MIB
    print()
    print(f"=== {name}: {spec['description']} -- {spec['tensors']} float32 tensors, "
          f"{payload_mib:.1f} MiB payload ===")
    sizes = ", ".join(f"{lib} {b / MIB:.1f}" for lib, b in res["file_bytes"].items())
    print(f"    files on disk (MiB): {sizes}")
    frac = res["page_cache_resident_fraction"]
    print("    restores read warm files: every checkpoint was written, synced, then read once before them"
          + (f" ({frac * 100:.1f}% resident in the page cache)" if frac is not None else ""))
    header = (f"{'library':<12} {'operation':<44} {'GB/s':>8} {'best s':>9} {'median s':>9} {'spread':>7} "
              f"{'peak MiB':>9} {'x ckpt':>7}  notes")
    print(header)
    print("-" * len(header))
    for op, (lib, _module, kind, label) in OP_INFO.items():
        s = res["ops"][op]
        if s.get("error") == "not run":
            continue
        if not s.get("ok"):
            print(f"{lib:<12} {label:<44} {'n/a':>8} {'n/a':>9} {'n/a':>9} {'n/a':>7} {'n/a':>9} {'n/a':>7}  "
                  f"{s.get('error', '')[:80]}")
            continue
        notes = list(s["problems"])
        if kind == "open":
            gbps = "-"
            best = f"{s['best_seconds'] * 1e3:.3f}ms"
            median = f"{s['median_seconds'] * 1e3:.3f}ms"
            notes.append(f"warm (in-process) min {s['warm_min_seconds'] * 1e3:.3f} ms")
        else:
            gbps = f"{s['gbps']:.2f}"
            best = f"{s['best_seconds']:.4f}"
            median = f"{s['median_seconds']:.4f}"
        if kind == "restore":
            notes.append(f"held at end: anon +{s['end_anon_above_mib']:.0f}, file +{s['end_file_above_mib']:.0f} MiB")
        if op == "tf_savev2":
            conv = min(r["convert_seconds"] for r in s["runs"] if r.get("ok"))
            notes.append(f"np->tf.constant took {conv:.4f} s (excluded)")
        if kind == "save":
            notes.append("beyond the caller's arrays")
        if not s["hwm_reset"]:
            notes.append("VmHWM not resettable: peak approximate")
        print(f"{lib:<12} {label:<44} {gbps:>8} {best:>9} {median:>9} {s['spread']:>7.2f} {s['peak_above_mib']:>9.1f} "
              f"{s['peak_above_mib'] / payload_mib:>7.2f}  {'; '.join(notes)}")


def ratio_checks(name: str, res: dict[str, Any]) -> list[dict[str, Any]]:
    ops = res["ops"]
    payload_mib = res["spec"]["payload_bytes"] / MIB
    checks: list[dict[str, Any]] = []

    def rate(op: str) -> Optional[float]:
        s = ops.get(op, {})
        return float(s["gbps"]) if s.get("ok") and not s["problems"] else None

    def add(what: str, value: Optional[float], target: str, passed: Optional[bool], unit: str = "x") -> None:
        status = "n/a" if passed is None else ("PASS" if passed else "FAIL")
        shown = "n/a" if value is None else (f"{value:.2f}{unit}" if unit == "x" else f"{value:.3f} {unit}")
        checks.append({"workload": name, "check": what, "value": value, "shown": shown, "target": target,
                       "status": status})

    def ratio(a: str, b: Optional[float]) -> Optional[float]:
        ra = rate(a)
        return None if ra is None or b is None or b == 0 else ra / b

    k = 2.5 if name == "W1" else 2.0  # W2 (many small tensors), W3: >= 2x TF
    tf_readers = {op: rate(op) for op in ("tf_restorev2", "tf_load_ckpt")}
    tf_best_op = max((op for op in tf_readers if tf_readers[op] is not None), key=lambda o: tf_readers[o] or 0.0,
                     default=None)
    tf_best = tf_readers[tf_best_op] if tf_best_op else None
    best_label = {"tf_restorev2": "RestoreV2", "tf_load_ckpt": "load_checkpoint"}.get(tf_best_op or "", "?")

    def check_ratio(what: str, a: str, b: Optional[float], minimum: float) -> None:
        v = ratio(a, b)
        add(what, v, f">= {minimum:g}x", None if v is None else v >= minimum)

    def median_rate(op: str) -> Optional[float]:
        s = ops.get(op, {})
        return float(s["median_gbps"]) if s.get("ok") and not s["problems"] else None

    def check_save(what: str, other: str, minimum: float, after: str = "") -> None:
        fc, them = median_rate("fc_save" + after), median_rate(other + after)
        v = None if fc is None or not them else fc / them
        state = "after idle" if after else "(medians)"
        add(f"save {state}: fastckpt / {what}", v, f">= {minimum:g}x", None if v is None else v >= minimum)

    for after in ("", "_idle"):
        check_save("TF SaveV2", "tf_savev2", k, after)
        check_save("safetensors save_file", "st_save", 1.0, after)
        check_save("raw writev() of the same bytes", "raw_write", 0.9, after)
        fc_save, tf_save = ops.get("fc_save" + after, {}), ops.get("tf_savev2" + after, {})
        what = f"save {'after idle ' if after else ''}spread (max/min of the runs): fastckpt"
        if fc_save.get("ok") and tf_save.get("ok"):
            add(what, fc_save["spread"], f"<= {tf_save['spread']:.2f} (TF)", fc_save["spread"] <= tf_save["spread"])
        else:
            add(what, None, "<= TF's", None)
    if not any(ops.get(op, {}).get("ok") for op in OP_INFO if OP_INFO[op][2] != "save"):
        return checks  # a run of saves only (--kinds save)
    check_ratio(f"verified restore: fastckpt views+touch / TF best ({best_label})", "fc_views", tf_best, k)
    check_ratio(f"owned restore: read_all(copy=True) / TF best ({best_label})", "fc_read_all", tf_best, 2.0)
    check_ratio(f"owned restore: get_tensor(copy=True) / TF best ({best_label})", "fc_copy", tf_best, 2.0)
    if name == "W1":
        s = ops.get("fc_open", {})
        v = s["best_seconds"] * 1e3 if s.get("ok") else None
        add("open(verify=False) + views of all W1 tensors", v, "< 5 ms", None if v is None else v < 5.0, unit="ms")
    fc_list, tf_list = ops.get("fc_list", {}), ops.get("tf_list", {})
    if fc_list.get("ok") and tf_list.get("ok"):
        add("list_variables, first call: fastckpt / TF [info]", tf_list["best_seconds"] / fc_list["best_seconds"], "info", None)
    for op in ("fc_views", "fc_read_all", "fc_copy"):
        s = ops.get(op, {})
        v = s["peak_above_mib"] / payload_mib if s.get("ok") else None
        add(f"restore peak RSS: {OP_INFO[op][3].split(': ', 1)[1]} (x ckpt size)", v, "<= 1.1x",
            None if v is None else v <= 1.1)
    s = ops.get("tf_restorev2", {})
    add("restore peak RSS: TF RestoreV2 (x ckpt size) [info]",
        s["peak_above_mib"] / payload_mib if s.get("ok") else None, "info", None)
    s = ops.get("fc_save", {})
    v = s["peak_above_mib"] if s.get("ok") else None
    add("save peak RSS: fastckpt.save beyond the caller's arrays", v, "<= 64 MiB",
        None if v is None else v <= 64.0, unit="MiB")
    for c in checks:
        if c["target"] == "info":
            c["status"] = "INFO"
    return checks


def print_ratios(checks: list[dict[str, Any]]) -> None:
    print()
    print("=== RATIOS vs targets ===")
    header = f"{'wl':<3} {'check':<68} {'value':>11} {'target':>10}  status"
    print(header)
    print("-" * len(header))
    for c in checks:
        print(f"{c['workload']:<3} {c['check']:<68} {c['shown']:>11} {c['target']:>10}  {c['status']}")
    counts = {s: sum(c["status"] == s for c in checks) for s in ("PASS", "FAIL", "n/a")}
    print(f"--> {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['n/a']} n/a")


def parent_main(args: argparse.Namespace) -> int:
    workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"unknown workload {w!r}; known: {', '.join(WORKLOADS)}")
    if args.repeats < 1 or args.scale <= 0:
        raise SystemExit("--repeats must be >= 1 and --scale > 0")
    base = Path(args.dir) if args.dir else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fastckpt-bench-", dir=base))
    available = {m: importlib.util.find_spec(m) is not None for m in ("fastckpt", "tensorflow", "safetensors", "numpy")}
    info = machine_info(scratch)
    load_start = loadavg()
    busy_start, own_start = cpu_busy_seconds(), own_cpu_seconds()
    print("fastckpt side-by-side benchmark (TensorFlow V2 checkpoints)")
    print(f"  machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['mem_total_gib']} GiB RAM, "
          f"Linux {info['kernel']}, Python {info['python']}")
    print("  versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print(f"  scratch: {scratch} on {info['scratch_fs']}")
    print(f"  repeats: {args.repeats} (best, median and spread = max/min reported; each measured op in a fresh"
          f" process), scale {args.scale:g}")
    print(f"  load average at start: {load_start}")
    print("  GB/s = payload bytes (sum of tensor sizes) / best wall seconds, 1 GB = 1e9 bytes.")
    print("  peak MiB = VmHWM during the op minus VmRSS just before it (HWM reset via clear_refs);"
          " x ckpt = that / payload.")
    print("  restores include open + getting every tensor + touching every byte (XOR fold, same for all);"
          " data is checked against the source.")
    print("  saves stop when the library returns (no library fsyncs; data is in the page cache).")
    print("  page cache: every checkpoint is written, synced, then read once before the timed restores,"
          " so all readers start warm.")
    sys.stdout.flush()
    results: dict[str, Any] = {}
    checks: list[dict[str, Any]] = []
    t_start = time.time()
    try:
        for w in workloads:
            results[w] = run_workload(w, args, scratch, available)
            print_table(w, results[w])
            sys.stdout.flush()
            checks += ratio_checks(w, results[w])
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    load_end = loadavg()
    busy_end, own_end = cpu_busy_seconds(), own_cpu_seconds()
    wall = time.time() - t_start
    others = None
    if busy_start is not None and busy_end is not None and wall > 0:
        others = max(0.0, (busy_end - busy_start) - (own_end - own_start)) / wall
    print_ratios(checks)
    print(f"\nload average at end: {load_end} (includes this benchmark); total run {wall:.0f} s")
    if others is not None:
        print(f"CPU used outside this benchmark (other programs, kernel writeback): {others:.2f} of {info['cpus']} cores on average")
    start_load = float(load_start.split()[0]) if load_start != "?" else 0.0
    if (others is not None and others > 0.25) or start_load > 0.5 * (info["cpus"] or 1):
        print("WARNING: the machine was not quiet (other processes used CPU); numbers are noisy.")
    if args.scale != 1.0:
        print(f"NOTE: scaled run (--scale {args.scale:g}); targets are meant for the full-size workloads.")
    if args.json:
        out = {
            "config": {"workloads": workloads, "repeats": args.repeats, "scale": args.scale},
            "machine": info,
            "load_average": {"start": load_start, "end": load_end},
            "other_processes_cores": others,
            "results": results,
            "checks": checks,
        }
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"results written to {args.json}")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="W1,W2,W3",
                   help="comma-separated: W1 (16 x 64 MiB), W2 (8192 x 32 KiB), W3 (realistic mix, 154 tensors)")
    p.add_argument("--kinds", default="save,restore,open",
                   help="which operations to run: save, restore, open (comma-separated; all by default)")
    p.add_argument("--repeats", type=int, default=5,
                   help="runs of every operation; best, median and spread are reported (5)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="size factor for a quick run: W1 keeps 16 tensors of scaled size, "
                        "W2 keeps 32 KiB tensors, scaled count; W3 keeps its tensors, each scaled (1.0)")
    p.add_argument("--dir", default=None, help="where to create the scratch folder (default: the system temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder and checkpoints")
    p.add_argument("--json", default=None, metavar="OUT.json", help="also write all results as JSON")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--workload", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.kinds = {k.strip() for k in args.kinds.split(",") if k.strip()}
    if not args.kinds <= {"save", "restore", "open"}:
        raise SystemExit(f"--kinds takes save, restore, open; got {','.join(sorted(args.kinds))}")
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
