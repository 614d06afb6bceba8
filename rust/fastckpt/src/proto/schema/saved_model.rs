//! SavedModel: `saved_model.proto`, `saved_object_graph.proto`, `struct.proto`,
//! `fingerprint.proto` (spec/protos.md §6).
//!
//! ```text
//! SavedModel        1 saved_model_schema_version (1) | 2 meta_graphs* (one for TF2)
//! SavedObjectGraph  1 nodes* {1 children*, oneof kind 4..10,12, 11 saveable_objects map, ...}
//!                   2 concrete_functions map<string, SavedConcreteFunction>
//! StructuredValue   oneof kind: 1 none | 11 float64 | 12 int64 (zig-zag) | 13 string | ...
//! ```

use super::Kind::*;
use super::{field, map, oneof, repeated, EnumDesc, MessageDesc, DATA_TYPE, META_GRAPH_DEF, TENSOR_PROTO};
use super::{ANY, TENSOR_SHAPE_PROTO, TRACKABLE_OBJECT_OBJECT_REFERENCE, TRACKABLE_OBJECT_SLOT_VARIABLE_REFERENCE};
use super::{TYPE_SPEC_PROTO, VARIABLE_AGGREGATION, VARIABLE_SYNCHRONIZATION, VERSION_DEF};

pub static SAVED_MODEL: MessageDesc = MessageDesc {
    name: "tensorflow.SavedModel",
    fields: &[field(1, "saved_model_schema_version", Int64), repeated(2, "meta_graphs", Message(&META_GRAPH_DEF))],
};

pub static FINGERPRINT_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.FingerprintDef",
    fields: &[
        field(1, "saved_model_checksum", Uint64),
        field(2, "graph_def_program_hash", Uint64),
        field(3, "signature_def_hash", Uint64),
        field(4, "saved_object_graph_hash", Uint64),
        field(5, "checkpoint_hash", Uint64),
        field(6, "version", Message(&VERSION_DEF)),
        field(7, "uuid", String),
    ],
};

pub static SAVED_OBJECT_GRAPH: MessageDesc = MessageDesc {
    name: "tensorflow.SavedObjectGraph",
    fields: &[
        repeated(1, "nodes", Message(&SAVED_OBJECT)),
        map(2, "concrete_functions", String, Message(&SAVED_CONCRETE_FUNCTION)),
    ],
};

pub static SAVED_OBJECT: MessageDesc = MessageDesc {
    name: "tensorflow.SavedObject",
    fields: &[
        repeated(1, "children", Message(&TRACKABLE_OBJECT_OBJECT_REFERENCE)),
        repeated(3, "slot_variables", Message(&TRACKABLE_OBJECT_SLOT_VARIABLE_REFERENCE)),
        oneof(4, "user_object", Message(&SAVED_USER_OBJECT), "kind"),
        oneof(5, "asset", Message(&SAVED_ASSET), "kind"),
        oneof(6, "function", Message(&SAVED_FUNCTION), "kind"),
        oneof(7, "variable", Message(&SAVED_VARIABLE), "kind"),
        oneof(8, "bare_concrete_function", Message(&SAVED_BARE_CONCRETE_FUNCTION), "kind"),
        oneof(9, "constant", Message(&SAVED_CONSTANT), "kind"),
        oneof(10, "resource", Message(&SAVED_RESOURCE), "kind"),
        map(11, "saveable_objects", String, Message(&SAVEABLE_OBJECT)),
        oneof(12, "captured_tensor", Message(&CAPTURED_TENSOR), "kind"),
        field(13, "registered_name", String),
        field(14, "serialized_user_proto", Message(&ANY)),
        repeated(15, "dependencies", Message(&TRACKABLE_OBJECT_OBJECT_REFERENCE)),
        field(16, "registered_saver", String),
    ],
};

pub static SAVED_USER_OBJECT: MessageDesc = MessageDesc {
    name: "tensorflow.SavedUserObject",
    fields: &[field(1, "identifier", String), field(2, "version", Message(&VERSION_DEF)), field(3, "metadata", String)],
};

pub static SAVED_ASSET: MessageDesc =
    MessageDesc { name: "tensorflow.SavedAsset", fields: &[field(1, "asset_file_def_index", Int32)] };

pub static SAVED_FUNCTION: MessageDesc = MessageDesc {
    name: "tensorflow.SavedFunction",
    fields: &[repeated(1, "concrete_functions", String), field(2, "function_spec", Message(&FUNCTION_SPEC))],
};

pub static SAVED_CONCRETE_FUNCTION: MessageDesc = MessageDesc {
    name: "tensorflow.SavedConcreteFunction",
    fields: &[
        repeated(2, "bound_inputs", Int32),
        field(3, "canonicalized_input_signature", Message(&STRUCTURED_VALUE)),
        field(4, "output_signature", Message(&STRUCTURED_VALUE)),
    ],
};

pub static SAVED_BARE_CONCRETE_FUNCTION: MessageDesc = MessageDesc {
    name: "tensorflow.SavedBareConcreteFunction",
    fields: &[
        field(1, "concrete_function_name", String),
        repeated(2, "argument_keywords", String),
        field(3, "allowed_positional_arguments", Int64),
        field(4, "function_spec", Message(&FUNCTION_SPEC)),
    ],
};

pub static SAVED_CONSTANT: MessageDesc =
    MessageDesc { name: "tensorflow.SavedConstant", fields: &[field(1, "operation", String)] };

