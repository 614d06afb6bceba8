//! The containers protobuf's Python API gives for repeated and map fields, over the owning
//! message's location: `RepeatedCompositeContainer` (`gd.node`: `add`, `append`, `extend`,
//! `insert`, `pop`, `remove`, `del`, `sort`, …), `RepeatedScalarContainer` (`node.input`: a list of
//! scalars), `MessageMap` (`node.attr`: `m[key]` creates the entry, `get` does not) and
//! `ScalarMap` (`function.ret`). Each is a view: its contents are read on every call.
//!
//! Element and entry objects handed out follow their message when the list is rearranged, and
//! keep their contents, detached, when it is removed (see [`crate::tree`]).

use std::sync::Arc;

use fastckpt::proto::schema::{FieldDesc, Kind, Label, MessageDesc};
use fastckpt::proto::{List, Map, MapKey, Message, Value};
use pyo3::exceptions::{PyIndexError, PyKeyError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyDict, PyList, PySlice, PyTuple};

use crate::convert::{elem_to_py, key_to_py, py_to_key, py_to_scalar, value_to_py};
use crate::errors::IntoPy;
use crate::message::{build, element_from_py, elements_from_py, gone, message_from_py, wrap};
use crate::tree::{Edit, Loc, Step};

/// The element type of a message list or the value type of a message map.
fn message_kind(field: &FieldDesc) -> &'static MessageDesc {
    match field.kind {
        Kind::Message(d) => d,
        // Only message fields get these containers.
        _ => &fastckpt::proto::schema::NONE_VALUE,
    }
}

fn messages(m: Option<&Message>, number: u32) -> &[Message] {
    match m.and_then(|m| m.get_by_number(number)) {
        Some(Value::List(List::Message(v))) => v,
        _ => &[],
    }
}

fn messages_mut<'e>(ed: &'e mut Edit<'_>, number: u32) -> PyResult<&'e mut Vec<Message>> {
    match ed.target().map_err(gone)?.get_mut_by_number(number) {
        Ok(Value::List(List::Message(v))) => Ok(v),
        _ => Err(PyRuntimeError::new_err("not a repeated message field")),
    }
}

fn map_of(m: Option<&Message>, number: u32) -> Option<&Map> {
    match m.and_then(|m| m.get_by_number(number)) {
        Some(Value::Map(map)) => Some(map),
        _ => None,
    }
}

fn map_mut<'e>(ed: &'e mut Edit<'_>, number: u32) -> PyResult<&'e mut Map> {
    match ed.target().map_err(gone)?.get_mut_by_number(number) {
        Ok(Value::Map(map)) => Ok(map),
        _ => Err(PyRuntimeError::new_err("not a map field")),
    }
}

/// A Python index into a list of `len`, negative from the end.
fn position(index: isize, len: usize) -> PyResult<usize> {
    let i = if index < 0 { index + len as isize } else { index };
    if i < 0 || i as usize >= len {
        return Err(PyIndexError::new_err("list index out of range"));
    }
    Ok(i as usize)
}

/// The positions an `int` or a `slice` selects in a list of `len`.
fn selected(index: &Bound<'_, PyAny>, len: usize) -> PyResult<Vec<usize>> {
    if let Ok(slice) = index.cast::<PySlice>() {
        let s = slice.indices(len as isize)?;
        return Ok((0..s.slicelength).map(|k| (s.start + k as isize * s.step) as usize).collect());
    }
    Ok(vec![position(index.extract()?, len)?])
}

fn changed() -> PyErr {
    PyRuntimeError::new_err("the list changed while it was being edited")
}

fn richcmp_result(py: Python<'_>, equal: Option<bool>, op: CompareOp) -> PyResult<Py<PyAny>> {
    Ok(match (equal, op) {
        (Some(e), CompareOp::Eq) => e.into_pyobject(py)?.to_owned().into_any().unbind(),
        (Some(e), CompareOp::Ne) => (!e).into_pyobject(py)?.to_owned().into_any().unbind(),
        _ => py.NotImplemented(),
    })
}

// ------------------------------------------------------------------------------------------
// Repeated message fields

/// The messages of a repeated message field.
#[pyclass(frozen, sequence, module = "fastckpt._fastckpt", name = "RepeatedCompositeContainer")]
#[derive(Debug)]
pub struct RepeatedComposite {
    owner: Arc<Loc>,
    field: &'static FieldDesc,
}

