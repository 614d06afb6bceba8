"""Graph files and tensor values: ``read_graph_def``, ``read_meta_graph``, ``write_graph`` (as
``tf.io.write_graph``), ``make_ndarray`` (as ``tf.make_ndarray``) and ``make_tensor_proto`` (as
``tf.make_tensor_proto``)."""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np

from . import _fastckpt, _storage
from ._dtypes import NUMPY_DTYPES, QUANTIZED, STRING, enum_of
from ._fastckpt import GraphDef, Message, MetaGraphDef, TensorProto

PathLike = Union[str, "os.PathLike[str]"]


def read_graph_def(path: PathLike) -> GraphDef:
    """The ``GraphDef`` in a ``.pb`` (binary) or ``.pbtxt`` (text) file: binary is tried first,
    then text, as TensorFlow's readers do. The file is memory-mapped and ``bytes`` fields (such as
    ``tensor_content``) are slices of the mapping, so ``make_ndarray`` on a constant costs no copy.
    """
    message, _ = _fastckpt.read_message(os.fspath(path), "tensorflow.GraphDef")
    assert isinstance(message, GraphDef)
    return message


def read_meta_graph(path: PathLike) -> MetaGraphDef:
    """The ``MetaGraphDef`` in a ``.meta`` file (binary, or text), as
    ``tf.compat.v1.train.import_meta_graph`` reads it."""
    message, _ = _fastckpt.read_message(os.fspath(path), "tensorflow.MetaGraphDef")
    assert isinstance(message, MetaGraphDef)
    return message


def write_graph(graph_or_graph_def: Any, logdir: PathLike, name: PathLike, as_text: bool = True) -> str:
    """Writes a graph proto to ``logdir/name`` as ``tf.io.write_graph`` does, byte for byte: text
    format by default, else binary in TensorFlow's deterministic order. ``logdir`` is created if
    needed; the file is replaced atomically. Takes our ``GraphDef`` (or any of our messages, e.g. a
    ``MetaGraphDef``), TensorFlow's protobuf message, or anything with ``as_graph_def()`` (a
    ``tf.Graph``). Returns the path written."""
    graph_def = graph_or_graph_def
    if not isinstance(graph_def, Message) and not hasattr(graph_def, "SerializeToString"):
        graph_def = graph_def.as_graph_def()
    logdir = os.fspath(logdir)
    path = _storage.join(logdir, os.fspath(name))
    _storage.makedirs(logdir)
    _fastckpt.write_message(graph_def, path, as_text)
    return path


def make_ndarray(tensor: Any, *, max_fill_bytes: int | None = None) -> np.ndarray[Any, Any]:
    """The numpy array of a ``TensorProto`` (ours or TensorFlow's), as ``tf.make_ndarray``.

    ``tensor_content`` becomes a read-only view of the message's bytes (no copy); typed fields
    (``float_val``, ``int_val``, ``half_val``, ``string_val``, …) are expanded by TensorFlow's fill
    rule (missing elements repeat the last value). An expansion beyond ``max_fill_bytes`` (default
    2 GiB) is refused with ``ValueError``: a tiny hostile proto cannot make us allocate unbounded
    memory. Strings come back as an object array of ``bytes``.
    """
    array: np.ndarray[Any, Any] = _fastckpt.make_ndarray(tensor, max_fill_bytes)
    return array


def _array(values: Any, dtype: int | None) -> np.ndarray[Any, Any]:
    # Quantized types: numpy arrays of their structured dtype, converted through its one field's type.
    np_dtype = None if dtype is None or dtype in QUANTIZED else NUMPY_DTYPES[dtype]
    if isinstance(values, (np.ndarray, np.generic)):
        return values.astype(np_dtype) if np_dtype is not None else np.asarray(values)
    if dtype == STRING:
        return np.array(values, dtype=object)
    array = np.array(values, dtype=np_dtype)
    if dtype is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    elif dtype is None and array.dtype == np.int64:
        narrow = array.astype(np.int32)
        if np.array_equal(narrow, array):
            array = narrow
    elif dtype is None and array.dtype.kind in "US":
        array = array.astype(object)
    return array


def make_tensor_proto(values: Any, dtype: Any = None, shape: Any = None) -> TensorProto:
    """A ``TensorProto`` of ``values`` as ``tf.make_tensor_proto`` builds it (same encoding: raw
    ``tensor_content`` for more than one element of the dtypes TensorFlow packs, typed fields
    otherwise; Python floats become float32 and ints int32 unless a dtype is given). A single
    value with a larger ``shape`` stays a single value, which readers repeat."""
    if isinstance(values, TensorProto):
        return values
    enum = None if dtype is None else enum_of(dtype)
    array = _array(values, enum)
    if enum is None:
        enum = STRING if array.dtype.kind in "OSU" else enum_of(array.dtype)
    if enum in QUANTIZED:
        array = np.asarray(array).astype(NUMPY_DTYPES[enum][0])
    dims = list(array.shape) if shape is None else [int(d) for d in shape]
    flat = array.ravel()
    # The engine picks the fields (tensor_content or typed values), as TensorFlow does.
    if enum == STRING:
        payload: bytes | list[bytes] = [v if isinstance(v, bytes) else str(v).encode() for v in flat]
    else:
        payload = flat.astype(flat.dtype.newbyteorder("<")).tobytes()
    proto = _fastckpt.make_tensor_proto(enum, dims, payload)
    return proto
