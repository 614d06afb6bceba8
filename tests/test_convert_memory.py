"""Converting a 2 GiB checkpoint of 8 tensors to safetensors and to npz needs anonymous memory for
at most the largest tensor plus 64 MiB: tensors stream from the mapping to the output one at a
time. Measured in a child process, sampling RssAnon (pages of mapped files are RssFile and do not
count) while the engine converts with the GIL released."""

from __future__ import annotations

import json
import subprocess
import os
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, os, sys, threading, time
    import numpy as np
    import fastckpt

    def rss_anon():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024

    folder = sys.argv[1]
    start = time.perf_counter()
    tensor = np.ones(256 << 18, np.float32)  # 256 MiB; written 8 times
    writer = fastckpt.BundleWriter(folder + "/big")
    for i in range(8):
        writer.add(f"t{i}", tensor)
    writer.finish()
    del tensor, writer

    peaks, sizes = {}, {}
    for dst in ("big.safetensors", "big.npz"):
        baseline, peak, done = rss_anon(), [0], threading.Event()
        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_anon())
                time.sleep(0.002)
        sampler = threading.Thread(target=sample)
        sampler.start()
        fastckpt.convert(folder + "/big", folder + "/" + dst)
        done.set()
        sampler.join()
        peaks[dst] = max(peak[0], rss_anon()) - baseline
        sizes[dst] = os.path.getsize(folder + "/" + dst)
        os.remove(folder + "/" + dst)
    print(json.dumps({"peaks": peaks, "sizes": sizes, "seconds": time.perf_counter() - start}))
    """
)


def test_peak_anonymous_memory_is_one_tensor_plus_buffers(tmp_path: Path) -> None:
    # In memory-backed storage when there is some (no disk writeback to wait for); its pages are
    # shared memory, not the process's anonymous memory. Each output is removed once measured.
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.statvfs(shm).f_bavail * os.statvfs(shm).f_frsize > 6 << 30 else tmp_path
    with tempfile.TemporaryDirectory(dir=base) as folder:
        result = subprocess.run([sys.executable, "-c", CHILD, folder], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    limit = (256 << 20) + (64 << 20)
    assert set(report["peaks"]) == {"big.safetensors", "big.npz"}
    for dst, peak in report["peaks"].items():
        assert peak < limit, f"{dst}: {peak / 2**20:.0f} MiB of anonymous memory"
        assert report["sizes"][dst] > 2 << 30
    print(report)
