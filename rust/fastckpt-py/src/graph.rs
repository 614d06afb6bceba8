//! `_fastckpt.Graph`, `Operation`, `Tensor`, `DType` and `import_graph_def`: the Python face of
//! the engine's in-memory graph (`fastckpt::graph::Graph`).
//!
//! ```text
//! Graph ── RwLock<core Graph>       shared by every handle; imports write it with the GIL released
//! Operation ── Py<Graph> + OpId     a handle, made on demand; equal when graph and id are
//! Tensor ── Py<Graph> + OpId + k    "op:k"
//! DType ── DataType enum value      TensorFlow's names ("float32", "resource", "float32_ref")
//! ```
//! Lookups by name raise TensorFlow's `KeyError`/`ValueError`/`TypeError` texts
//! (`tf.Graph.as_graph_element`), and `Operation.get_attr` returns what TensorFlow's does.

use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use fastckpt::graph::{self, Element, ImportOptions, OpId, TensorRef};
use fastckpt::proto::schema::{Kind, GRAPH_DEF, OP_LIST};
use fastckpt::proto::{List, Message, Value};
use fastckpt::DataType;
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::convert;
use crate::errors::IntoPy;
use crate::forks;
use crate::locks;
use crate::message::{message_from_py, new_message, with_message};

/// A TensorFlow graph: operations in creation order, the function library, the versions.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug, Default)]
pub struct Graph {
    inner: RwLock<graph::Graph>,
}

impl Graph {
    /// The graph for reading; an import in progress is waited for with the GIL released.
    fn read(&self, py: Python<'_>) -> RwLockReadGuard<'_, graph::Graph> {
        locks::read(py, &self.inner)
    }
}

/// A name given as `str` or `bytes`, as TensorFlow accepts them; `what` names the kind in the
/// `TypeError` ("Operation", "Tensor").
fn name_arg(name: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = name.cast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if let Ok(b) = name.cast::<PyBytes>() {
        return Ok(String::from_utf8_lossy(b.as_bytes()).into_owned());
    }
    let type_name = name.get_type().name()?;
    Err(PyTypeError::new_err(format!("{what} names are strings (or similar), not {type_name}.")))
}

fn repr(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(PyString::new(py, s).repr()?.to_str()?.to_owned())
}

fn operation(py: Python<'_>, graph: &Py<Graph>, id: OpId) -> Operation {
    Operation { graph: graph.clone_ref(py), id }
}

fn tensor(py: Python<'_>, graph: &Py<Graph>, t: TensorRef) -> Tensor {
    Tensor { graph: graph.clone_ref(py), op: t.op, index: t.index }
}

/// `tf.Graph._as_graph_element_locked` for a tensor name: the tensor, or TensorFlow's error.
fn find_tensor(py: Python<'_>, g: &graph::Graph, name: &str) -> PyResult<TensorRef> {
    let Some((op_name, index)) = name.split_once(':') else {
        let what = if g.operation_by_name(name).is_some() {
            "refers to an Operation"
        } else {
            "looks like an (invalid) Operation name"
        };
        return Err(PyValueError::new_err(format!(
            "The name {} {what}, not a Tensor. Tensor names must be of the form \"<op_name>:<output_index>\".",
            repr(py, name)?
        )));
    };
    let index = match index.trim().parse::<i64>() {
        Ok(i) if !index.contains(':') => i,
        _ => {
            return Err(PyValueError::new_err(format!(
                "The name {} looks a like a Tensor name, but is not a valid one. Tensor names must be of the form \"<op_name>:<output_index>\".",
                repr(py, name)?
            )))
        }
    };
    let Some(op) = g.operation_by_name(op_name) else {
        return Err(PyKeyError::new_err(format!(
            "The name {} refers to a Tensor which does not exist. The operation, {}, does not exist in the graph.",
            repr(py, name)?,
            repr(py, op_name)?
        )));
    };
    let outputs = g.op(op).num_outputs();
    // Python indexing: `op:-1` is the last output.
    let from_end = |back: i64| outputs.checked_sub(usize::try_from(back.unsigned_abs()).ok()?);
    let resolved = if index < 0 { from_end(index) } else { usize::try_from(index).ok() };
    let Some(resolved) = resolved.filter(|&r| r < outputs) else {
        return Err(PyKeyError::new_err(format!(
            "The name {} refers to a Tensor which does not exist. The operation, {}, exists but only has {outputs} outputs.",
            repr(py, name)?,
            repr(py, op_name)?
        )));
    };
    Ok(TensorRef { op, index: resolved })
}

#[pymethods]
impl Graph {
    #[new]
    fn py_new() -> Self {
        Self::default()
    }

