"""The ``fastckpt`` command: look into checkpoints, graphs and SavedModels, check them, compare them.

    fastckpt ls PATH [--tree] [--json]       tensors: name, dtype, shape, bytes (``list`` is an alias)
    fastckpt show PATH [NAME] [--all-tensors] values, as TensorFlow's ``inspect_checkpoint`` prints them
    fastckpt verify PATH [--json]            every checksum, in parallel; every bad tensor named
    fastckpt diff A B [--rtol --atol]        names only in A / only in B, dtype, shape, value changes
    fastckpt graph PATH [--to pb|pbtxt -o F] a GraphDef's nodes, ops, placeholders, outputs, constants
    fastckpt saved-model PATH                tags and signatures, as ``saved_model_cli show --all``
    fastckpt convert SRC... DST              TF / safetensors / npz, one file or many into a folder
    fastckpt freeze SOURCE -o OUT.pb         a SavedModel signature or a TF1 graph + checkpoint, frozen
    fastckpt bench [--quick]                 fastckpt side by side with TensorFlow, safetensors, numpy
    fastckpt --version

PATH is a checkpoint prefix, a folder holding a ``checkpoint`` state file, a SavedModel folder, or a
safetensors file / folder or an npz file.
Every subcommand is one function below taking the parsed arguments and returning the exit status;
``_parser`` declares their arguments. A failure is one line on stderr and status 1 (2 for ``diff``,
whose 1 means "different", as diff(1)). Output cut short by its reader (``fastckpt ls … | head -1``)
ends the command quietly with status 141, as a tool stopped by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from . import __version__, _fastckpt, _storage
from ._dtypes import NAMES, VARIANT, enum_of
from .checkpoint import OBJECT_GRAPH_KEY, _read_graph, _stored_parts
from .errors import CheckpointError, InvalidFileError
from .conversion import open as open_any
from .reader import CheckpointReader, load_checkpoint, tensor_array
from .saved_model import variables_prefix

#: What a shell reports for a command stopped by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141

T = TypeVar("T")

#: DataType enum value → its name in the proto (``DT_FLOAT``), as saved_model_cli prints dtypes.
_ENUM_NAMES = {value: enum_name for value, enum_name, *_ in _fastckpt.dtype_table()}


# --- shared helpers ---------------------------------------------------------------------------


def _open(path: str, *, verify: bool) -> CheckpointReader:
    """The tensors behind PATH: a checkpoint prefix, a folder with a ``checkpoint`` file, a
    SavedModel folder (its ``variables/variables``), or a safetensors file / folder or npz file."""
    saved_model_variables = variables_prefix(path)
    if os.path.isdir(path) and os.path.exists(saved_model_variables + ".index"):
        return load_checkpoint(saved_model_variables, verify=verify)
    return open_any(path, verify=verify)


def _array(reader: Any, name: str) -> np.ndarray[Any, Any]:
    """Tensor ``name`` as an array (``get_tensor`` gives a scalar as TensorFlow does)."""
    return tensor_array(reader.get_tensor(name))


def _byte_size(array_or_dtype: Any, shape: Iterable[int]) -> int:
    """Bytes of the tensor's values: elements × element size; for strings, the strings' lengths."""
    if isinstance(array_or_dtype, np.ndarray):
        if array_or_dtype.dtype == np.dtype(object):
            return sum(len(item) for item in array_or_dtype.flat)
        return int(array_or_dtype.nbytes)
    return int(math.prod(shape) * np.dtype(array_or_dtype).itemsize)


def _json_values(array: np.ndarray[Any, Any]) -> Any:
    """An array as nested JSON lists: bytes as text (non-UTF-8 bytes escaped), the ml_dtypes and
    quantized types as Python numbers."""
    if array.dtype == np.dtype(object):
        return np.vectorize(lambda b: b.decode("utf-8", "backslashreplace"), otypes=[object])(array).tolist()
    if array.dtype.names:  # TensorFlow's quantized types: one integer field
        array = array[array.dtype.names[0]]
    if array.dtype.kind == "V":  # bfloat16, float8, int4 … from ml_dtypes
        array = array.astype(np.int64 if "int" in array.dtype.name else np.float64)
    if array.dtype.kind == "c":
        return np.stack([array.real, array.imag], axis=-1).tolist()
    return array.tolist()


def _progress(items: Iterable[T], *, total: int, desc: str, unit: str = "it") -> Iterator[T]:
    """``items`` with a tqdm bar on stderr when tqdm is installed and stderr is a terminal."""
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            yield from tqdm(items, total=total, desc=desc, unit=unit, unit_scale=True, leave=False)
            return
    yield from items


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


# --- ls ---------------------------------------------------------------------------------------


def ls(args: argparse.Namespace) -> int:
    """Tensors with dtype, shape and bytes, sorted by name."""
    rows = []
    with _open(args.path, verify=False) as reader:
        dtypes = reader.get_variable_to_dtype_map()
        for name, shape in reader.get_variable_to_shape_map().items():
            dtype = dtypes[name]
            if dtype == np.dtype(object):
                size = _byte_size(_array(reader, name), shape)
            else:
                size = _byte_size(dtype, shape)
            rows.append({"name": name, "dtype": _dtype_name(dtype), "shape": shape, "bytes": size})
    total = sum(int(row["bytes"]) for row in rows)  # type: ignore[call-overload]
    if args.tree:
        with _open(args.path, verify=True) as reader:
            tree = _object_tree(reader, {str(row["name"]): row for row in rows})
        if args.json:
            _print_json({"path": reader.prefix, "tree": tree, "total_bytes": total})
        else:
            print(f"{reader.prefix}: {len(rows)} tensors, {total} bytes")
            _print_tree(tree, "  ")
        return 0
    if args.json:
        _print_json({"path": reader.prefix, "tensors": rows, "total_bytes": total})
        return 0
    print(f"{reader.prefix}: {len(rows)} tensors, {total} bytes")
    width = max((len(str(row["name"])) for row in rows), default=0)
    for row in rows:
        print(f"  {row['name']:<{width}}  {row['dtype']:<10} {str(row['shape']):<16} {row['bytes']}")
    return 0


def _object_tree(reader: CheckpointReader, rows: dict[str, dict[str, object]]) -> dict[str, Any]:
    """The objects of a TF2 checkpoint as nested ``{"children": {name: ...}, "tensors": {attribute:
    row}, "slots": [...]}`` from the root, each object expanded once, at its first path;
    elsewhere it is ``{"same_as": that path}``. An attribute stored as several tensors (a lookup
    table's ``table-keys`` and ``table-values``) is listed as each of them."""
    if OBJECT_GRAPH_KEY not in reader:
        raise ValueError(f"{reader.prefix} is not a TF2 object-based checkpoint (no {OBJECT_GRAPH_KEY}): --tree needs one")
    graph = _read_graph(reader)  # checked: every node id it names is one of its nodes
    parts = _stored_parts([a.checkpoint_key for node in graph.nodes for a in node.attributes], reader)
    # Each object's first path, depth first in the order the graph lists children (so a Keras 3
    # weight is shown in the model, where it is first listed, not under the optimizer's alias).
    paths: dict[int, str] = {}
    stack = [(0, "")]
    while stack:
        node_id, path = stack.pop()
        if node_id in paths:
            continue
        paths[node_id] = path
        for local_name, child_id in reversed(graph.nodes[node_id].children.items()):
            stack.append((child_id, f"{path}/{local_name}".lstrip("/")))

    def visit(node_id: int, path: str) -> dict[str, Any]:
        node = graph.nodes[node_id]
        out: dict[str, Any] = {}
        if node.attributes:
            out["tensors"] = {
                a.name + suffix: rows.get(a.checkpoint_key + suffix, {"name": a.checkpoint_key + suffix})
                for a in node.attributes
                for suffix in parts.get(a.checkpoint_key, [""])
            }
        if node.slot_variables:
            out["slots"] = [
                {"slot": s.slot_name, "of": paths.get(s.original_variable_node_id, f"node {s.original_variable_node_id}"),
                 "object": visit(s.slot_variable_node_id, f"{path}/{s.slot_name}")}
                for s in node.slot_variables
            ]  # fmt: skip
        children = {}
        for local_name, child_id in node.children.items():
            child_path = f"{path}/{local_name}".lstrip("/")
            first = paths[child_id]
            children[local_name] = visit(child_id, child_path) if first == child_path else {"same_as": first}
        if children:
            out["children"] = children
        return out

    try:
        return visit(0, "")
    except RecursionError:
        raise ValueError(f"the object graph of {reader.prefix} is too deep to print") from None


def _print_tree(tree: dict[str, Any], indent: str) -> None:
    for attribute, row in tree.get("tensors", {}).items():
        details = f"  {row['dtype']} {row['shape']} {row['bytes']}" if "dtype" in row else ""
        print(f"{indent}{attribute}{details}  [{row['name']}]")
    for slot in tree.get("slots", []):
        print(f"{indent}slot {slot['slot']} of {slot['of']}")
        _print_tree(slot["object"], indent + "  ")
    for name, child in tree.get("children", {}).items():
        if "same_as" in child:
            print(f"{indent}{name} -> {child['same_as']}")
        else:
            print(f"{indent}{name}")
            _print_tree(child, indent + "  ")


def _dtype_name(dtype: np.dtype[Any]) -> str:
    """TensorFlow's name of a numpy dtype fastckpt returns (``string`` for object arrays)."""
    try:
        return NAMES[enum_of(dtype)]
    except TypeError:
        return str(dtype)


# --- show -------------------------------------------------------------------------------------


def show(args: argparse.Namespace) -> int:
    """Tensor values, as TensorFlow 2.21's ``inspect_checkpoint`` prints them: NAME's header line
    (``tensor: NAME (dtype) [shape]``) and values; ``--all-tensor-names`` every header line,
    ``--all-tensors`` every header and values; without NAME or either flag, the reader's
    ``debug_string``. Each ends with ``# Total number of params: N`` (the elements of every
    tensor)."""
    if args.all_tensors and args.all_tensor_names:
        raise ValueError("--all-tensors and --all-tensor-names exclude each other")
    listing = args.all_tensors or args.all_tensor_names
    if args.name is not None and listing:
        raise ValueError("give either NAME or --all-tensors / --all-tensor-names")
    threshold = sys.maxsize if args.all else args.threshold
    with _open(args.path, verify=True) as reader, np.printoptions(threshold=threshold):
        stored = reader._listing()  # {name: (dtype enum, shape)}
        total = sum(math.prod(shape) for _, shape in stored.values())
        if args.name is None and not listing:
            if args.json:
                raise ValueError("--json needs NAME, --all-tensors or --all-tensor-names")
            print(reader.debug_string().decode("utf-8", errors="ignore"))
        else:
            names = sorted(stored) if listing else [args.name]
            with_values = args.name is not None or args.all_tensors
            rows = []
            for name in names:
                array = _array(reader, name) if with_values else None  # a missing NAME raises here
                enum, stored_shape = stored[name]
                dtype, shape = NAMES[enum], list(stored_shape)
                if args.json:
                    row: dict[str, Any] = {"name": name, "dtype": dtype, "shape": shape}
                    if array is not None:
                        row["values"] = _json_values(array)
                    rows.append(row)
                else:
                    print(f"tensor: {name} ({dtype}) {shape}")
                    if array is not None:  # TensorFlow's reader gives no value for a variant
                        print("<not convertible to a numpy dtype>" if enum == VARIANT else array)
            if args.json:
                _print_json(rows[0] if args.name is not None else {"path": reader.prefix, "tensors": rows, "total_params": total})
                return 0
        print(f"# Total number of params: {total}")
    return 0


# --- verify -----------------------------------------------------------------------------------


def verify(args: argparse.Namespace) -> int:
    """Reads every tensor with checksum verification, many at once (the engine releases the GIL),
    and reports every tensor that fails, not only the first."""
    start = time.perf_counter()
    with _open(args.path, verify=True) as reader:
        names = list(reader)

        def check(name: str) -> tuple[str, int, str | None]:
            try:
                array = _array(reader, name)
            except CheckpointError as error:
                return name, 0, str(error)
            return name, _byte_size(array, array.shape), None

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results = list(_progress(pool.map(check, names), total=len(names), desc="verify", unit="tensor"))
    seconds = time.perf_counter() - start
    failures = [{"name": name, "error": error} for name, _, error in results if error is not None]
    size = sum(size for _, size, _ in results)
    if args.json:
        _print_json(
            {
                "path": reader.prefix,
                "tensors": len(names),
                "bytes": size,
                "seconds": seconds,
                "ok": not failures,
                "failures": failures,
            }
        )
    else:
        if failures:
            print(f"{reader.prefix}: {len(failures)} of {len(names)} tensors failed verification")
            for failure in failures:
                print(f"  {failure['name']}: {failure['error']}")
        else:
            print(f"{reader.prefix}: {len(names)} tensors, {size / 1e6:.1f} MB verified in {seconds * 1e3:.1f} ms")
    return 1 if failures else 0


# --- diff -------------------------------------------------------------------------------------


def diff(args: argparse.Namespace) -> int:
    """Names only in A or only in B, and for common names the dtype, shape or value differences
    (floating values within ``--rtol``/``--atol`` are equal, NaN equals NaN)."""
    with _open(args.a, verify=True) as a, _open(args.b, verify=True) as b:
        names_a, names_b = set(a), set(b)
        common = sorted(names_a & names_b)
        changed = []
        for name in _progress(common, total=len(common), desc="diff", unit="tensor"):
            found = _compare(_array(a, name), _array(b, name), rtol=args.rtol, atol=args.atol)
            if found is not None:
                changed.append({"name": name, **found})
        prefixes = (a.prefix, b.prefix)
    report: dict[str, Any] = {
        "a": prefixes[0],
        "b": prefixes[1],
        "only_in_a": sorted(names_a - names_b),
        "only_in_b": sorted(names_b - names_a),
        "changed": changed,
        "same": len(common) - len(changed),
    }
    different = bool(report["only_in_a"] or report["only_in_b"] or changed)
    if args.json:
        _print_json(report)
        return 1 if different else 0
    for name in report["only_in_a"]:
        print(f"only in A: {name}")
    for name in report["only_in_b"]:
        print(f"only in B: {name}")
    for change in changed:
        print(f"{change['kind']}: {change['name']}: {change['detail']}")
    print(
        f"{report['same']} same, {len(changed)} changed, {len(report['only_in_a'])} only in A, "
        f"{len(report['only_in_b'])} only in B"
    )
    return 1 if different else 0


def _compare(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], *, rtol: float, atol: float) -> dict[str, Any] | None:
    """How two tensors of one name differ (``kind``, ``detail``, and ``max_abs_diff`` for values),
    or ``None`` when they are equal."""
    if a.dtype != b.dtype:
        return {"kind": "dtype", "detail": f"{_dtype_name(a.dtype)} != {_dtype_name(b.dtype)}"}
    if a.shape != b.shape:
        return {"kind": "shape", "detail": f"{list(a.shape)} != {list(b.shape)}"}
    if a.dtype == np.dtype(object) or a.dtype.names:  # strings; quantized types (one integer field)
        differing = int(np.count_nonzero(a != b if a.dtype == np.dtype(object) else a[a.dtype.names[0]] != b[b.dtype.names[0]]))
        if differing == 0:
            return None
        return {"kind": "value", "detail": f"{differing} of {a.size} elements differ", "differing": differing}
    if a.dtype.kind == "V":  # ml_dtypes: compare as float64 / int64
        wide = np.int64 if "int" in a.dtype.name else np.float64
        a, b = a.astype(wide), b.astype(wide)
    if a.dtype.kind in "fc":
        close = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    else:
        close = a == b
    differing = int(close.size - np.count_nonzero(close))
    if differing == 0:
        return None
    if a.dtype.kind == "b":
        gap = 1.0
    else:
        difference_type = np.complex128 if a.dtype.kind == "c" else np.float64
        with np.errstate(invalid="ignore", over="ignore"):
            gap = float(np.nanmax(np.abs(a.astype(difference_type) - b.astype(difference_type))[~close]))
    return {
        "kind": "value",
        "detail": f"{differing} of {close.size} elements differ, max abs diff {gap:.6g}",
        "differing": differing,
        "max_abs_diff": gap,
    }


