//! `_fastckpt.Message`, the Python face of the engine's dynamic messages, and one subclass per
//! message type (`GraphDef`, `NodeDef`, `AttrValue_ListValue`, …) so that objects have the type
//! protobuf users expect. The subclasses carry no state: the class says which message type an
//! object is; the base holds a [`Loc`](crate::tree::Loc), a view into a shared tree.
//!
//! ```text
//! gd.node[3].attr["value"].tensor.dtype
//! └GraphDef ─▶ RepeatedCompositeContainer ─▶ NodeDef ─▶ MessageMap ─▶ AttrValue ─▶ TensorProto ─▶ int
//!   Loc []                                    Loc [Elem(1,3)]         Loc [.., Entry(5,"value")]
//! ```
//! Field access is by name through `__getattribute__`; scalars are converted on each read,
//! sub-messages and containers are new views (nothing is built in advance, so a parsed 100,000-node
//! graph costs no Python objects until they are asked for). Assigning to a message, repeated or
//! map field is refused, as protobuf refuses it (`CopyFrom`, `add`, `append`, `[key]` instead).

use std::sync::Arc;

use bytes::Bytes;
use fastckpt::proto::binary::{self, MapOrder};
use fastckpt::proto::schema::{self, find_message, FieldDesc, Kind, Label, MessageDesc};
use fastckpt::proto::{text, Message, Value};
use fastckpt::Error;
use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};
use pyo3::PyClassInitializer;

use crate::containers::{MessageMap, RepeatedComposite, RepeatedScalar, ScalarMap};
use crate::convert::{self, py_to_key, py_to_scalar, value_to_py};
use crate::descriptor::{Descriptor, FieldDescriptor};
use crate::errors::IntoPy;
use crate::forks;
use crate::tree::{merge_from, Loc, Step};

/// The base class of every message object.
#[pyclass(subclass, frozen, module = "fastckpt._fastckpt", name = "Message")]
#[derive(Debug)]
pub struct PyMessage {
    pub desc: &'static MessageDesc,
    pub loc: Arc<Loc>,
}

/// Takes a new object of ours out of the cycle collector's lists. Our objects hold no Python
/// references that could form a cycle, and a tracked object costs the collector work for as
/// long as it lives: keeping 100,000 node objects would make every full collection walk them
/// (slow in a process that also holds TensorFlow's heap).
pub fn untracked<T>(obj: Bound<'_, T>) -> Bound<'_, T> {
    // SAFETY: `obj` is a live object of a GC-enabled type (every PyO3 class is); untracking
    // is allowed at any time, and deallocation copes with an object that is not tracked.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    obj
}

/// A tree path that no longer leads anywhere (an internal inconsistency, never expected).
pub fn gone(detail: String) -> PyErr {
    PyRuntimeError::new_err(detail)
}

/// A new Python object owning `msg` as the top of its own tree.
pub fn new_message<'py>(py: Python<'py>, msg: Message) -> PyResult<Bound<'py, PyAny>> {
    wrap(py, msg.desc(), Loc::new_root(msg))
}

/// Decodes binary `data` with the GIL released.
pub fn decode(py: Python<'_>, desc: &'static MessageDesc, data: Bytes) -> PyResult<Message> {
    py.detach(|| binary::decode(desc, data))
        .map_err(|e| Error::Decode(format!("error parsing a {}: {e}", desc.name)))
        .py_err(py)
}

/// A message of type `desc` from Python: one of ours (copied), a `dict` of field values, or a
/// protobuf message of TensorFlow's (through its serialized bytes).
pub fn message_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>, desc: &'static MessageDesc) -> PyResult<Message> {
    if let Ok(dict) = obj.cast::<PyDict>() {
        return build(py, desc, Some(dict));
    }
    let msg = any_message_from_py(py, obj)?;
    if msg.desc() != desc {
        return Err(PyTypeError::new_err(format!("expected a {}, got a {}", desc.name, msg.desc().name)));
    }
    Ok(msg)
}

