"""``fastckpt.Saver``: TensorFlow 1's ``tf.compat.v1.train.Saver`` over arrays instead of graph
variables — the same prefixes, state file, retention, meta graph and errors, so that TensorFlow
and fastckpt read each other's checkpoint folders.

Saving streams the arrays into a bundle (``sharded=True``: several data files written by several
threads); restoring reads every tensor straight into the caller's arrays when they are writable
(no intermediate copy), else into new arrays.
"""

from __future__ import annotations

import logging
import operator
import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from typing import Any, Union

import numpy as np

from . import _async, _storage
from ._dtypes import STRING, VARIANT, dtype_mismatch, enum_of
from .checkpoint import OBJECT_GRAPH_KEY, _read_graph
from .errors import InvalidArgumentError, NotFoundError, UnimplementedError
from .graph import Graph
from .merge import save_sharded
from .meta_graph import build_meta_graph, variables_of, write_meta_graph_file
from .protos import MetaGraphDef, SaverDef
from .reader import CheckpointReader, PathLike
from .state import (
    STATE_FILE,
    checkpoint_exists,
    get_checkpoint_mtimes,
    meta_graph_filename,
    remove_checkpoint,
    update_checkpoint_state,
)
from .writer import _as_array

_log = logging.getLogger("fastckpt")

#: ``SaverDef.V2``, the checkpoint format version of a tensor bundle (``write_version``).
V2 = 2

SaveResult = Union[str, None, "Future[str | None]"]


def _op_name(name: str) -> str:
    """``"scope/v:0"`` → ``"scope/v"``: the checkpoint name of a variable given by tensor name."""
    op, colon, index = name.rpartition(":")
    return op if colon and index.isdigit() else name


def _names_to_values(var_list: Any) -> dict[str, Any]:
    """``{checkpoint name: array-like}`` from a mapping, a sequence of objects with ``.name`` (with
    TensorFlow's checks and messages, ``saveable_object_util.op_list_to_dict``), or the variables
    of a ``Graph``/``MetaGraphDef`` (zero arrays of their dtypes and shapes)."""
    if var_list is None:
        return {}
    if isinstance(var_list, (Graph, MetaGraphDef)):
        return variables_of(var_list)
    named: dict[str, Any]
    if isinstance(var_list, Mapping):
        named = {os.fspath(k) if not isinstance(k, str) else k: v for k, v in var_list.items()}
        # One array (a variable) under two names is refused, naming the later one in sorted order.
        seen: set[int] = set()
        for name, value in sorted(named.items()):
            if isinstance(value, np.ndarray):
                if id(value) in seen:
                    raise ValueError(f"The same saveable will be restored with two names: {name}")
                seen.add(id(value))
        return named
    if not isinstance(var_list, (list, tuple, set)):
        raise TypeError(f"Variables to save should be passed in a dict or a list. Got {var_list}")
    named = {}
    for var in sorted(var_list, key=lambda v: str(v.name)):
        name = _op_name(str(var.name))
        if name in named:
            raise ValueError(f"At least two variables have the same name: {name}")
        named[name] = var
    return named


def _check_parent_folder(save_path: str, sharded: bool) -> None:
    """Refuses a save TensorFlow's Saver refuses, with its error. Its SaveV2 creates the folder it
    writes into but not the folders above; a sharded save writes its parts into ``<prefix>_temp/``
    first, one level further down, so there the prefix's own folder must exist already. (An
    object store has no folders to check.)"""
    if _storage.is_url(save_path):
        return
    parent = os.path.dirname(save_path)
    must_exist = parent if sharded else os.path.dirname(parent)
    if (os.path.exists(parent) and not os.path.isdir(parent)) or not os.path.isdir(must_exist or "."):
        raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.")


def _restore_error(detail: str, cause: str) -> str:
    return (
        f"Restoring from checkpoint failed. This is most likely due to {cause} from the checkpoint. "
        "Please ensure that you have not altered the graph expected based on the checkpoint. "
        f"Original error:\n\n{detail}"
    )


def _object_graph_keys(reader: CheckpointReader) -> dict[str, str]:
    """``{variable name when written: checkpoint key}`` from a TF2 checkpoint's object graph."""
    graph = _read_graph(reader)  # checked, its errors naming the checkpoint
    return {attr.full_name: attr.checkpoint_key for node in graph.nodes for attr in node.attributes}