    /// The operation of this name (`KeyError` if none, `ValueError` for a tensor name).
    fn get_operation_by_name(slf: &Bound<'_, Self>, name: &Bound<'_, PyAny>) -> PyResult<Operation> {
        let py = slf.py();
        let name = name_arg(name, "Operation")?;
        if name.contains(':') {
            return Err(PyValueError::new_err(format!(
                "Name {} appears to refer to a Tensor, not a Operation.",
                repr(py, &name)?
            )));
        }
        let id = slf.get().read(py).operation_by_name(&name);
        match id {
            Some(id) => Ok(operation(py, &slf.clone().unbind(), id)),
            None => Err(PyKeyError::new_err(format!(
                "The name {} refers to an Operation not in the graph.",
                repr(py, &name)?
            ))),
        }
    }

    /// The tensor `"op:k"` (`KeyError` if there is no such op or output, `ValueError` for a
    /// malformed name).
    fn get_tensor_by_name(slf: &Bound<'_, Self>, name: &Bound<'_, PyAny>) -> PyResult<Tensor> {
        let py = slf.py();
        let name = name_arg(name, "Tensor")?;
        let t = find_tensor(py, &slf.get().read(py), &name)?;
        Ok(tensor(py, &slf.clone().unbind(), t))
    }

    /// Every operation, in creation order.
    fn get_operations(slf: &Bound<'_, Self>) -> Vec<Operation> {
        let py = slf.py();
        let n = slf.get().read(py).len();
        let graph = slf.clone().unbind();
        (0..n).map(|i| operation(py, &graph, OpId(i))).collect()
    }

    /// The graph as a `GraphDef`: nodes in creation order, the library, the versions.
    fn as_graph_def<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Converting a large graph takes a while: done without the GIL, like the import.
        let _section = forks::enter(py);
        let def = py.detach(|| self.inner.read().unwrap_or_else(PoisonError::into_inner).to_graph_def());
        new_message(py, def)
    }

    /// The `VersionDef` of the graph (`tf.Graph.graph_def_versions`): TensorFlow's producer
    /// version for a new graph, merged with each imported GraphDef's.
    #[getter]
    fn graph_def_versions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let versions = self.read(py).versions_message();
        new_message(py, versions)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.read(py).len()
    }

    /// Whether an operation has this name.
    fn __contains__(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> bool {
        match name_arg(name, "Operation") {
            Ok(name) => self.read(py).operation_by_name(&name).is_some(),
            Err(_) => false,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<fastckpt.Graph with {} operations>", self.read(py).len())
    }
}

/// One operation of a [`Graph`].
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Operation {
    graph: Py<Graph>,
    id: OpId,
}

impl Operation {
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&graph::Graph, &graph::Operation) -> R) -> R {
        let g = self.graph.bind(py).get().read(py);
        f(&g, g.op(self.id))
    }
}