/// Runs `f` on the message of type `desc` that `obj` stands for, without copying one of ours (its
/// tree stays read-locked meanwhile, so `f` may release the GIL); a `dict` or a foreign message
/// is converted first.
pub fn with_message<R>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    desc: &'static MessageDesc,
    f: impl FnOnce(&Message) -> R,
) -> PyResult<R> {
    let Ok(ours) = obj.cast::<PyMessage>() else {
        return Ok(f(&message_from_py(py, obj, desc)?));
    };
    let ours = ours.get();
    if ours.desc != desc {
        return Err(PyTypeError::new_err(format!("expected a {}, got a {}", desc.name, ours.desc.name)));
    }
    Ok(ours.loc.with(py, |m| match m {
        Some(m) => f(m),
        None => f(&Message::new(desc)),
    }))
}

/// A message of any type from Python: one of ours (copied) or a foreign protobuf message.
pub fn any_message_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Message> {
    if let Ok(ours) = obj.cast::<PyMessage>() {
        let ours = ours.get();
        return Ok(ours.loc.with(py, |m| m.cloned()).unwrap_or_else(|| Message::new(ours.desc)));
    }
    let (desc, data) = foreign(obj)?;
    decode(py, desc, data)
}

/// The type and serialized bytes of a protobuf message from another library (TensorFlow's
/// `graph_pb2.GraphDef`, …).
pub fn foreign(obj: &Bound<'_, PyAny>) -> PyResult<(&'static MessageDesc, Bytes)> {
    let name = obj.getattr("DESCRIPTOR").and_then(|d| d.getattr("full_name")).and_then(|n| n.extract::<String>());
    let Ok(name) = name else {
        let type_name = obj.get_type().name().map_or_else(|_| "?".to_owned(), |n| n.to_string());
        return Err(PyTypeError::new_err(format!("expected a protobuf message, got a {type_name}")));
    };
    let desc = find_message(&name).ok_or_else(|| PyTypeError::new_err(format!("unsupported message type {name}")))?;
    let data = obj.call_method0("SerializeToString")?;
    Ok((desc, convert::shared_bytes(data.cast::<PyBytes>()?)))
}

/// A message of type `desc` with the fields given as keywords, as protobuf's constructors take
/// them: scalars, messages (or dicts), iterables for repeated fields, mappings for maps; `None`
/// leaves a field unset.
pub fn build(py: Python<'_>, desc: &'static MessageDesc, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Message> {
    let mut msg = Message::new(desc);
    for (key, value) in kwargs.into_iter().flat_map(|d| d.iter()) {
        let name = key.cast::<PyString>()?.to_str()?;
        let Some(field) = desc.field(name) else { return Err(no_field(desc, name)) };
        if !value.is_none() {
            set_from_py(py, &mut msg, field, &value)?;
        }
    }
    Ok(msg)
}

/// The last component of a type's full name.
pub fn short_name(desc: &MessageDesc) -> &'static str {
    let name: &'static str = desc.name;
    name.rsplit('.').next().unwrap_or(name)
}

/// One element of a list or a map value: a message or a scalar.
pub fn element_from_py(py: Python<'_>, kind: Kind, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    match kind {
        Kind::Message(d) => Ok(Value::from(message_from_py(py, obj, d)?)),
        kind => py_to_scalar(kind, obj),
    }
}

/// The elements of an iterable for a repeated field (a `str` or `bytes` is refused rather than
/// taken apart).
pub fn elements_from_py(py: Python<'_>, kind: Kind, obj: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err("expected an iterable of values, got a single string"));
    }
    obj.try_iter()?.map(|item| element_from_py(py, kind, &item?)).collect()
}

