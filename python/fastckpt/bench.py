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


def _check(workload: Workload, arrays: dict[str, Any]) -> None:
    """The restored tensors are the source's, byte for byte (checked after the timing)."""
    expected = {name: touch(array) for name, array in workload.arrays().items()}
    if {name: touch(array) for name, array in arrays.items()} != expected:
        raise RuntimeError("the restored tensors differ from the saved ones")


def _fastckpt_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    import fastckpt

    prefix = str(folder / "fastckpt" / "ckpt")
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    arrays, save, restore = workload.arrays(), Measure(), Measure()
    with save:
        fastckpt.save(arrays, prefix)
    del arrays
    with restore:
        reader = fastckpt.load_checkpoint(prefix)
        restored = {name: reader.get_tensor(name) for name in reader}
        digests = {name: touch(array) for name, array in restored.items()}
    restore.extra["digests"] = len(digests)
    _check(workload, restored)
    return {"save": save, "restore": restore}


def _warm_tensorflow() -> Any:
    """TensorFlow imported and its eager context started before any timing: its one-off start-up
    is charged to no operation."""
    import numpy as np
    import tensorflow as tf

    (tf.constant(np.zeros(4, np.float32)) + 1.0).numpy()
    return tf


def _tensorflow_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    """TF's raw SaveV2/RestoreV2 (the kernels every TF saver ends in) and load_checkpoint."""
    tf = _warm_tensorflow()
    prefix = str(folder / "tensorflow" / "ckpt")
    names, count = workload.names, workload.tensors
    tensors = [tf.constant(array) for array in workload.arrays().values()]
    save, restore, load = Measure(), Measure(), Measure()
    with save:
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * count, tensors=tensors)
    del tensors
    with restore:
        restored = tf.raw_ops.RestoreV2(
            prefix=prefix, tensor_names=names, shape_and_slices=[""] * count, dtypes=[tf.float32] * count
        )
        arrays = {name: tensor.numpy() for name, tensor in zip(names, restored)}
        digests = {name: touch(array) for name, array in arrays.items()}
    restore.extra["digests"] = len(digests)
    _check(workload, arrays)
    del restored, arrays
    with load:
        reader = tf.train.load_checkpoint(prefix)
        arrays = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
        digests = {name: touch(array) for name, array in arrays.items()}
    load.extra["digests"] = len(digests)
    _check(workload, arrays)
    return {"save": save, "restore": restore, "load_checkpoint": load}


def _tf_checkpoint_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    """TF2's object checkpoint of variables: ``tf.train.Checkpoint.write`` and ``.read``."""
    tf = _warm_tensorflow()
    prefix = str(folder / "tf_checkpoint" / "ckpt")
    variables = [tf.Variable(array) for array in workload.arrays().values()]
    checkpoint = tf.train.Checkpoint(variables=variables)
    save, restore = Measure(), Measure()
    with save:
        checkpoint.write(prefix)
    for variable in variables:
        variable.assign(tf.zeros_like(variable))
    with restore:
        checkpoint.read(prefix).assert_consumed()
        arrays = {name: variable.numpy() for name, variable in zip(workload.names, variables)}
        digests = {name: touch(array) for name, array in arrays.items()}
    restore.extra["digests"] = len(digests)
    _check(workload, arrays)
    return {"save": save, "restore": restore}


def _safetensors_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    from safetensors.numpy import load_file, save_file

    path = folder / "safetensors" / "model.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays, save, restore = workload.arrays(), Measure(), Measure()
    with save:
        save_file(arrays, str(path))
    del arrays
    with restore:
        restored = load_file(str(path))
        digests = {name: touch(array) for name, array in restored.items()}
    restore.extra["digests"] = len(digests)
    _check(workload, restored)
    return {"save": save, "restore": restore}


def _numpy_ops(workload: Workload, folder: Path) -> dict[str, Measure]:
    import numpy as np

    path = folder / "numpy" / "arrays.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays, save, restore = workload.arrays(), Measure(), Measure()
    with save:
        np.savez(str(path), **arrays)
    del arrays
    with restore:
        with np.load(str(path)) as npz:
            restored = {name: npz[name] for name in npz.files}
        digests = {name: touch(array) for name, array in restored.items()}
    restore.extra["digests"] = len(digests)
    _check(workload, restored)
    return {"save": save, "restore": restore}


#: library → (module it needs, what the child runs, label of each of its operations)
LIBRARIES: dict[str, tuple[str, Callable[[Workload, Path], dict[str, Measure]], dict[str, str]]] = {
    "fastckpt": ("fastckpt", _fastckpt_ops, {"save": "fastckpt.save", "restore": "fastckpt.load_checkpoint"}),
    "tensorflow": (
        "tensorflow",
        _tensorflow_ops,
        {"save": "tf.raw_ops.SaveV2", "restore": "tf.raw_ops.RestoreV2", "load_checkpoint": "tf.train.load_checkpoint"},
    ),
    "tf.train.Checkpoint": (
        "tensorflow",
        _tf_checkpoint_ops,
        {"save": "tf.train.Checkpoint.write", "restore": "tf.train.Checkpoint.read"},
    ),
    "safetensors": ("safetensors", _safetensors_ops, {"save": "safetensors save_file", "restore": "safetensors load_file"}),
    "numpy": ("numpy", _numpy_ops, {"save": "np.savez", "restore": "np.load(npz)"}),
}

