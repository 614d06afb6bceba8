"""``freeze_graph``: a TF1 graph and its checkpoint become one self-contained ``GraphDef``, as
``tf.compat.v1.graph_util.convert_variables_to_constants`` builds it — without a Session."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Union

from . import _fastckpt
from ._fastckpt import GraphDef
from .reader import _resolve_prefix

PathLike = Union[str, "os.PathLike[str]"]


def freeze_graph(graph_def: Any, checkpoint: PathLike, output_nodes: Iterable[str] | str) -> GraphDef:
    """The ``GraphDef`` pruned to what ``output_nodes`` need (data inputs, control inputs and
    colocation, as ``extract_sub_graph``), with every variable left in it replaced by a ``Const``
    holding its value in ``checkpoint``.

    ``graph_def`` is our ``GraphDef``, TensorFlow's, or anything with ``as_graph_def()`` (a
    ``tf.Graph``). ``checkpoint`` is a checkpoint prefix (V2 or V1) or a folder (its latest checkpoint);
    variables are looked up by node name (TF1 name-based checkpoints, e.g. ``dense/kernel``).

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
