//! The meta graph a TF1 `Saver` writes next to a checkpoint (`P.meta`), built from the variables'
//! names, dtypes and shapes alone — what TensorFlow 2.21's `tf.compat.v1.train.Saver` exports for
//! reference variables, so that `tf.compat.v1.train.import_meta_graph` rebuilds a working Saver:
//!
//! ```text
//! v (VariableV2) ◀─ v/Assign(v, v/Initializer/zeros)      v/read = Identity(v)      per variable
//! save/filename/input = Const "model" → save/filename → save/Const     (the filename tensor)
//! save/SaveV2(save/Const, tensor_names, shape_and_slices, v1, v2, …) → save/control_dependency
//! save/RestoreV2(save/Const, tensor_names, shape_and_slices) on CPU → save/Assign, save/Assign_1, …
//! save/restore_all = NoOp(^save/Assign, ^save/Assign_1, …)
//! SaverDef { save/Const:0, save/control_dependency:0, save/restore_all, …, V2 }
//! collections "variables" and "trainable_variables": one serialized VariableDef per variable
//! ```
//! Variables come sorted by name, as TensorFlow's Saver sorts them. The zero initializers are
//! `Const`s without values (TensorFlow fills such a tensor with zeros).

use bytes::Bytes;

use super::ops::GRAPH_DEF_VERSION;
use crate::dtype::DataType;
use crate::error::Result;
use crate::proto::binary;
use crate::proto::message::{List, MapKey, Message, Value};
use crate::proto::schema::{
    MessageDesc, ATTR_VALUE, ATTR_VALUE_LIST_VALUE, COLLECTION_DEF, COLLECTION_DEF_BYTES_LIST, GRAPH_DEF,
    META_GRAPH_DEF, META_GRAPH_DEF_META_INFO_DEF, NODE_DEF, SAVER_DEF, TENSOR_PROTO, TENSOR_SHAPE_PROTO,
    TENSOR_SHAPE_PROTO_DIM, VARIABLE_DEF, VERSION_DEF,
};

/// One variable of the Saver: checkpoint name, dtype, shape.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableSpec {
    pub name: String,
    pub dtype: DataType,
    pub shape: Vec<i64>,
}

/// `SaverDef` settings recorded in the meta graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaverOptions {
    pub max_to_keep: i32,
    pub keep_checkpoint_every_n_hours: f32,
}

const CPU: &str = "/device:CPU:0";
/// `SaverDef.V2`.
const SAVER_V2: i32 = 2;

fn message(desc: &'static MessageDesc, fields: Vec<(&str, Value)>) -> Result<Message> {
    let mut msg = Message::new(desc);
    for (name, value) in fields {
        msg.set(name, value)?;
    }
    Ok(msg)
}

fn attr(field: &str, value: Value) -> Result<Value> {
    Ok(message(&ATTR_VALUE, vec![(field, value)])?.into())
}

fn type_attr(dtype: DataType) -> Result<Value> {
    attr("type", Value::Enum(dtype.0 as i32))
}

fn shape(dims: &[i64]) -> Result<Message> {
    let dims = dims
        .iter()
        .map(|&size| message(&TENSOR_SHAPE_PROTO_DIM, vec![("size", Value::I64(size))]))
        .collect::<Result<Vec<_>>>()?;
    message(&TENSOR_SHAPE_PROTO, vec![("dim", Value::List(List::Message(dims)))])
}

fn string_tensor(values: &[&str], vector: bool) -> Result<Value> {
    let dims: &[i64] = if vector { &[values.len() as i64] } else { &[] };
    let strings = values.iter().map(|v| Bytes::copy_from_slice(v.as_bytes())).collect();
    let tensor = message(
        &TENSOR_PROTO,
        vec![
            ("dtype", Value::Enum(DataType::STRING.0 as i32)),
            ("tensor_shape", shape(dims)?.into()),
            ("string_val", Value::List(List::Bytes(strings))),
        ],
    )?;
    attr("tensor", tensor.into())
}

fn node(name: &str, op: &str, inputs: &[&str], device: &str, attrs: Vec<(&str, Value)>) -> Result<Message> {
    let mut n = message(
        &NODE_DEF,
        vec![
            ("name", name.into()),
            ("op", op.into()),
            ("input", Value::List(List::Bytes(inputs.iter().map(|i| Bytes::copy_from_slice(i.as_bytes())).collect()))),
            ("device", device.into()),
        ],
    )?;
    for (key, value) in attrs {
        n.map_insert("attr", MapKey::from(key), value)?;
    }
    Ok(n)
}