impl RepeatedComposite {
    pub fn new(owner: Arc<Loc>, field: &'static FieldDesc) -> Self {
        Self { owner, field }
    }

    fn len(&self, py: Python<'_>) -> usize {
        self.owner.with(py, |m| messages(m, self.field.number).len())
    }

    fn item<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyAny>> {
        let n = self.field.number;
        let loc = self.owner.child_with(py, |m| position(index, messages(m, n).len()).map(|i| Step::Elem(n, i)))?;
        wrap(py, message_kind(self.field), loc)
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        (0..self.len(py)).map(|i| self.item(py, i as isize)).collect()
    }

    fn snapshot(&self, py: Python<'_>) -> Vec<Message> {
        self.owner.with(py, |m| messages(m, self.field.number).to_vec())
    }

    /// Removes the elements at `remove` (ascending) from a list that must still be `len` long.
    fn remove_at(&self, py: Python<'_>, len: usize, remove: &[usize]) -> PyResult<()> {
        let n = self.field.number;
        self.owner.write(py, |ed| {
            if messages(ed.get(), n).len() != len {
                return Err(changed());
            }
            remove_elements(ed, n, len, remove)
        })
    }

    /// Reorders the list: new position `p` holds the element at `order[p]`.
    fn permute(&self, py: Python<'_>, order: &[usize]) -> PyResult<()> {
        let n = self.field.number;
        self.owner.write(py, |ed| {
            if messages(ed.get(), n).len() != order.len() {
                return Err(changed());
            }
            let mut new_of_old = vec![None; order.len()];
            for (p, &old) in order.iter().enumerate() {
                new_of_old[old] = Some(p);
            }
            ed.move_elements(n, &new_of_old);
            let v = messages_mut(ed, n)?;
            let mut old: Vec<Option<Message>> = std::mem::take(v).into_iter().map(Some).collect();
            *v = order.iter().filter_map(|&i| old[i].take()).collect();
            Ok(())
        })
    }

    fn push(&self, py: Python<'_>, msgs: Vec<Message>) -> PyResult<()> {
        let n = self.field.number;
        self.owner.write(py, |ed| {
            messages_mut(ed, n)?.extend(msgs);
            Ok(())
        })
    }

    fn converted(&self, py: Python<'_>, values: &Bound<'_, PyAny>) -> PyResult<Vec<Message>> {
        let elem = message_kind(self.field);
        values.try_iter()?.map(|v| message_from_py(py, &v?, elem)).collect()
    }
}

