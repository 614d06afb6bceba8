"""Meta graphs of a TF1 Saver, both ways.

``export_meta_graph`` writes the ``P.meta`` a ``tf.compat.v1.train.Saver`` writes for the same
variables: per variable a ``VariableV2`` (with a zero initializer, ``v/Assign`` and ``v/read``),
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

from ._dtypes import NUMPY_DTYPES, STRING, VARIANT
from .graph import Graph, import_graph_def
from .graph_io import read_meta_graph, write_graph
from .protos import MetaGraphDef, NodeDef, SaverDef, VariableDef

PathLike = Union[str, "os.PathLike[str]"]

#: ``TF_GRAPH_DEF_VERSION`` of TensorFlow 2.21, which the exported graph declares.
_PRODUCER = 2474
_CPU = "/device:CPU:0"
#: ``SaverDef.V2``.
_SAVER_V2 = 2

#: ``(checkpoint name, dtype enum, shape)`` of one variable.
Spec = tuple[str, int, Sequence[int]]


def _node(graph_def: Any, name: str, op: str, inputs: Sequence[str] = (), device: str = "") -> NodeDef:
    node: NodeDef = graph_def.node.add()
    node.name, node.op, node.device = name, op, device
    node.input.extend(inputs)
    return node


def _string_const(graph_def: Any, name: str, values: Sequence[str] | str, device: str = "") -> None:
    node = _node(graph_def, name, "Const", device=device)
    node.attr["dtype"].type = STRING
    tensor = node.attr["value"].tensor
    tensor.dtype = STRING
    if isinstance(values, str):
        tensor.string_val.append(values.encode())
        return
    tensor.tensor_shape.dim.add().size = len(values)
    tensor.string_val.extend(v.encode() for v in values)


def _set_shape(shape_proto: Any, shape: Sequence[int]) -> None:
    for size in shape:
        shape_proto.dim.add().size = int(size)


def build_meta_graph(
    specs: Sequence[Spec], *, max_to_keep: int = 5, keep_checkpoint_every_n_hours: float = 10000.0
) -> MetaGraphDef:
    """The ``MetaGraphDef`` of a TF1 Saver over variables ``specs`` (see the module docstring)."""
    specs = sorted(specs, key=lambda s: s[0])
    meta = MetaGraphDef()
    meta.meta_info_def.tensorflow_version = "2.21.0"
    graph = meta.graph_def
    graph.versions.producer = _PRODUCER
    variable_defs = []
    for name, dtype, shape in specs:
        var = _node(graph, name, "VariableV2")
        var.attr["dtype"].type = dtype
        _set_shape(var.attr["shape"].shape, shape)
        var.attr["container"].s = b""
        var.attr["shared_name"].s = b""
        init = _node(graph, f"{name}/Initializer/zeros", "Const")
        init.attr["dtype"].type = dtype
        init.attr["value"].tensor.dtype = dtype  # no values: all zeros
        _set_shape(init.attr["value"].tensor.tensor_shape, shape)
        assign = _node(graph, f"{name}/Assign", "Assign", [name, init.name])
        assign.attr["T"].type = dtype
        assign.attr["use_locking"].b = True
        assign.attr["validate_shape"].b = True
        read = _node(graph, f"{name}/read", "Identity", [name])
        read.attr["T"].type = dtype
        variable_defs.append(
            VariableDef(
                variable_name=f"{name}:0",
                initializer_name=assign.name,
                snapshot_name=f"{read.name}:0",
                initial_value_name=f"{init.name}:0",
                trainable=True,
            ).SerializeToString()
        )

    names = [name for name, _, _ in specs]
    dtypes = [dtype for _, dtype, _ in specs]
    _string_const(graph, "save/filename/input", "model")
    for placeholder, source in (("save/filename", "save/filename/input"), ("save/Const", "save/filename")):
        node = _node(graph, placeholder, "PlaceholderWithDefault", [source])
        node.attr["dtype"].type = STRING
        node.attr["shape"].shape.SetInParent()
    _string_const(graph, "save/SaveV2/tensor_names", names)
    _string_const(graph, "save/SaveV2/shape_and_slices", [""] * len(names))
    save = _node(graph, "save/SaveV2", "SaveV2", ["save/Const", "save/SaveV2/tensor_names", "save/SaveV2/shape_and_slices", *names])
    save.attr["dtypes"].list.type.extend(dtypes)
    done = _node(graph, "save/control_dependency", "Identity", ["save/Const", "^save/SaveV2"])
    done.attr["T"].type = STRING
    _string_const(graph, "save/RestoreV2/tensor_names", names, _CPU)
    _string_const(graph, "save/RestoreV2/shape_and_slices", [""] * len(names), _CPU)
    restore_inputs = ["save/Const", "save/RestoreV2/tensor_names", "save/RestoreV2/shape_and_slices"]
    restore = _node(graph, "save/RestoreV2", "RestoreV2", restore_inputs, _CPU)
    restore.attr["dtypes"].list.type.extend(dtypes)
    assigns = []
    for i, (name, dtype, _) in enumerate(specs):
        assign = _node(graph, "save/Assign" + (f"_{i}" if i else ""), "Assign", [name, "save/RestoreV2" + (f":{i}" if i else "")])
        assign.attr["T"].type = dtype
        assign.attr["use_locking"].b = True
        assign.attr["validate_shape"].b = True
        assigns.append(assign.name)
    _node(graph, "save/restore_all", "NoOp", [f"^{a}" for a in assigns])

    meta.saver_def.CopyFrom(
        SaverDef(
            filename_tensor_name="save/Const:0",
            save_tensor_name="save/control_dependency:0",
            restore_op_name="save/restore_all",
            max_to_keep=max_to_keep,
            keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
            version=_SAVER_V2,
        )
    )
    for key in ("trainable_variables", "variables"):
        meta.collection_def[key].bytes_list.value.extend(variable_defs)
    return meta


def export_meta_graph(specs: Sequence[Spec], path: PathLike, **saver_options: Any) -> str:
    """Writes ``build_meta_graph(specs)`` to ``path`` (binary, replaced atomically)."""
    path = os.fspath(path)
    write_graph(build_meta_graph(specs, **saver_options), os.path.dirname(path), os.path.basename(path), as_text=False)
    return path


def _saver_specs(meta: Any, graph: Graph, scope: str) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """``(checkpoint name, zero array)`` of each variable the meta graph's Saver restores: the
    names its ``RestoreV2`` reads, shapes and dtypes from the variables they are assigned to."""
    restore_op = meta.saver_def.restore_op_name
    prefix = (scope + "/" if scope else "") + restore_op.rpartition("/")[0]
    names_node = graph.get_operation_by_name(f"{prefix}/RestoreV2/tensor_names")
    names = [n.decode() for n in names_node.node_def.attr["value"].tensor.string_val]
    dtypes = list(graph.get_operation_by_name(f"{prefix}/RestoreV2").get_attr("dtypes"))
    targets: dict[int, Any] = {}
    for op in graph.get_operation_by_name(f"{scope + '/' if scope else ''}{restore_op}").control_inputs:
        inputs = op.inputs
        if len(inputs) == 2 and inputs[1].op.name == f"{prefix}/RestoreV2":
            targets[inputs[1].value_index] = inputs[0].op
    specs = []
    for i, (name, dtype) in enumerate(zip(names, dtypes)):
        enum = int(getattr(dtype, "as_datatype_enum", dtype))
        variable = targets.get(i)
        shape: list[int] = []
        if variable is not None:
            dims = variable.node_def.attr["shape"].shape.dim
            shape = [max(int(d.size), 0) for d in dims]
        if enum in (STRING, VARIANT):
            specs.append((name, np.full(shape, b"", dtype=object)))
        else:
            specs.append((name, np.zeros(shape, NUMPY_DTYPES[enum])))
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
        dict(_saver_specs(meta, graph, import_scope or "")),
        max_to_keep=meta.saver_def.max_to_keep,
        keep_checkpoint_every_n_hours=meta.saver_def.keep_checkpoint_every_n_hours,
    )
    return graph, saver
