"""``fastckpt bench``: fastckpt side by side with the libraries installed beside it, on synthetic
checkpoints, on this machine.

Two workloads by default: W1 = 1 GiB in 16 float32 tensors, W2 = 256 MiB in 8,192 (``--size`` and
``--tensors`` choose one of your own, ``--quick`` shrinks both to run in well under a minute).
Each library runs in a fresh child process (``python -m fastckpt.bench --child LIB``) that saves
the workload and restores it, every operation measured by ``Measure``:

- ``os.sync()`` first, so no one pays for the writeback of someone else's data;
- wall time with ``time.perf_counter``;
- peak RSS above the start of the operation: the kernel's high-water mark (VmHWM in
  ``/proc/self/status``) is reset just before (``echo 5 > /proc/self/clear_refs``) and read just
  after, while everything the operation produced is still alive.

Restores read every byte (``touch``: an XOR fold, the same for every library) and compare it with
the source, so a lazy or wrong reader is caught. The repetitions rotate which library goes first;
the report gives the median, the spread (min–max) and GB/s (10^9 bytes per second of the median).

The measuring pieces (``Measure``, ``touch``, ``run_child``) are shared with the deeper scripts
in ``benchmarks/``, which run every operation in a process of its own.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The line a child prints its JSON result after.
RESULT_MARK = "@@RESULT@@"

MIB = 1 << 20
GIB = 1 << 30


# --- measuring --------------------------------------------------------------------------------


def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile, RssShmem of this process, in KiB (empty off Linux)."""
    found: dict[str, int] = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


def reset_hwm() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False when the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class Measure:
    """``with m:`` times its block and records the peak RSS reached inside it, above the RSS at
    its start (the high-water mark is reset on entry)."""

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.seconds: float | None = None

    def __enter__(self) -> Measure:
        os.sync()
        gc.collect()
        gc.disable()
        self.hwm_reset = reset_hwm()
        self.before = proc_status()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.after = proc_status()  # everything the block produced is still alive here
        gc.enable()

    def result(self) -> dict[str, Any]:
        rss, hwm = self.before.get("VmRSS", 0), self.before.get("VmHWM", 0)
        base = rss if self.hwm_reset else max(rss, hwm)
        return {
            "ok": True,
            "seconds": self.seconds,
            "hwm_reset": self.hwm_reset,
            "baseline_mib": base / 1024,
            "peak_above_mib": max(0, self.after.get("VmHWM", 0) - base) / 1024,
            "end_anon_above_mib": (self.after.get("RssAnon", 0) - self.before.get("RssAnon", 0)) / 1024,
            "end_file_above_mib": (self.after.get("RssFile", 0) - self.before.get("RssFile", 0)) / 1024,
            **self.extra,
        }


