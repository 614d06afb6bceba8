"""TF2 object-based checkpoints: ``object_graph`` to look at a checkpoint's object tree, and
``Checkpoint`` to save and restore nested mappings of arrays as ``tf.train.Checkpoint`` does.

A nested mapping stands for TensorFlow's objects: every key is an edge (a child object), every
array (or any other array-like value) a variable; a list or tuple is a container whose items are
the children ``0``, ``1``, … (as TensorFlow tracks a list of variables). Two special keys carry
what is not a plain child:
``".ATTRIBUTES"`` maps other saved tensors of an object by attribute name (and holds the
``VARIABLE_VALUE`` of a variable that also has children; an attribute TensorFlow stores as several
tensors, such as a lookup table's ``table-keys`` and ``table-values``, is ``{suffix: array}``), and
``".OPTIMIZER_SLOT"``, on an optimizer, maps ``{variable path: {slot name: array}}`` for slot
variables such as Adam's ``m``. An object TensorFlow saved under one of these two names (it
escapes them as ``..ATTRIBUTES``) has no place in a tree: reading it raises ``UnimplementedError``.
"""

from __future__ import annotations

import os
import logging
import time
from collections.abc import Callable, Generator, Iterator, Mapping, MutableMapping, Set as AbstractSet
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, overload

import numpy as np

from . import _fastckpt, _storage
from ._dtypes import VARIANT, dtype_mismatch, enum_of
from .errors import CheckpointNotFoundError, DecodeError, InvalidArgumentError, InvalidFileError, UnimplementedError
from ._async import BackgroundSaves, snapshot
from .reader import CheckpointReader, PathLike, _encode, load_checkpoint
from .saved_model import is_saved_model_dir, variables_prefix
from .state import get_checkpoint_state, update_checkpoint_state
from .writer import BundleWriter

#: The key of a TF2 checkpoint's object graph (a scalar string: a serialized ``TrackableObjectGraph``).
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VARIABLE_VALUE = "VARIABLE_VALUE"
ATTRIBUTES = ".ATTRIBUTES"
OPTIMIZER_SLOT = ".OPTIMIZER_SLOT"
SAVE_COUNTER = "save_counter"

_log = logging.getLogger("fastckpt")

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
        # The names fastckpt.convert(..., friendly_names=True) gives, from the same Rust rule.
        self._friendly_by_key: dict[str, str] = dict(_fastckpt.object_graph_friendly_names(serialized))
        self._key_by_path: dict[str, str] = {}
        for node in self.nodes:
            for attribute in node.attributes:
                if node.path is not None:
                    self._key_by_path.setdefault(_attribute_path(node.path, attribute.name), attribute.checkpoint_key)
        for key, friendly in self._friendly_by_key.items():
            self._key_by_path.setdefault(friendly, key)

    @property
    def root(self) -> TrackableNode:
        return self.nodes[0]

    def children(self, node_id: int) -> dict[str, int]:
        """``{local name: node id}`` of one object, as TensorFlow's ``CheckpointView.children``."""
        return dict(self.nodes[node_id].children)

    def descendants(self) -> list[int]:
        """The ids of the root and every object reached from it through children, breadth first
        (slot variables aside), as TensorFlow's ``CheckpointView.descendants``."""
        order = [ROOT]
        seen = {ROOT}
        for node_id in order:
            for child in self.nodes[node_id].children.values():
                if child not in seen:
                    seen.add(child)
                    order.append(child)
        return order

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
    if OBJECT_GRAPH_KEY not in reader:  # TensorFlow's words (CheckpointView)
        raise InvalidFileError(
            f'The specified checkpoint "{reader.prefix}" does not appear to be object-based (saved with TF2) '
            f'since it is missing the key "{OBJECT_GRAPH_KEY}". Likely it was created with the TF1 name-based '
            "saver and does not contain an object dependency graph."
        )
    serialized = reader.get_tensor(OBJECT_GRAPH_KEY)
    if not isinstance(serialized, bytes):  # a scalar string comes back as bytes, as from TF
        raise InvalidFileError(f"{OBJECT_GRAPH_KEY} of checkpoint {reader.prefix} is not a scalar string")
    try:
        return ObjectGraph(serialized, source=reader.prefix)
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