pub static SAVED_VARIABLE: MessageDesc = MessageDesc {
    name: "tensorflow.SavedVariable",
    fields: &[
        field(1, "dtype", Enum(&DATA_TYPE)),
        field(2, "shape", Message(&TENSOR_SHAPE_PROTO)),
        field(3, "trainable", Bool),
        field(4, "synchronization", Enum(&VARIABLE_SYNCHRONIZATION)),
        field(5, "aggregation", Enum(&VARIABLE_AGGREGATION)),
        field(6, "name", String),
        field(7, "device", String),
        repeated(8, "experimental_distributed_variable_components", Message(&SAVED_VARIABLE)),
    ],
};

pub static FUNCTION_SPEC: MessageDesc = MessageDesc {
    name: "tensorflow.FunctionSpec",
    fields: &[
        field(1, "fullargspec", Message(&STRUCTURED_VALUE)),
        field(2, "is_method", Bool),
        field(5, "input_signature", Message(&STRUCTURED_VALUE)),
        field(6, "jit_compile", Enum(&FUNCTION_SPEC_JIT_COMPILE)),
    ],
};

pub static FUNCTION_SPEC_JIT_COMPILE: EnumDesc =
    EnumDesc { name: "tensorflow.FunctionSpec.JitCompile", values: &[("DEFAULT", 0), ("ON", 1), ("OFF", 2)] };

pub static SAVED_RESOURCE: MessageDesc =
    MessageDesc { name: "tensorflow.SavedResource", fields: &[field(1, "device", String)] };

pub static SAVEABLE_OBJECT: MessageDesc = MessageDesc {
    name: "tensorflow.SaveableObject",
    fields: &[field(2, "save_function", Int32), field(3, "restore_function", Int32)],
};

pub static CAPTURED_TENSOR: MessageDesc = MessageDesc {
    name: "tensorflow.CapturedTensor",
    fields: &[field(1, "name", String), field(2, "concrete_function", String)],
};

/// A Python value (argument specs, nested structures of tensor specs) in a SavedModel.
pub static STRUCTURED_VALUE: MessageDesc = MessageDesc {
    name: "tensorflow.StructuredValue",
    fields: &[
        oneof(1, "none_value", Message(&NONE_VALUE), "kind"),
        oneof(11, "float64_value", Double, "kind"),
        oneof(12, "int64_value", Sint64, "kind"),
        oneof(13, "string_value", String, "kind"),
        oneof(14, "bool_value", Bool, "kind"),
        oneof(31, "tensor_shape_value", Message(&TENSOR_SHAPE_PROTO), "kind"),
        oneof(32, "tensor_dtype_value", Enum(&DATA_TYPE), "kind"),
        oneof(33, "tensor_spec_value", Message(&TENSOR_SPEC_PROTO), "kind"),
        oneof(34, "type_spec_value", Message(&TYPE_SPEC_PROTO), "kind"),
        oneof(35, "bounded_tensor_spec_value", Message(&BOUNDED_TENSOR_SPEC_PROTO), "kind"),
        oneof(51, "list_value", Message(&LIST_VALUE), "kind"),
        oneof(52, "tuple_value", Message(&TUPLE_VALUE), "kind"),
        oneof(53, "dict_value", Message(&DICT_VALUE), "kind"),
        oneof(54, "named_tuple_value", Message(&NAMED_TUPLE_VALUE), "kind"),
        oneof(55, "tensor_value", Message(&TENSOR_PROTO), "kind"),
        oneof(56, "numpy_value", Message(&TENSOR_PROTO), "kind"),
    ],
};

pub static NONE_VALUE: MessageDesc = MessageDesc { name: "tensorflow.NoneValue", fields: &[] };

pub static LIST_VALUE: MessageDesc =
    MessageDesc { name: "tensorflow.ListValue", fields: &[repeated(1, "values", Message(&STRUCTURED_VALUE))] };

pub static TUPLE_VALUE: MessageDesc =
    MessageDesc { name: "tensorflow.TupleValue", fields: &[repeated(1, "values", Message(&STRUCTURED_VALUE))] };

pub static DICT_VALUE: MessageDesc =
    MessageDesc { name: "tensorflow.DictValue", fields: &[map(1, "fields", String, Message(&STRUCTURED_VALUE))] };

pub static PAIR_VALUE: MessageDesc = MessageDesc {
    name: "tensorflow.PairValue",
    fields: &[field(1, "key", String), field(2, "value", Message(&STRUCTURED_VALUE))],
};

pub static NAMED_TUPLE_VALUE: MessageDesc = MessageDesc {
    name: "tensorflow.NamedTupleValue",
    fields: &[field(1, "name", String), repeated(2, "values", Message(&PAIR_VALUE))],
};

pub static TENSOR_SPEC_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.TensorSpecProto",
    fields: &[
        field(1, "name", String),
        field(2, "shape", Message(&TENSOR_SHAPE_PROTO)),
        field(3, "dtype", Enum(&DATA_TYPE)),
    ],
};

pub static BOUNDED_TENSOR_SPEC_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.BoundedTensorSpecProto",
    fields: &[
        field(1, "name", String),
        field(2, "shape", Message(&TENSOR_SHAPE_PROTO)),
        field(3, "dtype", Enum(&DATA_TYPE)),
        field(4, "minimum", Message(&TENSOR_PROTO)),
        field(5, "maximum", Message(&TENSOR_PROTO)),
    ],
};