class Saver:
    """Saves and restores named arrays as TensorFlow 1's ``tf.compat.v1.train.Saver`` does.

    ``var_list`` is a mapping ``{checkpoint name: array}``, a list of objects with a ``.name``
    (``"v1:0"`` is saved as ``v1``), or a ``Graph``/``MetaGraphDef`` whose variables it takes (as
    zero arrays, filled by ``restore``); the Saver keeps the references and saves their values at
    each ``save``. ``restore`` writes into them in place when they are writable numpy arrays.
    ``write_version`` is TensorFlow's ``SaverDef`` format version: V2 (2, the default) only.
    """

    def __init__(
        self,
        var_list: Any = None,
        *,
        max_to_keep: int | None = 5,
        keep_checkpoint_every_n_hours: float = 10000.0,
        sharded: bool = False,
        pad_step_number: bool = False,
        save_relative_paths: bool = False,
        allow_empty: bool = False,
        reshape: bool = False,
        write_version: int = V2,
        alignment: int = 64,
    ) -> None:
        if write_version != V2:
            raise UnimplementedError(
                f"write_version {write_version}: fastckpt writes V2 checkpoints only (SaverDef.V2 = {V2}); "
                "it reads V1 checkpoints but does not write them"
            )
        self._vars = _names_to_values(var_list)
        if not self._vars and not allow_empty:
            raise ValueError("No variables to save")
        self._max_to_keep = max_to_keep or 0
        self._keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self._next_checkpoint_time = time.time() + keep_checkpoint_every_n_hours * 3600
        self._sharded = sharded
        self._pad_step_number = pad_step_number
        self._save_relative_paths = save_relative_paths
        self._reshape = reshape
        self._alignment = alignment
        self._last_checkpoints: list[tuple[str, float]] = []
        self._checkpoints_to_be_deleted: list[tuple[str, float]] = []
        self._background = _async.BackgroundSaves()

    @property
    def var_list(self) -> dict[str, Any]:
        """``{checkpoint name: array}`` this Saver saves and restores (restore may replace values
        that could not be written in place)."""
        return self._vars

    # ------------------------------------------------------------------------------------------
    # Retention, as TensorFlow's Saver keeps it

    @property
    def last_checkpoints(self) -> list[str]:
        """Prefixes of the checkpoints not yet deleted, oldest first."""
        return [path for path, _ in self._last_checkpoints]

    def set_last_checkpoints(self, last_checkpoints: list[str]) -> None:
        """Takes over older checkpoints; they are never deleted (timestamp +inf, as TensorFlow)."""
        self._last_checkpoints = [(p, float("inf")) for p in last_checkpoints]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time: list[tuple[str, float]]) -> None:
        """Takes over older checkpoints as ``(prefix, timestamp)`` pairs."""
        self._last_checkpoints = list(last_checkpoints_with_time)

    def recover_last_checkpoints(self, checkpoint_paths: Iterable[str]) -> None:
        """Takes over the checkpoints among ``checkpoint_paths`` that exist, timestamped with their
        files' modification times in whole seconds, as TensorFlow (``get_checkpoint_mtimes``), e.g.
        after a restart, with the state file's list."""
        recovered = []
        for path in checkpoint_paths:
            if _storage.is_url(path):
                # Objects carry no cheap modification time here: recovered ones count as new.
                if checkpoint_exists(path):
                    recovered.append((path, time.time()))
                continue
            recovered += [(path, mtime) for mtime in get_checkpoint_mtimes([path])]
        self.set_last_checkpoints_with_time(recovered)

    def _record_last_checkpoint(self, path: str) -> None:
        if not self._max_to_keep:
            return
        self._last_checkpoints = [p for p in self._last_checkpoints if p[0] != path]
        self._last_checkpoints.append((path, time.time()))
        if len(self._last_checkpoints) > self._max_to_keep:
            self._checkpoints_to_be_deleted.append(self._last_checkpoints.pop(0))

    def _maybe_delete_old_checkpoints(self, meta_graph_suffix: str) -> None:
        """Deletes at most one checkpoint beyond ``max_to_keep``, unless it is the first one past
        the next keep-every-n-hours mark, which is kept for good."""
        if not self._checkpoints_to_be_deleted:
            return
        path, stamp = self._checkpoints_to_be_deleted.pop(0)
        if stamp > self._next_checkpoint_time:
            self._next_checkpoint_time += self._keep_checkpoint_every_n_hours * 3600
            return
        try:
            remove_checkpoint(path, 2, meta_graph_suffix)
        except Exception as e:  # deleting old checkpoints is best effort, as in TensorFlow
            _log.warning("Ignoring: %s", e)

    # ------------------------------------------------------------------------------------------
    # Saving

    def save(
        self,
        save_path: PathLike,
        global_step: Any = None,
        *,
        latest_filename: str | None = None,
        meta_graph_suffix: str = "meta",
        write_meta_graph: bool = True,
        write_state: bool = True,
        blocking: bool = True,
    ) -> SaveResult:
        """Saves every variable at ``save_path`` (``save_path-<global_step>`` when a step is given)
        and returns that prefix, as TensorFlow's ``Saver.save``: the ``checkpoint`` state file
        (or ``latest_filename``) of the folder is updated and checkpoints beyond ``max_to_keep``
        deleted (``write_state``), and ``P.meta`` written (``write_meta_graph``). The prefix's
        folder is created if its own parent exists (not for ``sharded`` saves, whose folder must
        exist), else ``ValueError`` as TensorFlow. With
        ``blocking=False`` the values are copied at once and written on a background thread; a
        future of the prefix is returned (the state file is updated once the data is in place).
        """
        if latest_filename is None:
            latest_filename = STATE_FILE
        if os.path.split(latest_filename)[0]:
            raise ValueError("'latest_filename' must not contain path components")
        save_path = os.fspath(save_path)
        if global_step is not None:
            step = operator.index(np.asarray(global_step).item())
            checkpoint_file = f"{save_path}-{step:08d}" if self._pad_step_number else f"{save_path}-{step}"
        else:
            checkpoint_file = save_path
            if _storage.basename(save_path) == latest_filename and not self._sharded:
                raise ValueError(
                    f"'latest_filename' collides with 'save_path': '{latest_filename}' and '{save_path}'"
                )
        if self._vars:
            _check_parent_folder(save_path, self._sharded)
        parent = _storage.dirname(save_path)

        def prepare() -> Any:
            values = self._snapshot() if not blocking else dict(self._vars)

            def write() -> str | None:
                return self._write(
                    values, checkpoint_file, parent, latest_filename, meta_graph_suffix, write_meta_graph, write_state
                )

            return write

        if blocking:
            self._background.wait()  # an earlier background save finishes first
            result: str | None = prepare()()
            return result
        return self._background.submit(prepare)

    def _snapshot(self) -> dict[str, Any]:
        return dict(zip(self._vars, _async.snapshot(self._vars.values())))

    def _write(
        self,
        values: dict[str, Any],
        checkpoint_file: str,
        parent: str,
        latest_filename: str,
        meta_graph_suffix: str,
        write_meta_graph: bool,
        write_state: bool,
    ) -> str | None:
        if values:
            shards = min(os.cpu_count() or 1, len(values)) if self._sharded else 1
            save_sharded(values, checkpoint_file, shards, alignment=self._alignment)
            if write_state:
                self._record_last_checkpoint(checkpoint_file)
                update_checkpoint_state(
                    parent,
                    checkpoint_file,
                    self.last_checkpoints,
                    latest_filename,
                    save_relative_paths=self._save_relative_paths,
                )
                self._maybe_delete_old_checkpoints(meta_graph_suffix)
        if write_meta_graph:
            write_meta_graph_file(self._meta_graph(values), meta_graph_filename(checkpoint_file, meta_graph_suffix))
        return checkpoint_file if values else None

    def _meta_graph(self, values: Mapping[str, Any]) -> MetaGraphDef:
        """The meta graph of a TF1 program holding these variables and this Saver. A sharded
        Saver's ``SaverDef`` says so, over the one ``SaveV2`` the graph has (TensorFlow writes the
        same files from it: the shards of a sharded save all land in one bundle)."""
        arrays = {name: _as_array(value) for name, value in values.items()}
        specs = [(name, enum_of(array.dtype), array.shape) for name, array in arrays.items()]
        meta = build_meta_graph(
            specs, max_to_keep=self._max_to_keep, keep_checkpoint_every_n_hours=self._keep_checkpoint_every_n_hours
        )
        if self._sharded:
            meta.saver_def.sharded = True
        return meta

    def export_meta_graph(self, filename: PathLike | None = None, as_text: bool = False) -> MetaGraphDef:
        """The ``MetaGraphDef`` that ``save`` writes as ``P.meta`` (the variables, and this Saver's
        save and restore ops), as TensorFlow's ``Saver.export_meta_graph``; also written to
        ``filename`` when given (text format with ``as_text``)."""
        meta = self._meta_graph(self._vars)
        if filename is not None:
            write_meta_graph_file(meta, filename, as_text=as_text)
        return meta

    def as_saver_def(self) -> SaverDef:
        """The ``SaverDef`` of this Saver's meta graph, as TensorFlow's ``Saver.as_saver_def`` (for
        a sharded Saver, its ``save_tensor_name`` is that of the one ``SaveV2``)."""
        saver_def: SaverDef = self._meta_graph(self._vars).saver_def
        return saver_def

    # ------------------------------------------------------------------------------------------
    # Restoring

    def restore(self, save_path: PathLike | None) -> dict[str, np.ndarray[Any, Any]]:
        """Reads every variable from the checkpoint at ``save_path`` and returns ``{name: array}``.

        Writable numpy arrays of the right dtype and shape are filled in place, straight from the
        file; other values are replaced (in ``var_list``) by new arrays. Dtypes and shapes are
        checked before anything is read, with TensorFlow's messages (``InvalidArgumentError``);
        names missing from the checkpoint raise one ``NotFoundError`` naming all of them. A TF2
        checkpoint is read by variable name through its object graph, as TensorFlow's Saver does.
        """
        if not self._vars:
            return {}
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        prefix = os.fspath(save_path)
        if not checkpoint_exists(prefix):
            raise ValueError("The passed save_path is not a valid checkpoint: " + prefix)
        reader = CheckpointReader(prefix)
        keys = {name: name for name in self._vars}
        missing = [name for name in keys if name not in reader]
        if missing:
            if OBJECT_GRAPH_KEY not in reader:
                detail = "\n".join(f"Key {name} not found in checkpoint" for name in missing)
                raise NotFoundError(_restore_error(detail, "a Variable name or other graph key that is missing"))
            keys = self._keys_through_object_graph(reader)
        shapes = reader.get_variable_to_shape_map()
        dtypes = {name: enum for name, (enum, _) in reader._listing().items()}
        arrays = {name: _as_array(value) for name, value in self._vars.items()}
        self._check(keys, arrays, dtypes, shapes)

        in_place = [name for name, array in arrays.items() if _fillable(array, dtypes[keys[name]])]
        reader._read_into(
            [keys[n].encode("utf-8", "surrogateescape") for n in in_place],
            [arrays[n].reshape(-1).view(np.uint8) for n in in_place],
        )
        restored: dict[str, np.ndarray[Any, Any]] = {name: arrays[name] for name in in_place}
        others = [name for name in arrays if name not in restored]
        for name, value in zip(others, reader.read_all([keys[n] for n in others]).values()):
            restored[name] = value.reshape(arrays[name].shape) if self._reshape else value
            self._vars[name] = restored[name]
        return {name: restored[name] for name in self._vars}

    def _keys_through_object_graph(self, reader: CheckpointReader) -> dict[str, str]:
        _log.warning(
            "Restoring an object-based checkpoint using a name-based saver. This may be somewhat fragile, "
            "and will re-build the Saver. Instead, consider loading object-based checkpoints using "
            "tf.train.Checkpoint()."
        )
        names_to_keys = _object_graph_keys(reader)
        current, previous = set(self._vars), set(names_to_keys)
        if current - previous:
            raise NotFoundError(
                "\n\nExisting variables not in the checkpoint: %s\n\n"
                "Variables names when this checkpoint was written which don't exist now: %s\n\n"
                "(%d variable name(s) did match)\n\n"
                "Could not find some variables in the checkpoint (see names above). Saver was attempting to "
                "load an object-based checkpoint (saved using tf.train.Checkpoint or "
                "tf.keras.Model.save_weights) using variable names. If the checkpoint was written with eager "
                "execution enabled, it's possible that variable names have changed (for example missing a "
                "'_1' suffix). It's also possible that there are new variables which did not exist when the "
                "checkpoint was written. You can construct a Saver(var_list=...) with only the variables which "
                "previously existed, and if variable names have changed you may need to make this a dictionary "
                "with the old names as keys."
                % (", ".join(sorted(current - previous)), ", ".join(sorted(previous - current)), len(current & previous))
            )
        return {name: names_to_keys[name] for name in self._vars}

    def _check(
        self,
        keys: Mapping[str, str],
        arrays: Mapping[str, np.ndarray[Any, Any]],
        dtypes: Mapping[str, int],
        shapes: Mapping[str, list[int]],
    ) -> None:
        """All dtype mismatches in one error (as RestoreV2), then the first shape mismatch."""
        wrong = []
        for name, array in arrays.items():
            stored, wanted = dtypes[keys[name]], enum_of(array.dtype)
            if stored != wanted:
                wrong.append(dtype_mismatch(keys[name], wanted, stored))
        if wrong:
            raise InvalidArgumentError(
                _restore_error("\n".join(wrong), "a mismatch between the current graph and the graph")
            )
        for name, array in arrays.items():
            stored_shape = list(shapes[keys[name]])
            if stored_shape == list(array.shape):
                continue
            if not self._reshape:
                detail = f"Assign requires shapes of both tensors to match. lhs shape= {list(array.shape)} rhs shape= {stored_shape}"
            elif int(np.prod(stored_shape)) != array.size:
                detail = (
                    f"Input to reshape is a tensor with {int(np.prod(stored_shape))} values, "
                    f"but the requested shape has {array.size}"
                )
            else:
                continue
            raise InvalidArgumentError(
                _restore_error(detail, "a mismatch between the current graph and the graph")
            )


def _fillable(array: np.ndarray[Any, Any], stored_dtype: int) -> bool:
    """Whether the checkpoint's bytes can go straight into ``array``."""
    return (
        stored_dtype not in (STRING, VARIANT)
        and array.flags.writeable
        and array.flags.c_contiguous
        and array.dtype.isnative
        and array.dtype != object
    )