def touch(array: Any) -> int:
    """Reads every byte of ``array`` (XOR fold of its 64-bit words): the same for every library."""
    import numpy as np

    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    for word in (np.uint64, np.uint32, np.uint8):
        if flat.nbytes % np.dtype(word).itemsize == 0:
            return int(np.bitwise_xor.reduce(flat.view(word)))
    raise AssertionError("a uint8 view always divides")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_child(command: list[str], retries: int = 0) -> dict[str, Any]:
    """Runs a child benchmark process and returns the JSON it printed after ``RESULT_MARK``, or
    ``{"ok": False, "error": ...}``. With ``retries``, a child that could not import fastckpt
    (a rebuild in progress) is run again a minute later."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    for attempt in range(retries + 1):
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for line in reversed(done.stdout.splitlines()):
            if line.startswith(RESULT_MARK):
                result: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
                return result
        text = "\n".join((done.stderr.strip().splitlines() or ["(no output)"])[-12:])
        if attempt < retries and "Error" in text and "fastckpt" in text and "import" in text.lower():
            log(f"    fastckpt import failed (rebuild in progress?), retrying in 60 s: {command[-1]}")
            time.sleep(60)
            continue
        return {"ok": False, "error": f"exit {done.returncode}: {text}"}
    raise AssertionError("the loop returns")


# --- workloads --------------------------------------------------------------------------------


class Workload:
    """``tensors`` float32 tensors of equal shape (rows × 1024 columns, or one row when small)
    holding about ``size`` bytes together, named ``layer_NNNNN/kernel``."""

    def __init__(self, name: str, size: int, tensors: int) -> None:
        if size <= 0 or tensors <= 0:
            raise ValueError(f"a workload needs a positive size and tensor count, not {size} bytes in {tensors}")
        elements = max(1, size // 4 // tensors)
        cols = 1024 if elements >= 1024 else elements
        self.name = name
        self.tensors = tensors
        self.shape = (elements // cols, cols)
        self.payload = tensors * self.shape[0] * self.shape[1] * 4
        self.names = [f"layer_{i:05d}/kernel" for i in range(tensors)]

    def describe(self) -> str:
        return f"{self.name}: {_size_text(self.payload)} in {self.tensors} float32 tensors of {list(self.shape)}"

    def arrays(self) -> dict[str, Any]:
        """The tensors' values, the same in every process (one seeded generator per tensor)."""
        import numpy as np

        return {name: np.random.default_rng([7, i]).random(self.shape, dtype=np.float32) for i, name in enumerate(self.names)}

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "payload_bytes": self.payload, "tensors": self.tensors, "shape": list(self.shape)}


def parse_size(text: str) -> int:
    """``1GiB``, ``256MiB``, ``64M``, ``5GB``, ``1000`` → bytes."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if found is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 1GiB, 256MiB, 5GB)")
    number, prefix, binary = found.groups()
    base = 1024 if binary or not prefix else 1000
    return int(float(number) * base ** " kmgt".index(prefix or " "))


def _size_text(size: int) -> str:
    return f"{size / GIB:g} GiB" if size >= GIB else f"{size / MIB:g} MiB"


# --- what each library does (run in its child) -----------------------------------------------


def _check(workload: Workload, digests: dict[str, int]) -> None:
    """The digests of the restored tensors (taken inside the timed block, so that every byte was
    read there) are those of the source (computed after the timing)."""
    if digests != {name: touch(array) for name, array in workload.arrays().items()}:
        raise RuntimeError(f"{workload.name}: the restored tensors differ from the saved ones")


def _fastckpt_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    import fastckpt

    prefix = str(folder / "ckpt")
    arrays, save, restore = workload.arrays(), Measure(), Measure()
    with save:
        fastckpt.save(arrays, prefix)
    del arrays
    with restore:
        reader = fastckpt.load_checkpoint(prefix)
        restored = {name: reader.get_tensor(name) for name in reader}
        digests = {name: touch(array) for name, array in restored.items()}
    _check(workload, digests)
    return {"save": save, "restore": restore}


def _warm_tensorflow() -> Any:
    """TensorFlow imported and its eager context started before any timing: its one-off start-up
    is charged to no operation."""
    import numpy as np
    import tensorflow as tf

    (tf.constant(np.zeros(4, np.float32)) + 1.0).numpy()
    return tf


def _tensorflow_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    """TF's raw SaveV2/RestoreV2 (the kernels every TF saver ends in), tf.train.load_checkpoint,
    and TF2's object checkpoint of variables (tf.train.Checkpoint write/read)."""
    tf = _warm_tensorflow()
    prefix = str(folder / "raw" / "ckpt")
    names, count = workload.names, workload.tensors
    tensors = [tf.constant(array) for array in workload.arrays().values()]
    measures = {op: Measure() for op in ("save", "restore", "load_checkpoint", "checkpoint_write", "checkpoint_read")}
    with measures["save"]:
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * count, tensors=tensors)
    del tensors
    with measures["restore"]:
        restored = tf.raw_ops.RestoreV2(
            prefix=prefix, tensor_names=names, shape_and_slices=[""] * count, dtypes=[tf.float32] * count
        )
        arrays = {name: tensor.numpy() for name, tensor in zip(names, restored)}
        digests = {name: touch(array) for name, array in arrays.items()}
    _check(workload, digests)
    del restored, arrays, digests
    with measures["load_checkpoint"]:
        reader = tf.train.load_checkpoint(prefix)
        arrays = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
        digests = {name: touch(array) for name, array in arrays.items()}
    _check(workload, digests)
    del reader, arrays, digests

    variables = [tf.Variable(array) for array in workload.arrays().values()]
    checkpoint = tf.train.Checkpoint(variables=variables)
    prefix = str(folder / "object" / "ckpt")
    with measures["checkpoint_write"]:
        checkpoint.write(prefix)
    for variable in variables:
        variable.assign(tf.zeros_like(variable))
    with measures["checkpoint_read"]:
        checkpoint.read(prefix).assert_consumed()
        arrays = {name: variable.numpy() for name, variable in zip(names, variables)}
        digests = {name: touch(array) for name, array in arrays.items()}
    _check(workload, digests)
    return measures