/// Removes the elements at the ascending positions `remove` of the message list `number`,
/// relocating the objects that point into it.
fn remove_elements(ed: &mut Edit<'_>, number: u32, len: usize, remove: &[usize]) -> PyResult<()> {
    if remove.is_empty() {
        return Ok(());
    }
    let mut gone_at = vec![false; len];
    remove.iter().for_each(|&i| gone_at[i] = true);
    let mut next = 0;
    let new_of_old: Vec<Option<usize>> = gone_at
        .iter()
        .map(|&g| {
            (!g).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    ed.move_elements(number, &new_of_old);
    let v = messages_mut(ed, number)?;
    if let [i] = remove {
        v.remove(*i);
    } else {
        let mut at = 0;
        v.retain(|_| {
            at += 1;
            !gone_at[at - 1]
        });
    }
    Ok(())
}

#[pymethods]
#[allow(non_snake_case)] // protobuf's method names
impl RepeatedComposite {
    fn __len__(&self, py: Python<'_>) -> usize {
        self.len(py)
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if index.cast::<PySlice>().is_ok() {
            let picked = selected(index, self.len(py))?;
            let items = picked.into_iter().map(|i| self.item(py, i as isize)).collect::<PyResult<Vec<_>>>()?;
            return Ok(PyList::new(py, items)?.into_any());
        }
        self.item(py, index.extract()?)
    }

    fn __delitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<()> {
        let len = self.len(py);
        let mut picked = selected(index, len)?;
        picked.sort_unstable();
        self.remove_at(py, len, &picked)
    }

    fn __iter__(&self) -> RepeatedIter {
        RepeatedIter { owner: self.owner.clone(), field: self.field, next: 0 }
    }

    fn __contains__(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> bool {
        match message_from_py(py, value, message_kind(self.field)) {
            Ok(msg) => self.owner.with(py, |m| messages(m, self.field.number).contains(&msg)),
            Err(_) => false,
        }
    }

    fn __richcmp__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let theirs = match other.cast::<RepeatedComposite>() {
            Ok(c) => Some(c.get().snapshot(py)),
            Err(_) if other.is_instance_of::<PyList>() || other.is_instance_of::<PyTuple>() => {
                self.converted(py, other).ok()
            }
            Err(_) => None,
        };
        richcmp_result(py, theirs.map(|t| self.snapshot(py) == t), op)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(PyList::new(py, self.items(py)?)?.repr()?.to_string())
    }

    /// Appends a new message with these fields and returns it.
    #[pyo3(signature = (**kwargs))]
    fn add<'py>(&self, py: Python<'py>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let elem = message_kind(self.field);
        let msg = build(py, elem, kwargs)?;
        let n = self.field.number;
        let loc = self.owner.write(py, |ed| {
            let v = messages_mut(ed, n)?;
            v.push(msg);
            let i = v.len() - 1;
            Ok::<_, PyErr>(ed.child(Step::Elem(n, i)))
        })?;
        wrap(py, elem, loc)
    }

    /// Appends a copy of `value`.
    fn append(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let msg = message_from_py(py, value, message_kind(self.field))?;
        self.push(py, vec![msg])
    }

    /// Appends copies of the messages of an iterable.
    fn extend(&self, py: Python<'_>, elem_seq: &Bound<'_, PyAny>) -> PyResult<()> {
        let msgs = self.converted(py, elem_seq)?;
        self.push(py, msgs)
    }

    /// Inserts a copy of `value` before position `key`.
    fn insert(&self, py: Python<'_>, key: isize, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let msg = message_from_py(py, value, message_kind(self.field))?;
        let n = self.field.number;
        self.owner.write(py, |ed| {
            let len = messages(ed.get(), n).len();
            let at = if key < 0 { (key + len as isize).max(0) as usize } else { (key as usize).min(len) };
            let new_of_old: Vec<Option<usize>> = (0..len).map(|i| Some(if i < at { i } else { i + 1 })).collect();
            ed.move_elements(n, &new_of_old);
            messages_mut(ed, n)?.insert(at, msg);
            Ok(())
        })
    }

    /// Removes and returns the message at `key` (the last by default), detached.
    #[pyo3(signature = (key = -1))]
    fn pop<'py>(&self, py: Python<'py>, key: isize) -> PyResult<Bound<'py, PyAny>> {
        let n = self.field.number;
        let loc = self.owner.write(py, |ed| {
            let len = messages(ed.get(), n).len();
            let i = position(key, len).map_err(|_| PyIndexError::new_err("pop index out of range"))?;
            let loc = ed.child(Step::Elem(n, i));
            remove_elements(ed, n, len, &[i])?;
            Ok::<_, PyErr>(loc)
        })?;
        wrap(py, message_kind(self.field), loc)
    }

    /// Removes the first message equal to `elem`.
    fn remove(&self, py: Python<'_>, elem: &Bound<'_, PyAny>) -> PyResult<()> {
        let msg = message_from_py(py, elem, message_kind(self.field))?;
        let (len, at) = self.owner.with(py, |m| {
            let v = messages(m, self.field.number);
            (v.len(), v.iter().position(|x| x == &msg))
        });
        let at = at.ok_or_else(|| PyValueError::new_err("remove(x): x not in container"))?;
        self.remove_at(py, len, &[at])
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        let len = self.len(py);
        self.remove_at(py, len, &(0..len).collect::<Vec<_>>())
    }

    /// Sorts the messages in place, as `list.sort` (messages themselves are not ordered: give
    /// a `key`).
    #[pyo3(signature = (*, key = None, reverse = false))]
    fn sort(&self, py: Python<'_>, key: Option<&Bound<'_, PyAny>>, reverse: bool) -> PyResult<()> {
        let items = self.items(py)?;
        let keys = match key {
            Some(key) => items.iter().map(|item| key.call1((item,))).collect::<PyResult<Vec<_>>>()?,
            None => items.clone(),
        };
        let keys = PyList::new(py, keys)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("key", keys.getattr("__getitem__")?)?;
        kwargs.set_item("reverse", reverse)?;
        let range = py.import("builtins")?.getattr("range")?.call1((items.len(),))?;
        let order: Vec<usize> = py.import("builtins")?.getattr("sorted")?.call((range,), Some(&kwargs))?.extract()?;
        self.permute(py, &order)
    }

    fn reverse(&self, py: Python<'_>) -> PyResult<()> {
        let order: Vec<usize> = (0..self.len(py)).rev().collect();
        self.permute(py, &order)
    }

    /// Appends copies of the messages of another container or iterable.
    fn MergeFrom(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.extend(py, other)
    }
}

