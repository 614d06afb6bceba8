"""The ``fastckpt`` command: look into checkpoints and check them.

    fastckpt list PATH      names, dtypes and shapes (PATH = prefix or folder with a checkpoint file)
    fastckpt verify PATH    reads every tensor with checksum verification
    fastckpt --version

Output cut short by its reader (``fastckpt list … | head -1``) ends the command quietly with
status 141, as a tool stopped by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from . import __version__
from .errors import CheckpointError
from .reader import load_checkpoint

#: What a shell reports for a command stopped by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141


def _list(path: str) -> int:
    with load_checkpoint(path, verify=False) as reader:
        dtypes = reader.get_variable_to_dtype_map()
        shapes = reader.get_variable_to_shape_map()
    print(f"{reader.prefix}: {len(shapes)} tensors")
    width = max((len(name) for name in shapes), default=0)
    for name, shape in shapes.items():
        print(f"  {name:<{width}}  {str(dtypes[name]):<12} {shape}")
    return 0


def _verify(path: str) -> int:
    start = time.perf_counter()
    with load_checkpoint(path, verify=True) as reader:
        arrays = reader.read_all(copy=False)
    size = sum(a.nbytes for a in arrays.values() if a.dtype != np.dtype(object))
    seconds = time.perf_counter() - start
    print(f"{reader.prefix}: {len(arrays)} tensors, {size / 1e6:.1f} MB verified in {seconds * 1e3:.1f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastckpt", description="Inspect and check TensorFlow checkpoints.")
    parser.add_argument("--version", action="version", version=f"fastckpt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("list", "list tensors with dtype and shape"), ("verify", "check every tensor's crc32c")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("path", help="checkpoint prefix, or a folder holding a 'checkpoint' file")
    args = parser.parse_args(argv)
    try:
        status = _list(args.path) if args.command == "list" else _verify(args.path)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return status
    except BrokenPipeError:
        # Nothing more can reach the reader; point stdout at /dev/null so the flush at exit
        # does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (CheckpointError, OSError) as error:
        print(f"fastckpt: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
