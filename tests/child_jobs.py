"""Runs probes of hostile files in child processes, so that a crash, a hang or a runaway
allocation is seen and blamed on the one job that caused it.

Each child warms up (fastckpt's modules, rayon's pool), then limits its address space
(``RLIMIT_AS`` = its size after warm-up + ``AS_HEADROOM``) so that a huge allocation fails loudly
instead of going unnoticed; its peak-RSS growth per job is measured (``VmHWM`` after resetting it);
a job that does not finish within ``HANG_GUARD_S`` is killed and reported as a hang. A crash
(signal, abort) loses only the job that caused it: the next jobs run in a new child. Used by
``test_malformed.py``, ``test_api_fuzz.py`` and ``scripts/fuzz_api.py``.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

import fastckpt
from fastckpt.bench import reset_hwm

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

#: A job (one probe, or one sweep chunk) taking longer than this is a hang.
HANG_GUARD_S = 30
#: Peak-RSS growth allowed to one job.
RSS_BUDGET_MB = 200
#: Address space a child may add to what it has after warm-up; a bigger allocation fails.
AS_HEADROOM = 1 << 30
LANES = max(1, min(2, os.cpu_count() or 1))

_MARK = "@@child-job@@ "
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); import child_jobs as h; h._child_main(sys.argv[2], sys.argv[3])"


def _status_kb(name: str) -> int:
    with open("/proc/self/status") as f:
        m = re.search(rf"^{name}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


def _child_main(module: str, jobs_file: str) -> None:
    """Runs the jobs listed in ``jobs_file`` (functions of ``module``), printing a START line before
    and a DONE line (JSON) after each one. Warms up first (modules, rayon's pool), then limits the
    address space."""
    with open(jobs_file) as f:
        jobs = json.load(f)
    functions = importlib.import_module(module)
    warm = tempfile.mkdtemp(prefix="child-warm-")
    try:
        p = os.path.join(warm, "w")
        fastckpt.save({"w": np.arange(100, dtype=np.float32), "s": np.array([b"x"], dtype=object)}, p)
        r = fastckpt.load_checkpoint(p)
        r.read_all()
        r.read_all(copy=False)
        r.get_variable_to_dtype_map()
        del r
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    if hasattr(functions, "warm_up"):  # the module's own first calls (imports, caches)
        functions.warm_up()
    limit = _status_kb("VmSize") * 1024 + AS_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    for job in jobs:
        print(_MARK + "START " + job["id"], flush=True)
        precise = reset_hwm()
        before = _status_kb("VmRSS") if precise else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        value, error = None, None
        try:
            value = getattr(functions, job["func"])(**job["kwargs"])
        except BaseException:  # noqa: BLE001 - report everything, the parent decides
            error = traceback.format_exc()
        peak = _status_kb("VmHWM") if precise else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report = {
            "id": job["id"],
            "value": value,
            "error": error,
            "rss_growth_mb": (peak - before) / 1024,
            "seconds": time.monotonic() - started,
        }
        print(_MARK + "DONE " + json.dumps(report, default=repr), flush=True)


@dataclass
class JobResult:
    status: str  # "done", "crash" or "hang"
    value: Any = None
    error: Optional[str] = None  # traceback of the job function itself (a harness problem)
    rss_growth_mb: float = 0.0
    seconds: float = 0.0
    detail: str = ""  # exit status and stderr for a crash or a hang

    def describe(self) -> str:
        return f"{self.status}: {self.detail}"


def _run_lane(module: str, jobs: list[dict[str, Any]], results: dict[str, JobResult], workdir: str, lane: int) -> None:
    pending = list(jobs)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MALLOC_ARENA_MAX="2", RUST_BACKTRACE="0")
    attempt = 0
    while pending:
        attempt += 1
        jobs_file = os.path.join(workdir, f"jobs-{lane}-{attempt}.json")
        err_path = os.path.join(workdir, f"stderr-{lane}-{attempt}.txt")
        with open(jobs_file, "w") as f:
            json.dump(pending, f)
        with open(err_path, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, TESTS_DIR, module, jobs_file],
                stdout=subprocess.PIPE, stderr=err, env=env, text=True,
            )
        lines: queue.Queue[Optional[str]] = queue.Queue()

        def pump(stream: Any = proc.stdout) -> None:
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        current: Optional[str] = None
        deadline = time.monotonic() + HANG_GUARD_S + 30  # start-up and warm-up, then per job

        def stderr_tail() -> str:
            with open(err_path, errors="replace") as f:
                return f.read()[-3000:]

        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                proc.kill()
                proc.wait()
                victim = current or pending[0]["id"]
                results[victim] = JobResult("hang", detail=f"no result after {HANG_GUARD_S} s (killed); stderr: {stderr_tail()}")
                pending = [j for j in pending if j["id"] != victim]
                break
            if line is None:
                code = proc.wait()
                victim = current or pending[0]["id"]
                how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
                results[victim] = JobResult("crash", detail=f"the child process {how} during the job; stderr: {stderr_tail()}")
                pending = [j for j in pending if j["id"] != victim]
                break
            if not line.startswith(_MARK):
                continue
            kind, _, rest = line[len(_MARK):].rstrip("\n").partition(" ")
            if kind == "START":
                current = rest
                deadline = time.monotonic() + HANG_GUARD_S
            elif kind == "DONE":
                report = json.loads(rest)
                results[report["id"]] = JobResult(
                    "done", report["value"], report["error"], report["rss_growth_mb"], report["seconds"]
                )
                pending = [j for j in pending if j["id"] != report["id"]]
                current = None
                if not pending:
                    proc.wait()
                    break


def run_jobs(jobs: list[dict[str, Any]], workdir: str, module: str) -> dict[str, JobResult]:
    """Runs ``{"id", "func", "kwargs"}`` jobs (``func`` a function of ``module``, importable
    from this folder) in child processes, ``LANES`` at a time."""
    results: dict[str, JobResult] = {}
    costly = sorted(jobs, key=lambda j: -j.get("cost", 1))
    lanes: list[list[dict[str, Any]]] = [[] for _ in range(LANES)]
    loads = [0.0] * LANES
    for job in costly:
        i = loads.index(min(loads))
        lanes[i].append(job)
        loads[i] += job.get("cost", 1)
    threads = [threading.Thread(target=_run_lane, args=(module, lane, results, workdir, i)) for i, lane in enumerate(lanes) if lane]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
