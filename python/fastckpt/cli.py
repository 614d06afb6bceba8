"""The ``fastckpt`` command: look into checkpoints and check them.

    fastckpt list PATH      names, dtypes and shapes (PATH = prefix or folder with a checkpoint file)
    fastckpt verify PATH    reads every tensor with checksum verification
    fastckpt freeze SAVED_MODEL_DIR -o OUT.pb [--signature KEY] [--tags serve]
    fastckpt freeze GRAPH.pb --checkpoint PREFIX --outputs a,b -o OUT.pb
    fastckpt convert SRC... DST   TF / safetensors / npz, one file or many checkpoints into a folder
    fastckpt --version

Output cut short by its reader (``fastckpt list … | head -1``) ends the command quietly with
status 141, as a tool stopped by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

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


def _freeze(args: argparse.Namespace) -> int:
    """A SavedModel signature, or a TF1 graph and its checkpoint, written as one frozen graph."""
    from .freeze import freeze_graph, freeze_saved_model
    from .graph_io import read_graph_def, write_graph

    if os.path.isdir(args.source):
        frozen = freeze_saved_model(args.source, args.signature, args.tags.split(","))
    elif args.checkpoint is None or args.outputs is None:
        raise ValueError("freezing a graph file needs --checkpoint PREFIX and --outputs a,b")
    else:
        frozen = freeze_graph(read_graph_def(args.source), args.checkpoint, args.outputs.split(","))
    folder, name = os.path.split(os.path.abspath(args.output))
    path = write_graph(frozen, folder, name, as_text=name.endswith(".pbtxt"))
    print(f"{path}: {len(frozen.node)} nodes")
    return 0


def _convert(args: argparse.Namespace) -> int:
    """One conversion when DST names a .safetensors/.npz file, else each source into the folder
    DST, in parallel; every failure is listed at the end (exit status 1 if any)."""
    from .conversion import convert, convert_many

    options = {
        "include": args.include,
        "exclude": args.exclude,
        "rename": args.rename,
        "friendly_names": args.friendly_names,
        "cast": args.cast,
        "max_shard_size": args.max_shard_size,
        "alignment": args.alignment,
        "skip_unsupported": args.skip_unsupported,
    }
    show_progress = sys.stderr.isatty() and not args.quiet
    if args.dst.endswith((".safetensors", ".npz")):
        if len(args.src) != 1:
            print(f"fastckpt: {args.dst} is one file; give one source (or a folder as destination)", file=sys.stderr)
            return 2
        for path in convert(args.src[0], args.dst, to=args.to, progress=show_progress, **options):
            print(path)
        return 0
    result = convert_many(
        args.src,
        args.dst,
        to=args.to or "safetensors",
        jobs=args.jobs,
        skip_existing=args.skip_existing,
        all_checkpoints=args.all,
        progress=show_progress,
        **options,
    )
    for src, files in result.converted:
        print(f"{src} -> {', '.join(files)}")
    print(
        f"{len(result.converted)} converted, {len(result.skipped)} skipped (output exists), {len(result.failed)} failed",
        file=sys.stderr,
    )
    for src, reason in result.failed:
        print(f"  FAILED {src}: {reason}", file=sys.stderr)
    return 1 if result.failed else 0


def _add_convert(sub: Any) -> None:
    cmd = sub.add_parser(
        "convert",
        help="convert checkpoints between TF, safetensors and npz",
        description="Convert one checkpoint (DST = a .safetensors/.npz file, or a folder with --to) or many "
        "(DST = a folder; SRC may be globs and folders holding 'checkpoint' state files).",
    )
    cmd.add_argument("src", nargs="+", help="TF prefix or folder, .safetensors file or folder, .npz file, or a glob")
    cmd.add_argument("dst", help="output file, or the folder that receives one output per source")
    cmd.add_argument("--to", choices=["tf", "safetensors", "npz"], help="output format (default: from DST, else safetensors)")
    cmd.add_argument("--include", action="append", metavar="PATTERN", help="keep only matching names (glob, or re:REGEX)")
    cmd.add_argument("--exclude", action="append", metavar="PATTERN", help="drop matching names (glob, or re:REGEX)")
    cmd.add_argument("--rename", action="append", nargs=2, metavar=("REGEX", "REPLACEMENT"), help="rename rule, applied in order")
    cmd.add_argument("--friendly-names", action="store_true", help="name TF2 tensors by their path through the model")
    cmd.add_argument("--cast", choices=["bfloat16", "float16", "float32"], help="cast float32/float64 tensors")
    cmd.add_argument("--max-shard-size", metavar="SIZE", help="safetensors folder output in shards, e.g. 5GB")
    cmd.add_argument("--alignment", type=int, default=64, help="TF output: tensor alignment in bytes (default 64)")
    cmd.add_argument("--skip-unsupported", action="store_true", help="leave out tensors the format cannot hold")
    cmd.add_argument("--jobs", "-j", type=int, help="worker processes (default: number of CPUs)")
    cmd.add_argument("--skip-existing", action="store_true", help="skip sources whose output exists (resume)")
    cmd.add_argument("--all", action="store_true", help="every checkpoint a state file lists, not only the latest")
    cmd.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastckpt", description="Inspect and check TensorFlow checkpoints.")
    parser.add_argument("--version", action="version", version=f"fastckpt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("list", "list tensors with dtype and shape"), ("verify", "check every tensor's crc32c")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("path", help="checkpoint prefix, or a folder holding a 'checkpoint' file")
    freeze = sub.add_parser("freeze", help="a SavedModel signature or a TF1 graph + checkpoint as one frozen graph")
    freeze.add_argument("source", help="SavedModel folder, or GraphDef file (.pb/.pbtxt)")
    freeze.add_argument("-o", "--output", required=True, help="the frozen GraphDef (.pbtxt: text format)")
    freeze.add_argument("--signature", default="serving_default", help="SavedModel signature key")
    freeze.add_argument("--tags", default="serve", help="SavedModel meta graph tags, comma-separated")
    freeze.add_argument("--checkpoint", help="checkpoint prefix or folder of a graph file's variables")
    freeze.add_argument("--outputs", help="output node names of a graph file, comma-separated")
    _add_convert(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "freeze":
            status = _freeze(args)
        elif args.command == "convert":
            status = _convert(args)
        else:
            status = _list(args.path) if args.command == "list" else _verify(args.path)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return status
    except BrokenPipeError:
        # Nothing more can reach the reader; point stdout at /dev/null so the flush at exit
        # does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (CheckpointError, OSError, KeyError, ValueError) as error:
        print(f"fastckpt: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