/// Iterates over a repeated message field; sees elements added while iterating.
#[pyclass(module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct RepeatedIter {
    owner: Arc<Loc>,
    field: &'static FieldDesc,
    next: usize,
}

#[pymethods]
impl RepeatedIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let (n, i) = (self.field.number, self.next);
        let loc = self.owner.child_with(py, |m| if i < messages(m, n).len() { Ok(Step::Elem(n, i)) } else { Err(()) });
        match loc {
            Ok(loc) => {
                self.next += 1;
                Ok(Some(wrap(py, message_kind(self.field), loc)?))
            }
            Err(()) => Ok(None),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Repeated scalar fields

/// The values of a repeated scalar field.
#[pyclass(frozen, sequence, module = "fastckpt._fastckpt", name = "RepeatedScalarContainer")]
#[derive(Debug)]
pub struct RepeatedScalar {
    owner: Arc<Loc>,
    field: &'static FieldDesc,
}

/// Removes element `i` of a list.
fn list_remove(list: &mut List, i: usize) {
    match list {
        List::I32(v) | List::Enum(v) => drop(v.remove(i)),
        List::I64(v) => drop(v.remove(i)),
        List::U32(v) => drop(v.remove(i)),
        List::U64(v) => drop(v.remove(i)),
        List::Bool(v) => drop(v.remove(i)),
        List::F32(v) => drop(v.remove(i)),
        List::F64(v) => drop(v.remove(i)),
        List::Bytes(v) => drop(v.remove(i)),
        List::Message(v) => drop(v.remove(i)),
    }
}

/// Replaces element `i` of a list with a value of its element variant.
fn list_set(list: &mut List, i: usize, value: Value) -> PyResult<()> {
    match (list, value) {
        (List::I32(v), Value::I32(x)) | (List::Enum(v), Value::Enum(x)) => v[i] = x,
        (List::I64(v), Value::I64(x)) => v[i] = x,
        (List::U32(v), Value::U32(x)) => v[i] = x,
        (List::U64(v), Value::U64(x)) => v[i] = x,
        (List::Bool(v), Value::Bool(x)) => v[i] = x,
        (List::F32(v), Value::F32(x)) => v[i] = x,
        (List::F64(v), Value::F64(x)) => v[i] = x,
        (List::Bytes(v), Value::Bytes(x)) => v[i] = x,
        _ => return Err(PyTypeError::new_err("value of the wrong type for this list")),
    }
    Ok(())
}

impl RepeatedScalar {
    pub fn new(owner: Arc<Loc>, field: &'static FieldDesc) -> Self {
        Self { owner, field }
    }

    fn len(&self, py: Python<'_>) -> usize {
        let n = self.field.number;
        self.owner.with(py, |m| match m.and_then(|m| m.get_by_number(n)) {
            Some(Value::List(l)) => l.len(),
            _ => 0,
        })
    }

    /// The values as a Python list. Its elements are made under the read lock, without copying
    /// the list: ints, floats, `str` and `bytes` are not tracked by the cycle collector, so making
    /// them runs no Python code (see [`crate::tree`] on locks); the list, which is, comes after.
    fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let (n, kind) = (self.field.number, self.field.kind);
        let items = self.owner.with(py, |m| match m.and_then(|m| m.get_by_number(n)) {
            Some(Value::List(list)) => list.iter().map(|e| elem_to_py(py, kind, e)).collect(),
            _ => Ok(Vec::new()),
        })?;
        PyList::new(py, items)
    }

    /// Replaces the whole list with the values of a Python iterable.
    fn set_all(&self, py: Python<'_>, values: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut list = List::empty(self.field.kind);
        for v in elements_from_py(py, self.field.kind, values)? {
            list.push(v).map_err(|_| PyTypeError::new_err("value of the wrong type for this list"))?;
        }
        let n = self.field.number;
        self.owner.write(py, |ed| ed.target().map_err(gone)?.set_by_number(n, Value::List(list)).py_err(py))
    }

    /// Edits the list as a Python list (slices, sorting, …) and stores the result.
    fn via_list<'py, R>(&self, py: Python<'py>, f: impl FnOnce(&Bound<'py, PyList>) -> PyResult<R>) -> PyResult<R> {
        let list = self.to_list(py)?;
        let out = f(&list)?;
        self.set_all(py, &list)?;
        Ok(out)
    }

    fn edit<R>(&self, py: Python<'_>, f: impl FnOnce(&mut List) -> PyResult<R>) -> PyResult<R> {
        let n = self.field.number;
        self.owner.write(py, |ed| match ed.target().map_err(gone)?.get_mut_by_number(n) {
            Ok(Value::List(list)) => f(list),
            _ => Err(PyRuntimeError::new_err("not a repeated field")),
        })
    }

    fn push(&self, py: Python<'_>, values: Vec<Value>) -> PyResult<()> {
        self.edit(py, |list| {
            for v in values {
                list.push(v).map_err(|_| PyTypeError::new_err("value of the wrong type for this list"))?;
            }
            Ok(())
        })
    }
}