/// The Python value of an `AttrValue`, as `tf.Operation.get_attr` gives it.
fn attr_to_py<'py>(py: Python<'py>, attr: &Message) -> PyResult<Bound<'py, PyAny>> {
    let Some(field) = attr.which_oneof("value") else {
        return Ok(PyList::empty(py).into_any());
    };
    let value = attr.get_by_number(field.number);
    match field.name {
        "list" => {
            let Some(Value::Message(list)) = value else { return Ok(PyList::empty(py).into_any()) };
            for name in ["s", "i", "f", "b", "type", "shape", "tensor", "func"] {
                let items: Vec<Bound<'py, PyAny>> = match list.list(name) {
                    Some(List::Message(ms)) if !ms.is_empty() => {
                        ms.iter().map(|m| new_message(py, m.clone())).collect::<PyResult<_>>()?
                    }
                    Some(List::Enum(ts)) if !ts.is_empty() => {
                        ts.iter().map(|t| dtype(py, DataType::from_proto(i64::from(*t)).0)).collect::<PyResult<_>>()?
                    }
                    Some(l) if !l.is_empty() => {
                        l.iter().map(|e| convert::elem_to_py(py, Kind::Bytes, e)).collect::<PyResult<_>>()?
                    }
                    _ => continue,
                };
                return Ok(PyList::new(py, items)?.into_any());
            }
            Ok(PyList::empty(py).into_any())
        }
        "type" => dtype(py, DataType::from_proto(attr.int("type")).0),
        "shape" | "tensor" | "func" => match value {
            Some(Value::Message(m)) => new_message(py, (**m).clone()),
            _ => Ok(py.None().into_bound(py)),
        },
        "placeholder" => convert::text_to_py(py, attr.bytes("placeholder")),
        _ => convert::value_to_py(py, Kind::Bytes, value),
    }
}

fn dtype(py: Python<'_>, value: u32) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(py, DType { value })?.into_any())
}

#[pymethods]
impl Operation {
    #[getter]
    fn name(&self, py: Python<'_>) -> String {
        self.with(py, |_, op| op.name().to_owned())
    }

    /// The op type (`"Const"`, or a library function's name).
    #[getter]
    fn r#type(&self, py: Python<'_>) -> String {
        self.with(py, |_, op| op.op_type().to_owned())
    }

    #[getter]
    fn device(&self, py: Python<'_>) -> String {
        self.with(py, |_, op| op.device().to_owned())
    }

    #[getter]
    fn graph(&self, py: Python<'_>) -> Py<Graph> {
        self.graph.clone_ref(py)
    }

    /// The data inputs, in order.
    #[getter]
    fn inputs(&self, py: Python<'_>) -> Vec<Tensor> {
        let refs = self.with(py, |_, op| op.inputs().to_vec());
        refs.into_iter().map(|t| tensor(py, &self.graph, t)).collect()
    }

    /// The operations this one has control dependencies on, in the order they were added.
    #[getter]
    fn control_inputs(&self, py: Python<'_>) -> Vec<Operation> {
        let ids = self.with(py, |_, op| op.control_inputs().to_vec());
        ids.into_iter().map(|id| operation(py, &self.graph, id)).collect()
    }

    #[getter]
    fn outputs(&self, py: Python<'_>) -> Vec<Tensor> {
        let n = self.with(py, |_, op| op.num_outputs());
        (0..n).map(|index| tensor(py, &self.graph, TensorRef { op: self.id, index })).collect()
    }

    /// The operation as a `NodeDef` (a copy).
    #[getter]
    fn node_def<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let def = self.with(py, |g, _| g.node_def(self.id));
        new_message(py, def)
    }

    /// An attr's value as `tf.Operation.get_attr` returns it: `bytes`, `int`, `float`, `bool`,
    /// `DType` for types, `TensorShapeProto`/`TensorProto`/`NameAttrList` messages, or a list of
    /// those; `ValueError` if the operation has no such attr.
    fn get_attr<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let (attr, op_name) = self.with(py, |_, op| (op.attr(name).cloned(), op.name().to_owned()));
        match attr {
            Some(attr) => attr_to_py(py, &attr),
            None => {
                Err(PyValueError::new_err(format!("Operation {} has no attr named '{name}'.", repr(py, &op_name)?)))
            }
        }
    }

    /// `tf.Operation.op_def`: the `OpDef` of its type — the op TensorFlow registers, or the
    /// signature of the library function it calls; `None` for neither.
    #[getter]
    fn op_def<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let def = self.with(py, |g, op| match g.function(op.op_type()) {
            Some(function) => function.def.message("signature").cloned(),
            None => graph::registry().ok().and_then(|ops| ops.op_def_message(op.op_type())),
        });
        match def {
            Some(def) => new_message(py, def),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// `tf.Operation.colocation_groups()`: the `loc:@x` entries of the `_class` attr, or
    /// `[b"loc:@<own name>"]` when it has none.
    fn colocation_groups<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        let groups = self.with(py, |_, op| op.colocation_groups());
        groups.iter().map(|group| PyBytes::new(py, group)).collect()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let (name, op_type) = self.with(py, |_, op| (op.name().to_owned(), op.op_type().to_owned()));
        Ok(format!("<fastckpt.Operation {} type={op_type}>", repr(py, &name)?))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Operation>().is_ok_and(|o| o.get().graph.is(&self.graph) && o.get().id == self.id)
    }

    fn __hash__(&self) -> u64 {
        (self.graph.as_ptr() as u64).wrapping_mul(31).wrapping_add(self.id.0 as u64)
    }
}

