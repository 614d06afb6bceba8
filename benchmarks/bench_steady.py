"""Steady state: every operation repeated in one process that stays alive, as a training loop
saving or restoring every N steps does (``bench_bundle.py`` runs each operation in a fresh
process instead). Runs the modules ``steady_read`` and, when it exists, ``steady_save``; each
exposes ``rows(args) -> list[dict]`` and this prints every row with its target.

    python benchmarks/bench_steady.py                     # both, full size, on disk and on tmpfs
    python benchmarks/bench_steady.py --only read --scale 0.25 --repeats 3
    python benchmarks/bench_steady.py --dir /dev/shm --json steady.json

Each module runs once per scratch folder parent: by default the system temp dir (where a training
loop's checkpoints go: a disk) and ``/dev/shm`` (tmpfs, no writeback) when that is another file
system. The file system changes what the kernel does per page: on this project's reference VM ext4
keeps large folios in the page cache while tmpfs (``huge=never``) works 4 KiB at a time, so the
two are reported apart, each group named with its file system.

A row is a dict with ``row`` (its label), ``median``/``min``/``max`` in ``unit`` over the timed
rounds, and optionally ``group``, ``ratio`` + ``vs`` (what it is compared with), ``target``,
``ok`` and ``note``; other keys are kept in the JSON only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODULES = ("steady_read", "steady_save")


def filesystem(path: str) -> str:
    """The type of the file system holding ``path`` (``ext4``, ``tmpfs``, ...), from ``/proc/mounts``."""
    real = os.path.realpath(path)
    best, kind = "", "?"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def default_dirs() -> list[str]:
    """The system temp dir (a disk, normally), then ``/dev/shm`` when it is a writable tmpfs of
    its own."""
    dirs = [tempfile.gettempdir()]
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK) and filesystem(shm) != filesystem(dirs[0]):
        dirs.append(shm)
    return dirs


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every steady module reads; added once whichever module asks first."""
    known = {a for action in parser._actions for a in action.option_strings}
    if "--scale" not in known:
        parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 8,192 tensors (1.0)")
    if "--repeats" not in known:
        parser.add_argument("--repeats", type=int, default=7, help="timed rounds (7)")
    if "--dir" not in known:
        parser.add_argument(
            "--dir",
            default=None,
            help="scratch folder parent(s), comma-separated (default: the system temp dir, then /dev/shm)",
        )


W2_SHAPE = (64, 128)  # 32 KiB of float32
W2_COUNT = 8192


def w2_setup(args: argparse.Namespace, seed: int) -> tuple[dict[str, Any], int, str]:
    """W2 scaled by ``--scale``: its arrays by name (deterministic per ``seed``), the number of
    timed rounds and the scratch folder's parent."""
    import numpy as np

    count = max(1, round(W2_COUNT * float(getattr(args, "scale", 1.0))))
    names = [f"layer_{i:05d}/kernel" for i in range(count)]
    arrays = {n: np.random.default_rng([seed, i]).random(W2_SHAPE, dtype=np.float32) for i, n in enumerate(names)}
    return arrays, int(getattr(args, "repeats", 7)), getattr(args, "dir", None) or default_dirs()[0]


def rotating_rounds(ops: list[str], repeats: int, one_pass: Callable[[str], float]) -> dict[str, list[float]]:
    """Every operation once untimed, then ``repeats`` rounds of each once, the order rotating per
    round so that none always follows the same neighbour: the seconds of every timed pass."""
    for op in ops:
        one_pass(op)
    times: dict[str, list[float]] = {op: [] for op in ops}
    for rep in range(repeats):
        k = rep % len(ops)
        for op in ops[k:] + ops[:k]:
            times[op].append(one_pass(op))
    return times


def per_tensor_rows(group: str, times: dict[str, list[float]], count: int) -> dict[str, dict[str, Any]]:
    """A row per operation: its rounds' seconds as µs per tensor, with median, min and max."""
    rows = {}
    for op, runs in times.items():
        values = [t / count * 1e6 for t in runs]
        rows[op] = {
            "group": group,
            "row": op,
            "unit": "us/tensor",
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "runs": values,
        }
    return rows