#[pymethods]
#[allow(non_snake_case)] // protobuf's method names
impl RepeatedScalar {
    fn __len__(&self, py: Python<'_>) -> usize {
        self.len(py)
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        if index.cast::<PySlice>().is_ok() {
            return self.to_list(py)?.as_any().get_item(index);
        }
        let index: isize = index.extract()?;
        let n = self.field.number;
        let value = self.owner.with(py, |m| match m.and_then(|m| m.get_by_number(n)) {
            Some(Value::List(l)) => position(index, l.len()).map(|i| l.get(i).map(owned)),
            _ => position(index, 0).map(|_| None),
        })?;
        value_to_py(py, self.field.kind, value.as_ref())
    }

    fn __setitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if index.cast::<PySlice>().is_ok() {
            return self.via_list(py, |list| list.as_any().set_item(index, value));
        }
        let index: isize = index.extract()?;
        let value = py_to_scalar(self.field.kind, value)?;
        self.edit(py, |list| {
            let i = position(index, list.len())?;
            list_set(list, i, value)
        })
    }

    fn __delitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<()> {
        if index.cast::<PySlice>().is_ok() {
            return self.via_list(py, |list| list.as_any().del_item(index));
        }
        let index: isize = index.extract()?;
        self.edit(py, |list| {
            let i = position(index, list.len())?;
            list_remove(list, i);
            Ok(())
        })
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.to_list(py)?.try_iter()?.into_any())
    }

    fn __contains__(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.to_list(py)?.contains(value)
    }

    fn __richcmp__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let theirs = match other.cast::<RepeatedScalar>() {
            Ok(c) => Some(c.get().to_list(py)?.into_any()),
            Err(_) if other.is_instance_of::<PyList>() || other.is_instance_of::<PyTuple>() => {
                Some(PyList::new(py, other.try_iter()?.collect::<PyResult<Vec<_>>>()?)?.into_any())
            }
            Err(_) => None,
        };
        let equal = match theirs {
            Some(t) => Some(self.to_list(py)?.eq(t)?),
            None => None,
        };
        richcmp_result(py, equal, op)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.to_list(py)?.repr()?.to_string())
    }

    fn append(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = py_to_scalar(self.field.kind, value)?;
        self.push(py, vec![value])
    }

    fn extend(&self, py: Python<'_>, elem_seq: &Bound<'_, PyAny>) -> PyResult<()> {
        let values = elements_from_py(py, self.field.kind, elem_seq)?;
        self.push(py, values)
    }

    fn insert(&self, py: Python<'_>, key: isize, value: &Bound<'_, PyAny>) -> PyResult<()> {
        py_to_scalar(self.field.kind, value)?;
        self.via_list(py, |list| list.call_method1("insert", (key, value)).map(drop))
    }

    #[pyo3(signature = (key = -1))]
    fn pop<'py>(&self, py: Python<'py>, key: isize) -> PyResult<Bound<'py, PyAny>> {
        let value = self.edit(py, |list| {
            let i = position(key, list.len()).map_err(|_| PyIndexError::new_err("pop index out of range"))?;
            let value = list.get(i).map(owned);
            list_remove(list, i);
            Ok(value)
        })?;
        value_to_py(py, self.field.kind, value.as_ref())
    }

    fn remove(&self, py: Python<'_>, elem: &Bound<'_, PyAny>) -> PyResult<()> {
        self.via_list(py, |list| list.call_method1("remove", (elem,)).map(drop))
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        let n = self.field.number;
        self.owner.write(py, |ed| match ed.get() {
            None => Ok(()),
            Some(_) => ed.target().map_err(gone)?.clear_by_number(n).py_err(py),
        })
    }

    #[pyo3(signature = (*, key = None, reverse = false))]
    fn sort(&self, py: Python<'_>, key: Option<&Bound<'_, PyAny>>, reverse: bool) -> PyResult<()> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("key", key)?;
        kwargs.set_item("reverse", reverse)?;
        self.via_list(py, |list| list.call_method("sort", (), Some(&kwargs)).map(drop))
    }

    fn reverse(&self, py: Python<'_>) -> PyResult<()> {
        self.via_list(py, |list| list.reverse())
    }

    fn index(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.to_list(py)?.index(value)
    }

    fn count(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.to_list(py)?.call_method1("count", (value,))?.extract()
    }

    fn MergeFrom(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.extend(py, other)
    }
}