fn string_const(name: &str, values: &[&str], vector: bool, device: &str) -> Result<Message> {
    node(
        name,
        "Const",
        &[],
        device,
        vec![("dtype", type_attr(DataType::STRING)?), ("value", string_tensor(values, vector)?)],
    )
}

fn assign(name: &str, variable: &str, value: &str, dtype: DataType) -> Result<Message> {
    node(
        name,
        "Assign",
        &[variable, value],
        "",
        vec![
            ("T", type_attr(dtype)?),
            ("use_locking", attr("b", Value::Bool(true))?),
            ("validate_shape", attr("b", Value::Bool(true))?),
        ],
    )
}

fn dtypes_attr(specs: &[VariableSpec]) -> Result<Value> {
    let types = specs.iter().map(|s| s.dtype.0 as i32).collect();
    attr("list", message(&ATTR_VALUE_LIST_VALUE, vec![("type", Value::List(List::Enum(types)))])?.into())
}

/// The `MetaGraphDef` of a TF1 Saver over `variables` (see the module documentation).
pub fn meta_graph(variables: &[VariableSpec], options: SaverOptions) -> Result<Message> {
    let mut specs = variables.to_vec();
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut nodes = Vec::new();
    let mut variable_defs = Vec::new();
    for spec in &specs {
        let name = spec.name.as_str();
        let (init, assign_name, read) =
            (format!("{name}/Initializer/zeros"), format!("{name}/Assign"), format!("{name}/read"));
        nodes.push(node(
            name,
            "VariableV2",
            &[],
            "",
            vec![
                ("dtype", type_attr(spec.dtype)?),
                ("shape", attr("shape", shape(&spec.shape)?.into())?),
                ("container", attr("s", "".into())?),
                ("shared_name", attr("s", "".into())?),
            ],
        )?);
        let zeros = message(
            &TENSOR_PROTO,
            vec![("dtype", Value::Enum(spec.dtype.0 as i32)), ("tensor_shape", shape(&spec.shape)?.into())],
        )?;
        nodes.push(node(
            &init,
            "Const",
            &[],
            "",
            vec![("dtype", type_attr(spec.dtype)?), ("value", attr("tensor", zeros.into())?)],
        )?);
        nodes.push(assign(&assign_name, name, &init, spec.dtype)?);
        nodes.push(node(&read, "Identity", &[name], "", vec![("T", type_attr(spec.dtype)?)])?);
        let def = message(
            &VARIABLE_DEF,
            vec![
                ("variable_name", format!("{name}:0").as_str().into()),
                ("initializer_name", assign_name.as_str().into()),
                ("snapshot_name", format!("{read}:0").as_str().into()),
                ("initial_value_name", format!("{init}:0").as_str().into()),
                ("trainable", Value::Bool(true)),
            ],
        )?;
        variable_defs.push(Bytes::from(binary::encode(&def)));
    }

    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let empty = vec![""; names.len()];
    let string_placeholder = |name: &str, input: &str| {
        node(
            name,
            "PlaceholderWithDefault",
            &[input],
            "",
            vec![("dtype", type_attr(DataType::STRING)?), ("shape", attr("shape", shape(&[])?.into())?)],
        )
    };
    nodes.push(string_const("save/filename/input", &["model"], false, "")?);
    nodes.push(string_placeholder("save/filename", "save/filename/input")?);
    nodes.push(string_placeholder("save/Const", "save/filename")?);
    nodes.push(string_const("save/SaveV2/tensor_names", &names, true, "")?);
    nodes.push(string_const("save/SaveV2/shape_and_slices", &empty, true, "")?);
    let save_inputs: Vec<&str> = ["save/Const", "save/SaveV2/tensor_names", "save/SaveV2/shape_and_slices"]
        .into_iter()
        .chain(names.iter().copied())
        .collect();
    nodes.push(node("save/SaveV2", "SaveV2", &save_inputs, "", vec![("dtypes", dtypes_attr(&specs)?)])?);
    nodes.push(node(
        "save/control_dependency",
        "Identity",
        &["save/Const", "^save/SaveV2"],
        "",
        vec![("T", type_attr(DataType::STRING)?)],
    )?);
    nodes.push(string_const("save/RestoreV2/tensor_names", &names, true, CPU)?);
    nodes.push(string_const("save/RestoreV2/shape_and_slices", &empty, true, CPU)?);
    nodes.push(node(
        "save/RestoreV2",
        "RestoreV2",
        &["save/Const", "save/RestoreV2/tensor_names", "save/RestoreV2/shape_and_slices"],
        CPU,
        vec![("dtypes", dtypes_attr(&specs)?)],
    )?);
    let mut restore_all = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (name, output) = if i == 0 {
            ("save/Assign".to_string(), "save/RestoreV2".to_string())
        } else {
            (format!("save/Assign_{i}"), format!("save/RestoreV2:{i}"))
        };
        nodes.push(assign(&name, &spec.name, &output, spec.dtype)?);
        restore_all.push(format!("^{name}"));
    }
    let restore_inputs: Vec<&str> = restore_all.iter().map(String::as_str).collect();
    nodes.push(node("save/restore_all", "NoOp", &restore_inputs, "", vec![])?);

    let versions = message(&VERSION_DEF, vec![("producer", Value::I32(GRAPH_DEF_VERSION))])?;
    let graph = message(&GRAPH_DEF, vec![("node", Value::List(List::Message(nodes))), ("versions", versions.into())])?;
    let saver = message(
        &SAVER_DEF,
        vec![
            ("filename_tensor_name", "save/Const:0".into()),
            ("save_tensor_name", "save/control_dependency:0".into()),
            ("restore_op_name", "save/restore_all".into()),
            ("max_to_keep", Value::I32(options.max_to_keep)),
            ("keep_checkpoint_every_n_hours", Value::F32(options.keep_checkpoint_every_n_hours)),
            ("version", Value::Enum(SAVER_V2)),
        ],
    )?;
    let info = message(&META_GRAPH_DEF_META_INFO_DEF, vec![("tensorflow_version", "2.21.0".into())])?;
    let mut meta = message(
        &META_GRAPH_DEF,
        vec![("meta_info_def", info.into()), ("graph_def", graph.into()), ("saver_def", saver.into())],
    )?;
    for key in ["trainable_variables", "variables"] {
        let list =
            message(&COLLECTION_DEF_BYTES_LIST, vec![("value", Value::List(List::Bytes(variable_defs.clone())))])?;
        let collection = message(&COLLECTION_DEF, vec![("bytes_list", list.into())])?;
        meta.map_insert("collection_def", MapKey::from(key), collection.into())?;
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(meta: &Message) -> Vec<String> {
        let graph = meta.message("graph_def").expect("graph_def");
        graph.messages("node").iter().map(|n| String::from_utf8_lossy(n.bytes("name")).into_owned()).collect()
    }

    #[test]
    fn builds_the_save_subgraph_of_sorted_variables() {
        let specs = [
            VariableSpec { name: "v2".into(), dtype: DataType::DOUBLE, shape: vec![5] },
            VariableSpec { name: "v1".into(), dtype: DataType::FLOAT, shape: vec![3] },
        ];
        let meta = meta_graph(&specs, SaverOptions { max_to_keep: 5, keep_checkpoint_every_n_hours: 10000.0 }).unwrap();
        let names = names(&meta);
        assert_eq!(names[..4], ["v1", "v1/Initializer/zeros", "v1/Assign", "v1/read"]);
        assert_eq!(
            names[8..],
            [
                "save/filename/input",
                "save/filename",
                "save/Const",
                "save/SaveV2/tensor_names",
                "save/SaveV2/shape_and_slices",
                "save/SaveV2",
                "save/control_dependency",
                "save/RestoreV2/tensor_names",
                "save/RestoreV2/shape_and_slices",
                "save/RestoreV2",
                "save/Assign",
                "save/Assign_1",
                "save/restore_all",
            ]
        );
        let saver = meta.message("saver_def").unwrap();
        assert_eq!(saver.bytes("restore_op_name"), b"save/restore_all");
        let collection = meta.map_get("collection_def", &MapKey::from("variables"));
        assert!(
            matches!(collection, Some(Value::Message(c)) if c.message("bytes_list").unwrap().strings("value").len() == 2)
        );
    }
}
