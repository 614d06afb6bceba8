"""The measuring pieces the benchmark scripts share, from the package (one copy, also used by
``fastckpt bench``): ``Measure`` (time + peak RSS of one operation), ``touch``, ``run_script``,
and ``ENGINE_WRITE_CALL``."""

from __future__ import annotations

from typing import Any

from fastckpt.bench import RESULT_MARK, Measure, log, proc_status, reset_hwm, run_child, touch

__all__ = ["ENGINE_WRITE_CALL", "RESULT_MARK", "Measure", "log", "proc_status", "reset_hwm", "run_script", "touch"]

#: What one `write()` of fastckpt's engine hands the kernel (`rust/fastckpt/src/bundle/writer.rs`):
#: the raw rows that stand for "the same writes without the engine" use it too.
ENGINE_WRITE_CALL = 256 << 10


def run_script(cmd: list[str], retries: int = 3) -> dict[str, Any]:
    """A child benchmark's JSON result; a child that could not import fastckpt (a rebuild in
    progress) is retried a minute later."""
    return run_child(cmd, retries=retries)
