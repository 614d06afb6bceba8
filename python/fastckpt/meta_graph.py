"""Meta graphs of a TF1 Saver, both ways.

``export_meta_graph`` writes the ``P.meta`` a ``tf.compat.v1.train.Saver`` writes for the same
variables (the engine builds it: ``rust/fastckpt/src/graph/saver.rs``): per variable a
``VariableV2`` (with a zero initializer, ``v/Assign`` and ``v/read``),
the ``save/`` subgraph TensorFlow's Saver builds, the ``SaverDef`` and the ``variables`` /
``trainable_variables`` collections — so that ``tf.compat.v1.train.import_meta_graph(P + ".meta")``
gives a Saver whose ``restore(sess, P)`` fills the variables::

    save/filename/input (Const "model") → save/filename → save/Const   (the filename tensor)
    save/SaveV2(save/Const, tensor_names, shape_and_slices, v1, v2, …)  → save/control_dependency
    save/RestoreV2(save/Const, tensor_names, shape_and_slices) on CPU   → save/Assign, save/Assign_1, …
    save/restore_all = NoOp after every Assign

``import_meta_graph`` reads a TensorFlow-written ``.meta``: the graph imported as TensorFlow does
(no ``import/`` prefix) and a ``Saver`` over its variables, named as its ``RestoreV2`` ops name
them; a resource variable's restore reaches it through ``Identity`` and ``AssignVariableOp``::

    save/restore_all ─^─ [NoOp per device ─^─] Assign(v, save/RestoreV2:k)
                                               AssignVariableOp(v, Identity(save/RestoreV2:k))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from . import _fastckpt, _storage
from ._dtypes import NUMPY_DTYPES, STRING, VARIANT
from .errors import CheckpointError, InvalidFileError, led_by
from .graph import Graph, import_graph_def
from .graph_io import read_meta_graph, write_graph
from .protos import MetaGraphDef, VariableDef

PathLike = Union[str, "os.PathLike[str]"]

#: ``(checkpoint name, dtype enum, shape)`` of one variable.
Spec = tuple[str, int, Sequence[int]]


def build_meta_graph(
    specs: Sequence[Spec], *, max_to_keep: int = 5, keep_checkpoint_every_n_hours: float = 10000.0
) -> MetaGraphDef:
    """The ``MetaGraphDef`` of a TF1 Saver over variables ``specs`` (built by the engine, see the
    module docstring)."""
    variables = [(name, int(dtype), [int(d) for d in shape]) for name, dtype, shape in specs]
    return _fastckpt.saver_meta_graph(variables, max_to_keep, keep_checkpoint_every_n_hours)


def write_meta_graph_file(meta: MetaGraphDef, path: PathLike, as_text: bool = False) -> str:
    """Writes a meta graph to ``path`` (binary unless ``as_text``, replaced atomically)."""
    path = os.fspath(path)
    write_graph(meta, _storage.dirname(path), _storage.basename(path), as_text=as_text)
    return path


#: Ops that hold a variable: reference variables and resource variables' handles.
_VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp"})
#: Ops a Saver's restore writes a variable with: reference and resource variables.
_ASSIGN_OPS = frozenset({"Assign", "AssignVariableOp"})


def _zeros(dtype: int, shape: Sequence[int]) -> np.ndarray[Any, Any]:
    """A zero value of a variable (pages are only allocated when written, e.g. by a restore)."""
    if dtype in (STRING, VARIANT):
        return np.full(shape, b"", dtype=object)
    return np.zeros(shape, NUMPY_DTYPES[dtype])


def _node_value(node: Any) -> np.ndarray[Any, Any]:
    dims = node.attr["shape"].shape.dim
    return _zeros(int(node.attr["dtype"].type), [max(int(d.size), 0) for d in dims])


def variables_of(graph_or_meta: Graph | MetaGraphDef) -> dict[str, np.ndarray[Any, Any]]:
    """``{name: zeros}`` of the variables of a ``Graph`` (its variable ops) or a ``MetaGraphDef``
    (its ``variables`` collection), as TensorFlow's Saver takes the global variables: the parts
    of a partitioned variable (``VariableDef.save_slice_info_def``) as one whole array under its
    full name, the name TensorFlow saves them under."""
    if not isinstance(graph_or_meta, MetaGraphDef):
        nodes = [op.node_def for op in graph_or_meta.get_operations() if op.type in _VARIABLE_OPS]
        return {node.name: _node_value(node) for node in sorted(nodes, key=lambda n: str(n.name))}
    collection = graph_or_meta.collection_def
    listed = [VariableDef.FromString(v) for v in collection["variables"].bytes_list.value] if "variables" in collection else []
    by_name = {node.name: node for node in graph_or_meta.graph_def.node}
    values: dict[str, np.ndarray[Any, Any]] = {}
    for variable in listed:
        node = by_name.get(variable.variable_name.rpartition(":")[0])
        if node is None:
            continue
        whole = variable.save_slice_info_def
        if whole.full_name:
            values.setdefault(whole.full_name, _zeros(int(node.attr["dtype"].type), [int(d) for d in whole.full_shape]))
        else:
            values[node.name] = _node_value(node)
    return dict(sorted(values.items()))


def _assigned_variables(graph: Graph, restore_op: Any) -> dict[tuple[str, int], Any]:
    """``{(RestoreV2 op name, output index): variable op}`` of the assignments ``restore_op``
    runs: ``Assign(v, RestoreV2:k)`` for reference variables, ``AssignVariableOp(v,
    Identity(RestoreV2:k))`` behind per-device ``NoOp``s for resource variables, and the
    ``restore_shard`` groups of a sharded Saver."""
    targets: dict[tuple[str, int], Any] = {}
    seen: set[str] = set()
    pending = [restore_op]
    while pending:
        op = pending.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        pending.extend(op.control_inputs)
        inputs = op.inputs
        if op.type not in _ASSIGN_OPS or len(inputs) != 2:
            continue
        value = inputs[1]
        while value.op.type == "Identity":
            value = value.op.inputs[0]
        if value.op.type == "RestoreV2":
            targets[(value.op.name, value.value_index)] = inputs[0].op
    return targets


def _saver_specs(meta: Any, graph: Graph, scope: str, source: str) -> dict[str, np.ndarray[Any, Any]]:
    """``{checkpoint name: zero array}`` of each variable the meta graph's Saver restores: the
    names its ``RestoreV2`` ops read, with their dtypes; the shape of a partitioned variable is the
    whole shape its slice specs give (``"5 3 0,3:0,3"``: ``[5, 3]``, one entry for all its parts),
    any other's that of the variable it is assigned to. ``source`` names the meta graph in errors."""
    try:
        return _restored_variables(meta, graph, scope, source)
    except KeyError as error:  # Graph.get_operation_by_name
        raise InvalidFileError(f"{source}: the SaverDef's restore operations are not in its graph: {error.args[0]}") from None