#: The root object's node id. An edge back to it (``tf.train.Checkpoint(model)`` and
#: ``Checkpoint(root=model)`` give the root a child ``root`` that is itself) stays out of the
#: nested mapping: the root is the caller's mapping, and a mapping inside itself would be a cycle.
ROOT = 0


def _tree_of(graph: ObjectGraph, values: Mapping[str, Any], *, slots: bool = True) -> Tree:
    """The nested mapping of the objects that hold values, without edges back to the root, and
    (``slots``) the optimizers' slot variables; shared objects stay shared. Built without
    recursion: an object graph may be thousands of objects deep, as TensorFlow saves it."""

    def parts(node: TrackableNode) -> Iterator[int]:
        """The objects an object's mapping holds: its children, then its slot variables."""
        yield from (c for c in node.children.values() if c != ROOT and graph.nodes[c].holds_values)
        if slots:
            yield from (slot.slot_variable_node_id for slot in node.slot_variables)

    def bare(node: TrackableNode) -> bool:
        """Read back as an array: the root never is (it is the caller's mapping), even when the
        graph says it is a variable."""
        return node.node_id != ROOT and _is_variable(node, graph)

    built: dict[int, Any] = {}
    queue = [ROOT]
    for node_id in queue:
        if node_id in built:
            continue
        node = graph.nodes[node_id]
        if bare(node):
            built[node_id] = values[node.attributes[0].checkpoint_key]
        else:
            built[node_id] = {}
            queue.extend(parts(node))
    for node_id, tree in built.items():
        node = graph.nodes[node_id]
        if bare(node):
            continue
        for name, child in node.children.items():
            if child != ROOT and graph.nodes[child].holds_values:
                if name in (ATTRIBUTES, OPTIMIZER_SLOT):  # TensorFlow escapes them; a tree cannot
                    raise UnimplementedError(
                        f"object {node.path or '(root)'!r} of {graph.source} has a child named {name!r}, "
                        "the key a Checkpoint tree keeps for its own use; read its tensors with load_checkpoint"
                    )
                tree[name] = built[child]
        if node.attributes:
            tree[ATTRIBUTES] = {a.name: values[a.checkpoint_key] for a in node.attributes}
        for slot in node.slot_variables if slots else ():
            variable_path = graph.nodes[slot.original_variable_node_id].path or ""
            by_name = tree.setdefault(OPTIMIZER_SLOT, {}).setdefault(variable_path, {})
            by_name[slot.slot_name] = built[slot.slot_variable_node_id]
    root: Tree = built[ROOT]
    return root


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def _slot_keys(graph: ObjectGraph) -> set[str]:
    """The checkpoint keys of the optimizers' slot variables that no object holds as a child
    (those ``_tree_of(..., slots=False)`` leaves out)."""
    children = {child for node in graph.nodes for child in node.children.values()}
    return {
        attribute.checkpoint_key
        for node in graph.nodes
        for slot in node.slot_variables
        if slot.slot_variable_node_id not in children
        for attribute in graph.nodes[slot.slot_variable_node_id].attributes
    }


def _children(value: Any) -> Mapping[str, Any] | None:
    """The entries of a container object by local name, or ``None`` for a variable: a mapping's
    own; a list's or tuple's by position (``"0"``, ``"1"``, …), as TensorFlow tracks a list of
    variables."""
    if _is_mapping(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, (list, tuple)):
        return {str(i): item for i, item in enumerate(value)}
    return None


