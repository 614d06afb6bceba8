"""TensorFlow DataType enum values and their numpy equivalents.

Quantized types use the structured dtypes TensorFlow itself uses (``[("qint8", int8)]`` …) so they
survive a round trip; bfloat16, float8, int4/int2 and float4 come from ``ml_dtypes``.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

STRING = 7
VARIANT = 21

NAMES: dict[int, str] = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
    8: "complex64", 9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32",
    14: "bfloat16", 15: "qint16", 16: "quint16", 17: "uint16", 18: "complex128", 19: "float16",
    21: "variant", 22: "uint32", 23: "uint64", 24: "float8_e5m2", 25: "float8_e4m3fn",
    26: "float8_e4m3fnuz", 27: "float8_e4m3b11fnuz", 28: "float8_e5m2fnuz", 29: "int4",
    30: "uint4", 31: "int2", 32: "uint2", 33: "float4_e2m1fn",
}

_QUANTIZED = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16, "quint16": np.uint16, "qint32": np.int32}


def _numpy(name: str) -> np.dtype[Any]:
    if name in ("string", "variant"):
        return np.dtype(object)
    if name in _QUANTIZED:
        return np.dtype([(name, _QUANTIZED[name])])
    if hasattr(ml_dtypes, name):
        extension: np.dtype[Any] = np.dtype(getattr(ml_dtypes, name))
        return extension
    return np.dtype(name)


#: enum value → numpy dtype of the arrays fastckpt returns.
NUMPY_DTYPES: dict[int, np.dtype[Any]] = {value: _numpy(name) for value, name in NAMES.items()}

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