# --- graph ------------------------------------------------------------------------------------

#: Ops that never are a graph's output, as TensorFlow's summarize_graph skips them.
_NOT_OUTPUTS = frozenset({"Const", "NoOp", "Assign", "AssignVariableOp", "Placeholder", "PlaceholderWithDefault"})


def _output_folder_and_name(output: str) -> tuple[str, str]:
    """The folder (absolute, or an object-store URL) and the file name of an output path."""
    if _storage.is_url(output):
        return _storage.dirname(output), _storage.basename(output)
    return os.path.split(os.path.abspath(output))


def _graph_file(path: str) -> Any:
    """The GraphDef of a graph file: a ``.meta`` file's graph (a TF1 Saver's), else a ``.pb``/``.pbtxt``."""
    from .graph_io import read_graph_def, read_meta_graph

    return read_meta_graph(path).graph_def if path.endswith(".meta") else read_graph_def(path)


def graph(args: argparse.Namespace) -> int:
    """A GraphDef (``.pb``/``.pbtxt``), the graph of a MetaGraphDef (``.meta``) or of a SavedModel
    folder: node count, op histogram, placeholders, likely outputs, bytes held by constants;
    ``--to pb|pbtxt -o OUT`` writes it in the other format."""
    from .graph_io import write_graph
    from .saved_model import load_saved_model

    if os.path.isdir(args.path):
        graph_def = load_saved_model(args.path).meta_graph.graph_def
    else:
        graph_def = _graph_file(args.path)
    if args.to is not None:
        if args.output is None:
            raise ValueError("--to needs -o OUT")
        folder, name = _output_folder_and_name(args.output)
        written = write_graph(graph_def, folder, name, as_text=args.to == "pbtxt")
        print(f"{written}: {len(graph_def.node)} nodes written as {args.to}")
        return 0
    summary = _summarize(graph_def)
    if args.json:
        _print_json({"path": args.path, **summary})
        return 0
    print(f"{args.path}: {summary['nodes']} nodes, {len(summary['functions'])} functions")
    print("placeholders:")
    for placeholder in summary["placeholders"]:
        print(f"  {placeholder['name']}  {placeholder['dtype']}  {placeholder['shape']}")
    print("outputs:")
    for output in summary["outputs"]:
        print(f"  {output['name']}  ({output['op']})")
    print(f"constants: {summary['const_count']} holding {summary['const_bytes']} bytes")
    print("ops:")
    for op, count in summary["ops"].items():
        print(f"  {count:>6}  {op}")
    return 0