class _Objects:
    """The objects of a nested mapping as the engine's object specs, and the tensors they save."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.specs: list[tuple[list[tuple[str, int]], list[str], list[tuple[str, str, int]]]] = []
        self.values: list[list[Any]] = []
        self._index: dict[int, int] = {}
        self._visit(root)

    def _visit(self, root: Any) -> None:
        """Numbers the objects depth first, each entry's object (and all below it) before the
        next entry, an object reached twice once. An explicit stack stands for the recursion,
        so that chains thousands of objects deep can be saved, as TensorFlow saves them: each
        frame is an object's ``_entries`` and the index of the last object it asked for."""
        stack: list[tuple[Generator[Any, int | None, None], int | None]] = [(self._entries(self._add(root)[0], root), None)]
        while stack:
            entries, answer = stack.pop()
            try:
                child = entries.send(answer)
            except StopIteration:
                continue
            index, new = self._add(child)
            stack.append((entries, index))
            if new:
                stack.append((self._entries(index, child), None))

    def _add(self, value: Any) -> tuple[int, bool]:
        """The index of ``value``'s object, and whether it was added now (arrays and containers
        are one object however often they are reached)."""
        shared = isinstance(value, (Mapping, list, tuple, np.ndarray))
        if shared and id(value) in self._index:
            return self._index[id(value)], False
        index = len(self.specs)
        self.specs.append(([], [], []))
        self.values.append([])
        if shared:
            self._index[id(value)] = index
        return index, True

    def _entries(self, index: int, value: Any) -> Generator[Any, int | None, None]:
        """Fills the spec of object ``index``; yields each child (or slot variable) value and
        is sent back its object's index."""
        children, attributes, slots = self.specs[index]
        entries = _children(value)
        if entries is None:
            attributes.append(VARIABLE_VALUE)
            self.values[index].append(value)
            return
        for name, child in entries.items():
            if name == ATTRIBUTES:
                for attribute, tensor in child.items():
                    attributes.append(str(attribute))
                    self.values[index].append(tensor)
            elif name == OPTIMIZER_SLOT:
                for variable_path, by_slot in child.items():
                    for slot_name, tensor in by_slot.items():
                        slot_index = yield tensor
                        assert slot_index is not None
                        slots.append((str(variable_path), str(slot_name), slot_index))
            else:
                if not isinstance(name, str):
                    raise TypeError(f"object names must be strings, got {name!r}")
                child_index = yield child
                assert child_index is not None
                children.append((name, child_index))

    def tensors(self) -> dict[str, Any]:
        """``{checkpoint key: value}`` plus the serialized object graph."""
        serialized, keys = _fastckpt.build_object_graph(self.specs)
        tensors: dict[str, Any] = {}
        for spec_keys, spec_values in zip(keys, self.values):
            for key, value in zip(spec_keys, spec_values):
                tensors.update(_attribute_tensors(key, value))
        tensors[OBJECT_GRAPH_KEY] = np.array(serialized, dtype=object)
        return tensors


