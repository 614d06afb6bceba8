"""GraphDef edits of ``tf.compat.v1.graph_util``: ``extract_sub_graph`` and
``remove_training_nodes`` (the engine does them: ``rust/fastckpt/src/graph/subgraph.rs``), with
TensorFlow's argument checks and texts. Both take our ``GraphDef`` or TensorFlow's and return a
new ``fastckpt.GraphDef``; the input is left as it is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import _fastckpt
from ._fastckpt import GraphDef

__all__ = ["extract_sub_graph", "remove_training_nodes"]


def _check_graph_def(graph_def: Any) -> None:
    descriptor = getattr(graph_def, "DESCRIPTOR", None)
    if getattr(descriptor, "full_name", None) != GraphDef.DESCRIPTOR.full_name:
        raise TypeError(f"graph_def must be a graph_pb2.GraphDef proto, but got type {type(graph_def)}.")


def extract_sub_graph(graph_def: Any, dest_nodes: Iterable[str]) -> GraphDef:
    """The nodes ``dest_nodes`` (node names) reach through their inputs, control inputs and
    colocations (``loc:@x``), in GraphDef order, with the library and versions — as
    ``tf.compat.v1.graph_util.extract_sub_graph``. A ``str`` for ``dest_nodes`` is a
    ``TypeError`` (TensorFlow's text); a name that is no node raises ``ValueError("x is not in
    graph")`` where TensorFlow's ``assert`` raises ``AssertionError`` with that text."""
    _check_graph_def(graph_def)
    if isinstance(dest_nodes, str):
        raise TypeError(f"dest_nodes must be an iterable of strings, but got type {type(dest_nodes)}.")
    names = list(dest_nodes)
    for name in names:
        # Only whole node names are destinations in TensorFlow ("x:0" is not in graph).
        if ":" in name or name.startswith("^"):
            raise ValueError(f"{name} is not in graph")
    result: GraphDef = _fastckpt.extract_sub_graph(graph_def, names)
    return result


def remove_training_nodes(input_graph: Any, protected_nodes: Iterable[str] | None = None) -> GraphDef:
    """``tf.compat.v1.graph_util.remove_training_nodes``: ``CheckNumerics`` nodes removed (and
    inputs naming them), ``Identity`` and ``StopGradient`` nodes spliced out — their consumers
    read their first input instead — except ``protected_nodes``, nodes another node is colocated
    with, and nodes that have or are control inputs. The result holds the nodes only (no library,
    no versions), as TensorFlow's."""
    _check_graph_def(input_graph)
    result: GraphDef = _fastckpt.remove_training_nodes(input_graph, list(protected_nodes or []))
    return result
