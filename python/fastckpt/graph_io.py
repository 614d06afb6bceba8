"""Graph files and tensor values: ``read_graph_def``, ``read_meta_graph``, ``write_graph`` (as
``tf.io.write_graph``), ``make_ndarray`` (as ``tf.make_ndarray``) and ``make_tensor_proto`` (as
``tf.make_tensor_proto``)."""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator
from typing import Any, Union

import numpy as np

from . import _fastckpt, _storage
from ._dtypes import NAMES, NUMPY_DTYPES, QUANTIZED, STRING, VARIANT, as_dtype, base_enum, dtype_name, enum_of
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


#: What each kind of dtype accepts as Python values (TensorFlow's element checks), by kind of the
#: numpy dtype: integers, reals, complex numbers, booleans, strings.
_ACCEPTED: dict[str, tuple[type, ...]] = {
    "iu": (numbers.Integral, np.integer),
    "f": (numbers.Real, np.integer, np.floating),
    "c": (numbers.Complex, np.number),
    "b": (bool,),
    "OSU": (bytes, str),
}


def _accepted_types(enum: int) -> tuple[type, ...] | None:
    """The Python types the values for dtype ``enum`` may have, or ``None`` for any."""
    if enum == STRING:
        return _ACCEPTED["OSU"]
    if enum in QUANTIZED or enum == VARIANT or enum not in NUMPY_DTYPES:
        return None
    kind: str = NUMPY_DTYPES[enum].kind
    if kind == "V":  # ml_dtypes' floats and small integers
        kind = "iu" if "int" in NAMES[enum] else "f"
    return next((types for kinds, types in _ACCEPTED.items() if kind in kinds), None)


def _leaves(values: Any) -> Iterator[Any]:
    if isinstance(values, (list, tuple)):
        for value in values:
            yield from _leaves(value)
    else:
        yield values


def _refuse(value: Any, name: str) -> TypeError:
    return TypeError(f"Expected {name}, but got {value} of type '{type(value).__name__}'.")


def _check_elements(values: Any, wanted: int) -> None:
    """Refuses, with TensorFlow's ``TypeError``, values of the wrong kind for dtype ``wanted`` (a
    float for an integer type, a number for a string…); a quantized value is a tuple of integers."""
    name, enum = dtype_name(wanted), base_enum(wanted)
    if enum in QUANTIZED:
        if isinstance(values, list):
            for value in values:
                _check_elements(value, wanted)
            return
        if not isinstance(values, tuple):
            raise _refuse(values, name)
        integers = _ACCEPTED["iu"]
        for value in _leaves(values):
            if not isinstance(value, integers):
                raise _refuse(value, name)
        return
    types = _accepted_types(enum)
    if types is None:
        return
    for value in _leaves(values):
        if isinstance(value, types) or (isinstance(value, np.ndarray) and issubclass(value.dtype.type, types)):
            continue
        if types is _ACCEPTED["iu"] and hasattr(type(value), "__index__"):
            continue  # e.g. TensorFlow's Dimension
        raise _refuse(value, name)


def _dense_dims(values: Any) -> list[int]:
    """The shape nested lists claim, by their first elements."""
    if not isinstance(values, (list, tuple)):
        return []
    return [len(values), *_dense_dims(values[0])] if values else [0]


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"Expected binary or unicode string, got {value!r}")