def _safetensors_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    from safetensors.numpy import load_file, save_file

    path = str(folder / "model.safetensors")
    arrays, save, restore = workload.arrays(), Measure(), Measure()
    with save:
        save_file(arrays, path)
    del arrays
    with restore:
        restored = load_file(path)
        digests = {name: touch(array) for name, array in restored.items()}
    _check(workload, digests)
    return {"save": save, "restore": restore}


def _numpy_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    import numpy as np

    path = str(folder / "arrays.npz")
    arrays, save, restore = workload.arrays(), Measure(), Measure()
    with save:
        np.savez(path, **arrays)
    del arrays
    with restore:
        with np.load(path) as npz:
            restored = {name: npz[name] for name in npz.files}
        digests = {name: touch(array) for name, array in restored.items()}
    _check(workload, digests)
    return {"save": save, "restore": restore}


#: library → (module it needs, what its child runs on one workload, label of each operation)
LIBRARIES: dict[str, tuple[str, Callable[[Workload, Path], dict[str, Measure]], dict[str, str]]] = {
    "fastckpt": ("fastckpt", _fastckpt_ops, {"save": "fastckpt.save", "restore": "fastckpt.load_checkpoint"}),
    "tensorflow": (
        "tensorflow",
        _tensorflow_ops,
        {
            "save": "tf.raw_ops.SaveV2",
            "restore": "tf.raw_ops.RestoreV2",
            "load_checkpoint": "tf.train.load_checkpoint",
            "checkpoint_write": "tf.train.Checkpoint.write",
            "checkpoint_read": "tf.train.Checkpoint.read",
        },
    ),
    "safetensors": ("safetensors", _safetensors_ops, {"save": "safetensors save_file", "restore": "safetensors load_file"}),
    "numpy": ("numpy", _numpy_ops, {"save": "np.savez", "restore": "np.load(npz)"}),
}

#: Which operations are compared as "save" and which as "restore".
OPERATION_KIND = {
    "save": "save",
    "checkpoint_write": "save",
    "restore": "restore",
    "load_checkpoint": "restore",
    "checkpoint_read": "restore",
}


