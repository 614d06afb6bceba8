"""TensorFlow's ``tensor_util_test.py`` replayed against ``fastckpt.make_tensor_proto`` and
``make_ndarray``: each case goes through ``tf.make_tensor_proto`` and ours, and the protos must be
the same bytes, or the errors of the same type (with TensorFlow's text where its tests assert it);
``make_ndarray`` of TensorFlow's proto must equal ``tf.make_ndarray``'s array. The cases are the
test's (``testQuantizedTypes``, ``testUnsupportedDTypes``, ``testTensorShapeVerification``,
``testShapeTooLarge``…) and the neighbours where fastckpt differed (wrapping integer casts,
``allow_broadcast``, strings ending in NUL, ``None``)."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import ml_dtypes
import numpy as np
import pytest

import fastckpt

Q = [(21,), (22,), (23,)]

# (id, values, keyword arguments with dtype given by name); values may be a callable of tf.
CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("float", 10.0, {}),
    ("float_n", [10.0, 20.0, 30.0], {}),
    ("float_coerce", [10, 20, 30], {"dtype": "float32"}),
    ("float_sizes", [10.0, 20.0, 30.0], {"shape": [1, 3]}),
    ("float_less_values", 10.0, {"shape": [1, 3]}),
    ("float64_array", np.array([[10.0, 20.0, 30.0]]), {}),
    ("half", np.array([10.0, 20.0], np.float16), {}),
    ("bfloat16", np.array([10.0, 20.0], ml_dtypes.bfloat16), {}),
    ("float8_e4m3fn", np.array([10.0, 20.0], ml_dtypes.float8_e4m3fn), {}),
    ("int4", np.array([-8, -1, 0, 1, 7], ml_dtypes.int4), {}),
    ("int", 10, {}),
    ("large_int", np.iinfo(np.int64).max, {}),
    ("int_repeat_uint16", [10, 11, 12], {"shape": [3, 4], "dtype": "uint16"}),
    ("int_with_dimension", lambda tf: [10, tf.compat.v1.Dimension(20), 30], {"dtype": "int32"}),
    ("long_uint64", 10, {"dtype": "uint64"}),
    *[(f"quantized_{q}", Q, {"dtype": q}) for q in ("qint32", "quint8", "qint8", "quint16", "qint16")],
    ("string", "foo", {}),
    ("string_repeat", ["f", "g"], {"shape": [3, 4]}),
    ("string_nested_tuple", ((b"a", b"ab"), (b"abc", b"abcd")), {}),
    ("string_trailing_nul", b"\xff\x00", {}),
    ("string_array_unicode", np.array(["a", "\u00e9"]), {}),
    ("complex64", 1 + 2j, {"dtype": "complex64"}),
    ("complex128_n", [(1 + 2j), (3 + 4j)], {"shape": [1, 2], "dtype": "complex128"}),
    ("nested_array", [10.0, 20.0, np.array(30.0)], {}),
    ("unsupported_qint8_scalar", 3, {"dtype": "qint8"}),
    ("unsupported_qint8_list", [3], {"dtype": "qint8"}),
    ("unsupported_dimension", lambda tf: [tf.compat.v1.Dimension(1)], {}),
    ("float_for_int", [1.5], {"dtype": "int32"}),
    ("str_for_float", ["1.0"], {"dtype": "float32"}),
    ("int_for_string", [1, 2], {"dtype": "string"}),
    ("none", None, {}),
    ("ragged", [[1, 2], [3]], {}),
    ("wraps_uint8", [300], {"dtype": "uint8"}),
    ("wraps_uint32", [-1], {"dtype": "uint32"}),
    ("verify_shape_ok", np.array([[1], [2]]), {"shape": (2, 1), "verify_shape": True}),
    ("verify_shape_bad", np.array([[1], [2]]), {"shape": (1, 2), "verify_shape": True}),
    ("verify_shape_same_size", [1.0, 2.0, 3.0, 4.0], {"shape": [2, 2], "verify_shape": True}),
    ("shape_too_large", np.array([1, 2]), {"shape": [1]}),
    ("broadcast_scalar", 1.0, {"shape": [2, 2], "allow_broadcast": True}),
    ("broadcast_one", [1.0], {"shape": [2, 3], "allow_broadcast": True}),
    ("broadcast_refused", [1.0, 2.0], {"shape": [2, 2], "allow_broadcast": True}),
    ("empty_shape_zero", [], {"shape": [0, 3], "dtype": "float32"}),
    ("variant", np.array([b"x"], dtype=object), {"dtype": "variant"}),
]

# TensorFlow's tests assert these texts.
ASSERTED_TEXTS = {
    "unsupported_dimension": "Failed to convert elements",
    "verify_shape_bad": "Expected Tensor's shape: (1, 2), but got (2, 1).",
    "broadcast_refused": "Expected Tensor's shape: (2, 2), but got (2,).",
    "float_for_int": "Expected int32, but got 1.5 of type 'float'.",
    "none": "None values not supported.",
}


def _call(make: Callable[..., Any], values: Any, kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", make(values, **kwargs)
    except (TypeError, ValueError) as e:
        return type(e).__name__, str(e)


@pytest.mark.parametrize(("values", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_make_tensor_proto_as_tensorflow(
    tf: ModuleType, request: pytest.FixtureRequest, values: Any, kwargs: dict[str, Any]
) -> None:
    if callable(values):
        values = values(tf)
    if "dtype" in kwargs:
        kwargs = {**kwargs, "dtype": tf.as_dtype(kwargs["dtype"])}  # a tf.DType, as a TF program passes it
    theirs = _call(tf.make_tensor_proto, values, kwargs)
    ours = _call(fastckpt.make_tensor_proto, values, kwargs)
    assert ours[0] == theirs[0], (ours, theirs)
    if theirs[0] != "ok":
        case = request.node.callspec.id
        if case in ASSERTED_TEXTS:
            assert ASSERTED_TEXTS[case] in theirs[1] and ASSERTED_TEXTS[case] in ours[1]
        return
    assert ours[1].SerializeToString() == theirs[1].SerializeToString()
    expected = tf.make_ndarray(theirs[1])
    got = fastckpt.make_ndarray(theirs[1])
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if got.dtype.kind in "OV":  # strings, quantized and ml_dtypes types compare as objects
        got, expected = got.astype(object), expected.astype(object)
    assert np.array_equal(got, expected)
