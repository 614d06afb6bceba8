"""TF2 object-based checkpoints: ``object_graph`` to look at a checkpoint's object tree, and
``Checkpoint`` to save and restore nested mappings of arrays as ``tf.train.Checkpoint`` does.

A nested mapping stands for TensorFlow's objects: every key is an edge (a child object), every
array (or anything array-like) a variable. Two special keys carry what is not a plain child:
``".ATTRIBUTES"`` maps other saved tensors of an object by attribute name (and holds the
``VARIABLE_VALUE`` of a variable that also has children), and ``".OPTIMIZER_SLOT"``, on an
optimizer, maps ``{variable path: {slot name: array}}`` for slot variables such as Adam's ``m``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, overload

import numpy as np

from . import _fastckpt
from .errors import DecodeError
from ._async import BackgroundSaves, snapshot
from .reader import CheckpointReader, PathLike, load_checkpoint
from .state import update_checkpoint_state
from .writer import save as _save_bundle

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VARIABLE_VALUE = "VARIABLE_VALUE"
ATTRIBUTES = ".ATTRIBUTES"
OPTIMIZER_SLOT = ".OPTIMIZER_SLOT"
SAVE_COUNTER = "save_counter"

#: What ``Checkpoint.read`` returns: children by name; arrays for variables.
Tree = dict[str, Any]


class Attribute(NamedTuple):
    """One saved tensor of an object."""

    name: str
    full_name: str
    checkpoint_key: str


class SlotVariable(NamedTuple):
    """A slot (optimizer state) of one variable, declared on the optimizer's node."""

    original_variable_node_id: int
    slot_name: str
    slot_variable_node_id: int


@dataclass(frozen=True)
class TrackableNode:
    """One object of a checkpoint's object graph."""

    node_id: int
    #: ``{local name: node id}`` in declaration order.
    children: dict[str, int]
    attributes: tuple[Attribute, ...]
    slot_variables: tuple[SlotVariable, ...]
    #: ``(name, object_name)`` of a registered saver, if one saves this object.
    registered_saver: tuple[str, str] | None
    #: As stored (``None`` when absent).
    has_checkpoint_values: bool | None
    #: Whether this object or anything below it holds saved tensors.
    holds_values: bool
    #: Escaped edge names from the root along the first route TensorFlow's walk finds (the
    #: prefix of its keys); ``""`` for the root, ``None`` if unreachable.
    path: str | None
    #: Like ``path``, but through the model rather than an optimizer where the graph has both.
    friendly_path: str | None


class ObjectGraph:
    """The ``TrackableObjectGraph`` of a TF2 checkpoint, with friendly paths: a variable's
    friendly path is its object path (``model/dense/kernel`` for
    ``model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE``); other attributes add
    ``/.ATTRIBUTES/<name>``."""

    def __init__(self, serialized: bytes, *, source: str = "<bytes>") -> None:
        self.serialized = serialized
        self.source = source
        self.nodes: list[TrackableNode] = [
            TrackableNode(
                node_id,
                dict(children),
                tuple(Attribute(*a) for a in attributes),
                tuple(SlotVariable(*s) for s in slots),
                saver,
                has_values,
                holds,
                path,
                friendly,
            )
            for node_id, (children, attributes, slots, saver, has_values, holds, path, friendly) in enumerate(
                _fastckpt.parse_object_graph(serialized)
            )
        ]
        self._key_by_path: dict[str, str] = {}
        self._friendly_by_key: dict[str, str] = {}
        for node in self.nodes:
            for attribute in node.attributes:
                for path in (node.path, node.friendly_path):
                    if path is not None:
                        self._key_by_path.setdefault(_attribute_path(path, attribute.name), attribute.checkpoint_key)
                if node.friendly_path is not None:
                    friendly = _attribute_path(node.friendly_path, attribute.name)
                    self._friendly_by_key[attribute.checkpoint_key] = friendly

    @property
    def root(self) -> TrackableNode:
        return self.nodes[0]

    def checkpoint_key(self, path: str) -> str:
        """The key of the tensor at a friendly path or object path (``model/dense/kernel``)."""
        try:
            return self._key_by_path[path]
        except KeyError:
            raise KeyError(f"no saved tensor at path {path!r} in the object graph of {self.source}") from None

    def friendly_path(self, checkpoint_key: str) -> str:
        """The friendly path of the tensor stored under ``checkpoint_key``."""
        try:
            return self._friendly_by_key[checkpoint_key]
        except KeyError:
            raise KeyError(f"no tensor {checkpoint_key!r} in the object graph of {self.source}") from None

    def variables(self) -> dict[str, str]:
        """``{friendly path: checkpoint key}`` of every saved tensor."""
        return {friendly: key for key, friendly in self._friendly_by_key.items()}

    def __repr__(self) -> str:
        return f"ObjectGraph({self.source}, {len(self.nodes)} nodes)"


