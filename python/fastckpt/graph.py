"""In-memory graphs: ``Graph``, ``Operation``, ``Tensor``, ``DType`` and ``import_graph_def``
(as ``tf.compat.v1.import_graph_def``), without TensorFlow.

A ``Graph`` holds operations in creation order, the function library and the versions;
``Operation`` and ``Tensor`` objects are handles into it (equal when they name the same thing).
``get_operation_by_name`` / ``get_tensor_by_name`` raise TensorFlow's ``KeyError`` /
``ValueError`` / ``TypeError`` texts. ``Operation.get_attr`` returns what TensorFlow's does:
``bytes``, ``int``, ``float``, ``bool``, a ``DType`` for ``type`` attrs (TensorFlow's names:
``float32``, ``resource``, ``float32_ref``; equal to a ``tf.DType`` of the same type), a
``TensorShapeProto`` / ``TensorProto`` / ``NameAttrList`` message, or a list of these.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any, overload

from . import _fastckpt
from ._fastckpt import DType, Graph, Operation, Tensor

__all__ = ["DType", "Graph", "Operation", "Tensor", "import_graph_def"]


@overload
def import_graph_def(
    graph_def: Any,
    input_map: Mapping[str, Tensor | str] | None = ...,
    return_elements: None = ...,
    name: str | None = ...,
    op_dict: Any = ...,
    producer_op_list: Any = ...,
    graph: Graph | None = ...,
) -> Graph: ...


@overload
def import_graph_def(
    graph_def: Any,
    input_map: Mapping[str, Tensor | str] | None = ...,
    *,
    return_elements: Iterable[str],
    name: str | None = ...,
    op_dict: Any = ...,
    producer_op_list: Any = ...,
    graph: Graph | None = ...,
) -> list[Operation | Tensor]: ...


@overload
def import_graph_def(
    graph_def: Any,
    input_map: Mapping[str, Tensor | str] | None,
    return_elements: Iterable[str],
    name: str | None = ...,
    op_dict: Any = ...,
    producer_op_list: Any = ...,
    graph: Graph | None = ...,
) -> list[Operation | Tensor]: ...


def import_graph_def(
    graph_def: Any,
    input_map: Mapping[str, Tensor | str] | None = None,
    return_elements: Iterable[str] | None = None,
    name: str | None = None,
    op_dict: Any = None,
    producer_op_list: Any = None,
    graph: Graph | None = None,
) -> Graph | list[Operation | Tensor]:
    """Imports ``graph_def`` (our ``GraphDef`` or TensorFlow's) as
    ``tf.compat.v1.import_graph_def`` does: the same operation names (under the name scope
    ``name``, ``"import"`` by default, made unique: ``import_1``, …), input remapping, checks,
    error texts and creation order.

    Differences from TensorFlow: the operations go into ``graph`` (a new ``Graph`` if ``None``)
    rather than a default graph; ``input_map`` values are ``Tensor``s of that graph *or tensor
    names in it* (``"x:0"``; TensorFlow would turn a string into a constant); without
    ``return_elements`` the graph is returned instead of ``None``. ``op_dict`` is ignored, as in
    TensorFlow. Shape inference is not run.

    Errors: ``GraphImportError`` (a ``ValueError``) with TensorFlow's text for invalid graphs and
    arguments; ``NotFoundError`` (a ``LookupError``) for an op type that is not registered;
    ``UnimplementedError`` for an op removed before the graph's producer version. On error the
    graph is left as TensorFlow leaves it (no new operations, except for unused input_map keys).
    """
    del op_dict  # unused, as in TensorFlow
    if graph is None:
        graph = Graph()
    if return_elements is not None:
        if isinstance(return_elements, (str, bytes)):
            raise TypeError("return_elements must be a list of strings.")
        return_elements = list(return_elements)
        if not all(isinstance(e, str) for e in return_elements):
            raise TypeError("return_elements must be a list of strings.")
    mapping = None if input_map is None else dict(input_map)
    if mapping is not None and not all(isinstance(k, str) for k in mapping):
        raise TypeError("input_map must be a dictionary mapping strings to Tensor objects.")
    elements = _fastckpt.import_graph_def(
        graph, graph_def, mapping, return_elements, name, producer_op_list, socket.gethostname()
    )
    if elements is None:
        return graph
    return elements

