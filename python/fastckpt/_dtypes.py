"""TensorFlow DataType enum values and their numpy equivalents, derived from the engine's dtype
table (``_fastckpt.dtype_table()``, the one place that knows names and element sizes).

Quantized types use the structured dtypes TensorFlow itself uses (``[("qint8", int8)]`` …) so they
survive a round trip; bfloat16, float8, int4/int2 and float4 come from ``ml_dtypes``, imported
when first needed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from . import _fastckpt

#: enum value → (tf.DType name, storage: "fixed" / "string" / "variant", bytes per element).
_TABLE: dict[int, tuple[str, str, int | None]] = {
    value: (name, layout, size) for value, _, name, layout, size in _fastckpt.dtype_table() if layout is not None
}

#: enum value → name (``float32``, ``bfloat16``, ``string``, …) of every dtype a tensor can have.
NAMES: dict[int, str] = {value: name for value, (name, _, _) in _TABLE.items()}

#: enum value → the enum's own name (``DT_FLOAT``, ``DT_HALF``, …), as TensorFlow prints it.
ENUM_NAMES: dict[int, str] = {value: enum_name for value, enum_name, _, _, _ in _fastckpt.dtype_table()}

STRING = next(value for value, (_, layout, _) in _TABLE.items() if layout == "string")
VARIANT = next(value for value, (_, layout, _) in _TABLE.items() if layout == "variant")

_QUANTIZED = {"qint8": np.int8, "quint8": np.uint8, "qint16": np.int16, "quint16": np.uint16, "qint32": np.int32}

#: enum values of the quantized types, whose arrays have a structured dtype of one field.
QUANTIZED = frozenset(value for value, name in NAMES.items() if name in _QUANTIZED)

#: enum values of the types numpy lacks (bfloat16, float8, int4 …): their dtypes come from
#: ``ml_dtypes``, imported only once one of them is needed, as importing it takes longer than
#: importing numpy (0.6–0.9 s here).
def _numpy_lacks(name: str, layout: str) -> bool:
    """Whether the arrays of type ``name`` need ``ml_dtypes``: fixed-size, not quantized, and no
    type of that name in numpy."""
    return layout == "fixed" and name not in _QUANTIZED and not hasattr(np, name)


_FROM_ML_DTYPES = frozenset(value for value, (name, layout, _) in _TABLE.items() if _numpy_lacks(name, layout))


def _numpy(name: str, layout: str, size: int | None) -> np.dtype[Any]:
    if layout != "fixed":
        return np.dtype(object)
    dtype: np.dtype[Any]
    if name in _QUANTIZED:
        dtype = np.dtype([(name, _QUANTIZED[name])])
    elif _numpy_lacks(name, layout):
        import ml_dtypes

        dtype = np.dtype(getattr(ml_dtypes, name))
    else:
        dtype = np.dtype(getattr(np, name))
    if dtype.itemsize != size:  # the engine's table and numpy disagree: a bug here, not in the data
        raise ImportError(f"numpy dtype {dtype} has {dtype.itemsize} bytes, TensorFlow's {name} has {size}")
    return dtype


class _NumpyDtypes(Mapping[int, "np.dtype[Any]"]):
    """enum value → numpy dtype of the arrays fastckpt returns. numpy's own are made at import;
    the first lookup of an ml_dtypes type imports ``ml_dtypes`` and adds all of them."""

    def __init__(self) -> None:
        self._known = {value: _numpy(*row) for value, row in _TABLE.items() if value not in _FROM_ML_DTYPES}

    def __getitem__(self, value: int) -> np.dtype[Any]:
        known = self._known.get(value)
        if known is None and value in _FROM_ML_DTYPES:
            self.add_ml_dtypes()
            known = self._known.get(value)
        if known is None:
            raise KeyError(value)
        return known

    def __iter__(self) -> Iterator[int]:
        return iter(_TABLE)

    def __len__(self) -> int:
        return len(_TABLE)

    def loaded(self, with_ml_dtypes: bool) -> dict[int, np.dtype[Any]]:
        """The dtypes made so far (with ml_dtypes' types added first if asked): what the engine
        checks and keeps."""
        if with_ml_dtypes:
            self.add_ml_dtypes()
        return dict(self._known)

    def add_ml_dtypes(self) -> None:
        """Imports ``ml_dtypes`` (if not yet) and adds its types."""
        for value in _FROM_ML_DTYPES - self._known.keys():
            dtype = _numpy(*_TABLE[value])
            self._known[value] = dtype
            _BY_NUMPY[dtype] = value


NUMPY_DTYPES = _NumpyDtypes()

#: TensorFlow's names (``DataTypeString``) where they differ from ours: accepted as dtype names,
#: and used in TensorFlow's error texts.
_TF_NAMES = {1: "float", 2: "double", 19: "half"}
_BY_NAME: dict[str, int] = {name: value for value, name in NAMES.items()}
_BY_NAME.update({name: value for value, name in _TF_NAMES.items()})
_BY_NUMPY: dict[np.dtype[Any], int] = {
    dtype: value for value, dtype in NUMPY_DTYPES._known.items() if value not in (STRING, VARIANT)
}


def _lookup_numpy(dtype: np.dtype[Any]) -> int | None:
    """The enum value of a numpy dtype of the table. An array can only have an ml_dtypes type
    once ``ml_dtypes`` is imported: then its types join the table."""
    known = _BY_NUMPY.get(dtype)
    if known is None and "ml_dtypes" in sys.modules:
        NUMPY_DTYPES.add_ml_dtypes()
        known = _BY_NUMPY.get(dtype)
    return known


def enum_of(dtype: Any) -> int:
    """The DataType enum value for a numpy dtype, an enum value, or a name ("float32", "DT_HALF",
    "qint8", a ``tf.DType``'s ``.name``) of a type a checkpoint can store; Python's ``float``,
    ``bool`` and ``object`` as TensorFlow reads them, other Python types as numpy does."""
    if isinstance(dtype, np.dtype):  # the common case, first
        known = _lookup_numpy(dtype)
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
    if isinstance(dtype, type) and dtype in _PYTHON_TYPES:  # `float` is float32 to TensorFlow, float64 to numpy
        return _PYTHON_TYPES[dtype]
    name = getattr(dtype, "name", None)
    if isinstance(name, str) and not isinstance(dtype, np.dtype) and name in _BY_NAME:
        return _BY_NAME[name]  # e.g. a tf.DType
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"cannot store dtype {dtype!r} in a checkpoint") from None
    if np_dtype.kind in "OSU":
        return STRING
    known = _lookup_numpy(np_dtype.newbyteorder("="))
    if known is None:
        raise TypeError(f"cannot store numpy dtype {np_dtype} in a checkpoint")
    return known


#: Every ``tf.DType`` (``resource`` included, not ``DT_INVALID``) and its reference type; the
#: ``DType`` of the engine knows their values and names.
_DTYPES = [
    t for value, *_ in _fastckpt.dtype_table() if value for t in (_fastckpt.DType(value), _fastckpt.DType(value)._as_ref)
]
#: The names ``tf.as_dtype`` takes: every ``tf.DType``'s name, and TensorFlow's ``float``,
#: ``double`` and ``half`` for its base and reference types.
_AS_DTYPE_NAMES: dict[str, int] = {t.name: t.as_datatype_enum for t in _DTYPES} | {
    t.name.replace(NAMES[base], alias): t.as_datatype_enum
    for t in _DTYPES
    for base, alias in _TF_NAMES.items()
    if t.base_dtype.as_datatype_enum == base
}
#: Python's own types that ``tf.as_dtype`` takes (not ``int``: it refuses it).
_PYTHON_TYPES: dict[type, int] = {float: _BY_NAME["float32"], bool: _BY_NAME["bool"], object: STRING}


def _valid_enum(value: int) -> int | None:
    """``value`` when it is a value of the enum (reference types included), as ``tf.DType`` checks."""
    try:
        return _fastckpt.DType(value).as_datatype_enum
    except (TypeError, OverflowError):
        return None


def dtype_name(enum: int) -> str:
    """``tf.DType.name`` of a valid enum value (``float32``, ``resource``, ``int32_ref``)."""
    return _fastckpt.DType(enum).name


def base_enum(enum: int) -> int:
    """The enum value of the type a valid reference type refers to (others unchanged)."""
    return _fastckpt.DType(enum).base_dtype.as_datatype_enum


def _numpy_enum(dtype: np.dtype[Any]) -> int | None:
    if dtype.kind in "OSU":
        return STRING
    return _lookup_numpy(dtype.newbyteorder("=") if dtype.names is None else dtype)


def as_dtype(type_value: Any) -> int:
    """The enum value of ``tf.as_dtype(type_value)``, reference types included, accepting what it
    accepts: a ``DType`` (ours or TensorFlow's), an enum value, a name (``"float32"``, ``"float"``,
    ``"int32_ref"``), a numpy dtype or scalar type, Python's ``float``, ``bool`` and ``object``, or
    an object with a ``dtype`` attribute; ``TypeError`` in TensorFlow's words otherwise."""
    if isinstance(type_value, _fastckpt.DType):
        return type_value.as_datatype_enum
    known: int | None = None
    if isinstance(type_value, np.dtype):
        known = _numpy_enum(type_value)
    elif isinstance(type_value, (int, np.integer)):  # bools too: TensorFlow looks them up as 0 and 1
        known = _valid_enum(int(type_value))
    elif isinstance(type_value, str):
        known = _AS_DTYPE_NAMES.get(type_value)
    elif isinstance(type_value, type):
        known = _PYTHON_TYPES.get(type_value)
        if known is None and issubclass(type_value, np.generic):
            known = _numpy_enum(np.dtype(type_value))
    if known is None and hasattr(type_value, "dtype"):
        try:
            known = _numpy_enum(np.dtype(type_value.dtype))
        except TypeError:
            pass
    if known is None:
        enum = getattr(type_value, "as_datatype_enum", None)  # a tf.DType
        known = _valid_enum(enum) if isinstance(enum, int) else None
    if known is None:
        raise TypeError(f"Cannot convert the argument `type_value`: {type_value!r} to a TensorFlow DType.")
    return known


def _tf_name(enum: int) -> str:
    return _TF_NAMES.get(enum, NAMES.get(enum, str(enum)))


def dtype_mismatch(key: str, wanted: int, stored: int) -> str:
    """RestoreV2's text for a tensor restored into a variable of another dtype."""
    return f"tensor_name = {key}; expected dtype {_tf_name(wanted)} does not equal original dtype {_tf_name(stored)}"