def _child(library: str, workloads: list[Workload], folder: Path) -> dict[str, Any]:
    """One library's operations on every workload, in this (fresh) process; the files go to
    ``folder/WORKLOAD/LIBRARY`` and are removed afterwards."""
    results: dict[str, Any] = {}
    for workload in workloads:
        workdir = folder / workload.name / library
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            measures = LIBRARIES[library][1](workload, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        results[workload.name] = {op: m.result() for op, m in measures.items()}
    return results


def _workload_arg(workload: Workload) -> str:
    return f"{workload.name}:{workload.payload}:{workload.tensors}"


def _parse_workload_arg(text: str) -> Workload:
    name, size, tensors = text.split(":")
    return Workload(name, int(size), int(tensors))


# --- the parent: run, summarise, print --------------------------------------------------------


def _workloads(args: argparse.Namespace) -> list[Workload]:
    if args.size is not None or args.tensors is not None:
        return [Workload("custom", args.size or 256 * MIB, args.tensors or 16)]
    if args.quick:
        return [Workload("W1", 32 * MIB, 16), Workload("W2", 8 * MIB, 256)]
    return [Workload("W1", GIB, 16), Workload("W2", 256 * MIB, 8192)]


def run(
    workloads: list[Workload], libraries: list[str], repeats: int, folder: Path, progress: Callable[[str], None] = log
) -> dict[str, Any]:
    """Runs every library ``repeats`` times (each run a fresh process doing every workload; the
    order of the libraries rotates) and returns the report that ``--json`` prints."""
    samples: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for repeat in range(repeats):
        order = libraries[repeat % len(libraries) :] + libraries[: repeat % len(libraries)]
        for library in order:
            progress(f"fastckpt bench: run {repeat + 1}/{repeats}: {library}")
            command = [sys.executable, "-m", "fastckpt.bench", "--child", library, "--dir", str(folder)]
            result = run_child(command + [_workload_arg(w) for w in workloads])
            if not result.pop("ok", True):
                errors[library] = str(result["error"])
                continue
            for workload_name, measured in result.items():
                for op, one in measured.items():
                    samples.setdefault((workload_name, library, op), []).append(one)
    results = []
    for workload in workloads:
        operations = []
        for (workload_name, library, op), measured in samples.items():
            if workload_name != workload.name:
                continue
            seconds = [m["seconds"] for m in measured]
            median = statistics.median(seconds)
            operations.append(
                {
                    "library": library,
                    "operation": op,
                    "kind": OPERATION_KIND[op],
                    "label": LIBRARIES[library][2][op],
                    "seconds": seconds,
                    "median_seconds": median,
                    "min_seconds": min(seconds),
                    "max_seconds": max(seconds),
                    "gb_per_second": workload.payload / median / 1e9 if median > 0 else None,
                    "peak_rss_mib": statistics.median(m["peak_above_mib"] for m in measured),
                }
            )
        for kind in ("save", "restore"):
            ours = [o for o in operations if o["library"] == "fastckpt" and o["kind"] == kind]
            for operation in operations:
                if operation["kind"] == kind and ours:
                    operation["fastckpt_speedup"] = operation["median_seconds"] / ours[0]["median_seconds"]
        results.append({**workload.as_dict(), "operations": operations})
    return {"machine": machine(), "repeats": repeats, "workloads": results, "errors": errors}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in ("fastckpt", "tensorflow-cpu", "tensorflow", "safetensors", "numpy")},
    }