def _attribute_path(path: str, attribute: str) -> str:
    if attribute == VARIABLE_VALUE:
        return path
    suffix = f"{ATTRIBUTES}/{attribute.replace('.', '..').replace('/', '.S')}"
    return f"{path}/{suffix}" if path else suffix


def _open(reader_or_prefix: CheckpointReader | PathLike) -> CheckpointReader:
    if isinstance(reader_or_prefix, CheckpointReader):
        return reader_or_prefix
    return load_checkpoint(reader_or_prefix)


def _read_graph(reader: CheckpointReader) -> ObjectGraph:
    if OBJECT_GRAPH_KEY not in reader:
        raise ValueError(
            f"checkpoint {reader.prefix} has no {OBJECT_GRAPH_KEY} tensor: it is not a TF2 object-based "
            "checkpoint (read it by name with load_checkpoint)"
        )
    serialized = reader.get_tensor(OBJECT_GRAPH_KEY)
    if serialized.shape != () or not isinstance(serialized.item(), bytes):
        raise ValueError(f"{OBJECT_GRAPH_KEY} of checkpoint {reader.prefix} is not a scalar string")
    try:
        return ObjectGraph(serialized.item(), source=reader.prefix)
    except DecodeError as error:
        raise DecodeError(f"{OBJECT_GRAPH_KEY} of checkpoint {reader.prefix}: {error}") from None


def object_graph(reader_or_prefix: CheckpointReader | PathLike) -> ObjectGraph:
    """The object graph of a TF2 checkpoint (a reader, a prefix, or a folder with a ``checkpoint``
    file)."""
    return _read_graph(_open(reader_or_prefix))


# --- nested mappings ↔ objects -----------------------------------------------------------------


def _is_variable(node: TrackableNode, graph: ObjectGraph) -> bool:
    """A node read back as a bare array: one ``VARIABLE_VALUE`` and nothing else that holds values."""
    return (
        len(node.attributes) == 1
        and node.attributes[0].name == VARIABLE_VALUE
        and not node.slot_variables
        and not any(graph.nodes[c].holds_values for c in node.children.values())
    )


def _tree_of(graph: ObjectGraph, values: Mapping[str, Any]) -> Tree:
    """The nested mapping of the objects that hold values; shared objects stay shared."""
    built: dict[int, Any] = {}

    def build(node_id: int) -> Any:
        if node_id in built:
            return built[node_id]
        node = graph.nodes[node_id]
        if _is_variable(node, graph):
            built[node_id] = values[node.attributes[0].checkpoint_key]
            return built[node_id]
        tree: Tree = {}
        built[node_id] = tree
        for name, child in node.children.items():
            if graph.nodes[child].holds_values:
                tree[name] = build(child)
        if node.attributes:
            tree[ATTRIBUTES] = {a.name: values[a.checkpoint_key] for a in node.attributes}
        for slot in node.slot_variables:
            variable_path = graph.nodes[slot.original_variable_node_id].path or ""
            slots = tree.setdefault(OPTIMIZER_SLOT, {}).setdefault(variable_path, {})
            slots[slot.slot_name] = build(slot.slot_variable_node_id)
        return tree

    root: Tree = build(0)
    return root


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