/// Output `value_index` of an operation.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Tensor {
    graph: Py<Graph>,
    op: OpId,
    index: usize,
}

impl Tensor {
    fn tensor_ref(&self) -> TensorRef {
        TensorRef { op: self.op, index: self.index }
    }
}

#[pymethods]
impl Tensor {
    /// `"op:k"`.
    #[getter]
    fn name(&self, py: Python<'_>) -> String {
        self.graph.bind(py).get().read(py).tensor_name(self.tensor_ref())
    }

    #[getter]
    fn op(&self, py: Python<'_>) -> Operation {
        Operation { graph: self.graph.clone_ref(py), id: self.op }
    }

    #[getter]
    fn value_index(&self) -> usize {
        self.index
    }

    #[getter]
    fn graph(&self, py: Python<'_>) -> Py<Graph> {
        self.graph.clone_ref(py)
    }

    #[getter]
    fn dtype(&self, py: Python<'_>) -> DType {
        let t = self.graph.bind(py).get().read(py).op(self.op).output_types()[self.index];
        DType { value: t.0 }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let name = self.name(py);
        Ok(format!("<fastckpt.Tensor {} dtype={}>", repr(py, &name)?, self.dtype(py).name()))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Tensor>()
            .is_ok_and(|o| o.get().graph.is(&self.graph) && o.get().op == self.op && o.get().index == self.index)
    }

    fn __hash__(&self) -> u64 {
        (self.graph.as_ptr() as u64).wrapping_mul(31).wrapping_add(self.op.0 as u64).wrapping_mul(31)
            ^ self.index as u64
    }
}

/// A TensorFlow `DataType` with `tf.DType`'s names: `float32`, `float64`, `float16`, `resource`,
/// `float32_ref`, …; equal to whatever `tf.as_dtype` reads as the same type (a `tf.DType`, the
/// enum value, a name, a numpy type).
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug, Clone, Copy)]
pub struct DType {
    value: u32,
}

#[pymethods]
impl DType {
    /// Only values of the enum (reference types included), as `tf.DType` takes them.
    #[new]
    fn py_new(as_datatype_enum: i64) -> PyResult<Self> {
        match u32::try_from(as_datatype_enum).map(DataType) {
            Ok(t) if t.is_valid() && t != DataType::INVALID => Ok(DType { value: t.0 }),
            _ => Err(PyTypeError::new_err(format!(
                "{as_datatype_enum} does not correspond to a valid tensorflow::DataType"
            ))),
        }
    }