def _attribute_tensors(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    """The tensors of one attribute: its value under its key or, for an attribute TensorFlow saves
    as several tensors named by suffixes of its key (a lookup table's ``-keys`` and ``-values``,
    a dataset iterator's ``_STATE``), each array of ``{suffix: array}`` under key + suffix."""
    if _is_mapping(value):
        for suffix, tensor in value.items():
            yield key + str(suffix), tensor
    else:
        yield key, value


def _stored_parts(keys: list[str], reader: CheckpointReader) -> dict[str, list[str]]:
    """``{key: suffixes}`` of the attributes the checkpoint holds as several tensors: for each
    key it lacks, the suffixes of the stored keys that extend it (other attributes' keys aside;
    a stored key goes to the longest lacking key it extends)."""
    lacking = sorted((k for k in keys if k not in reader), key=len, reverse=True)
    if not lacking:
        return {}
    own = set(keys)
    parts: dict[str, list[str]] = {}
    for stored in reader:
        if stored not in own:
            key = next((k for k in lacking if stored.startswith(k)), None)
            if key is not None:
                parts.setdefault(key, []).append(stored[len(key):])
    return parts


def _exact_tensors(graph: ObjectGraph, root: Mapping[str, Any]) -> dict[str, Any] | None:
    """The values for every tensor of ``graph`` found along its edges in ``root``, keyed as the
    graph keys them, when ``root`` still has the graph's shape (the same names, nothing added);
    ``None`` otherwise."""
    found: dict[int, Any] = {ROOT: root}
    queue = [ROOT]
    for node_id in queue:
        node, value = graph.nodes[node_id], found[node_id]
        if not graph.nodes[node_id].holds_values:
            continue
        entries = _children(value)
        if entries is None:
            if node.children or node.slot_variables:
                return None
            continue
        for name, child in node.children.items():
            if child == ROOT or not graph.nodes[child].holds_values:
                continue
            if name not in entries:
                return None
            if child in found:
                if found[child] is not entries[name]:
                    raise ValueError(
                        f"object {graph.nodes[child].path!r} of {graph.source} is reached through "
                        f"'{name}' of {node.path or 'the root'!r} and elsewhere, and the two now hold "
                        "different objects; change the value in place or assign the same object to both"
                    )
                continue
            found[child] = entries[name]
            queue.append(child)
        for slot in node.slot_variables:
            variable_path = graph.nodes[slot.original_variable_node_id].path or ""
            try:
                found[slot.slot_variable_node_id] = entries[OPTIMIZER_SLOT][variable_path][slot.slot_name]
            except (KeyError, TypeError):
                return None
            queue.append(slot.slot_variable_node_id)
    by_key: dict[str, Any] = {}
    for node_id, value in found.items():
        for attribute in graph.nodes[node_id].attributes:
            entries = _children(value)
            if entries is not None:
                attributes = entries.get(ATTRIBUTES, {})
                if attribute.name not in attributes:
                    return None
                by_key[attribute.checkpoint_key] = attributes[attribute.name]
            elif attribute.name == VARIABLE_VALUE and len(graph.nodes[node_id].attributes) == 1:
                by_key[attribute.checkpoint_key] = value
            else:
                return None
    if len(by_key) != sum(map(len, _Objects(root).values)):  # something was added
        return None
    tensors = {k: v for key, value in by_key.items() for k, v in _attribute_tensors(key, value)}
    tensors[OBJECT_GRAPH_KEY] = np.array(graph.serialized, dtype=object)
    return tensors


def _fillable_targets(graph: ObjectGraph, root: Mapping[str, Any], reader: CheckpointReader) -> dict[str, Any]:
    """``{checkpoint key: caller's array}`` for the variables of ``graph`` that ``root`` already
    holds, matched by name along the graph's edges, as writable C-contiguous numpy arrays of the
    stored shape and dtype: those are read in place. The first numpy array of another dtype than
    the tensor stored for it raises ``InvalidArgumentError``, as TF's restore into a variable."""
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    found: dict[int, Any] = {ROOT: root}
    targets: dict[str, Any] = {}
    filled: set[int] = set()  # ids of the arrays taken: one array is filled from one key only
    queue = [ROOT]
    for node_id in queue:
        node, value = graph.nodes[node_id], found[node_id]
        entries = _children(value)
        if entries is None:
            key = node.attributes[0].checkpoint_key if _is_variable(node, graph) else None
            # (a key stored in parts, a lookup table's, is no variable to fill)
            if key in dtypes and isinstance(value, np.ndarray) and value.dtype != dtypes[key]:
                raise InvalidArgumentError(dtype_mismatch(key, enum_of(value.dtype), enum_of(dtypes[key])))
            if (
                key is not None
                and isinstance(value, np.ndarray)
                and value.flags.writeable
                and value.flags.c_contiguous
                and list(value.shape) == shapes.get(key)
                and value.dtype == dtypes.get(key)
                and value.dtype != object
                and id(value) not in filled
            ):
                targets[key] = value
                filled.add(id(value))
            continue
        for name, child in node.children.items():
            if child not in found and name in entries:
                found[child] = entries[name]
                queue.append(child)
    return targets


def _restore_into(target: MutableMapping[str, Any] | list[Any] | tuple[Any, ...], source: Mapping[str, Any]) -> None:
    """Merges ``source`` into ``target``: arrays the caller owns (writable numpy arrays of the
    same shape and dtype) are filled in place, everything else is set; a list or tuple is filled
    by position (entries past its end stay out, as TensorFlow leaves values no object takes; a
    tuple's items are filled in place only). Each pair of objects is merged once, so objects
    that refer to each other (a cycle) are fine, and without recursion, so depth is too."""
    merged: set[tuple[int, int]] = set()
    pending: list[tuple[Any, Mapping[str, Any], str]] = [(target, source, "")]
    while pending:
        into, values, path = pending.pop()
        if (id(into), id(values)) in merged:
            continue
        merged.add((id(into), id(values)))
        for name, value in values.items():
            here = f"{path}/{name}" if path else name
            key: Any = name
            if isinstance(into, (list, tuple)):
                if not (name.isdigit() and int(name) < len(into)):
                    continue
                key = int(name)
                current = into[key]
            else:
                current = into.get(name)
            if _is_mapping(value) and isinstance(current, (MutableMapping, list, tuple)):
                pending.append((current, value, here))
            elif isinstance(current, np.ndarray) and isinstance(value, np.ndarray) and current is not value:
                if current.shape != value.shape:  # TensorFlow's ValueError, with its text
                    raise InvalidArgumentError(
                        f"Received incompatible tensor with shape {value.shape} when attempting to restore "
                        f"variable with shape {current.shape} and name {here}."
                    )
                if current.flags.writeable and current.dtype == value.dtype:
                    np.copyto(current, value)
                elif not isinstance(into, tuple):
                    into[key] = value
            elif not isinstance(into, tuple):
                into[key] = value


class Checkpoint:
    """``tf.train.Checkpoint`` over nested mappings of arrays.

    ``Checkpoint(model={"dense": {"kernel": k, "bias": b}}, step=np.int64(0))`` saves
    ``model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`` and so on, with an object graph TensorFlow
    restores into matching ``tf.Module`` objects. A checkpoint that was read and is written again
    with the same names keeps its object graph byte for byte (optimizer slots, Keras internals).

    ``Checkpoint(root)`` (or ``root=``), as TensorFlow's: the mapping ``root`` stands for the root
    object, its entries are the top-level objects, and keyword objects are added beside them (a
    name ``root`` already holds something else is a ``ValueError``, TensorFlow's text).
    """

    def __init__(self, root: Mapping[str, Any] | None = None, **objects: Any) -> None:
        for name, value in objects.items():
            if root is not None and name in root and root[name] is not value:
                raise ValueError(f"Cannot create a Checkpoint with keyword argument {name} if root.{name} already exists.")
        self.objects: Tree = {**(root or {}), **dict(sorted(objects.items()))}
        self._save_counter: int | None = None
        self._source: ObjectGraph | None = None
        #: Keys of the variant tensors last read (a ``tf.data`` iterator's state): numpy holds them
        #: as bytes objects, like strings, and they are written back as variants.
        self._variants: set[str] = set()
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

    def _write(
        self, prefix: str, blocking: bool, *, update_state: bool, after: Callable[[str], None] | None = None
    ) -> str | Future[str]:
        """Writes the checkpoint, then records it (``update_state``) and calls ``after``; with
        ``blocking=False`` all of that runs in the background, behind a snapshot of the values."""

        def prepare() -> Callable[[], str]:
            tensors = self._tensors()
            data = dict(zip(tensors, snapshot(tensors.values()) if not blocking else tensors.values()))
            variants = self._variants & data.keys()

            def work() -> str:
                _save_bundle(data, prefix, variants)
                if update_state:
                    _record_save(prefix)
                if after is not None:
                    after(prefix)
                return prefix

            return work

        if blocking:
            self._saves.wait()
            return prepare()()
        return self._saves.submit(prepare)

    def sync(self) -> None:
        """Waits for a pending ``blocking=False`` save."""
        self._saves.wait()

    def read(self, save_path: PathLike | None, *, skip_slot_variables: bool = False) -> Tree:
        """Restores from a checkpoint written by ``write`` or ``save`` (by TensorFlow or fastckpt):
        objects are matched by name along the object graph; writable arrays of the right shape
        and dtype are filled in place, other values are replaced or added. Returns the objects.
        ``None`` (what ``tf.train.latest_checkpoint`` gives for an empty folder) restores
        nothing, as TensorFlow's ``read`` and ``restore``. ``skip_slot_variables`` leaves the
        optimizers' slot variables as they are (``CheckpointOptions(experimental_skip_slot_variables=True)``)."""
        if save_path is None:
            return self.objects
        reader = load_checkpoint(save_path)
        graph = _read_graph(reader)
        keys = [a.checkpoint_key for node in graph.nodes for a in node.attributes]
        if skip_slot_variables:  # not read at all: often the larger part of the file
            slot_keys = _slot_keys(graph)
            keys = [k for k in keys if k not in slot_keys]
        parts = _stored_parts(keys, reader)
        missing = [k for k in keys if k not in reader and k not in parts]
        if missing:
            raise InvalidFileError(f"checkpoint {reader.prefix}: the object graph names tensors it lacks: {missing}")
        targets = _fillable_targets(graph, self.objects, reader)
        if targets:  # straight from the file into the caller's arrays
            reader._read_into(
                [_encode(k) for k in targets], [a.reshape(-1).view(np.uint8) for a in targets.values()]
            )
        stored = [k for k in keys if k not in parts] + [k + s for k, suffixes in parts.items() for s in suffixes]
        values: dict[str, Any] = reader.read_all([k for k in stored if k not in targets], copy=True)
        for key, suffixes in parts.items():
            values[key] = {suffix: values.pop(key + suffix) for suffix in suffixes}
        tree = _tree_of(graph, {**values, **targets}, slots=not skip_slot_variables)
        counter = tree.pop(SAVE_COUNTER, None)
        if isinstance(counter, np.ndarray) and counter.shape == () and counter.dtype.kind in "iu":
            self._save_counter = int(counter)
        _restore_into(self.objects, tree)
        self._source = graph
        listing = reader._listing()
        self._variants = {key for key in stored if listing[key][0] == VARIANT}
        return self.objects

    def restore(self, save_path: PathLike | None, *, skip_slot_variables: bool = False) -> Tree:
        """As ``read`` (both restore ``save_counter`` when the checkpoint has one), and as
        ``tf.train.Checkpoint.restore`` also from a SavedModel folder (its variables); ``None``,
        as ``tf.train.latest_checkpoint`` gives for an empty folder, restores nothing. A missing
        checkpoint raises ``CheckpointNotFoundError`` in TensorFlow's words."""
        if save_path is None:
            return self.objects
        path = variables_prefix(save_path) if is_saved_model_dir(save_path) else save_path
        try:
            return self.read(path, skip_slot_variables=skip_slot_variables)
        except CheckpointNotFoundError as error:
            detail = error.strerror if error.strerror is not None else str(error)
            message = (
                f"Error when restoring from checkpoint or SavedModel at {os.fspath(save_path)}: {detail}\n"
                "Please double-check that the path is correct. You may be missing the checkpoint "
                "suffix (e.g. the '-1' in 'path/to/ckpt-1')."
            )
            if error.errno is None:
                raise type(error)(message) from None
            raise type(error)(error.errno, message, error.filename) from None


def _save_bundle(tensors: Mapping[str, Any], prefix: str, variants: AbstractSet[str]) -> None:
    """Writes the bundle at ``prefix``; the tensors named in ``variants`` as variants."""
    with BundleWriter(prefix) as writer:
        writer.add_many((key, value) for key, value in tensors.items() if key not in variants)
        for key in variants:
            writer.add(key, tensors[key], dtype=VARIANT)


def _record_save(prefix: str) -> None:
    """The state-file update of ``tf.train.Checkpoint.save``: only this checkpoint, relative."""
    update_checkpoint_state(_storage.dirname(prefix), prefix, [prefix], save_relative_paths=True)


def _delete_files(pattern: str) -> None:
    for path in _storage.matching(pattern):
        _storage.remove(path)


def _as_int(value: Any) -> int:
    """An integer from an int, a numpy scalar or 0-d array, or a callable returning one."""
    if callable(value):
        value = value()
    return int(np.asarray(value))


class CheckpointManager:
    """``tf.train.CheckpointManager`` over a ``fastckpt.Checkpoint``: numbered saves
    ``directory/checkpoint_name-N``, at most ``max_to_keep`` kept (older ones deleted, one every
    ``keep_checkpoint_every_n_hours`` preserved), and the folder's ``checkpoint`` state file with
    timestamps, in TensorFlow's format and by TensorFlow's rules, so that either library can take
    over a folder the other managed. Checkpoints already listed in the state file are recovered
    at construction."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        directory: PathLike,
        max_to_keep: int | None,
        keep_checkpoint_every_n_hours: float | None = None,
        checkpoint_name: str = "ckpt",
        step_counter: Any = None,
        checkpoint_interval: int | None = None,
        init_fn: Callable[[], Any] | None = None,
        last_checkpoint_step: int | None = None,
    ) -> None:
        if max_to_keep is not None and max_to_keep <= 0:
            raise ValueError(f"Expected a positive integer or `None` for `max_to_keep`, got {max_to_keep}.")
        if checkpoint_interval is not None and step_counter is None:
            raise ValueError("`step_counter` should be passed if `checkpoint_interval` is not None.")
        self._checkpoint = checkpoint
        self._max_to_keep = max_to_keep
        self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self._directory = os.fspath(directory)
        self._prefix = _storage.join(self._directory, checkpoint_name)
        self._step_counter = step_counter
        self._checkpoint_interval = checkpoint_interval
        #: The step of the last save, from which ``checkpoint_interval`` counts (``None``: the next
        #: save happens whatever the step).
        self._last_checkpoint_step = last_checkpoint_step
        self._init_fn = init_fn
        self._latest_checkpoint: str | None = None
        #: Managed checkpoints, oldest first, with the time each was written.
        self._maybe_delete: dict[str, float] = {}
        now = time.time()
        recovered = get_checkpoint_state(self._directory)
        if recovered is None:
            self._last_preserved_timestamp = now - 1.0
            return
        self._latest_checkpoint = recovered.model_checkpoint_path
        self._last_preserved_timestamp = recovered.last_preserved_timestamp
        if now < self._last_preserved_timestamp:
            _log.warning(
                "time.time() returned a value %f seconds behind the last preserved checkpoint timestamp.",
                self._last_preserved_timestamp - now,
            )
            self._last_preserved_timestamp = now
        paths = list(recovered.all_model_checkpoint_paths)
        timestamps = list(recovered.all_model_checkpoint_timestamps) or [self._last_preserved_timestamp] * len(paths)
        for path, timestamp in zip(paths, timestamps):
            timestamp = min(timestamp, now)
            if timestamp > self._last_preserved_timestamp:
                self._maybe_delete[path] = timestamp

    @property
    def checkpoint(self) -> Checkpoint:
        return self._checkpoint

    @property
    def directory(self) -> str:
        return self._directory

    @property
    def checkpoint_interval(self) -> int | None:
        return self._checkpoint_interval

    @property
    def latest_checkpoint(self) -> str | None:
        """The prefix of the newest checkpoint, or ``None``."""
        return self._latest_checkpoint

    @property
    def checkpoints(self) -> list[str]:
        """The managed checkpoints' prefixes, oldest first."""
        return list(self._maybe_delete)

    @overload
    def save(
        self, checkpoint_number: Any = ..., check_interval: bool = ..., *, blocking: Literal[True] = ...
    ) -> str | None: ...
    @overload
    def save(
        self, checkpoint_number: Any = ..., check_interval: bool = ..., *, blocking: Literal[False]
    ) -> Future[str] | None: ...
    def save(
        self, checkpoint_number: Any = None, check_interval: bool = True, *, blocking: bool = True
    ) -> str | Future[str] | None:
        """Saves ``{directory}/{checkpoint_name}-{N}`` (N = ``checkpoint_number`` or the
        checkpoint's incremented ``save_counter``), records it in the state file and deletes what
        ``max_to_keep`` no longer keeps. Returns the prefix, or ``None`` when ``checkpoint_interval``
        steps have not passed since the last save. ``blocking=False`` returns a future at once;
        the state file changes only once the files are in place."""
        if self._checkpoint_interval is not None:
            step = _as_int(self._step_counter)
            last = self._last_checkpoint_step
            if last is not None and (step == last or (check_interval and step < last + self._checkpoint_interval)):
                return None
            self._last_checkpoint_step = step
        checkpoint = self._checkpoint
        checkpoint._save_counter = checkpoint.save_counter + 1
        number = checkpoint.save_counter if checkpoint_number is None else _as_int(checkpoint_number)
        prefix = f"{self._prefix}-{number}"
        return checkpoint._write(prefix, blocking, update_state=False, after=self._record_and_sweep)

    def _record_and_sweep(self, prefix: str) -> None:
        """Records a written checkpoint. The state file stops naming dropped checkpoints before
        their files go (TensorFlow deletes first), so that a crash in between never leaves it
        naming files that are gone; the file ends up as TensorFlow's."""
        self._maybe_delete.pop(prefix, None)
        self._maybe_delete[prefix] = time.time()
        self._latest_checkpoint = prefix
        dropped = self._sweep()
        self._record_state()
        for old in dropped:
            _delete_files(old + ".index")
            _delete_files(old + ".data-?????-of-?????")

    def _sweep(self) -> list[str]:
        """Drops the oldest checkpoints beyond ``max_to_keep`` from the managed list, preserving
        one every ``keep_checkpoint_every_n_hours``; returns the dropped ones."""
        dropped: list[str] = []
        if not self._max_to_keep:
            return dropped
        while len(self._maybe_delete) > self._max_to_keep:
            prefix = next(iter(self._maybe_delete))
            timestamp = self._maybe_delete.pop(prefix)
            hours = self._keep_checkpoint_every_n_hours
            if hours and timestamp - hours * 3600.0 >= self._last_preserved_timestamp:
                self._last_preserved_timestamp = timestamp
                continue
            dropped.append(prefix)
        return dropped

    def _record_state(self) -> None:
        update_checkpoint_state(
            self._directory,
            model_checkpoint_path=self._latest_checkpoint or "",
            all_model_checkpoint_paths=list(self._maybe_delete),
            all_model_checkpoint_timestamps=list(self._maybe_delete.values()),
            last_preserved_timestamp=self._last_preserved_timestamp,
            save_relative_paths=True,
        )

    def restore_or_initialize(self) -> str | None:
        """Restores the latest checkpoint and returns its prefix; without one, calls ``init_fn``
        (if given) and returns ``None``."""
        if self._latest_checkpoint is not None:
            self._checkpoint.restore(self._latest_checkpoint)
            if self._checkpoint_interval is not None:
                self._last_checkpoint_step = _as_int(self._step_counter)
            return self._latest_checkpoint
        if self._init_fn is not None:
            self._init_fn()
        return None

    def sync(self) -> None:
        """Waits for a pending ``blocking=False`` save."""
        self._checkpoint.sync()


__all__ = [
    "Attribute",
    "Checkpoint",
    "CheckpointManager",
    "ObjectGraph",
    "SlotVariable",
    "TrackableNode",
    "Tree",
    "object_graph",
]