def _summarize(graph_def: Any) -> dict[str, Any]:
    from .graph_io import make_ndarray

    consumed = {inp.lstrip("^").split(":")[0] for node in graph_def.node for inp in node.input}
    placeholders, outputs = [], []
    const_count = const_bytes = 0
    for node in graph_def.node:
        if node.op in ("Placeholder", "PlaceholderWithDefault"):
            placeholders.append(
                {"name": node.name, "dtype": NAMES.get(node.attr["dtype"].type, "?"), "shape": _shape(node.attr.get("shape"))}
            )
        elif node.op == "Const":
            const_count += 1
            tensor = node.attr["value"].tensor
            if tensor.tensor_content:
                const_bytes += len(tensor.tensor_content)
            else:
                try:
                    const_bytes += _byte_size(make_ndarray(tensor), ())
                except (TypeError, ValueError) as error:  # make_ndarray's words for a value TF cannot hold
                    raise InvalidFileError(f"Const {node.name!r}: {error}") from None
        if node.name not in consumed and node.op not in _NOT_OUTPUTS:
            outputs.append({"name": node.name, "op": node.op})
    ops = Counter(node.op for node in graph_def.node)
    return {
        "nodes": len(graph_def.node),
        "ops": dict(sorted(ops.items(), key=lambda item: (-item[1], item[0]))),
        "placeholders": placeholders,
        "outputs": outputs,
        "const_count": const_count,
        "const_bytes": const_bytes,
        "functions": [function.signature.name for function in graph_def.library.function],
    }


