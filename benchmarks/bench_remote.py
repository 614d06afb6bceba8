"""Remote restore benchmark: reading a checkpoint back from an S3-compatible server on 127.0.0.1,
fastckpt against a plain ranged-GET loop of the same bytes with ``obstore`` (Python bindings of the
same ``object_store`` crate) and against ``tensorstore`` restoring the same arrays (stored as zarr3,
one uncompressed chunk per array, as orbax stores them) from the same server.

The server is started by the script: the ``s3s-fs`` binary (a Rust S3 server over a local folder,
``cargo install s3s-fs@0.14.1 --features binary``) when it is on ``PATH`` or given with
``--s3s-fs``, else moto in server mode (pure Python, about 55 MiB/s, which then bounds every row;
a note says so). Its folder lives under ``--dir`` (the page cache holds it after the first pass,
so rows measure the client side and the HTTP path, not a disk).

Workloads, as in ``bench_bundle.py``: W1 (16 float32 tensors of 64 MiB, 1 GiB) and W2 (8,192 float32
tensors of 32 KiB, 256 MiB); ``--scale`` shrinks each W1 tensor and the W2 tensor count. Every row
runs in the same process, interleaved round by round in rotating order after one warm-up round
that also checks every array against the saved values; reported: median time and throughput of
``--repeats`` rounds and the spread (max / min time).

Rows:
- ``fastckpt read_all``: ``load_checkpoint("s3://…").read_all()``, the open included (a GET of
  the index, a HEAD of the data object and one of the index, which pin their versions): on a
  slow server and a small checkpoint those requests dominate.
- ``fastckpt get_tensor loop``: the same checkpoint opened, then ``get_tensor`` name by name.
- ``obstore get_range loop``: one ``obstore.get_range`` per tensor, one after the other, each
  wrapped by ``np.frombuffer`` (no copy) — the baseline of the issue (target: fastckpt ≥ 0.8×).
- ``obstore get_ranges``: all ranges in one ``obstore.get_ranges`` call (the crate coalesces
  neighbouring ranges and fetches them concurrently): a stronger reference.
- ``tensorstore zarr3``: open every array and read them all concurrently.
  (orbax-checkpoint restores through tensorstore and needs JAX; it is run when importable.)

    python benchmarks/bench_remote.py                          # W1 and W2, 5 rounds
    python benchmarks/bench_remote.py --scale 0.25 --repeats 7 --json remote.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

BUCKET = "bench"
KEY_ID, SECRET, REGION = "bench-key", "bench-secret", "us-east-1"
ALIGNMENT = 64  # fastckpt.save's default: where each tensor starts in the data object
MIB = 1 << 20


def workload_arrays(name: str, scale: float) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    if name == "W1":
        cols = max(16, int(4096 * scale))
        return {f"layer_{i:02d}/kernel": rng.random((4096, cols), dtype=np.float32) for i in range(16)}
    count = max(16, int(8192 * scale))
    return {f"block_{i:05d}/w": rng.random((64, 128), dtype=np.float32) for i in range(count)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no S3 server answered on 127.0.0.1:{port}")


@contextmanager
def s3_server(binary: str | None, root: Path) -> Iterator[tuple[str, str]]:
    """Starts an S3 server on 127.0.0.1; yields (endpoint, description)."""
    port = free_port()
    if binary:
        (root / BUCKET).mkdir(parents=True, exist_ok=True)  # s3s-fs: a bucket is a folder
        cmd = [binary, "--host", "127.0.0.1", "--port", str(port), "--access-key", KEY_ID, "--secret-key", SECRET,
               str(root)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}", f"s3s-fs ({binary})"
        finally:
            proc.terminate()
            proc.wait()
        return
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

    print("note: s3s-fs not found (PATH or --s3s-fs); using moto in server mode, which bounds every "
          "row at roughly 55 MiB/s", file=sys.stderr)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        import boto3

        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                     aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET).create_bucket(Bucket=BUCKET)
        yield f"http://127.0.0.1:{port}", "moto (server mode)"
    finally:
        server.stop()


def layout(arrays: dict[str, np.ndarray]) -> list[tuple[str, int, int]]:
    """(name, offset, size) of each tensor in the data object fastckpt.save wrote: in the order
    added, each start padded to ALIGNMENT (the warm-up round checks every range's bytes)."""
    spans, offset = [], 0
    for name, array in arrays.items():
        spans.append((name, offset, array.nbytes))
        offset += array.nbytes
        offset += -offset % ALIGNMENT
    return spans


class Rows:
    """The restore methods of one workload, each a callable returning {name: array}."""

    def __init__(self, endpoint: str, work: str, arrays: dict[str, np.ndarray], with_tensorstore: bool) -> None:
        import fastckpt

        self.fastckpt = fastckpt
        self.url = f"s3://{BUCKET}/{work}/ckpt"
        self.arrays = arrays
        fastckpt.save(arrays, self.url)
        self.methods: dict[str, Callable[[], dict[str, Any]]] = {
            "fastckpt read_all": self.fastckpt_read_all,
            "fastckpt get_tensor loop": self.fastckpt_get_tensor,
        }
        try:
            import obstore
            from obstore.store import S3Store
        except ImportError:
            print("note: obstore is not installed (pip install obstore): no obstore rows", file=sys.stderr)
        else:
            self.obstore = obstore
            self.store = S3Store(BUCKET, endpoint=endpoint, region=REGION, access_key_id=KEY_ID,
                                 secret_access_key=SECRET, client_options={"allow_http": True})
            self.data_key = f"{work}/ckpt.data-00000-of-00001"
            self.spans = layout(arrays)
            self.methods["obstore get_range loop"] = self.obstore_loop
            self.methods["obstore get_ranges"] = self.obstore_ranges
        if with_tensorstore:
            self.tensorstore_setup(endpoint, work)
        try:
            import orbax.checkpoint  # noqa: F401
        except ImportError:
            pass
        else:
            print("note: orbax-checkpoint is importable but has no row yet; tensorstore is what it "
                  "restores through", file=sys.stderr)

    def fastckpt_read_all(self) -> dict[str, Any]:
        return self.fastckpt.load_checkpoint(self.url).read_all()

    def fastckpt_get_tensor(self) -> dict[str, Any]:
        reader = self.fastckpt.load_checkpoint(self.url)
        return {name: reader.get_tensor(name) for name in self.arrays}

    def as_array(self, name: str, buffer: Any) -> np.ndarray:
        want = self.arrays[name]
        return np.frombuffer(buffer, dtype=want.dtype).reshape(want.shape)

    def obstore_loop(self) -> dict[str, Any]:
        get = self.obstore.get_range
        return {
            name: self.as_array(name, get(self.store, self.data_key, start=offset, length=size))
            for name, offset, size in self.spans
        }

    def obstore_ranges(self) -> dict[str, Any]:
        starts = [offset for _, offset, _ in self.spans]
        lengths = [size for _, _, size in self.spans]
        buffers = self.obstore.get_ranges(self.store, self.data_key, starts=starts, lengths=lengths)
        return {name: self.as_array(name, buffer) for (name, _, _), buffer in zip(self.spans, buffers)}

    def tensorstore_setup(self, endpoint: str, work: str) -> None:
        try:
            import tensorstore as ts
        except ImportError:
            print("note: tensorstore is not installed (pip install tensorstore): no tensorstore row",
                  file=sys.stderr)
            return
        self.ts = ts
        os.environ.update(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)

        def spec(name: str) -> dict[str, Any]:
            return {
                "driver": "zarr3",
                "kvstore": {"driver": "s3", "bucket": BUCKET, "path": f"{work}/zarr/{name}/", "endpoint": endpoint,
                            "aws_region": REGION, "aws_credentials": {"type": "environment"}},
            }

        self.ts_specs = {name: spec(name) for name in self.arrays}
        writes = []
        for name, array in self.arrays.items():
            created = ts.open(self.ts_specs[name], create=True, delete_existing=True, dtype=ts.float32,
                              shape=array.shape, chunk_layout=ts.ChunkLayout(chunk_shape=array.shape)).result()
            writes.append(created.write(array))
        for write in writes:
            write.result()
        self.methods["tensorstore zarr3"] = self.tensorstore_read

    def tensorstore_read(self) -> dict[str, Any]:
        opened = {name: self.ts.open(spec, open=True) for name, spec in self.ts_specs.items()}
        reads = {name: future.result().read() for name, future in opened.items()}
        return {name: future.result() for name, future in reads.items()}


def measure(rows: Rows, repeats: int) -> dict[str, list[float]]:
    names = list(rows.methods)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats + 1):
        order = names[round_ % len(names):] + names[: round_ % len(names)]
        for name in order:
            started = time.perf_counter()
            got = rows.methods[name]()
            elapsed = time.perf_counter() - started
            if round_ == 0:  # warm-up: every array exact
                assert list(got) == list(rows.arrays) or sorted(got) == sorted(rows.arrays), name
                for key, want in rows.arrays.items():
                    if not np.array_equal(np.asarray(got[key]), want):
                        raise AssertionError(f"{name}: tensor {key} differs from what was saved")
            else:
                times[name].append(elapsed)
            del got
    return times


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W1,W2", help="comma-separated: W1 (16 x 64 MiB), W2 (8192 x 32 KiB)")
    p.add_argument("--scale", type=float, default=1.0, help="W1: each tensor's size; W2: the tensor count")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--s3s-fs", default=shutil.which("s3s-fs"), help="the s3s-fs binary (default: from PATH)")
    p.add_argument("--moto", action="store_true", help="use moto even when s3s-fs is available")
    p.add_argument("--no-tensorstore", action="store_true")
    p.add_argument("--dir", default=None, help="folder for the server's files (default: a temporary one)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args()

    results: dict[str, Any] = {"scale": args.scale, "repeats": args.repeats, "load_start": load(), "rows": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as root, \
            s3_server(None if args.moto else args.s3s_fs, Path(root)) as (endpoint, server):
        os.environ.update(AWS_ENDPOINT=endpoint, AWS_ALLOW_HTTP="true", AWS_ACCESS_KEY_ID=KEY_ID,
                          AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION=REGION)
        results["server"] = server
        print(f"server: {server} at {endpoint}; load {results['load_start']}")
        for work in args.workloads.split(","):
            arrays = workload_arrays(work, args.scale)
            total = sum(a.nbytes for a in arrays.values())
            rows = Rows(endpoint, work, arrays, not args.no_tensorstore)
            times = measure(rows, args.repeats)
            print(f"\n{work}: {len(arrays)} tensors, {total / MIB:.1f} MiB")
            print(f"{'row':28} {'median s':>9} {'MiB/s':>8} {'spread':>7}")
            medians = {}
            for name, runs in times.items():
                median = statistics.median(runs)
                medians[name] = median
                row = {"workload": work, "row": name, "tensors": len(arrays), "bytes": total, "times": runs,
                       "median_s": median, "mib_per_s": total / MIB / median, "spread": max(runs) / min(runs)}
                results["rows"].append(row)
                print(f"{name:28} {median:9.4f} {row['mib_per_s']:8.1f} {row['spread']:7.2f}")
            for ours, theirs, target in [
                ("fastckpt read_all", "obstore get_range loop", 0.8),
                ("fastckpt get_tensor loop", "obstore get_range loop", 0.8),
                ("fastckpt read_all", "obstore get_ranges", None),
                ("fastckpt read_all", "tensorstore zarr3", None),
            ]:
                if ours in medians and theirs in medians:
                    ratio = medians[theirs] / medians[ours]
                    verdict = "" if target is None else f"  (target >= {target}x: {'met' if ratio >= target else 'NOT met'})"
                    print(f"  {ours} / {theirs} throughput: {ratio:.2f}x{verdict}")
                    results["rows"].append({"workload": work, "ratio": f"{ours} / {theirs}", "value": ratio,
                                            "target": target})
    results["load_end"] = load()
    print(f"\nload at the end: {results['load_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
