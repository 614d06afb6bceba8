//! Field values between Python and the engine, as protobuf's Python API has them: integers and
//! enums as `int` (enums also accept their value names when set), `bool`, `float` (a float32
//! field reads as the double of its float32 value), `string` fields as `str` (only UTF-8 goes in;
//! a proto2 message parsed from bytes can hold other bytes, which come out as `bytes`, as in
//! protobuf's upb runtime), `bytes` fields as `bytes`.
//! Large `bytes` objects become engine bytes without a copy: the engine holds a reference to them.

use bytes::Bytes;
use fastckpt::proto::schema::Kind;
use fastckpt::proto::{Elem, MapKey, Value};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyFloat, PyInt, PyString};

/// A Python scalar for one element of a scalar kind (messages are not scalars: `None`).
pub fn elem_to_py<'py>(py: Python<'py>, kind: Kind, elem: Elem<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match elem {
        Elem::I32(v) | Elem::Enum(v) => v.into_pyobject(py)?.into_any(),
        Elem::I64(v) => v.into_pyobject(py)?.into_any(),
        Elem::U32(v) => v.into_pyobject(py)?.into_any(),
        Elem::U64(v) => v.into_pyobject(py)?.into_any(),
        Elem::Bool(v) => PyBool::new(py, v).to_owned().into_any(),
        Elem::F32(v) => PyFloat::new(py, f64::from(v)).into_any(),
        Elem::F64(v) => PyFloat::new(py, v).into_any(),
        Elem::Bytes(b) => match kind {
            Kind::String => text_to_py(py, b)?,
            _ => PyBytes::new(py, b).into_any(),
        },
        Elem::Message(_) => py.None().into_bound(py),
    })
}

/// A `string` field's bytes as `str`; as `bytes` when they are not UTF-8.
pub fn text_to_py<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(PyString::new(py, s).into_any()),
        Err(_) => Ok(PyBytes::new(py, b).into_any()),
    }
}

/// A singular scalar field's value; its default when absent.
pub fn value_to_py<'py>(py: Python<'py>, kind: Kind, value: Option<&Value>) -> PyResult<Bound<'py, PyAny>> {
    let zero;
    let value = match value {
        Some(v) => v,
        None => {
            zero = Value::zero(kind);
            &zero
        }
    };
    match value.elem() {
        Some(e) => elem_to_py(py, kind, e),
        None => Ok(py.None().into_bound(py)),
    }
}

/// A map key as Python sees it.
pub fn key_to_py<'py>(py: Python<'py>, kind: Kind, key: &MapKey) -> PyResult<Bound<'py, PyAny>> {
    elem_to_py(py, kind, key.elem(kind))
}

fn type_error(obj: &Bound<'_, PyAny>, expected: &str) -> PyErr {
    let type_name = obj.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string());
    let shown = obj.repr().map_or_else(|_| "?".to_owned(), |r| r.to_string());
    PyTypeError::new_err(format!("{shown} has type {type_name}, but expected one of: {expected}"))
}

fn int(obj: &Bound<'_, PyAny>) -> PyResult<i128> {
    // Floats are refused, as protobuf does; anything with __index__ (numpy integers) is taken.
    if obj.is_instance_of::<PyFloat>() {
        return Err(type_error(obj, "int"));
    }
    obj.extract::<i128>().map_err(|_| type_error(obj, "int"))
}

fn ranged<T: TryFrom<i128>>(obj: &Bound<'_, PyAny>, kind: Kind) -> PyResult<T> {
    let v = int(obj)?;
    T::try_from(v)
        .map_err(|_| PyValueError::new_err(format!("Value out of range: {v} for a {} field", kind.type_name())))
}