def summarise(
    group: str,
    times: dict[str, list[float]],
    count: int,
    wrong: set[str],
    compared_with: Callable[[str], str],
    overheads: Sequence[tuple[str, str, Sequence[str]]] = (),
    ratio_target: float = 2.0,
    overhead_target_us: float = 2.0,
) -> list[dict[str, Any]]:
    """Every operation's row (``per_tensor_rows``), then one row per ``overheads`` entry.

    A ``fastckpt`` row gets ``ratio`` = median of the row ``compared_with(op)`` / its own median,
    held to ``ratio_target`` unless its label ends in ``[info]``; a row in ``wrong`` (its data did
    not match) is marked and fails. An overhead entry ``(label, op, minus)`` is ``op`` minus the
    rows ``minus``, taken per round (the same round's passes paired, so that load hits both sides
    of the difference alike) and held to ``overhead_target_us``; it is left out when a row it
    needs was not run."""
    per_op = per_tensor_rows(group, times, count)
    out: list[dict[str, Any]] = []
    for op, row in per_op.items():
        if op.startswith("fastckpt"):
            vs = compared_with(op)
            row["ratio"] = per_op[vs]["median"] / row["median"]
            row["vs"] = vs
            if not op.endswith("[info]"):
                row["target"] = f">= {ratio_target}x"
                row["ok"] = op not in wrong and row["ratio"] >= ratio_target
        if op in wrong:
            row["note"] = "DATA MISMATCH"
            row["ok"] = False
        out.append(row)
    for label, op, minus in overheads:
        if any(name not in per_op for name in (op, *minus)):
            continue
        extra = [run - sum(parts) for run, *parts in zip(per_op[op]["runs"], *(per_op[m]["runs"] for m in minus))]
        value = statistics.median(extra)
        out.append({
            "group": group,
            "row": label,
            "unit": "us/tensor",
            "median": value,
            "min": min(extra),
            "max": max(extra),
            "runs": extra,
            "note": "minus " + ", ".join(f"'{m}'" for m in minus),
            "target": f"<= {overhead_target_us} us",
            "ok": value <= overhead_target_us,
        })
    return out


def run_alone(
    doc: str | None,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    rows: Callable[[argparse.Namespace], list[dict[str, Any]]],
    argv: list[str] | None = None,
) -> int:
    """``python benchmarks/steady_X.py``: one module's rows, without the driver."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    result = rows_per_dir(rows, args)
    print_rows(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def rows_per_dir(rows: Callable[[argparse.Namespace], list[dict[str, Any]]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """A module's rows once per scratch folder parent of ``--dir`` (default ``default_dirs()``),
    each row's group named with the folder's file system."""
    dirs = args.dir.split(",") if args.dir else default_dirs()
    out: list[dict[str, Any]] = []
    for parent in dirs:
        got = rows(argparse.Namespace(**{**vars(args), "dir": parent}))
        for row in got:
            row["group"] = f"{row.get('group', '')} on {filesystem(parent)} ({parent})"
            row["dir"] = parent
        out += got
    return out


def _load(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def print_rows(rows: list[dict[str, Any]]) -> None:
    group = None
    for row in rows:
        if row.get("group") != group:
            group = row.get("group")
            print(f"\n== {group or ''}")
        spread = f"[{_fmt(row.get('min', ''))}-{_fmt(row.get('max', ''))}]" if "min" in row else ""
        ratio = f"{row['ratio']:5.2f}x {row.get('vs', '')}" if isinstance(row.get("ratio"), float) else ""
        verdict = {True: "ok", False: "MISSED", None: ""}.get(row.get("ok"), "")
        target = f"target {row['target']} {verdict}" if row.get("target") is not None else ""
        print(
            f"  {row.get('row', '?'):<44} {_fmt(row.get('median', '')):>9} {row.get('unit', '')} {spread:<17}"
            f" {ratio:<28} {target} {row.get('note', '')}".rstrip()
        )


def main(argv: list[str] | None = None) -> int:
    # Both modules may add the same options (--scale, --repeats, ...): the last one wins.
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, conflict_handler="resolve"
    )
    parser.add_argument("--only", choices=["read", "save"], default=None, help="run one module")
    parser.add_argument("--json", default=None, help="also write every row and the machine as JSON here")
    modules = {name: _load(name) for name in MODULES}
    for module in modules.values():
        if module is not None and hasattr(module, "add_arguments"):
            module.add_arguments(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    load = os.getloadavg()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if load[0] > (os.cpu_count() or 1) / 2:
        print("warning: the machine is busy; steady-state figures are noisy, compare ratios of one run only")
    rows: list[dict[str, Any]] = []
    for name, module in modules.items():
        if args.only and name != f"steady_{args.only}":
            continue
        if module is None:
            print(f"\n== {name}: not present in this tree, skipped")
            continue
        got = rows_per_dir(module.rows, args)
        print_rows(got)
        rows += got
    if args.json:
        Path(args.json).write_text(json.dumps({"load": load, "rows": rows}, indent=1))
    missed = [f"{r['row']} ({filesystem(r['dir'])})" for r in rows if r.get("ok") is False]
    print(f"\n{len(missed)} target(s) missed" + (f": {', '.join(missed)}" if missed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