    /// Pickles as its enum value (`tf.DType` pickles by name).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (u32,))> {
        Ok((slf.get_type().into_any(), (slf.get().value,)))
    }

    #[getter]
    fn name(&self) -> String {
        DataType(self.value).python_name()
    }

    #[getter]
    fn as_datatype_enum(&self) -> u32 {
        self.value
    }

    #[getter]
    fn is_ref_dtype(&self) -> bool {
        DataType(self.value).is_ref()
    }

    /// The non-reference type (`float32` for `float32_ref`).
    #[getter]
    fn base_dtype(&self) -> DType {
        DType { value: DataType(self.value).base().0 }
    }

    /// The reference type (`float32_ref` for `float32`; a reference type is its own), as
    /// `tf.DType._as_ref`.
    #[getter(_as_ref)]
    fn as_ref_dtype(&self) -> DType {
        let t = DataType(self.value);
        DType { value: t.to_ref().unwrap_or(t).0 }
    }

    fn __repr__(&self) -> String {
        format!("fastckpt.{}", self.name())
    }

    fn __str__(&self) -> String {
        format!("<dtype: '{}'>", self.name())
    }

    /// As `tf.DType.__eq__`: `other` is read by `tf.as_dtype` (`fastckpt._dtypes.as_dtype`), so
    /// a `DType` equals its enum value, its names and its numpy type; what that refuses is unequal.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(d) = other.cast::<DType>() {
            return Ok(d.get().value == self.value);
        }
        let py = other.py();
        static AS_DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        match AS_DTYPE.import(py, "fastckpt._dtypes", "as_dtype")?.call1((other,)) {
            Ok(value) => Ok(value.extract::<u32>().ok() == Some(self.value)),
            Err(e) if e.is_instance_of::<PyTypeError>(py) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn __hash__(&self) -> u64 {
        u64::from(self.value)
    }
}

/// An input_map value: a `Tensor` of `graph`, or a tensor name in it.
fn input_map_value(py: Python<'_>, graph: &Py<Graph>, value: &Bound<'_, PyAny>) -> PyResult<TensorRef> {
    if let Ok(t) = value.cast::<Tensor>() {
        let t = t.get();
        if !t.graph.is(graph) {
            return Err(PyValueError::new_err(format!(
                "input_map value {} is not a tensor of the graph imported into",
                value.repr()?
            )));
        }
        return Ok(t.tensor_ref());
    }
    if value.is_instance_of::<PyString>() || value.is_instance_of::<PyBytes>() {
        let name = name_arg(value, "Tensor")?;
        return find_tensor(py, &graph.bind(py).get().read(py), &name);
    }
    Err(PyTypeError::new_err(format!(
        "input_map values must be fastckpt Tensors of the destination graph or tensor names, not {}",
        value.get_type().name()?
    )))
}

/// `tf.compat.v1.import_graph_def` into `graph`; the import itself runs with the GIL released.
/// Returns the requested elements, or `None` when `return_elements` is `None`.
#[pyfunction]
#[pyo3(signature = (graph, graph_def, input_map, return_elements, name, producer_op_list, host))]
pub fn import_graph_def<'py>(
    graph: &Bound<'py, Graph>,
    graph_def: &Bound<'py, PyAny>,
    input_map: Option<&Bound<'py, PyDict>>,
    return_elements: Option<Vec<String>>,
    name: Option<String>,
    producer_op_list: Option<&Bound<'py, PyAny>>,
    host: String,
) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
    let py = graph.py();
    let producer_op_list = producer_op_list.map(|p| message_from_py(py, p, &OP_LIST)).transpose()?;
    let graph_py = graph.clone().unbind();
    let mut map = Vec::new();
    for (key, value) in input_map.into_iter().flat_map(|d| d.iter()) {
        let key = name_arg(&key, "input_map key")?;
        map.push((key, input_map_value(py, &graph_py, &value)?));
    }
    let options = ImportOptions { name, input_map: map, return_elements, producer_op_list, host, ..Default::default() };
    let core = graph.get();
    let section = forks::enter(py);
    let elements = with_message(py, graph_def, &GRAPH_DEF, |def| {
        py.detach(|| {
            graph::import_graph_def(&mut core.inner.write().unwrap_or_else(PoisonError::into_inner), def, &options)
        })
    })?
    .py_err(py)?;
    drop(section);
    elements
        .map(|elements| {
            elements
                .into_iter()
                .map(|e| match e {
                    Element::Operation(id) => Ok(Bound::new(py, operation(py, &graph_py, id))?.into_any()),
                    Element::Tensor(t) => Ok(Bound::new(py, tensor(py, &graph_py, t))?.into_any()),
                })
                .collect()
        })
        .transpose()
}
