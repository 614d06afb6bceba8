"""The ``fastckpt`` command: look into checkpoints and check them.

    fastckpt list PATH      names, dtypes and shapes (PATH = prefix or folder with a checkpoint file)
    fastckpt verify PATH    reads every tensor with checksum verification
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .errors import CheckpointError
from .reader import load_checkpoint


def _list(path: str) -> int:
    reader = load_checkpoint(path, verify=False)
    dtypes = reader.get_variable_to_dtype_map()
    shapes = reader.get_variable_to_shape_map()
    print(f"{reader.prefix}: {len(reader)} tensors")
    width = max((len(name) for name in shapes), default=0)
    for name, shape in shapes.items():
        print(f"  {name:<{width}}  {str(dtypes[name]):<12} {shape}")
    return 0


def _verify(path: str) -> int:
    start = time.perf_counter()
    reader = load_checkpoint(path, verify=True)
    arrays = reader.read_all(copy=False)
    size = sum(a.nbytes for a in arrays.values() if a.dtype != np.dtype(object))
    seconds = time.perf_counter() - start
    print(f"{reader.prefix}: {len(arrays)} tensors, {size / 1e6:.1f} MB verified in {seconds * 1e3:.1f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastckpt", description="Inspect and check TensorFlow checkpoints.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("list", "list tensors with dtype and shape"), ("verify", "check every tensor's crc32c")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("path", help="checkpoint prefix, or a folder holding a 'checkpoint' file")
    args = parser.parse_args(argv)
    try:
        return _list(args.path) if args.command == "list" else _verify(args.path)
    except (CheckpointError, OSError) as error:
        print(f"fastckpt: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
