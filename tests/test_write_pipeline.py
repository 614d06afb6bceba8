"""How ``save`` streams many small arrays: through one run of the engine's write pipeline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastckpt


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to watch the system calls")
def test_many_small_plain_arrays_are_written_by_one_writer_thread(tmp_path: Path) -> None:
    """4,096 arrays of 4 KiB (16 MiB): each batch the glue hands the engine starts a writer
    thread, so a save of a model's plain arrays should be one batch, not one per 1,024 tensors
    (the writer idles while the next batch is collected, and each start costs a wake-up)."""
    prefix = tmp_path / "ckpt"
    script = textwrap.dedent(
        f"""
        import os, numpy as np, fastckpt
        arrays = {{f"layer_{{i:04d}}/kernel": np.full(1024, i, np.float32) for i in range(4096)}}
        os.getppid()  # marks the start of the save in the trace
        fastckpt.save(arrays, {str(prefix)!r})
        os.getppid()  # and its end
        """
    )
    trace = tmp_path / "trace"
    out = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=clone,clone3,getppid", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0 and "ptrace" in out.stderr:
        pytest.skip(f"strace cannot trace here: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    calls = [m.group(1) for line in trace.read_text().splitlines() if (m := re.search(r"\b(getppid|clone3?)\(", line))]
    start = calls.index("getppid")
    during = calls[start + 1 : calls.index("getppid", start + 1)]
    assert during == ["clone3"] or during == ["clone"], during
    reader = fastckpt.load_checkpoint(prefix, verify=True)
    assert len(reader.keys()) == 4096
    np.testing.assert_array_equal(reader.get_tensor("layer_4095/kernel"), np.full(1024, 4095, np.float32))
