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
from collections.abc import Iterable
from typing import Any, overload

from . import _fastckpt
from ._fastckpt import DType, Graph, GraphDef, Operation, Tensor

__all__ = ["DType", "Graph", "Operation", "Tensor", "import_graph_def"]


@overload
def import_graph_def(
    graph_def: Any,
    input_map: dict[str | bytes, Tensor | str] | None = ...,
    return_elements: None = ...,
    name: str | None = ...,
    op_dict: Any = ...,
    producer_op_list: Any = ...,
    graph: Graph | None = ...,
) -> Graph: ...


@overload
def import_graph_def(
    graph_def: Any,
    input_map: dict[str | bytes, Tensor | str] | None = ...,
    *,
    return_elements: Iterable[str | bytes],
    name: str | None = ...,
    op_dict: Any = ...,
    producer_op_list: Any = ...,
    graph: Graph | None = ...,
) -> list[Operation | Tensor]: ...


@overload
def import_graph_def(
    graph_def: Any,
    input_map: dict[str | bytes, Tensor | str] | None,
    return_elements: Iterable[str | bytes],
    name: str | None = ...,
    op_dict: Any = ...,
    producer_op_list: Any = ...,
    graph: Graph | None = ...,
) -> list[Operation | Tensor]: ...


def import_graph_def(
    graph_def: Any,
    input_map: dict[str | bytes, Tensor | str] | None = None,
    return_elements: Iterable[str | bytes] | None = None,
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
    names in it* (``"x:0"``; TensorFlow would turn a string into a constant; other values,
    which TensorFlow turns into constants, are refused: with ``name=""`` by TensorFlow's
    ``ValueError``, else by a ``TypeError``); without
    ``return_elements`` the graph is returned instead of ``None``. ``op_dict`` is ignored, as in
    TensorFlow. Shape inference is not run.

    Arguments are checked as TensorFlow checks them, with its ``TypeError`` texts: ``graph_def``
    must be a GraphDef, ``input_map`` a ``dict`` whose keys are names, ``return_elements`` an
    iterable of names; names may be ``str`` or UTF-8 ``bytes``.

    Errors: ``GraphImportError`` (a ``ValueError``) with TensorFlow's text for invalid graphs and
    arguments; ``NotFoundError`` (a ``LookupError``) for an op type that is not registered;
    ``UnimplementedError`` for an op removed before the graph's producer version. On error the
    graph is left as TensorFlow leaves it (no new operations, except for unused input_map keys).
    """
    del op_dict  # unused, as in TensorFlow
    _check_graph_def(graph_def)
    mapping = _input_map_arg(input_map)
    if name == "" and mapping and not all(isinstance(v, (Tensor, str)) for v in mapping.values()):
        # TensorFlow turns such values into constants under the name scope: none without one.
        raise ValueError(
            "tf.import_graph_def() requires a non-empty `name` if `input_map` contains non-Tensor values. "
            "Try calling tf.convert_to_tensor() on `input_map` values before calling tf.import_graph_def()."
        )
    elements_arg = _return_elements_arg(return_elements)
    if graph is None:
        graph = Graph()
    elements = _fastckpt.import_graph_def(
        graph, graph_def, mapping, elements_arg, name, producer_op_list, socket.gethostname()
    )
    if elements is None:
        return graph
    return elements


# The argument checks of TensorFlow's importer.py, with its exception types and texts: names may
# be str or bytes (bytes are UTF-8), input_map must be a dict, return_elements any iterable of
# names (a str is one, of one-character names, as in TensorFlow).


def _check_graph_def(graph_def: Any) -> None:
    if isinstance(graph_def, GraphDef):
        return
    descriptor = getattr(graph_def, "DESCRIPTOR", None)
    if getattr(descriptor, "full_name", None) != GraphDef.DESCRIPTOR.full_name:
        raise TypeError("Argument `graph_def` must be a GraphDef proto.")


def _as_str(name: str | bytes) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else name


def _input_map_arg(input_map: Any) -> dict[str, Tensor | str] | None:
    if input_map is None:
        return None
    if not isinstance(input_map, dict):
        raise TypeError(f"Argument `input_map` must be a dictionary. Obtained {type(input_map).__name__}")
    if not all(isinstance(k, (str, bytes)) for k in input_map):
        raise TypeError(f"All keys for argument `input_map` must be strings. Obtained keys: {list(input_map.keys())}")
    return {_as_str(k): v for k, v in input_map.items()}


def _return_elements_arg(return_elements: Any) -> list[str] | None:
    if return_elements is None:
        return None
    listed = list(return_elements)
    if not all(isinstance(e, (str, bytes)) for e in listed):
        raise TypeError(f"Argument `return_elements` must be a list of strings. Obtained {return_elements}.")
    return [_as_str(e) for e in listed]
