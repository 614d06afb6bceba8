//! `DESCRIPTOR`s: what a message class is (`GraphDef.DESCRIPTOR.full_name`) and what its fields
//! are, with the names and numbering of protobuf's descriptor API for the parts code commonly
//! reads (`fields`, `fields_by_name`, `name`, `number`, `label`, `type`, `message_type`).

use fastckpt::proto::schema::{FieldDesc, Kind, Label, MessageDesc};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::message::short_name;

/// A message type.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct Descriptor {
    pub desc: &'static MessageDesc,
}

/// A field of a message type.
#[pyclass(frozen, module = "fastckpt._fastckpt")]
#[derive(Debug)]
pub struct FieldDescriptor {
    containing: &'static MessageDesc,
    field: &'static FieldDesc,
}

impl FieldDescriptor {
    pub fn new(containing: &'static MessageDesc, field: &'static FieldDesc) -> Self {
        Self { containing, field }
    }
}

#[pymethods]
impl Descriptor {
    /// `tensorflow.GraphDef`.
    #[getter]
    fn full_name(&self) -> &'static str {
        self.desc.name
    }

    /// `GraphDef`.
    #[getter]
    fn name(&self) -> &'static str {
        short_name(self.desc)
    }

    /// The fields in field-number order.
    #[getter]
    fn fields(&self) -> Vec<FieldDescriptor> {
        self.desc.fields.iter().map(|f| FieldDescriptor::new(self.desc, f)).collect()
    }

    #[getter]
    fn fields_by_name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for f in self.desc.fields {
            out.set_item(f.name, FieldDescriptor::new(self.desc, f))?;
        }
        Ok(out)
    }

    #[getter]
    fn fields_by_number<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for f in self.desc.fields {
            out.set_item(f.number, FieldDescriptor::new(self.desc, f))?;
        }
        Ok(out)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Descriptor>().is_ok_and(|o| o.get().desc == self.desc)
    }

    fn __hash__(&self) -> u64 {
        self.desc as *const MessageDesc as u64
    }

    fn __repr__(&self) -> String {
        format!("<Descriptor {}>", self.desc.name)
    }
}

/// protobuf's `FieldDescriptor.TYPE_*` number of a kind.
fn type_number(kind: Kind) -> u32 {
    match kind {
        Kind::Double => 1,
        Kind::Float => 2,
        Kind::Int64 => 3,
        Kind::Uint64 => 4,
        Kind::Int32 => 5,
        Kind::Fixed64 => 6,
        Kind::Fixed32 => 7,
        Kind::Bool => 8,
        Kind::String => 9,
        Kind::Message(_) => 11,
        Kind::Bytes => 12,
        Kind::Uint32 => 13,
        Kind::Enum(_) => 14,
        Kind::Sint64 => 18,
    }
}

#[pymethods]
impl FieldDescriptor {
    #[getter]
    fn name(&self) -> &'static str {
        self.field.name
    }

    /// `tensorflow.NodeDef.name`.
    #[getter]
    fn full_name(&self) -> String {
        format!("{}.{}", self.containing.name, self.field.name)
    }

    #[getter]
    fn number(&self) -> u32 {
        self.field.number
    }

    /// `LABEL_OPTIONAL` (1) or `LABEL_REPEATED` (3; maps too).
    #[getter]
    fn label(&self) -> u32 {
        match self.field.label {
            Label::Singular => 1,
            Label::Repeated | Label::Map(_) => 3,
        }
    }

    /// protobuf's `TYPE_*` number of the field (of a map's values, for maps).
    #[getter]
    fn r#type(&self) -> u32 {
        type_number(self.field.kind)
    }

    /// The type of a message field (of a map's values, for maps), else `None`.
    #[getter]
    fn message_type(&self) -> Option<Descriptor> {
        match self.field.kind {
            Kind::Message(desc) => Some(Descriptor { desc }),
            _ => None,
        }
    }

    #[getter]
    fn has_presence(&self) -> bool {
        self.field.has_presence()
    }

    /// Whether the field is a map.
    #[getter]
    fn is_map(&self) -> bool {
        self.field.is_map()
    }

    fn __repr__(&self) -> String {
        format!("<FieldDescriptor {}.{}>", self.containing.name, self.field.name)
    }
}