fn set_from_py(py: Python<'_>, msg: &mut Message, field: &FieldDesc, value: &Bound<'_, PyAny>) -> PyResult<()> {
    match field.label {
        Label::Singular => msg.set_by_number(field.number, element_from_py(py, field.kind, value)?).py_err(py),
        Label::Repeated => {
            for element in elements_from_py(py, field.kind, value)? {
                match msg.get_mut_by_number(field.number).py_err(py)? {
                    Value::List(list) => list.push(element).map_err(|_| PyTypeError::new_err("wrong element type"))?,
                    _ => return Err(PyTypeError::new_err("not a list")),
                }
            }
            Ok(())
        }
        Label::Map(key_kind) => {
            let items = value.call_method0("items")?;
            for item in items.try_iter()? {
                let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
                let key = py_to_key(key_kind, &k)?;
                let v = element_from_py(py, field.kind, &v)?;
                match msg.get_mut_by_number(field.number).py_err(py)? {
                    Value::Map(map) => {
                        map.insert(key, v);
                    }
                    _ => return Err(PyTypeError::new_err("not a map")),
                }
            }
            Ok(())
        }
    }
}

/// protobuf's error for a field name the message type does not have.
fn no_field(desc: &MessageDesc, name: &str) -> PyErr {
    PyValueError::new_err(format!("Protocol message {} has no \"{name}\" field.", short_name(desc)))
}

impl PyMessage {
    /// The Python value of a field: a scalar, a sub-message view or a container view.
    pub fn get_field<'py>(&self, py: Python<'py>, field: &'static FieldDesc) -> PyResult<Bound<'py, PyAny>> {
        match (field.label, field.kind) {
            (Label::Singular, Kind::Message(d)) => wrap(py, d, self.loc.child(py, Step::Field(field.number))),
            // Converted under the read lock, without a copy: a scalar's Python object (int, float,
            // `str`, `bytes`) is not tracked by the cycle collector, so making it runs no Python code.
            (Label::Singular, kind) => {
                self.loc.with(py, |m| value_to_py(py, kind, m.and_then(|m| m.get_by_number(field.number))))
            }
            (Label::Repeated, Kind::Message(_)) => {
                Ok(untracked(Bound::new(py, RepeatedComposite::new(self.loc.clone(), field))?).into_any())
            }
            (Label::Repeated, _) => {
                Ok(untracked(Bound::new(py, RepeatedScalar::new(self.loc.clone(), field))?).into_any())
            }
            (Label::Map(_), Kind::Message(_)) => {
                Ok(untracked(Bound::new(py, MessageMap::new(self.loc.clone(), field))?).into_any())
            }
            (Label::Map(_), _) => Ok(untracked(Bound::new(py, ScalarMap::new(self.loc.clone(), field))?).into_any()),
        }
    }

    /// A copy of the message this object shows.
    pub fn snapshot(&self, py: Python<'_>) -> Message {
        self.loc.with(py, |m| m.cloned()).unwrap_or_else(|| Message::new(self.desc))
    }

    fn replace(&self, py: Python<'_>, msg: Message) -> PyResult<()> {
        self.loc.write(py, |ed| {
            ed.cut_all();
            *ed.target().map_err(gone)? = msg;
            Ok(())
        })
    }

    fn merge(&self, py: Python<'_>, msg: &Message) -> PyResult<()> {
        self.loc.write(py, |ed| {
            ed.cut_for_merge(msg);
            merge_from(ed.target().map_err(gone)?, msg).py_err(py)
        })
    }

    fn serialize<'py>(&self, py: Python<'py>, deterministic: Option<bool>) -> PyResult<Bound<'py, PyBytes>> {
        let order = if deterministic == Some(true) { MapOrder::TensorFlow } else { MapOrder::Stored };
        let _section = forks::enter(py);
        let bytes = self.loc.with(py, |m| py.detach(|| m.map(|m| binary::encode_with(m, order)).unwrap_or_default()));
        Ok(PyBytes::new(py, &bytes))
    }

    fn equals(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Option<bool>> {
        let theirs = if other.cast::<PyMessage>().is_ok() || other.hasattr("SerializeToString")? {
            any_message_from_py(py, other)?
        } else {
            return Ok(None);
        };
        if theirs.desc() != self.desc {
            return Ok(Some(false));
        }
        let empty = Message::new(self.desc);
        Ok(Some(self.loc.with(py, |m| m.unwrap_or(&empty) == &theirs)))
    }
}