def _restored_variables(meta: Any, graph: Graph, scope: str, source: str) -> dict[str, np.ndarray[Any, Any]]:
    restore_op = graph.get_operation_by_name((scope + "/" if scope else "") + meta.saver_def.restore_op_name)
    targets = _assigned_variables(graph, restore_op)
    specs: dict[str, np.ndarray[Any, Any]] = {}
    for restore_name in sorted({name for name, _ in targets}):
        restore = graph.get_operation_by_name(restore_name)
        names = _string_constant(graph, f"{restore_name}/tensor_names")
        slices = _string_constant(graph, f"{restore_name}/shape_and_slices")
        for i, (name, dtype) in enumerate(zip(names, restore.get_attr("dtypes"))):
            if name in specs:
                continue  # another part of a partitioned variable
            spec = slices[i].split() if i < len(slices) else []
            shape: list[int] = []
            variable = targets.get((restore_name, i))
            if spec:
                try:
                    shape = [int(d) for d in spec[:-1]]
                except ValueError:
                    raise InvalidFileError(f"{source}: {restore_name}: shape_and_slices {slices[i]!r} of {name!r} is not a slice spec") from None
            elif variable is not None:
                shape = [max(int(d.size), 0) for d in variable.node_def.attr["shape"].shape.dim]
            specs[name] = _zeros(int(getattr(dtype, "as_datatype_enum", dtype)), shape)
    return specs