def _shape(attr: Any) -> list[int] | None:
    """A TensorShapeProto attr as a list (-1 for unknown dimensions), ``None`` for unknown rank."""
    if attr is None or attr.shape.unknown_rank:
        return None
    return [dim.size for dim in attr.shape.dim]


# --- saved-model ------------------------------------------------------------------------------


def saved_model(args: argparse.Namespace) -> int:
    """Every meta graph's tags and signatures with their inputs and outputs."""
    from .saved_model import read_saved_model

    message = read_saved_model(args.path)
    meta_graphs: list[dict[str, Any]] = []
    for meta_graph in message.meta_graphs:
        signatures = {}
        for key, signature in sorted(meta_graph.signature_def.items()):
            signatures[key] = {
                "method_name": signature.method_name,
                "inputs": {k: _tensor_info(v) for k, v in sorted(signature.inputs.items())},
                "outputs": {k: _tensor_info(v) for k, v in sorted(signature.outputs.items())},
            }
        meta_graphs.append({"tags": list(meta_graph.meta_info_def.tags), "signatures": signatures})
    if args.json:
        _print_json({"path": args.path, "meta_graphs": meta_graphs})
        return 0
    for meta_graph_info in sorted(meta_graphs, key=lambda info: info["tags"]):  # as saved_model_cli
        print(f"\nMetaGraphDef with tag-set: '{', '.join(meta_graph_info['tags'])}' contains the following SignatureDefs:")
        for key, signature_info in meta_graph_info["signatures"].items():
            print(f"\nsignature_def['{key}']:")
            for direction in ("inputs", "outputs"):
                print(f"  The given SavedModel SignatureDef contains the following {direction[:-1]}(s):")
                for arg, info in signature_info[direction].items():
                    shape = "unknown_rank" if info["shape"] is None else f"({', '.join(map(str, info['shape']))})"
                    print(f"    {direction}['{arg}'] tensor_info:")
                    print(f"        dtype: {info['dtype']}")
                    print(f"        shape: {shape}")
                    print(f"        name: {info['name']}")
            print(f"  Method name is: {signature_info['method_name']}")
    return 0