class _Objects:
    """The objects of a nested mapping as the engine's object specs, and the tensors they save."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.specs: list[tuple[list[tuple[str, int]], list[str], list[tuple[str, str, int]]]] = []
        self.values: list[list[Any]] = []
        self._index: dict[int, int] = {}
        self._visit(root)

    def _visit(self, value: Any) -> int:
        shared = _is_mapping(value) or isinstance(value, np.ndarray)
        if shared and id(value) in self._index:
            return self._index[id(value)]
        index = len(self.specs)
        children: list[tuple[str, int]] = []
        attributes: list[str] = []
        slots: list[tuple[str, str, int]] = []
        self.specs.append((children, attributes, slots))
        self.values.append([])
        if shared:
            self._index[id(value)] = index
        if not _is_mapping(value):
            attributes.append(VARIABLE_VALUE)
            self.values[index].append(value)
            return index
        for name, child in value.items():
            if name == ATTRIBUTES:
                for attribute, tensor in child.items():
                    attributes.append(str(attribute))
                    self.values[index].append(tensor)
            elif name == OPTIMIZER_SLOT:
                for variable_path, by_slot in child.items():
                    for slot_name, tensor in by_slot.items():
                        slots.append((str(variable_path), str(slot_name), self._visit(tensor)))
            else:
                if not isinstance(name, str):
                    raise TypeError(f"object names must be strings, got {name!r}")
                children.append((name, self._visit(child)))
        return index

    def tensors(self) -> dict[str, Any]:
        """``{checkpoint key: value}`` plus the serialized object graph."""
        serialized, keys = _fastckpt.build_object_graph(self.specs)
        tensors: dict[str, Any] = {}
        for spec_keys, spec_values in zip(keys, self.values):
            tensors.update(zip(spec_keys, spec_values))
        tensors[OBJECT_GRAPH_KEY] = np.array(serialized, dtype=object)
        return tensors


def _exact_tensors(graph: ObjectGraph, root: Mapping[str, Any]) -> dict[str, Any] | None:
    """The values for every tensor of ``graph`` found along its edges in ``root``, keyed as the
    graph keys them, when ``root`` still has the graph's shape (the same names, nothing added);
    ``None`` otherwise."""
    found: dict[int, Any] = {0: root}
    queue = [0]
    for node_id in queue:
        node, value = graph.nodes[node_id], found[node_id]
        if not graph.nodes[node_id].holds_values:
            continue
        if not _is_mapping(value):
            if node.children or node.slot_variables:
                return None
            continue
        for name, child in node.children.items():
            if not graph.nodes[child].holds_values:
                continue
            if name not in value:
                return None
            if child in found:
                if found[child] is not value[name]:
                    raise ValueError(
                        f"object {graph.nodes[child].path!r} of {graph.source} is reached through "
                        f"'{name}' of {node.path or 'the root'!r} and elsewhere, and the two now hold "
                        "different objects; change the value in place or assign the same object to both"
                    )
                continue
            found[child] = value[name]
            queue.append(child)
        for slot in node.slot_variables:
            variable_path = graph.nodes[slot.original_variable_node_id].path or ""
            try:
                found[slot.slot_variable_node_id] = value[OPTIMIZER_SLOT][variable_path][slot.slot_name]
            except (KeyError, TypeError):
                return None
            queue.append(slot.slot_variable_node_id)
    tensors: dict[str, Any] = {}
    for node_id, value in found.items():
        for attribute in graph.nodes[node_id].attributes:
            if _is_mapping(value):
                attributes = value.get(ATTRIBUTES, {})
                if attribute.name not in attributes:
                    return None
                tensors[attribute.checkpoint_key] = attributes[attribute.name]
            elif attribute.name == VARIABLE_VALUE and len(graph.nodes[node_id].attributes) == 1:
                tensors[attribute.checkpoint_key] = value
            else:
                return None
    if len(tensors) != sum(map(len, _Objects(root).values)):  # something was added
        return None
    tensors[OBJECT_GRAPH_KEY] = np.array(graph.serialized, dtype=object)
    return tensors


def _restore_into(target: MutableMapping[str, Any], source: Mapping[str, Any], path: str) -> None:
    """Merges ``source`` into ``target``: arrays the caller owns (writable numpy arrays of the
    same shape and dtype) are filled in place, everything else is set."""
    for name, value in source.items():
        here = f"{path}/{name}" if path else name
        current = target.get(name)
        if _is_mapping(value) and isinstance(current, MutableMapping):
            _restore_into(current, value, here)
        elif isinstance(current, np.ndarray) and isinstance(value, np.ndarray) and current is not value:
            if current.shape != value.shape:
                raise ValueError(
                    f"Received incompatible tensor with shape {value.shape} when attempting to restore "
                    f"variable with shape {current.shape} and name {here}."
                )
            if current.flags.writeable and current.dtype == value.dtype:
                np.copyto(current, value)
            else:
                target[name] = value
        else:
            target[name] = value


class Checkpoint:
    """``tf.train.Checkpoint`` over nested mappings of arrays.

    ``Checkpoint(model={"dense": {"kernel": k, "bias": b}}, step=np.int64(0))`` saves
    ``model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`` and so on, with an object graph TensorFlow
    restores into matching ``tf.Module`` objects. A checkpoint that was read and is written again
    with the same names keeps its object graph byte for byte (optimizer slots, Keras internals).
    """

    def __init__(self, **objects: Any) -> None:
        self.objects: Tree = dict(sorted(objects.items()))
        self._save_counter: int | None = None
        self._source: ObjectGraph | None = None
        self._saves = BackgroundSaves()

    @property
    def save_counter(self) -> int:
        """How many times ``save`` was called (or the count restored from a checkpoint)."""
        return self._save_counter or 0

    def __getitem__(self, name: str) -> Any:
        return self.objects[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.objects[name] = value

    def __iter__(self) -> Iterator[str]:
        return iter(self.objects)

    def _root(self) -> Tree:
        root = dict(self.objects)
        if self._save_counter is not None:
            root[SAVE_COUNTER] = np.array(self._save_counter, dtype=np.int64)
        return root

    def _tensors(self) -> dict[str, Any]:
        root = self._root()
        if self._source is not None:
            exact = _exact_tensors(self._source, root)
            if exact is not None:
                return exact
        return _Objects(root).tensors()

    @overload
    def write(self, file_prefix: PathLike, *, blocking: Literal[True] = ...) -> str: ...
    @overload
    def write(self, file_prefix: PathLike, *, blocking: Literal[False]) -> Future[str]: ...
    def write(self, file_prefix: PathLike, *, blocking: bool = True) -> str | Future[str]:
        """Writes ``file_prefix.index`` / ``.data-*`` (no numbering, no state file); returns the
        prefix. ``blocking=False`` returns at once with a future; the values saved are those of
        the call."""
        return self._write(os.fspath(file_prefix), blocking, update_state=False)

    @overload
    def save(self, file_prefix: PathLike, *, blocking: Literal[True] = ...) -> str: ...
    @overload
    def save(self, file_prefix: PathLike, *, blocking: Literal[False]) -> Future[str]: ...
    def save(self, file_prefix: PathLike, *, blocking: bool = True) -> str | Future[str]:
        """Increments ``save_counter``, writes ``{file_prefix}-{save_counter}`` and records it in
        the folder's ``checkpoint`` file (relative path); returns the prefix written."""
        self._save_counter = self.save_counter + 1
        return self._write(f"{os.fspath(file_prefix)}-{self._save_counter}", blocking, update_state=True)

    def _write(self, prefix: str, blocking: bool, *, update_state: bool) -> str | Future[str]:
        def prepare() -> Any:
            tensors = self._tensors()
            names = list(tensors)
            copies = snapshot(tensors.values()) if not blocking else list(tensors.values())
            data = dict(zip(names, copies))

            def work() -> str:
                _save_bundle(data, prefix)
                if update_state:
                    _record_save(prefix)
                return prefix

            return work

        if blocking:
            self._saves.wait()
            result: str = prepare()()
            return result
        return self._saves.submit(prepare)

    def sync(self) -> None:
        """Waits for a pending ``blocking=False`` save."""
        self._saves.wait()

    def read(self, save_path: PathLike) -> Tree:
        """Restores from a checkpoint written by ``write`` or ``save`` (by TensorFlow or fastckpt):
        objects are matched by name along the object graph; writable arrays of the right shape
        and dtype are filled in place, other values are replaced or added. Returns the objects."""
        reader = load_checkpoint(save_path)
        graph = _read_graph(reader)
        keys = [a.checkpoint_key for node in graph.nodes for a in node.attributes]
        missing = [k for k in keys if k not in reader]
        if missing:
            raise ValueError(f"checkpoint {reader.prefix}: the object graph names tensors it lacks: {missing}")
        tree = _tree_of(graph, reader.read_all(keys, copy=True))
        counter = tree.pop(SAVE_COUNTER, None)
        if isinstance(counter, np.ndarray) and counter.shape == () and counter.dtype.kind in "iu":
            self._save_counter = int(counter)
        _restore_into(self.objects, tree, "")
        self._source = graph
        return self.objects

    def restore(self, save_path: PathLike) -> Tree:
        """As ``read``, also for checkpoints written by ``save`` (TensorFlow's restore additionally
        tracks ``save_counter``; here both restore it when present)."""
        return self.read(save_path)


def _record_save(prefix: str) -> None:
    """The state-file update of ``tf.train.Checkpoint.save``: only this checkpoint, relative."""
    update_checkpoint_state(os.path.dirname(prefix), prefix, [prefix], save_relative_paths=True)


__all__ = [
    "Attribute",
    "Checkpoint",
    "ObjectGraph",
    "SlotVariable",
    "TrackableNode",
    "Tree",
    "object_graph",
]