def _string_constant(graph: Graph, op_name: str) -> list[str]:
    """The strings of the ``Const`` op ``op_name`` (a ``RestoreV2``'s names or slice specs)."""
    return [v.decode() for v in graph.get_operation_by_name(op_name).node_def.attr["value"].tensor.string_val]


def _check_unbound_inputs(meta: MetaGraphDef, collection: str | None, input_map: Any) -> None:
    """TensorFlow's check that ``input_map`` maps exactly the inputs a scoped export left unbound
    (its text lists them all when a mapped name is ``str``: it looks the collection's ``bytes``
    up among the keys)."""
    if not collection or collection not in meta.collection_def:
        return
    kind = meta.collection_def[collection].WhichOneof("kind")
    values = list(getattr(meta.collection_def[collection], kind).value) if kind else []
    names = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
    if values and (not input_map or sorted(names) != sorted(input_map)):
        missing = [name for value, name in zip(values, names) if not input_map or value not in input_map]
        raise ValueError(
            f"Graph contains unbound inputs: {','.join(missing)}. Must provide these inputs through input_map."
        )


def import_meta_graph(
    meta_graph_or_file: MetaGraphDef | PathLike | Any,
    clear_devices: bool = False,
    import_scope: str | None = None,
    input_map: dict[str | bytes, Any] | None = None,
    graph: Graph | None = None,
    unbound_inputs_col_name: str | None = "unbound_inputs",
) -> tuple[Graph, Any]:
    """Imports a meta graph as ``tf.compat.v1.train.import_meta_graph`` (same arguments, in the
    same order): a ``.meta`` file (binary or text) or a ``MetaGraphDef`` (ours or TensorFlow's),
    its graph imported under ``import_scope`` (no ``import/`` prefix by default), its
    ``stripped_op_list`` used as ``producer_op_list``, into ``graph`` (a new ``Graph`` if
    ``None``), whose tensors ``input_map`` may map GraphDef inputs to, as in ``import_graph_def``.
    A meta graph exported from a scope lists the inputs it reads from outside in the collection
    ``unbound_inputs_col_name``: ``input_map`` must map exactly those (TensorFlow's ``ValueError``).

    Returns the graph and a ``Saver`` over its variables (zero arrays of their dtypes and shapes,
    filled by ``saver.restore(P)``): the variables its ``SaverDef``'s restore op assigns, reference
    or resource ones; without a ``SaverDef``, the variables of its ``variables`` collection under
    their scoped names, as TensorFlow then builds a new ``Saver()`` (whose ``save/`` operations
    are not added to our graph); ``None`` when there are no variables either."""
    from .saver import Saver

    source: str | None = None  # the file, named in errors
    if isinstance(meta_graph_or_file, (str, bytes, os.PathLike)):
        source = os.fsdecode(meta_graph_or_file)
        meta = read_meta_graph(source)
    else:
        # TensorFlow's message or ours; a copy, as clear_devices edits it.
        meta = MetaGraphDef.FromString(meta_graph_or_file.SerializeToString())
    _check_unbound_inputs(meta, unbound_inputs_col_name, input_map)
    graph_def = meta.graph_def
    if clear_devices:
        for node in graph_def.node:
            node.device = ""
    info = meta.meta_info_def
    producer_op_list = info.stripped_op_list if info.HasField("stripped_op_list") else None
    scope = import_scope or ""
    graph = graph if graph is not None else Graph()
    try:
        import_graph_def(graph_def, input_map, name=scope, producer_op_list=producer_op_list, graph=graph)
    except CheckpointError as error:  # TensorFlow's text names the node; ours adds the file
        if source is None:
            raise
        raise led_by(source, error) from None
    if meta.HasField("saver_def") and meta.saver_def.restore_op_name:
        saver_def = meta.saver_def
        return graph, Saver(
            _saver_specs(meta, graph, scope, source or "the MetaGraphDef"),
            max_to_keep=saver_def.max_to_keep,
            keep_checkpoint_every_n_hours=saver_def.keep_checkpoint_every_n_hours,
            allow_empty=True,
        )
    scoped = {(scope + "/" if scope else "") + name: value for name, value in variables_of(meta).items()}
    return graph, Saver(scoped) if scoped else None
