//! Graph files and tensor values: `read_message` / `parse_message` / `write_message` (the files
//! behind `read_graph_def`, `read_meta_graph`, `load_saved_model` and `write_graph`) and
//! `make_ndarray`. Reading, parsing, encoding and writing run with the GIL released.

use std::path::PathBuf;

use bytes::Bytes;
use fastckpt::graph::io::{self, Format};
use fastckpt::graph::tensor::{self, tensor_value, Elements, ProtoValues, DEFAULT_MAX_FILL_BYTES};
use fastckpt::proto::schema::{find_message, MessageDesc, TENSOR_PROTO};
use fastckpt::proto::Message;
use fastckpt::{DataType, Error};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::arrays;
use crate::convert;
use crate::errors::IntoPy;
use crate::forks;
use crate::message::{any_message_from_py, message_from_py, new_message, PyMessage};

fn message_type(name: &str) -> PyResult<&'static MessageDesc> {
    find_message(name).ok_or_else(|| PyValueError::new_err(format!("unknown message type {name}")))
}

fn format_of(format: Option<&str>) -> PyResult<Option<Format>> {
    match format {
        None => Ok(None),
        Some("binary") => Ok(Some(Format::Binary)),
        Some("text") => Ok(Some(Format::Text)),
        Some(other) => Err(PyValueError::new_err(format!("format must be 'binary' or 'text', not {other:?}"))),
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Binary => "binary",
        Format::Text => "text",
    }
}

/// Reads the message of type `type_name` in a file, mapped; `format` `None` tries binary, then
/// text. Returns the message and the format it was in.
#[pyfunction]
#[pyo3(signature = (path, type_name, format = None))]
pub fn read_message<'py>(
    py: Python<'py>,
    path: PathBuf,
    type_name: &str,
    format: Option<&str>,
) -> PyResult<(Bound<'py, PyAny>, &'static str)> {
    let desc = message_type(type_name)?;
    let format = format_of(format)?;
    let (msg, found) = py.detach(|| io::read(&path, desc, format)).py_err(py)?;
    Ok((new_message(py, msg)?, format_name(found)))
}

/// Parses a message of type `type_name` from `bytes` or `str`, as `read_message` does a file.
#[pyfunction]
#[pyo3(signature = (data, type_name, format = None))]
pub fn parse_message<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    type_name: &str,
    format: Option<&str>,
) -> PyResult<(Bound<'py, PyAny>, &'static str)> {
    let desc = message_type(type_name)?;
    let format = format_of(format)?;
    let bytes = if data.is_instance_of::<PyString>() || data.is_instance_of::<PyBytes>() {
        convert::bytes_from_py(data)?
    } else {
        return Err(PyTypeError::new_err("expected bytes or str"));
    };
    let what = if data.is_instance_of::<PyString>() { "the text" } else { "the bytes" };
    let (msg, found) = py.detach(|| io::decode(desc, bytes, format, what)).py_err(py)?;
    Ok((new_message(py, msg)?, format_name(found)))
}

/// Writes a message (ours, or any protobuf message of a type we know) to `path` through a
/// temporary file: deterministic binary, or text.
#[pyfunction]
pub fn write_message(py: Python<'_>, message: &Bound<'_, PyAny>, path: PathBuf, as_text: bool) -> PyResult<()> {
    let format = if as_text { Format::Text } else { Format::Binary };
    if let Ok(ours) = message.cast::<PyMessage>() {
        let ours = ours.get();
        let empty = Message::new(ours.desc);
        let _section = forks::enter(py);
        return ours.loc.with(py, |m| py.detach(|| io::write(&path, m.unwrap_or(&empty), format))).py_err(py);
    }
    let msg = any_message_from_py(py, message)?;
    py.detach(|| io::write(&path, &msg, format)).py_err(py)
}

/// The numpy array of a `TensorProto` (ours or TensorFlow's): a read-only view of
/// `tensor_content` when the proto has one, else a new array filled by the fill rule (refused
/// beyond `max_fill_bytes`, 2 GiB by default); strings as an object array of `bytes`.
#[pyfunction]
#[pyo3(signature = (tensor, max_fill_bytes = None))]
pub fn make_ndarray<'py>(
    py: Python<'py>,
    tensor: &Bound<'py, PyAny>,
    max_fill_bytes: Option<u64>,
) -> PyResult<Bound<'py, PyAny>> {
    let cap = max_fill_bytes.unwrap_or(DEFAULT_MAX_FILL_BYTES);
    let value = match tensor.cast::<PyMessage>() {
        Ok(ours) if ours.get().desc == &TENSOR_PROTO => {
            let empty = Message::new(&TENSOR_PROTO);
            let _section = forks::enter(py);
            ours.get().loc.with(py, |m| py.detach(|| tensor_value(m.unwrap_or(&empty), cap)))
        }
        _ => {
            let msg = message_from_py(py, tensor, &TENSOR_PROTO)?;
            py.detach(|| tensor_value(&msg, cap))
        }
    };
    let value = value.map_err(|e| match e {
        Error::Unsupported(detail) => PyTypeError::new_err(detail),
        e => crate::errors::to_py(py, e),
    })?;
    match value.elements {
        Elements::Shared(bytes) => arrays::shared(py, value.dtype, &value.shape, bytes),
        Elements::Owned(bytes) => arrays::owned(py, value.dtype, &value.shape, bytes),
        Elements::Strings { values, len } => arrays::strings(py, &value.shape, &values, len),
    }
}

/// `tf.make_tensor_proto`'s encoding of an array `make_tensor_proto` (Python) has converted:
/// `values` is its little-endian element bytes, or a list of `bytes` for DT_STRING.
#[pyfunction]
pub fn make_tensor_proto<'py>(
    py: Python<'py>,
    dtype: u32,
    shape: Vec<i64>,
    values: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let dims = shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| PyValueError::new_err(format!("negative dimension in shape {shape:?}")))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let values = match values.cast::<PyBytes>() {
        Ok(bytes) => ProtoValues::Fixed(convert::shared_bytes(bytes)),
        Err(_) => ProtoValues::Strings(values.extract::<Vec<Vec<u8>>>()?.into_iter().map(Bytes::from).collect()),
    };
    let proto = py.detach(|| tensor::make_tensor_proto(DataType(dtype), &dims, values)).map_err(|e| match e {
        Error::Unsupported(detail) => PyTypeError::new_err(detail),
        e => crate::errors::to_py(py, e),
    })?;
    new_message(py, proto)
}
