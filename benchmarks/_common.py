"""Helpers shared by the benchmarks: peak-RSS measurement of one operation in a process of its
own (VmHWM from ``/proc/self/status``, reset just before the operation through
``/proc/self/clear_refs``) and running such a child process."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from typing import Any, Optional

RESULT_MARK = "@@RESULT@@"


def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of this process, in KiB."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(value.split()[0])
    return out


def reset_hwm() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False when the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Measure:
    """``with m:`` times its block and records the peak RSS reached inside it, above the RSS
    at its start (the high-water mark is reset on entry)."""

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.seconds: Optional[float] = None

    def __enter__(self) -> "Measure":
        # Start every operation with no dirty pages pending: otherwise whichever library runs
        # right after a large write pays for the kernel's writeback of someone else's data.
        os.sync()
        gc.collect()
        gc.disable()
        self.hwm_reset = reset_hwm()
        self.before = proc_status()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.after = proc_status()  # everything the block produced is still alive here
        gc.enable()

    def result(self) -> dict[str, Any]:
        base = self.before["VmRSS"] if self.hwm_reset else max(self.before["VmRSS"], self.before["VmHWM"])
        return {
            "ok": True,
            "seconds": self.seconds,
            "hwm_reset": self.hwm_reset,
            "baseline_mib": base / 1024,
            "peak_above_mib": max(0, self.after["VmHWM"] - base) / 1024,
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
    raise AssertionError("unreachable")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_script(cmd: list[str], retries: int = 3) -> dict[str, Any]:
    """Runs a child benchmark process and returns the JSON it printed after ``RESULT_MARK``;
    ``{"ok": False, "error": ...}`` when it failed. An import failure of fastckpt (a rebuild in
    progress) is retried after a minute."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0")
    for attempt in range(retries + 1):
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith(RESULT_MARK):
                result: dict[str, Any] = json.loads(line[len(RESULT_MARK):])
                return result
        text = "\n".join((proc.stderr.strip().splitlines() or ["(no output)"])[-12:])
        if attempt < retries and ("ImportError" in text or "ModuleNotFoundError" in text) and "fastckpt" in text:
            log(f"    fastckpt import failed (rebuild in progress?), retrying in 60 s: {cmd[-1]}")
            time.sleep(60)
            continue
        return {"ok": False, "error": f"exit {proc.returncode}: " + text}
    raise AssertionError("unreachable")