def _version(distribution: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def table(report: dict[str, Any], skipped: dict[str, str]) -> str:
    """The report as text: one block per workload, operations grouped by save/restore, the
    fastckpt row first, each other row with how many times slower than fastckpt it is."""
    info = report["machine"]
    memory = f", {info['memory_bytes'] / GIB:.0f} GiB RAM" if info["memory_bytes"] else ""
    lines = [f"machine: {info['cpu']}, {info['cpus']} CPUs{memory}, {info['system']}, Python {info['python']}"]
    lines.append(f"median of {report['repeats']} runs (spread min–max); peak = RSS high-water mark above the start")
    for workload in report["workloads"]:
        lines.append("")
        lines.append(Workload(workload["name"], workload["payload_bytes"], workload["tensors"]).describe())
        lines.append(f"  {'operation':<36} {'median s':>9} {'min–max s':>15} {'GB/s':>6} {'peak MiB':>8} {'time/fastckpt':>13}")
        for kind in ("save", "restore"):
            rows = sorted(
                (o for o in workload["operations"] if o["kind"] == kind),
                key=lambda o: (o["library"] != "fastckpt", o["median_seconds"]),
            )
            for o in rows:
                ratio = "" if o["library"] == "fastckpt" else f"{o.get('fastckpt_speedup', float('nan')):.1f}"
                spread = f"{o['min_seconds']:.3f}–{o['max_seconds']:.3f}"
                lines.append(
                    f"  {kind + ': ' + o['label']:<36} {o['median_seconds']:>9.3f} {spread:>15} "
                    f"{o['gb_per_second']:>6.2f} {o['peak_rss_mib']:>8.0f} {ratio:>13}"
                )
    for library, error in report["errors"].items():
        lines.append(f"{library} failed: {error.splitlines()[-1]}")
    for library, reason in skipped.items():
        lines.append(f"skipped {library}: {reason}")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str) -> None:
    """A PNG with one bar group per operation (save, restore) and workload, bars in GB/s."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ValueError("--plot needs matplotlib (pip install 'fastckpt[plot]')") from error
    groups = [(w, kind) for w in report["workloads"] for kind in ("save", "restore")]
    colors = {library: f"C{i}" for i, library in enumerate(LIBRARIES)}
    figure, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.4), squeeze=False)
    for ax, (workload, kind) in zip(axes[0], groups):
        rows = sorted(
            (o for o in workload["operations"] if o["kind"] == kind), key=lambda o: o["gb_per_second"] or 0.0
        )
        ax.barh(
            [o["label"] for o in rows],
            [o["gb_per_second"] or 0.0 for o in rows],
            color=[colors[o["library"]] for o in rows],
        )
        ax.set_title(f"{workload['name']} {kind} ({_size_text(workload['payload_bytes'])}, {workload['tensors']} tensors)", fontsize="small")
        ax.set_xlabel("GB/s (higher is better)", fontsize="small")
        ax.tick_params(labelsize="x-small")
    machine_info = report["machine"]
    figure.suptitle(f"fastckpt bench: {machine_info['cpu']}, {machine_info['cpus']} CPUs", fontsize="medium")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small workloads (32 MiB in 16 tensors, 8 MiB in 256), 2 runs")
    parser.add_argument("--size", type=parse_size, help="one workload of this many bytes (e.g. 512MiB)")
    parser.add_argument("--tensors", type=int, help="... in this many tensors")
    parser.add_argument("--repeats", type=int, help="runs of each library (default 3, --quick 2)")
    parser.add_argument(
        "--libraries", help=f"comma-separated subset of: {', '.join(LIBRARIES)} (default: all installed)"
    )
    parser.add_argument("--dir", help="where the checkpoints are written (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--plot", metavar="OUT.png", help="draw GB/s bars (needs matplotlib)")


def main(args: argparse.Namespace) -> int:
    """``fastckpt bench``: the table (or JSON) on stdout, progress on stderr."""
    wanted = args.libraries.split(",") if args.libraries else list(LIBRARIES)
    unknown = [name for name in wanted if name not in LIBRARIES]
    if unknown:
        raise ValueError(f"unknown libraries {', '.join(unknown)}; known: {', '.join(LIBRARIES)}")
    skipped = {
        name: f"{LIBRARIES[name][0]} is not installed"
        for name in wanted
        if importlib.util.find_spec(LIBRARIES[name][0]) is None
    }
    libraries = [name for name in wanted if name not in skipped]
    repeats = args.repeats or (2 if args.quick else 3)
    workloads = _workloads(args)
    with tempfile.TemporaryDirectory(prefix="fastckpt-bench-", dir=args.dir) as folder:
        report = run(workloads, libraries, repeats, Path(folder))
    report["skipped"] = skipped
    if args.plot:
        plot(report, args.plot)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(table(report, skipped))
    return 1 if report["errors"] else 0


def _child_main() -> int:
    parser = argparse.ArgumentParser(description="one library's side of fastckpt bench (internal)")
    parser.add_argument("--child", required=True, choices=list(LIBRARIES))
    parser.add_argument("--dir", required=True)
    parser.add_argument("workloads", nargs="+", type=_parse_workload_arg, help="NAME:BYTES:TENSORS")
    args = parser.parse_args()
    result = _child(args.child, args.workloads, Path(args.dir))
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
