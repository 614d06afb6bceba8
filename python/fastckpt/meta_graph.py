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
(no ``import/`` prefix) and a ``Saver`` over its variables, named as its ``RestoreV2`` names them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from . import _fastckpt, _storage
from ._dtypes import NUMPY_DTYPES, STRING, VARIANT
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


def _saver_specs(meta: Any, graph: Graph, scope: str) -> dict[str, np.ndarray[Any, Any]]:
    """``{checkpoint name: zero array}`` of each variable the meta graph's Saver restores: the
    names its ``RestoreV2`` reads, with their dtypes; the shape of a partitioned variable is the
    whole shape its slice specs give (``"5 3 0,3:0,3"``: ``[5, 3]``, one entry for all its parts),
    any other's that of the variable it is assigned to (``Assign``, or ``AssignVariableOp`` through
    an ``Identity`` for a resource variable)."""
    restore_op = meta.saver_def.restore_op_name
    prefix = (scope + "/" if scope else "") + restore_op.rpartition("/")[0]
    restore = f"{prefix}/RestoreV2"
    names_node = graph.get_operation_by_name(f"{restore}/tensor_names")
    names = [n.decode() for n in names_node.node_def.attr["value"].tensor.string_val]
    slices_node = graph.get_operation_by_name(f"{restore}/shape_and_slices")
    slices = [s.decode() for s in slices_node.node_def.attr["value"].tensor.string_val]
    dtypes = list(graph.get_operation_by_name(restore).get_attr("dtypes"))
    targets: dict[int, Any] = {}
    for op in graph.get_operation_by_name(f"{scope + '/' if scope else ''}{restore_op}").control_inputs:
        inputs = op.inputs
        if len(inputs) != 2:
            continue
        value = inputs[1]
        if value.op.type == "Identity" and len(value.op.inputs) == 1:
            value = value.op.inputs[0]
        if value.op.name == restore:
            targets[value.value_index] = inputs[0].op
    specs: dict[str, np.ndarray[Any, Any]] = {}
    for i, (name, dtype) in enumerate(zip(names, dtypes)):
        if name in specs:
            continue  # another part of a partitioned variable
        enum = int(getattr(dtype, "as_datatype_enum", dtype))
        variable = targets.get(i)
        spec = slices[i].split() if i < len(slices) else []
        shape: list[int] = []
        if spec:
            try:
                shape = [int(d) for d in spec[:-1]]
            except ValueError:
                raise ValueError(f"{restore}: shape_and_slices {slices[i]!r} of {name!r} is not a slice spec") from None
        elif variable is not None:
            shape = [max(int(d.size), 0) for d in variable.node_def.attr["shape"].shape.dim]
        specs[name] = _zeros(enum, shape)
    return specs


def import_meta_graph(path: PathLike, import_scope: str | None = None, clear_devices: bool = False) -> tuple[Graph, Any]:
    """Reads a ``.meta`` file as ``tf.compat.v1.train.import_meta_graph``: returns the imported
    graph (names under ``import_scope``, no ``import/`` prefix by default) and a ``Saver`` over its
    variables — zero arrays of their dtypes and shapes, filled by ``saver.restore(P)`` — or
    ``None`` for the Saver when the meta graph has none."""
    from .saver import Saver

    meta = read_meta_graph(path)
    graph_def = meta.graph_def
    if clear_devices:
        for node in graph_def.node:
            node.device = ""
    graph = Graph()
    import_graph_def(graph_def, name=import_scope or "", graph=graph)
    if not meta.HasField("saver_def") or not meta.saver_def.restore_op_name:
        return graph, None
    saver = Saver(
        _saver_specs(meta, graph, import_scope or ""),
        max_to_keep=meta.saver_def.max_to_keep,
        keep_checkpoint_every_n_hours=meta.saver_def.keep_checkpoint_every_n_hours,
    )
    return graph, saver
