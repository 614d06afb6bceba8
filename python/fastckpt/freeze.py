"""``freeze_graph``: a TF1 graph and its checkpoint become one self-contained ``GraphDef``, as
``tf.compat.v1.graph_util.convert_variables_to_constants`` builds it — without a Session."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any, Union

from . import _fastckpt
from ._fastckpt import GraphDef
from .checkpoint import _read_graph
from .errors import (
    CheckpointError,
    CheckpointNotFoundError,
    GraphImportError,
    InvalidArgumentError,
    InvalidFileError,
    MetaGraphNotFoundError,
    SignatureNotFoundError,
    led_by,
)
from .reader import _resolve_prefix
from .saved_model import load_saved_model

PathLike = Union[str, "os.PathLike[str]"]

#: Characters TensorFlow refuses in a node name (its ``IsValidNodeName``); the first character
#: must also not be ``_``, ``-`` or ``/``.
_NOT_IN_NODE_NAMES = re.compile(r"[^A-Za-z0-9_./-]")


def _const_name(checkpoint_key: str) -> str:
    """The name of the ``Const`` holding a variable's value: its checkpoint key where TensorFlow
    accepts that as a node name; otherwise refused characters become ``_``, and a key that
    starts with one TF refuses there (Keras 3's ``_operations/…``) gets a ``.`` in front."""
    name = _NOT_IN_NODE_NAMES.sub("_", checkpoint_key)
    return name if re.match(r"[A-Za-z0-9.]", name) else "." + name


def freeze_graph(graph_def: Any, checkpoint: PathLike, output_nodes: Iterable[str] | str) -> GraphDef:
    """The ``GraphDef`` pruned to what ``output_nodes`` need (data inputs, control inputs and
    colocation, as ``extract_sub_graph``), with every variable left in it replaced by a ``Const``
    holding its value in ``checkpoint``.

    ``graph_def`` is our ``GraphDef``, TensorFlow's, or anything with ``as_graph_def()`` (a
    ``tf.Graph``). ``checkpoint`` is a checkpoint prefix (V2 or V1) or a folder (its latest checkpoint);
    variables are looked up by node name (TF1 name-based checkpoints, e.g. ``dense/kernel``), or by
    the name and slice the graph's own Saver (its ``SaveV2`` node) saves them under: a variable
    saved under another name, each part of a partitioned variable (a slice of one tensor).

    Ref variables (``Variable``, ``VariableV2``) and resource variables (``VarHandleOp``) become
    ``Const`` nodes of the same name and device; ``Identity`` readers are retyped,
    ``ReadVariableOp`` becomes ``Identity``, ``ResourceGather``/``ResourceGatherNd`` become
    ``GatherV2``/``GatherNd``. A resource variable's handle passed to a function call
    (``PartitionedCall``, ``StatefulPartitionedCall``, ``If``, ``While``, ``Case`` and their
    stateless forms, at any depth) becomes its value: the call's input type, the function's
    argument and the ``ReadVariableOp`` reading it inside are rewritten (TF's
    ``convert_variables_to_constants_v2`` rules). Values are encoded as ``make_tensor_proto`` does
    (``tensor_content`` for more than one element) and, when the checkpoint is mapped, point into
    it without a copy. A variable missing from the checkpoint raises ``TensorNotFoundError`` (a
    ``KeyError``) naming the variable and the checkpoint; an unknown output raises ``ValueError``.
    """
    if not isinstance(graph_def, _fastckpt.Message) and not hasattr(graph_def, "SerializeToString"):
        graph_def = graph_def.as_graph_def()
    outputs = [output_nodes] if isinstance(output_nodes, str) else [str(o) for o in output_nodes]
    return _fastckpt.freeze_graph(graph_def, _resolve_prefix(checkpoint), outputs)


def freeze_saved_model(
    export_dir: PathLike, signature: str = "serving_default", tags: Iterable[str] | str | None = ("serve",)
) -> GraphDef:
    """One signature of a TF2 SavedModel as a frozen ``GraphDef``: its placeholders, its call of
    the signature's function (kept in the library), and every variable the function captures as
    a ``Const`` holding its value in ``variables/variables``. TensorFlow imports it with
    ``import_graph_def`` and runs it by the signature's tensor names (``serving_default_x:0`` in,
    ``StatefulPartitionedCall:0`` out).

    Captured handles are matched to checkpoint keys through the SavedModel's object graph (the
    function's ``bound_inputs``) and the checkpoint's own object graph, as TensorFlow's loader
    does; each becomes a ``Const`` named by its checkpoint key (``w/.ATTRIBUTES/VARIABLE_VALUE``;
    made a valid node name where TensorFlow would refuse the key: Keras 3's
    ``_operations/1/kernel/…`` becomes ``._operations/1/kernel/…``).
    """
    export_dir = os.fspath(export_dir)
    try:
        loaded = load_saved_model(export_dir, tags)
    except MetaGraphNotFoundError as error:  # TensorFlow's text names no folder
        raise led_by(export_dir, error) from None
    signatures = loaded.signatures
    if signature not in signatures:
        raise SignatureNotFoundError(f"signature {signature!r} is not in the SavedModel {export_dir} (it has {sorted(signatures)})")
    if loaded.variables is None:
        raise CheckpointNotFoundError(f"the SavedModel {export_dir} has no variables/variables checkpoint")
    variables = loaded.variables
    outputs = sorted({tensor.name.split(":")[0] for tensor in signatures[signature].outputs.values()})
    graph_def = GraphDef()
    graph_def.CopyFrom(loaded.meta_graph.graph_def)
    nodes = {node.name: node for node in graph_def.node}
    saved_objects = loaded.meta_graph.object_graph_def
    checkpoint_objects = _read_graph(variables)
    renames: dict[str, str] = {}
    for output in outputs:
        if output not in nodes:
            raise InvalidFileError(f"the SavedModel {export_dir}: signature {signature!r} outputs {output!r}, a node its graph lacks")
        call = nodes[output]
        function = call.attr["f"].func.name if "f" in call.attr else ""
        if function not in saved_objects.concrete_functions:
            continue
        bound = list(saved_objects.concrete_functions[function].bound_inputs)
        data_inputs = [name for name in call.input if not name.startswith("^")]
        for handle, node_id in zip(data_inputs[len(data_inputs) - len(bound):], bound):
            if not node_id < min(len(saved_objects.nodes), len(checkpoint_objects.nodes)):
                raise InvalidFileError(
                    f"the SavedModel {export_dir}: function {function!r} captures object {node_id}, which its object graphs lack"
                )
            if saved_objects.nodes[node_id].WhichOneof("kind") != "variable":
                continue  # a captured constant or asset: already a node of the graph
            keys = [a.checkpoint_key for a in checkpoint_objects.nodes[node_id].attributes if a.name == "VARIABLE_VALUE"]
            if not keys:
                raise CheckpointError(f"{variables.prefix}: no value for the variable of object {node_id} ({handle})")
            renames[handle.split(":")[0]] = keys[0]
    _rename_nodes(graph_def, renames)  # freeze_graph looks variables up by node name
    try:
        frozen = freeze_graph(graph_def, variables.prefix, outputs)
    except (InvalidArgumentError, GraphImportError) as error:  # about the graph: name the SavedModel
        raise led_by(export_dir, error) from None
    _rename_nodes(frozen, {key: _const_name(key) for key in renames.values() if _const_name(key) != key})
    return frozen


def _rename_nodes(graph_def: GraphDef, renames: dict[str, str]) -> None:
    """Renames nodes ``{old: new}`` and every input that names them, in place."""
    if not renames:
        return
    for node in graph_def.node:
        node.name = renames.get(node.name, node.name)
        for i, name in enumerate(node.input):
            bare = name.lstrip("^").split(":")[0]
            if bare in renames:
                node.input[i] = name.replace(bare, renames[bare], 1)