#: Which operation of a library counts as "save" or "restore" in the comparison.
OPERATION_KIND = {"save": "save", "restore": "restore", "load_checkpoint": "restore"}


def _child(args: argparse.Namespace) -> int:
    workload = Workload(args.workload, args.size, args.tensors)
    measures = LIBRARIES[args.child][1](workload, Path(args.dir))
    print(RESULT_MARK + json.dumps({op: m.result() for op, m in measures.items()}), flush=True)
    return 0


# --- the parent: run, summarise, print --------------------------------------------------------


def _workloads(args: argparse.Namespace) -> list[Workload]:
    if args.size is not None or args.tensors is not None:
        return [Workload("custom", args.size or 256 * MIB, args.tensors or 16)]
    if args.quick:
        return [Workload("W1", 64 * MIB, 16), Workload("W2", 16 * MIB, 512)]
    return [Workload("W1", GIB, 16), Workload("W2", 256 * MIB, 8192)]


def run(
    workloads: list[Workload], libraries: list[str], repeats: int, folder: Path, progress: Callable[[str], None] = log
) -> dict[str, Any]:
    """Runs every library on every workload ``repeats`` times and returns the report (what
    ``--json`` prints): per workload and operation, the samples and their summary."""
    results: list[dict[str, Any]] = []
    for workload in workloads:
        samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
        errors: dict[str, str] = {}
        for repeat in range(repeats):
            order = libraries[repeat % len(libraries) :] + libraries[: repeat % len(libraries)]
            for library in order:
                progress(f"  {workload.name} {repeat + 1}/{repeats}: {library}")
                workdir = folder / workload.name
                command = [
                    sys.executable, "-m", "fastckpt.bench", "--child", library, "--workload", workload.name,
                    "--size", str(workload.payload), "--tensors", str(workload.tensors), "--dir", str(workdir),
                ]  # fmt: skip
                result = run_child(command)
                if not result.pop("ok", True):
                    errors[library] = str(result["error"])
                    continue
                for op, measured in result.items():
                    samples.setdefault((library, op), []).append(measured)
            shutil.rmtree(folder / workload.name, ignore_errors=True)
        operations = []
        for (library, op), measured in samples.items():
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
        results.append({**workload.as_dict(), "operations": operations, "errors": errors})
    return {"machine": machine(), "repeats": repeats, "workloads": results}


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
        lines.append(f"  {'operation':<28} {'median':>9} {'spread':>17} {'GB/s':>7} {'peak MiB':>9} {'vs fastckpt':>12}")
        for kind in ("save", "restore"):
            rows = sorted(
                (o for o in workload["operations"] if o["kind"] == kind),
                key=lambda o: (o["library"] != "fastckpt", o["median_seconds"]),
            )
            for o in rows:
                ratio = "" if o["library"] == "fastckpt" else f"{o.get('fastckpt_speedup', float('nan')):.1f}x slower"
                spread = f"{o['min_seconds']:.3f}–{o['max_seconds']:.3f} s"
                lines.append(
                    f"  {kind + ': ' + o['label']:<28} {o['median_seconds']:>7.3f} s {spread:>17} "
                    f"{o['gb_per_second']:>7.2f} {o['peak_rss_mib']:>9.0f} {ratio:>12}"
                )
        for library, error in workload["errors"].items():
            lines.append(f"  {library} failed: {error.splitlines()[-1]}")
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
    groups = [(w["name"], kind) for w in report["workloads"] for kind in ("save", "restore")]
    libraries = sorted({(o["library"], o["operation"]) for w in report["workloads"] for o in w["operations"]})
    figure, axes = plt.subplots(figsize=(2.2 * len(groups) + 2, 4))
    width = 0.8 / max(1, len(libraries))
    for i, (library, op) in enumerate(libraries):
        xs, heights = [], []
        for g, (name, kind) in enumerate(groups):
            workload = next(w for w in report["workloads"] if w["name"] == name)
            for o in workload["operations"]:
                if (o["library"], o["operation"], o["kind"]) == (library, op, kind):
                    xs.append(g + i * width)
                    heights.append(o["gb_per_second"])
        label = LIBRARIES[library][2][op]
        axes.bar(xs, heights, width, label=label)
    axes.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
    axes.set_xticklabels([f"{name} {kind}" for name, kind in groups])
    axes.set_ylabel("GB/s (higher is better)")
    axes.set_title(f"fastckpt bench ({report['machine']['cpus']} CPUs)")
    axes.legend(fontsize="small", ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small workloads (64 MiB/16, 16 MiB/512), 2 runs")
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
    failed = any(w["errors"] for w in report["workloads"])
    return 1 if failed else 0


def _child_main() -> int:
    parser = argparse.ArgumentParser(description="one library's side of fastckpt bench (internal)")
    parser.add_argument("--child", required=True, choices=list(LIBRARIES))
    parser.add_argument("--workload", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--tensors", type=int, required=True)
    parser.add_argument("--dir", required=True)
    return _child(parser.parse_args())


if __name__ == "__main__":
    sys.exit(_child_main())