/// An element borrowed from a list, as an owned value.
fn owned(e: fastckpt::proto::Elem<'_>) -> Value {
    use fastckpt::proto::Elem;
    match e {
        Elem::I32(v) => Value::I32(v),
        Elem::I64(v) => Value::I64(v),
        Elem::U32(v) => Value::U32(v),
        Elem::U64(v) => Value::U64(v),
        Elem::Bool(v) => Value::Bool(v),
        Elem::F32(v) => Value::F32(v),
        Elem::F64(v) => Value::F64(v),
        Elem::Enum(v) => Value::Enum(v),
        Elem::Bytes(b) => Value::Bytes(b.clone()),
        Elem::Message(m) => Value::from(m.clone()),
    }
}

// ------------------------------------------------------------------------------------------
// Maps

fn key_kind(field: &FieldDesc) -> Kind {
    match field.label {
        Label::Map(k) => k,
        _ => Kind::String,
    }
}

fn key_error(py: Python<'_>, key: &Bound<'_, PyAny>) -> PyErr {
    PyKeyError::new_err(key.clone().unbind().into_any().clone_ref(py))
}

/// A map whose values are messages.
#[pyclass(frozen, mapping, module = "fastckpt._fastckpt", name = "MessageMap")]
#[derive(Debug)]
pub struct MessageMap {
    owner: Arc<Loc>,
    field: &'static FieldDesc,
}

impl MessageMap {
    pub fn new(owner: Arc<Loc>, field: &'static FieldDesc) -> Self {
        Self { owner, field }
    }

    fn keys_vec(&self, py: Python<'_>) -> Vec<MapKey> {
        self.owner
            .with(py, |m| map_of(m, self.field.number).map(|map| map.keys().cloned().collect()).unwrap_or_default())
    }

    fn snapshot(&self, py: Python<'_>) -> Map {
        self.owner.with(py, |m| map_of(m, self.field.number).cloned()).unwrap_or_default()
    }

    /// The value object for an existing key; `None` when the key is absent.
    fn existing<'py>(&self, py: Python<'py>, key: MapKey) -> PyResult<Option<Bound<'py, PyAny>>> {
        let n = self.field.number;
        let loc = self.owner.child_with(py, |m| {
            if map_of(m, n).is_some_and(|map| map.contains_key(&key)) {
                Ok(Step::Entry(n, key))
            } else {
                Err(())
            }
        });
        match loc {
            Ok(loc) => Ok(Some(wrap(py, message_kind(self.field), loc)?)),
            Err(()) => Ok(None),
        }
    }

    /// The value object for a key, the entry created empty if absent.
    fn entry<'py>(&self, py: Python<'py>, key: MapKey) -> PyResult<Bound<'py, PyAny>> {
        let n = self.field.number;
        let elem = message_kind(self.field);
        let loc = self.owner.write(py, |ed| {
            let map = map_mut(ed, n)?;
            if !map.contains_key(&key) {
                map.insert(key.clone(), Value::from(Message::new(elem)));
            }
            Ok::<_, PyErr>(ed.child(Step::Entry(n, key)))
        })?;
        wrap(py, elem, loc)
    }

    fn remove_keys(&self, py: Python<'_>, keys: &[MapKey]) -> PyResult<()> {
        let n = self.field.number;
        self.owner.write(py, |ed| {
            if map_of(ed.get(), n).is_none() {
                return Ok(());
            }
            ed.cut_entries(n, keys);
            let map = map_mut(ed, n)?;
            keys.iter().for_each(|k| drop(map.remove(k)));
            Ok(())
        })
    }

    fn key(&self, key: &Bound<'_, PyAny>) -> PyResult<MapKey> {
        py_to_key(key_kind(self.field), key)
    }

    fn converted(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Map> {
        if let Ok(theirs) = other.cast::<MessageMap>() {
            return Ok(theirs.get().snapshot(py));
        }
        let mut map = Map::new();
        for item in other.call_method0("items")?.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            map.insert(self.key(&k)?, Value::from(message_from_py(py, &v, message_kind(self.field))?));
        }
        Ok(map)
    }
}