#[pymethods]
#[allow(non_snake_case)] // protobuf's method names
impl PyMessage {
    fn __getattribute__<'py>(slf: &Bound<'py, Self>, name: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        if let Some(field) = name.to_str().ok().and_then(|n| this.desc.field(n)) {
            return this.get_field(slf.py(), field);
        }
        // SAFETY: both pointers are live objects borrowed for the call; the generic lookup
        // returns a new reference or NULL with an exception set.
        unsafe {
            Bound::from_owned_ptr_or_err(slf.py(), pyo3::ffi::PyObject_GenericGetAttr(slf.as_ptr(), name.as_ptr()))
        }
    }

    fn __setattr__(&self, py: Python<'_>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(field) = self.desc.field(name) else {
            return Err(PyAttributeError::new_err(format!(
                "Assignment not allowed (no field \"{name}\" in protocol message object)."
            )));
        };
        if !matches!(field.label, Label::Singular) || matches!(field.kind, Kind::Message(_)) {
            return Err(PyAttributeError::new_err(format!(
                "Assignment not allowed to message, map, or repeated field \"{name}\" in protocol message object."
            )));
        }
        let value = py_to_scalar(field.kind, value)?;
        self.loc.write(py, |ed| {
            ed.cut_oneof_siblings(field);
            ed.target().map_err(gone)?.set_by_number(field.number, value).py_err(py)
        })
    }

    fn __richcmp__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let equal = match op {
            CompareOp::Eq | CompareOp::Ne => self.equals(py, other)?,
            _ => None,
        };
        Ok(match equal {
            Some(e) => (e == matches!(op, CompareOp::Eq)).into_pyobject(py)?.to_owned().into_any().unbind(),
            None => py.NotImplemented(),
        })
    }

    /// The text format, as `text_format.MessageToString` prints it.
    fn __str__(&self, py: Python<'_>) -> String {
        let _section = forks::enter(py);
        self.loc.with(py, |m| py.detach(|| m.map(text::print).unwrap_or_default()))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.__str__(py)
    }

    fn __dir__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        let names = py.import("builtins")?.getattr("object")?.getattr("__dir__")?.call1((slf,))?;
        let names = names.cast_into::<PyList>()?;
        for field in slf.get().desc.fields {
            names.append(field.name)?;
        }
        Ok(names)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let from_string = slf.get_type().getattr("FromString")?;
        let data = slf.get().serialize(py, Some(false))?;
        PyTuple::new(py, [from_string, PyTuple::new(py, [data])?.into_any()])
    }

    fn __copy__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_message(py, self.snapshot(py))
    }

    fn __deepcopy__<'py>(&self, py: Python<'py>, _memo: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        new_message(py, self.snapshot(py))
    }

    /// Replaces this message's contents with a copy of `other`'s.
    fn CopyFrom(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let msg = message_from_py(py, other, self.desc)
            .map_err(|e| PyTypeError::new_err(format!("Parameter to CopyFrom() must be a {}: {e}", self.desc.name)))?;
        self.replace(py, msg)
    }

    /// Merges `other` in: set scalars replace, messages merge, lists append, map entries replace.
    fn MergeFrom(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let msg = message_from_py(py, other, self.desc)
            .map_err(|e| PyTypeError::new_err(format!("Parameter to MergeFrom() must be a {}: {e}", self.desc.name)))?;
        self.merge(py, &msg)
    }

    fn Clear(&self, py: Python<'_>) -> PyResult<()> {
        self.loc.write(py, |ed| {
            if ed.get().is_none() {
                return Ok(());
            }
            ed.cut_all();
            let desc = ed.desc();
            *ed.target().map_err(gone)? = Message::new(desc);
            Ok(())
        })
    }

    /// Clears a field, or the member that is set of a oneof.
    fn ClearField(&self, py: Python<'_>, field_name: &str) -> PyResult<()> {
        let number = match self.desc.field(field_name) {
            Some(f) => Some(f.number),
            None if self.desc.fields.iter().any(|f| f.oneof == Some(field_name)) => {
                self.loc.with(py, |m| m.and_then(|m| m.which_oneof(field_name)).map(|f| f.number))
            }
            None => return Err(no_field(self.desc, field_name)),
        };
        let Some(number) = number else { return Ok(()) };
        self.loc.write(py, |ed| {
            if ed.get().is_none() {
                return Ok(());
            }
            ed.cut_field(number);
            ed.target().map_err(gone)?.clear_by_number(number).py_err(py)
        })
    }

    /// Whether a message field, a oneof member or an explicit-presence scalar is set, or any
    /// member of a oneof.
    fn HasField(&self, py: Python<'_>, field_name: &str) -> PyResult<bool> {
        if let Some(field) = self.desc.field(field_name) {
            if !field.has_presence() {
                return Err(PyValueError::new_err(format!(
                    "Protocol message {} has no singular \"{field_name}\" field with presence.",
                    short_name(self.desc)
                )));
            }
            return Ok(self.loc.with(py, |m| m.is_some_and(|m| m.get_by_number(field.number).is_some())));
        }
        if self.desc.fields.iter().any(|f| f.oneof == Some(field_name)) {
            return Ok(self.loc.with(py, |m| m.and_then(|m| m.which_oneof(field_name)).is_some()));
        }
        Err(no_field(self.desc, field_name))
    }

    /// The name of the member of `oneof_group` that is set, or `None`.
    fn WhichOneof(&self, py: Python<'_>, oneof_group: &str) -> PyResult<Option<&'static str>> {
        if !self.desc.fields.iter().any(|f| f.oneof == Some(oneof_group)) {
            return Err(no_field(self.desc, oneof_group));
        }
        Ok(self.loc.with(py, |m| m.and_then(|m| m.which_oneof(oneof_group)).map(|f| f.name)))
    }

    /// `[(field descriptor, value)]` of the fields that are set, in field-number order.
    fn ListFields<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let set: Vec<&'static FieldDesc> =
            self.loc.with(py, |m| m.map(|m| m.fields().map(|(f, _)| f).collect()).unwrap_or_default());
        set.into_iter()
            .map(|field| {
                let descriptor = Bound::new(py, FieldDescriptor::new(self.desc, field))?.into_any();
                PyTuple::new(py, [descriptor, self.get_field(py, field)?])
            })
            .collect()
    }

    /// The binary form; map entries in TensorFlow's deterministic order when `deterministic`,
    /// else in the order they were read or added.
    #[pyo3(signature = (deterministic = None))]
    fn SerializeToString<'py>(&self, py: Python<'py>, deterministic: Option<bool>) -> PyResult<Bound<'py, PyBytes>> {
        self.serialize(py, deterministic)
    }

    #[pyo3(signature = (deterministic = None))]
    fn SerializePartialToString<'py>(
        &self,
        py: Python<'py>,
        deterministic: Option<bool>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.serialize(py, deterministic)
    }

    /// Replaces the contents with the message in `serialized`; returns its length.
    fn ParseFromString(&self, py: Python<'_>, serialized: &Bound<'_, PyAny>) -> PyResult<usize> {
        let data = convert::bytes_from_py(serialized)?;
        let len = data.len();
        let msg = decode(py, self.desc, data)?;
        self.replace(py, msg)?;
        Ok(len)
    }

    /// Merges the message in `serialized` in; returns its length.
    fn MergeFromString(&self, py: Python<'_>, serialized: &Bound<'_, PyAny>) -> PyResult<usize> {
        let data = convert::bytes_from_py(serialized)?;
        let len = data.len();
        let msg = decode(py, self.desc, data)?;
        self.merge(py, &msg)?;
        Ok(len)
    }

    /// A new message of this class parsed from `s` (large `bytes` are shared, not copied).
    #[classmethod]
    fn FromString<'py>(cls: &Bound<'py, PyType>, s: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        let desc = class_desc(cls)?;
        let msg = decode(py, desc, convert::bytes_from_py(s)?)?;
        new_message(py, msg)
    }

    /// The size of the binary form.
    fn ByteSize(&self, py: Python<'_>) -> usize {
        self.loc.with(py, |m| m.map_or(0, binary::encoded_len))
    }

    /// Always true: proto3 messages have no required fields.
    fn IsInitialized(&self) -> bool {
        true
    }

    /// Marks this (sub-)message present in its parent, as if a field had been set.
    fn SetInParent(&self, py: Python<'_>) -> PyResult<()> {
        self.loc.write(py, |ed| ed.target().map(|_| ()).map_err(gone))
    }

    /// Drops the fields this library's schema does not describe, here and in every sub-message.
    fn DiscardUnknownFields(&self, py: Python<'_>) -> PyResult<()> {
        self.loc.write(py, |ed| {
            if ed.get().is_some() {
                discard_unknown(ed.target().map_err(gone)?);
            }
            Ok(())
        })
    }
}

