"""TensorFlow DataType enum values and their numpy equivalents, derived from the engine's dtype
table (``_fastckpt.dtype_table()``, the one place that knows names and element sizes).

Quantized types use the structured dtypes TensorFlow itself uses (``[("qint8", int8)]`` …) so they
survive a round trip; bfloat16, float8, int4/int2 and float4 come from ``ml_dtypes``.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from . import _fastckpt

#: enum value → (tf.DType name, storage: "fixed" / "string" / "variant", bytes per element).
_TABLE: dict[int, tuple[str, str, int | None]] = {
    value: (name, layout, size) for value, _, name, layout, size in _fastckpt.dtype_table() if layout is not None
}

#: enum value → name (``float32``, ``bfloat16``, ``string``, …) of every dtype a tensor can have.
NAMES: dict[int, str] = {value: name for value, (name, _, _) in _TABLE.items()}

STRING = next(value for value, (_, layout, _) in _TABLE.items() if layout == "string")
VARIANT = next(value for value, (_, layout, _) in _TABLE.items() if layout == "variant")

_QUANTIZED = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16, "quint16": np.uint16, "qint32": np.int32}


def _numpy(name: str, layout: str, size: int | None) -> np.dtype[Any]:
    if layout != "fixed":
        return np.dtype(object)
    dtype: np.dtype[Any]
    if name in _QUANTIZED:
        dtype = np.dtype([(name, _QUANTIZED[name])])
    else:
        dtype = np.dtype(getattr(ml_dtypes, name)) if hasattr(ml_dtypes, name) else np.dtype(name)
    if dtype.itemsize != size:  # the engine's table and numpy disagree: a bug here, not in the data
        raise ImportError(f"numpy dtype {dtype} has {dtype.itemsize} bytes, TensorFlow's {name} has {size}")
    return dtype


#: enum value → numpy dtype of the arrays fastckpt returns.
NUMPY_DTYPES: dict[int, np.dtype[Any]] = {value: _numpy(*row) for value, row in _TABLE.items()}

_BY_NAME: dict[str, int] = {name: value for value, name in NAMES.items()}
_BY_NAME.update({"float": 1, "double": 2, "half": 19})
_BY_NUMPY: dict[np.dtype[Any], int] = {
    dtype: value for value, dtype in NUMPY_DTYPES.items() if value not in (STRING, VARIANT)
}


def enum_of(dtype: Any) -> int:
    """The DataType enum value for a numpy dtype, an enum value, or a name ("float32", "DT_HALF",
    "qint8", a ``tf.DType``'s ``.name``)."""
    if isinstance(dtype, np.dtype):  # the common case, first
        known = _BY_NUMPY.get(dtype)
        if known is not None:
            return known
    if isinstance(dtype, int) and not isinstance(dtype, bool):
        if dtype in NAMES:
            return dtype
        raise TypeError(f"unknown TensorFlow dtype enum value {dtype}")
    if isinstance(dtype, str):
        key = dtype.lower().removeprefix("dt_")
        if key in _BY_NAME:
            return _BY_NAME[key]
    name = getattr(dtype, "name", None)
    if isinstance(name, str) and not isinstance(dtype, np.dtype) and name in _BY_NAME:
        return _BY_NAME[name]  # e.g. a tf.DType
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"cannot store dtype {dtype!r} in a checkpoint") from None
    if np_dtype.kind in "OSU":
        return STRING
    try:
        return _BY_NUMPY[np_dtype.newbyteorder("=")]
    except KeyError:
        raise TypeError(f"cannot store numpy dtype {np_dtype} in a checkpoint") from None