#[pymethods]
#[allow(non_snake_case)] // protobuf's method names
impl MessageMap {
    fn __len__(&self, py: Python<'_>) -> usize {
        self.owner.with(py, |m| map_of(m, self.field.number).map_or(0, Map::len))
    }

    /// The value for `key`, created empty when absent (as protobuf does). A present key is found
    /// under the read lock: reading leaves the message as it is (still encoded where it was).
    fn __getitem__<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let key = self.key(key)?;
        match self.existing(py, key.clone())? {
            Some(value) => Ok(value),
            None => self.entry(py, key),
        }
    }

    fn __setitem__(&self, _key: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyValueError::new_err("May not set values directly, call my_map[key].foo = 5"))
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = self.key(key)?;
        if !self.keys_vec(py).contains(&k) {
            return Err(key_error(py, key));
        }
        self.remove_keys(py, &[k])
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> bool {
        match self.key(key) {
            Ok(k) => self.owner.with(py, |m| map_of(m, self.field.number).is_some_and(|map| map.contains_key(&k))),
            Err(_) => false,
        }
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.keys(py)?.try_iter()?.into_any())
    }

    fn __richcmp__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let equal = if other.cast::<MessageMap>().is_ok() || other.is_instance_of::<PyDict>() {
            self.converted(py, other).ok().map(|theirs| self.snapshot(py) == theirs)
        } else {
            None
        };
        richcmp_result(py, equal, op)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let dict = PyDict::new(py);
        for (k, v) in self.items(py)? {
            dict.set_item(k, v)?;
        }
        Ok(dict.repr()?.to_string())
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let kind = key_kind(self.field);
        let keys = self.keys_vec(py).iter().map(|k| key_to_py(py, kind, k)).collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, keys)
    }

    fn values<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        Ok(self.items(py)?.into_iter().map(|(_, v)| v).collect())
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
        let kind = key_kind(self.field);
        let mut out = Vec::new();
        for k in self.keys_vec(py) {
            let key = key_to_py(py, kind, &k)?;
            if let Some(v) = self.existing(py, k)? {
                out.push((key, v));
            }
        }
        Ok(out)
    }

    /// The value for `key` if present (nothing is created), else `default`.
    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.existing(py, self.key(key)?)? {
            Some(v) => v,
            None => default.unwrap_or_else(|| py.None().into_bound(py)),
        })
    }

    fn get_or_create<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.entry(py, self.key(key)?)
    }

    /// Removes `key` and returns its value, detached; `default` (or `KeyError`) when absent.
    #[pyo3(signature = (key, default = None))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.key(key)?;
        match self.existing(py, k.clone())? {
            Some(v) => {
                self.remove_keys(py, &[k])?;
                Ok(v)
            }
            None => default.ok_or_else(|| key_error(py, key)),
        }
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        let keys = self.keys_vec(py);
        self.remove_keys(py, &keys)
    }

    /// Copies the entries of another map in, replacing the values of keys present in both.
    fn MergeFrom(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let theirs = self.converted(py, other)?;
        let keys: Vec<MapKey> = theirs.keys().cloned().collect();
        let n = self.field.number;
        self.owner.write(py, |ed| {
            ed.cut_entries(n, &keys);
            let map = map_mut(ed, n)?;
            for (k, v) in theirs.iter() {
                map.insert(k.clone(), v.clone());
            }
            Ok(())
        })
    }
}

/// A map whose values are scalars.
#[pyclass(frozen, mapping, module = "fastckpt._fastckpt", name = "ScalarMap")]
#[derive(Debug)]
pub struct ScalarMap {
    owner: Arc<Loc>,
    field: &'static FieldDesc,
}