def _to_array(values: Any, wanted: int | None, shape: Any) -> np.ndarray[Any, Any]:
    """``values`` as a numpy array of dtype ``wanted``'s base type, as TensorFlow converts them:
    arrays cast to the dtype, nested lists checked element by element and required to be dense,
    Python floats as float32 and ints as int32 (int64 when they do not fit) unless a dtype is
    given."""
    enum = None if wanted is None else base_enum(wanted)
    # numpy has no variant or resource arrays: such values stay as numpy makes them.
    np_dtype = None if enum is None or enum == VARIANT or enum not in NUMPY_DTYPES else NUMPY_DTYPES[enum]
    if isinstance(values, (np.ndarray, np.generic)):
        return values.astype(np_dtype) if np_dtype is not None else np.asarray(values)
    if values is None:
        raise ValueError("None values not supported.")
    if shape is not None and np.prod(shape, dtype=np.int64) == 0:
        return np.empty(shape, dtype=np_dtype)
    # TensorFlow checks the elements against a table of base types; for the references it misses
    # it falls back on the number kinds, so those of bool and string are not checked.
    if wanted is not None and enum is not None and (wanted == enum or dtype_name(enum) not in ("bool", "string")):
        _check_elements(values, wanted)
    if np_dtype is not None and np_dtype.kind in "iufcb" and np_dtype.names is None:
        array = np.array(values).astype(np_dtype)  # out-of-range integers wrap, as TensorFlow's
    else:
        array = np.array(values, dtype=np_dtype)
    if list(array.shape) != _dense_dims(values) and (enum is None or enum not in QUANTIZED):
        raise ValueError(
            f"Expected values {values} to be a dense tensor with shape {_dense_dims(values)}, "
            f"but got shape {list(array.shape)}."
        )
    if enum is None and array.dtype == np.float64:
        array = array.astype(np.float32)
    elif enum is None and array.dtype == np.int64:
        narrow = array.astype(np.int32)
        if np.array_equal(narrow, array):
            array = narrow
    return array


def make_tensor_proto(
    values: Any, dtype: Any = None, shape: Any = None, verify_shape: bool = False, allow_broadcast: bool = False
) -> TensorProto:
    """A ``TensorProto`` of ``values`` as ``tf.make_tensor_proto`` builds it, with its checks and
    errors: the same encoding (raw ``tensor_content`` for more than one element of the dtypes
    TensorFlow packs, typed fields otherwise), Python floats as float32 and ints as int32 unless a
    dtype is given. With a larger ``shape`` fewer values are allowed (readers repeat the last);
    ``verify_shape`` requires ``values`` to have exactly ``shape`` and ``allow_broadcast`` lets a
    single value fill it (``TypeError`` otherwise); more values than ``shape`` holds are a
    ``ValueError``."""
    if isinstance(values, TensorProto):
        return values
    wanted = None if dtype is None else as_dtype(dtype)
    enum = None if wanted is None else base_enum(wanted)
    if hasattr(values, "__array__") or isinstance(getattr(values, "__array_interface__", None), dict):
        values = np.asarray(values)
    array = _to_array(values, wanted, shape)
    found = STRING if array.dtype.kind in "OSU" else enum_of(array.dtype)
    if wanted is not None and enum != found and not (enum in QUANTIZED and array.dtype.names is not None):
        raise TypeError(f"`dtype` <dtype: '{dtype_name(wanted)}'> is not compatible with {values} of dtype {array.dtype}.")
    enum = found if enum is None else enum
    if shape is None:
        dims = list(array.shape)
    else:
        dims = [int(d) for d in shape]
        size = int(np.prod(dims, dtype=np.int64))
        if allow_broadcast:
            if array.shape not in ((1,), ()) and array.size != size:
                raise TypeError(f"Expected Tensor's shape: {tuple(dims)}, but got {array.shape}.")
        else:
            if verify_shape and array.shape != tuple(dims):
                raise TypeError(f"Expected Tensor's shape: {tuple(dims)}, but got {array.shape}.")
            if array.size > size:
                raise ValueError(f"Too many elements provided. Takes at most {size:d}, but got {array.size:d}.")
    # The engine picks the fields (tensor_content or typed values), as TensorFlow does.
    payload: bytes | list[bytes]
    if enum == STRING:
        # Values not given as an array keep their bytes (numpy would cut trailing NULs).
        leaves = array.ravel() if isinstance(values, np.ndarray) else _leaves(values)
        try:
            payload = [_as_bytes(v) for v in leaves]
        except TypeError:
            if isinstance(values, np.ndarray):
                raise
            raise TypeError(
                f"Failed to convert elements of {values} to Tensor. Consider casting elements to a "
                "supported type. See https://www.tensorflow.org/api_docs/python/tf/dtypes for supported TF dtypes."
            ) from None
    else:
        flat = array.ravel()
        payload = flat.astype(flat.dtype.newbyteorder("<")).tobytes()
    proto = _fastckpt.make_tensor_proto(enum, dims, payload)
    return proto