fn discard_unknown(msg: &mut Message) {
    msg.unknown_mut().clear();
    let set: Vec<u32> =
        msg.fields().filter(|(f, _)| matches!(f.kind, Kind::Message(_))).map(|(f, _)| f.number).collect();
    for number in set {
        match msg.get_mut_by_number(number) {
            Ok(Value::Message(m)) => discard_unknown(m),
            Ok(Value::List(fastckpt::proto::List::Message(v))) => v.iter_mut().for_each(discard_unknown),
            Ok(Value::Map(map)) => {
                let keys: Vec<_> = map.keys().cloned().collect();
                for key in keys {
                    if let Some(Value::Message(m)) = map.get_mut(&key) {
                        discard_unknown(m);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The message type of a message class.
pub fn class_desc(cls: &Bound<'_, PyType>) -> PyResult<&'static MessageDesc> {
    let descriptor = cls.getattr("DESCRIPTOR")?;
    Ok(descriptor.cast::<Descriptor>()?.get().desc)
}

macro_rules! message_classes {
    ($( $class:ident = $name:literal, $desc:ident; )*) => {
        $(
            #[pyclass(extends = PyMessage, frozen, module = "fastckpt._fastckpt", name = $name)]
            #[derive(Debug)]
            pub struct $class;

            #[pymethods]
            impl $class {
                #[new]
                #[pyo3(signature = (**kwargs))]
                fn new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PyClassInitializer<Self>> {
                    let msg = build(py, &schema::$desc, kwargs)?;
                    let base = PyMessage { desc: &schema::$desc, loc: Loc::new_root(msg) };
                    Ok(PyClassInitializer::from(base).add_subclass($class))
                }

                #[classattr]
                #[allow(non_snake_case)]
                fn DESCRIPTOR() -> Descriptor {
                    Descriptor { desc: &schema::$desc }
                }
            }
        )*

        /// The Python object of the right class for a message of type `desc` at `loc`.
        pub fn wrap<'py>(py: Python<'py>, desc: &'static MessageDesc, loc: Arc<Loc>) -> PyResult<Bound<'py, PyAny>> {
            let base = PyMessage { desc, loc };
            $(
                if desc == &schema::$desc {
                    return Ok(untracked(Bound::new(py, PyClassInitializer::from(base).add_subclass($class))?.into_any()));
                }
            )*
            Ok(untracked(Bound::new(py, base)?.into_any()))
        }

        /// Adds every message class to the module; nested types also become attributes of their
        /// parent (`AttrValue.ListValue` is `AttrValue_ListValue`).
        pub fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
            m.add_class::<PyMessage>()?;
            $( m.add_class::<$class>()?; )*
            $(
                if let Some((parent, child)) = $name.rsplit_once('_') {
                    m.getattr(parent)?.setattr(child, m.getattr($name)?)?;
                }
            )*
            Ok(())
        }
    };
}

message_classes! {
    NodeDef = "NodeDef", NODE_DEF;
    AttrValue = "AttrValue", ATTR_VALUE;
    TensorProto = "TensorProto", TENSOR_PROTO;
    TensorShapeProto = "TensorShapeProto", TENSOR_SHAPE_PROTO;
    TensorShapeProtoDim = "TensorShapeProto_Dim", TENSOR_SHAPE_PROTO_DIM;
    AttrValueListValue = "AttrValue_ListValue", ATTR_VALUE_LIST_VALUE;
    GraphDef = "GraphDef", GRAPH_DEF;
    FunctionDef = "FunctionDef", FUNCTION_DEF;
    OpDef = "OpDef", OP_DEF;
    OpDefArgDef = "OpDef_ArgDef", OP_DEF_ARG_DEF;
    OpDefAttrDef = "OpDef_AttrDef", OP_DEF_ATTR_DEF;
    NameAttrList = "NameAttrList", NAME_ATTR_LIST;
    FunctionDefLibrary = "FunctionDefLibrary", FUNCTION_DEF_LIBRARY;
    VersionDef = "VersionDef", VERSION_DEF;
    MetaGraphDef = "MetaGraphDef", META_GRAPH_DEF;
    SignatureDef = "SignatureDef", SIGNATURE_DEF;
    TensorInfo = "TensorInfo", TENSOR_INFO;
    SavedModel = "SavedModel", SAVED_MODEL;
    BundleHeaderProto = "BundleHeaderProto", BUNDLE_HEADER_PROTO;
    BundleEntryProto = "BundleEntryProto", BUNDLE_ENTRY_PROTO;
    CheckpointState = "CheckpointState", CHECKPOINT_STATE;
    TrackableObjectGraph = "TrackableObjectGraph", TRACKABLE_OBJECT_GRAPH;
    TrackableObjectGraphTrackableObject = "TrackableObjectGraph_TrackableObject", TRACKABLE_OBJECT;
    TrackableObjectGraphTrackableObjectObjectReference = "TrackableObjectGraph_TrackableObject_ObjectReference", TRACKABLE_OBJECT_OBJECT_REFERENCE;
    TrackableObjectGraphTrackableObjectSerializedTensor = "TrackableObjectGraph_TrackableObject_SerializedTensor", TRACKABLE_OBJECT_SERIALIZED_TENSOR;
    TrackableObjectGraphTrackableObjectSlotVariableReference = "TrackableObjectGraph_TrackableObject_SlotVariableReference", TRACKABLE_OBJECT_SLOT_VARIABLE_REFERENCE;
    RegisteredSaver = "RegisteredSaver", REGISTERED_SAVER;
    SavedTensorSlices = "SavedTensorSlices", SAVED_TENSOR_SLICES;
    SavedTensorSliceMeta = "SavedTensorSliceMeta", SAVED_TENSOR_SLICE_META;
    SavedSliceMeta = "SavedSliceMeta", SAVED_SLICE_META;
    SavedSlice = "SavedSlice", SAVED_SLICE;
    NodeDefExperimentalDebugInfo = "NodeDef_ExperimentalDebugInfo", NODE_DEF_EXPERIMENTAL_DEBUG_INFO;
    FunctionDefArgAttrs = "FunctionDef_ArgAttrs", FUNCTION_DEF_ARG_ATTRS;
    GradientDef = "GradientDef", GRADIENT_DEF;
    RegisteredGradient = "RegisteredGradient", REGISTERED_GRADIENT;
    OpDeprecation = "OpDeprecation", OP_DEPRECATION;
    OpList = "OpList", OP_LIST;
    FullTypeDef = "FullTypeDef", FULL_TYPE_DEF;
    GraphDebugInfo = "GraphDebugInfo", GRAPH_DEBUG_INFO;
    GraphDebugInfoFileLineCol = "GraphDebugInfo_FileLineCol", GRAPH_DEBUG_INFO_FILE_LINE_COL;
    GraphDebugInfoStackTrace = "GraphDebugInfo_StackTrace", GRAPH_DEBUG_INFO_STACK_TRACE;
    Any = "Any", ANY;
    BoolValue = "BoolValue", BOOL_VALUE;
    MetaGraphDefMetaInfoDef = "MetaGraphDef_MetaInfoDef", META_GRAPH_DEF_META_INFO_DEF;
    CollectionDef = "CollectionDef", COLLECTION_DEF;
    CollectionDefNodeList = "CollectionDef_NodeList", COLLECTION_DEF_NODE_LIST;
    CollectionDefBytesList = "CollectionDef_BytesList", COLLECTION_DEF_BYTES_LIST;
    CollectionDefInt64List = "CollectionDef_Int64List", COLLECTION_DEF_INT64_LIST;
    CollectionDefFloatList = "CollectionDef_FloatList", COLLECTION_DEF_FLOAT_LIST;
    CollectionDefAnyList = "CollectionDef_AnyList", COLLECTION_DEF_ANY_LIST;
    TensorInfoCooSparse = "TensorInfo_CooSparse", TENSOR_INFO_COO_SPARSE;
    TensorInfoCompositeTensor = "TensorInfo_CompositeTensor", TENSOR_INFO_COMPOSITE_TENSOR;
    TypeSpecProto = "TypeSpecProto", TYPE_SPEC_PROTO;
    AssetFileDef = "AssetFileDef", ASSET_FILE_DEF;
    SaverDef = "SaverDef", SAVER_DEF;
    VariableDef = "VariableDef", VARIABLE_DEF;
    SaveSliceInfoDef = "SaveSliceInfoDef", SAVE_SLICE_INFO_DEF;
    FingerprintDef = "FingerprintDef", FINGERPRINT_DEF;
    SavedObjectGraph = "SavedObjectGraph", SAVED_OBJECT_GRAPH;
    SavedObject = "SavedObject", SAVED_OBJECT;
    SavedUserObject = "SavedUserObject", SAVED_USER_OBJECT;
    SavedAsset = "SavedAsset", SAVED_ASSET;
    SavedFunction = "SavedFunction", SAVED_FUNCTION;
    SavedConcreteFunction = "SavedConcreteFunction", SAVED_CONCRETE_FUNCTION;
    SavedBareConcreteFunction = "SavedBareConcreteFunction", SAVED_BARE_CONCRETE_FUNCTION;
    SavedConstant = "SavedConstant", SAVED_CONSTANT;
    SavedVariable = "SavedVariable", SAVED_VARIABLE;
    FunctionSpec = "FunctionSpec", FUNCTION_SPEC;
    SavedResource = "SavedResource", SAVED_RESOURCE;
    SaveableObject = "SaveableObject", SAVEABLE_OBJECT;
    CapturedTensor = "CapturedTensor", CAPTURED_TENSOR;
    StructuredValue = "StructuredValue", STRUCTURED_VALUE;
    NoneValue = "NoneValue", NONE_VALUE;
    ListValue = "ListValue", LIST_VALUE;
    TupleValue = "TupleValue", TUPLE_VALUE;
    DictValue = "DictValue", DICT_VALUE;
    PairValue = "PairValue", PAIR_VALUE;
    NamedTupleValue = "NamedTupleValue", NAMED_TUPLE_VALUE;
    TensorSpecProto = "TensorSpecProto", TENSOR_SPEC_PROTO;
    BoundedTensorSpecProto = "BoundedTensorSpecProto", BOUNDED_TENSOR_SPEC_PROTO;
    SerializedDType = "SerializedDType", SERIALIZED_DTYPE;
    VariantTensorDataProto = "VariantTensorDataProto", VARIANT_TENSOR_DATA_PROTO;
    ResourceHandleProto = "ResourceHandleProto", RESOURCE_HANDLE_PROTO;
    ResourceHandleProtoDtypeAndShape = "ResourceHandleProto_DtypeAndShape", RESOURCE_HANDLE_PROTO_DTYPE_AND_SHAPE;
    TensorSliceProto = "TensorSliceProto", TENSOR_SLICE_PROTO;
    TensorSliceProtoExtent = "TensorSliceProto_Extent", TENSOR_SLICE_PROTO_EXTENT;
}