impl ScalarMap {
    pub fn new(owner: Arc<Loc>, field: &'static FieldDesc) -> Self {
        Self { owner, field }
    }

    fn snapshot(&self, py: Python<'_>) -> Map {
        self.owner.with(py, |m| map_of(m, self.field.number).cloned()).unwrap_or_default()
    }

    fn key(&self, key: &Bound<'_, PyAny>) -> PyResult<MapKey> {
        py_to_key(key_kind(self.field), key)
    }

    fn lookup(&self, py: Python<'_>, key: &MapKey) -> Option<Value> {
        self.owner.with(py, |m| map_of(m, self.field.number).and_then(|map| map.get(key)).cloned())
    }

    fn edit<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Map) -> R) -> PyResult<R> {
        let n = self.field.number;
        self.owner.write(py, |ed| Ok(f(map_mut(ed, n)?)))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        let kind = key_kind(self.field);
        for (k, v) in self.snapshot(py).iter() {
            dict.set_item(key_to_py(py, kind, k)?, value_to_py(py, self.field.kind, Some(v))?)?;
        }
        Ok(dict)
    }

    fn insert(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = self.key(key)?;
        let v = element_from_py(py, self.field.kind, value)?;
        self.edit(py, |map| drop(map.insert(k, v)))
    }
}

#[pymethods]
#[allow(non_snake_case)] // protobuf's method names
impl ScalarMap {
    fn __len__(&self, py: Python<'_>) -> usize {
        self.owner.with(py, |m| map_of(m, self.field.number).map_or(0, Map::len))
    }

    /// The value for `key`; absent keys are inserted with the default value (as protobuf does).
    fn __getitem__<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = self.key(key)?;
        let value = match self.lookup(py, &k) {
            Some(v) => v,
            None => {
                let zero = Value::zero(self.field.kind);
                self.edit(py, |map| drop(map.insert(k, zero.clone())))?;
                zero
            }
        };
        value_to_py(py, self.field.kind, Some(&value))
    }

    fn __setitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.insert(py, key, value)
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let k = self.key(key)?;
        match self.edit(py, |map| map.remove(&k))? {
            Some(_) => Ok(()),
            None => Err(key_error(py, key)),
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> bool {
        self.key(key).is_ok_and(|k| self.lookup(py, &k).is_some())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.keys(py)?.try_iter()?.into_any())
    }

    fn __richcmp__(&self, py: Python<'_>, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let theirs = match other.cast::<ScalarMap>() {
            Ok(m) => Some(m.get().to_dict(py)?.into_any()),
            Err(_) if other.is_instance_of::<PyDict>() => Some(other.clone()),
            Err(_) => None,
        };
        let equal = match theirs {
            Some(t) => Some(self.to_dict(py)?.eq(t)?),
            None => None,
        };
        richcmp_result(py, equal, op)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.to_dict(py)?.repr()?.to_string())
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        Ok(self.to_dict(py)?.keys())
    }

    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        Ok(self.to_dict(py)?.values())
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        Ok(self.to_dict(py)?.items())
    }

    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.key(key).ok().and_then(|k| self.lookup(py, &k)) {
            Some(v) => value_to_py(py, self.field.kind, Some(&v)),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    #[pyo3(signature = (key, default = None))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.key(key)?;
        match self.edit(py, |map| map.remove(&k))? {
            Some(v) => value_to_py(py, self.field.kind, Some(&v)),
            None => default.ok_or_else(|| key_error(py, key)),
        }
    }

    #[pyo3(signature = (key, default = None))]
    fn setdefault<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = self.key(key)?;
        if self.lookup(py, &k).is_none() {
            match &default {
                Some(d) => self.insert(py, key, d)?,
                None => self.edit(py, |map| drop(map.insert(k, Value::zero(self.field.kind))))?,
            }
        }
        self.__getitem__(py, key)
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        let n = self.field.number;
        self.owner.write(py, |ed| match ed.get() {
            None => Ok(()),
            Some(_) => ed.target().map_err(gone)?.clear_by_number(n).py_err(py),
        })
    }

    /// Sets the entries of a mapping (or of `(key, value)` pairs).
    fn update(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let items = if other.hasattr("items")? { other.call_method0("items")? } else { other.clone() };
        for item in items.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            self.insert(py, &k, &v)?;
        }
        Ok(())
    }

    fn MergeFrom(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        self.update(py, other)
    }
}