def _tensor_info(info: Any) -> dict[str, Any]:
    shape = None if info.tensor_shape.unknown_rank else [dim.size for dim in info.tensor_shape.dim]
    return {"name": info.name, "dtype": _ENUM_NAMES.get(info.dtype, str(info.dtype)), "shape": shape}


# --- bench ------------------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> int:
    """fastckpt side by side with the other libraries installed here (see ``fastckpt.bench``)."""
    from . import bench as bench_module

    return bench_module.main(args)


def freeze(args: argparse.Namespace) -> int:
    """Freeze a SavedModel signature, or a TF1 graph and its checkpoint, into one GraphDef.

    Variables become constants read from the checkpoint (through function calls too); TensorFlow
    imports and runs the result."""
    from .freeze import freeze_graph, freeze_saved_model
    from .graph_io import write_graph

    if os.path.isdir(args.source):
        frozen = freeze_saved_model(args.source, args.signature, args.tags.split(","))
    elif args.checkpoint is None or args.outputs is None:
        raise ValueError("freezing a graph file needs --checkpoint PREFIX and --outputs a,b")
    else:
        frozen = freeze_graph(_graph_file(args.source), args.checkpoint, args.outputs.split(","))
    folder, name = _output_folder_and_name(args.output)
    path = write_graph(frozen, folder, name, as_text=name.endswith(".pbtxt"))
    print(f"{path}: {len(frozen.node)} nodes")
    return 0