/// Engine bytes for a Python `bytes`-like object (`str` as UTF-8). `bytes` objects of 1 KiB or
/// more are shared, not copied.
pub fn bytes_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(shared_bytes(b));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        // A str with lone surrogates has no UTF-8 form: UnicodeEncodeError, as in protobuf.
        return Ok(Bytes::copy_from_slice(s.to_str()?.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    match PyBuffer::<u8>::get(obj) {
        Ok(buffer) => Ok(Bytes::from(buffer.to_vec(obj.py())?)),
        Err(_) => Err(type_error(obj, "bytes, str")),
    }
}

/// Keeps a Python `bytes` object alive for engine bytes that point into it.
struct PyBytesOwner {
    _object: Py<PyBytes>,
    /// Address and length of the object's buffer.
    at: usize,
    len: usize,
}

impl AsRef<[u8]> for PyBytesOwner {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: a `bytes` object never changes or moves its buffer, which lives as long as the
        // object, and `_object` holds a strong reference to it.
        unsafe { std::slice::from_raw_parts(self.at as *const u8, self.len) }
    }
}

/// The contents of a Python `bytes` as engine bytes: shared from 1 KiB on, else copied.
pub fn shared_bytes(b: &Bound<'_, PyBytes>) -> Bytes {
    let data = b.as_bytes();
    if data.len() < 1024 {
        return Bytes::copy_from_slice(data);
    }
    Bytes::from_owner(PyBytesOwner { at: data.as_ptr() as usize, len: data.len(), _object: b.clone().unbind() })
}

/// One element of a scalar kind from Python (message kinds are handled by the caller).
pub fn py_to_scalar(kind: Kind, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    Ok(match kind {
        Kind::Int32 => Value::I32(ranged(obj, kind)?),
        Kind::Int64 | Kind::Sint64 => Value::I64(ranged(obj, kind)?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(ranged(obj, kind)?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(ranged(obj, kind)?),
        Kind::Bool => {
            if let Ok(b) = obj.extract::<bool>() {
                Value::Bool(b)
            } else {
                Value::Bool(int(obj).map_err(|_| type_error(obj, "bool, int"))? != 0)
            }
        }
        Kind::Float | Kind::Double => {
            if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
                return Err(type_error(obj, "int, float"));
            }
            let v: f64 = obj.extract().map_err(|_| type_error(obj, "int, float"))?;
            if matches!(kind, Kind::Float) {
                #[allow(clippy::cast_possible_truncation, reason = "a float field rounds, as protobuf's does")]
                let single = v as f32;
                Value::F32(single)
            } else {
                Value::F64(v)
            }
        }
        Kind::Enum(e) => {
            if let Ok(name) = obj.cast::<PyString>() {
                let name = name.to_str()?;
                let number = e
                    .number_of(name)
                    .ok_or_else(|| PyValueError::new_err(format!("Enum {} has no value named {name}", e.name)))?;
                Value::Enum(number)
            } else {
                Value::Enum(ranged(obj, kind)?)
            }
        }
        Kind::String => {
            if let Ok(b) = obj.cast::<PyBytes>() {
                if std::str::from_utf8(b.as_bytes()).is_err() {
                    // Raises the UnicodeDecodeError protobuf raises for such bytes.
                    b.call_method1("decode", ("utf-8",))?;
                }
            } else if !obj.is_instance_of::<PyString>() {
                return Err(type_error(obj, "bytes, str"));
            }
            Value::Bytes(bytes_from_py(obj)?)
        }
        Kind::Bytes => {
            if obj.is_instance_of::<PyInt>() {
                return Err(type_error(obj, "bytes"));
            }
            Value::Bytes(bytes_from_py(obj)?)
        }
        Kind::Message(d) => return Err(PyTypeError::new_err(format!("a {} is not a scalar", d.name))),
    })
}

/// A map key from Python.
pub fn py_to_key(kind: Kind, obj: &Bound<'_, PyAny>) -> PyResult<MapKey> {
    let value = py_to_scalar(kind, obj)?;
    MapKey::from_value(value).ok_or_else(|| PyTypeError::new_err("unsupported map key"))
}