def convert(args: argparse.Namespace) -> int:
    """Convert checkpoints between TF, safetensors and npz.

    One conversion when DST names a .safetensors/.npz file, else each source into the folder DST,
    in parallel worker processes (--jobs) or as tasks on a Ray cluster (--ray); every failure is
    listed at the end (exit status 1 if any)."""
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
        if len(args.src) != 1 or args.ray is not None:
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
        backend="local" if args.ray is None else "ray",
        ray_address=args.ray or None,
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


# --- the command ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastckpt", description="Inspect, check and compare TensorFlow checkpoints, graphs and SavedModels."
    )
    parser.add_argument("--version", action="version", version=f"fastckpt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    path_help = (
        "checkpoint prefix (V2 or V1), a folder holding a 'checkpoint' file, a SavedModel folder, "
        "a safetensors file or folder, or an npz file"
    )

    def command(name: str, function: Callable[[argparse.Namespace], int], **kwargs: Any) -> argparse.ArgumentParser:
        # The docstring, as plain text: its first paragraph (a sentence that may span lines) is
        # the command's line in --help, the whole of it the command's own --help description.
        doc = (function.__doc__ or "").strip().replace("``", "")
        summary = " ".join(doc.split("\n\n", 1)[0].split())
        cmd = sub.add_parser(name, help=summary, description=doc, **kwargs)
        cmd.set_defaults(run=function)
        return cmd

    def json_option(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--json", action="store_true", help="print JSON instead of text")

    cmd = command("ls", ls, aliases=["list"])
    cmd.add_argument("path", help=path_help)
    cmd.add_argument("--tree", action="store_true", help="a TF2 checkpoint's tensors under its objects")
    json_option(cmd)

    cmd = command("show", show)
    cmd.add_argument("path", help=path_help)
    cmd.add_argument("name", nargs="?", help="tensor name")
    cmd.add_argument("--all-tensors", action="store_true", help="every tensor's name, dtype, shape and values")
    cmd.add_argument("--all-tensor-names", action="store_true", help="every tensor's name, dtype and shape")
    cmd.add_argument("--all", action="store_true", help="print every value (no '...' summary)")
    cmd.add_argument("--threshold", type=int, default=1000, help="values printed in full up to this count")
    json_option(cmd)

    cmd = command("verify", verify)
    cmd.add_argument("path", help=path_help)
    json_option(cmd)

    cmd = command("diff", diff)
    cmd.add_argument("a", help=path_help)
    cmd.add_argument("b", help=path_help)
    cmd.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for floating values")
    cmd.add_argument("--atol", type=float, default=0.0, help="absolute tolerance for floating values")
    cmd.set_defaults(error_status=2)
    json_option(cmd)

    cmd = command("graph", graph)
    cmd.add_argument("path", help="GraphDef (.pb/.pbtxt), MetaGraphDef (.meta) or SavedModel folder")
    cmd.add_argument("--to", choices=("pb", "pbtxt"), help="write the graph in this format (needs -o)")
    cmd.add_argument("-o", "--output", help="file written by --to")
    json_option(cmd)

    cmd = command("saved-model", saved_model)
    cmd.add_argument("path", help="SavedModel folder")
    json_option(cmd)

    cmd = command("convert", convert)
    cmd.add_argument("src", nargs="+", help="TF prefix or folder, .safetensors file or folder, .npz file, or a glob")
    cmd.add_argument("dst", help="output file, or the folder that receives one output per source")
    cmd.add_argument("--to", choices=["tf", "safetensors", "npz"], help="output format (default: from DST, else safetensors)")
    cmd.add_argument("--include", action="append", metavar="PATTERN", help="keep only matching names (glob, or re:REGEX)")
    cmd.add_argument("--exclude", action="append", metavar="PATTERN", help="drop matching names (glob, or re:REGEX)")
    cmd.add_argument("--rename", action="append", nargs=2, metavar=("REGEX", "REPLACEMENT"), help="rename rule, applied in order")
    cmd.add_argument("--friendly-names", action="store_true", help="name TF2 tensors by their path through the model")
    cmd.add_argument("--cast", choices=["bfloat16", "float16", "float32"], help="cast float32/float64 tensors")
    cmd.add_argument("--max-shard-size", metavar="SIZE", help="shards of at most SIZE (e.g. 5GB): a safetensors folder, or a TF checkpoint's data files")
    cmd.add_argument("--alignment", type=int, default=64, help="TF output: tensor alignment in bytes (default 64)")
    cmd.add_argument("--skip-unsupported", action="store_true", help="leave out tensors the format cannot hold")
    cmd.add_argument("--jobs", "-j", type=int, help="conversions at a time (default: number of CPUs; with --ray, no limit)")
    cmd.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run each conversion as a Ray task: on the cluster at ADDRESS ('auto': the one started on this machine), "
        "else on a local Ray instance started for this run (needs: pip install 'fastckpt[ray]'); "
        "without ADDRESS, give it after DST",
    )
    cmd.add_argument("--skip-existing", action="store_true", help="skip sources whose output exists (resume)")
    cmd.add_argument("--all", action="store_true", help="every checkpoint a state file lists, not only the latest")
    cmd.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    cmd = command("freeze", freeze)
    cmd.add_argument("source", help="SavedModel folder, or graph file (.pb/.pbtxt, or a Saver's .meta)")
    cmd.add_argument("-o", "--output", required=True, help="the frozen GraphDef (.pbtxt: text format)")
    cmd.add_argument("--signature", default="serving_default", help="SavedModel signature key")
    cmd.add_argument("--tags", default="serve", help="SavedModel meta graph tags, comma-separated")
    cmd.add_argument("--checkpoint", help="checkpoint prefix or folder of a graph file's variables")
    cmd.add_argument("--outputs", help="output node names of a graph file, comma-separated")

    from .bench import add_arguments as add_bench_arguments

    add_bench_arguments(command("bench", bench))
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
    """Warnings as one line of the command's own, not as Python source locations."""
    print(f"fastckpt: warning: {message}", file=sys.stderr)


class _WarningLines(logging.Handler):
    """What the library logs (a state file it cannot parse is ignored, as TensorFlow logs it) as
    the command's warning lines."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"fastckpt: warning: {record.getMessage()}", file=sys.stderr)


def _naming_the_file(args: argparse.Namespace, error: BaseException) -> str:
    """The error's message; one about the input (a ``CheckpointError``) is led by the file the
    command reads when it does not name it already (the graph tools' messages, in TensorFlow's
    words, name a node)."""
    message = str(error)
    if not isinstance(error, CheckpointError):
        return message
    sources = getattr(args, "src", None) or []
    subject = getattr(args, "path", None) or getattr(args, "source", None) or (sources[0] if len(sources) == 1 else None)
    return message if subject is None or subject in message else f"{subject}: {message}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    warnings.showwarning = _show_warning
    library_log = logging.getLogger("fastckpt")
    if not any(isinstance(handler, _WarningLines) for handler in library_log.handlers):
        library_log.addHandler(_WarningLines(logging.WARNING))
    try:
        status: int = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return status
    except BrokenPipeError:
        # Nothing more can reach the reader; point stdout at /dev/null so the flush at exit
        # does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("fastckpt: interrupted", file=sys.stderr)
        return 130
    except (CheckpointError, OSError, KeyError, ValueError, NotImplementedError, ImportError) as error:
        print(f"fastckpt: {_naming_the_file(args, error)}", file=sys.stderr)
        return int(getattr(args, "error_status", 1))


if __name__ == "__main__":
    sys.exit(main())
