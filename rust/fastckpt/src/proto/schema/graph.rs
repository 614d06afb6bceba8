//! Graphs and functions: `graph.proto`, `node_def.proto`, `attr_value.proto`, `function.proto`,
//! `op_def.proto`, `full_type.proto`, `graph_debug_info.proto` (spec/protos.md §3).
//!
//! ```text
//! GraphDef  1 node {1 name, 2 op, 3 input*, 4 device, 5 attr map<string, AttrValue>, ...}
//!           2 library {1 function {1 signature OpDef, 3 node_def*, 4 ret map, ...}, 2 gradient}
//!           4 versions {1 producer, 2 min_consumer, 3 bad_consumers}
//! AttrValue oneof value: 1 list | 2 s | 3 i | 4 f | 5 b | 6 type | 7 shape | 8 tensor | ...
//! ```

use super::Kind::*;
use super::{
    field, map, oneof, proto2, repeated, EnumDesc, MessageDesc, DATA_TYPE, RESOURCE_HANDLE_PROTO_DTYPE_AND_SHAPE,
};
use super::{TENSOR_PROTO, TENSOR_SHAPE_PROTO, VERSION_DEF};

pub static GRAPH_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.GraphDef",
    fields: &[
        repeated(1, "node", Message(&NODE_DEF)),
        field(2, "library", Message(&FUNCTION_DEF_LIBRARY)),
        field(3, "version", Int32),
        field(4, "versions", Message(&VERSION_DEF)),
        field(5, "debug_info", Message(&GRAPH_DEBUG_INFO)),
    ],
};

pub static NODE_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.NodeDef",
    fields: &[
        field(1, "name", String),
        field(2, "op", String),
        repeated(3, "input", String),
        field(4, "device", String),
        map(5, "attr", String, Message(&ATTR_VALUE)),
        field(6, "experimental_debug_info", Message(&NODE_DEF_EXPERIMENTAL_DEBUG_INFO)),
        field(7, "experimental_type", Message(&FULL_TYPE_DEF)),
    ],
};

pub static NODE_DEF_EXPERIMENTAL_DEBUG_INFO: MessageDesc = MessageDesc {
    name: "tensorflow.NodeDef.ExperimentalDebugInfo",
    fields: &[repeated(1, "original_node_names", String), repeated(2, "original_func_names", String)],
};

pub static ATTR_VALUE: MessageDesc = MessageDesc {
    name: "tensorflow.AttrValue",
    fields: &[
        oneof(1, "list", Message(&ATTR_VALUE_LIST_VALUE), "value"),
        oneof(2, "s", Bytes, "value"),
        oneof(3, "i", Int64, "value"),
        oneof(4, "f", Float, "value"),
        oneof(5, "b", Bool, "value"),
        oneof(6, "type", Enum(&DATA_TYPE), "value"),
        oneof(7, "shape", Message(&TENSOR_SHAPE_PROTO), "value"),
        oneof(8, "tensor", Message(&TENSOR_PROTO), "value"),
        oneof(9, "placeholder", String, "value"),
        oneof(10, "func", Message(&NAME_ATTR_LIST), "value"),
    ],
};

pub static ATTR_VALUE_LIST_VALUE: MessageDesc = MessageDesc {
    name: "tensorflow.AttrValue.ListValue",
    fields: &[
        repeated(2, "s", Bytes),
        repeated(3, "i", Int64),
        repeated(4, "f", Float),
        repeated(5, "b", Bool),
        repeated(6, "type", Enum(&DATA_TYPE)),
        repeated(7, "shape", Message(&TENSOR_SHAPE_PROTO)),
        repeated(8, "tensor", Message(&TENSOR_PROTO)),
        repeated(9, "func", Message(&NAME_ATTR_LIST)),
    ],
};

pub static NAME_ATTR_LIST: MessageDesc = MessageDesc {
    name: "tensorflow.NameAttrList",
    fields: &[field(1, "name", String), map(2, "attr", String, Message(&ATTR_VALUE))],
};

pub static FUNCTION_DEF_LIBRARY: MessageDesc = MessageDesc {
    name: "tensorflow.FunctionDefLibrary",
    fields: &[
        repeated(1, "function", Message(&FUNCTION_DEF)),
        repeated(2, "gradient", Message(&GRADIENT_DEF)),
        repeated(3, "registered_gradients", Message(&REGISTERED_GRADIENT)),
    ],
};

pub static FUNCTION_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.FunctionDef",
    fields: &[
        field(1, "signature", Message(&OP_DEF)),
        repeated(3, "node_def", Message(&NODE_DEF)),
        map(4, "ret", String, String),
        map(5, "attr", String, Message(&ATTR_VALUE)),
        map(6, "control_ret", String, String),
        map(7, "arg_attr", Uint32, Message(&FUNCTION_DEF_ARG_ATTRS)),
        map(8, "resource_arg_unique_id", Uint32, Uint32),
    ],
};

pub static FUNCTION_DEF_ARG_ATTRS: MessageDesc =
    MessageDesc { name: "tensorflow.FunctionDef.ArgAttrs", fields: &[map(1, "attr", String, Message(&ATTR_VALUE))] };

pub static GRADIENT_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.GradientDef",
    fields: &[field(1, "function_name", String), field(2, "gradient_func", String)],
};

pub static REGISTERED_GRADIENT: MessageDesc = MessageDesc {
    name: "tensorflow.RegisteredGradient",
    fields: &[field(1, "gradient_func", String), field(2, "registered_op_type", String)],
};

pub static OP_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.OpDef",
    fields: &[
        field(1, "name", String),
        repeated(2, "input_arg", Message(&OP_DEF_ARG_DEF)),
        repeated(3, "output_arg", Message(&OP_DEF_ARG_DEF)),
        repeated(4, "attr", Message(&OP_DEF_ATTR_DEF)),
        field(5, "summary", String),
        field(6, "description", String),
        field(8, "deprecation", Message(&OP_DEPRECATION)),
        field(16, "is_aggregate", Bool),
        field(17, "is_stateful", Bool),
        field(18, "is_commutative", Bool),
        field(19, "allows_uninitialized_input", Bool),
        repeated(20, "control_output", String),
        field(21, "is_distributed_communication", Bool),
    ],
};

pub static OP_DEF_ARG_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.OpDef.ArgDef",
    fields: &[
        field(1, "name", String),
        field(2, "description", String),
        field(3, "type", Enum(&DATA_TYPE)),
        field(4, "type_attr", String),
        field(5, "number_attr", String),
        field(6, "type_list_attr", String),
        repeated(7, "handle_data", Message(&RESOURCE_HANDLE_PROTO_DTYPE_AND_SHAPE)),
        field(16, "is_ref", Bool),
        field(17, "experimental_full_type", Message(&FULL_TYPE_DEF)),
    ],
};

pub static OP_DEF_ATTR_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.OpDef.AttrDef",
    fields: &[
        field(1, "name", String),
        field(2, "type", String),
        field(3, "default_value", Message(&ATTR_VALUE)),
        field(4, "description", String),
        field(5, "has_minimum", Bool),
        field(6, "minimum", Int64),
        field(7, "allowed_values", Message(&ATTR_VALUE)),
    ],
};

pub static OP_DEPRECATION: MessageDesc = MessageDesc {
    name: "tensorflow.OpDeprecation",
    fields: &[field(1, "version", Int32), field(2, "explanation", String)],
};

pub static OP_LIST: MessageDesc =
    MessageDesc { name: "tensorflow.OpList", fields: &[repeated(1, "op", Message(&OP_DEF))] };

pub static FULL_TYPE_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.FullTypeDef",
    fields: &[
        field(1, "type_id", Enum(&FULL_TYPE_ID)),
        repeated(2, "args", Message(&FULL_TYPE_DEF)),
        oneof(3, "s", String, "attr"),
        oneof(4, "i", Int64, "attr"),
    ],
};

pub static FULL_TYPE_ID: EnumDesc = EnumDesc {
    name: "tensorflow.FullTypeId",
    values: &[
        ("TFT_UNSET", 0),
        ("TFT_VAR", 1),
        ("TFT_ANY", 2),
        ("TFT_PRODUCT", 3),
        ("TFT_NAMED", 4),
        ("TFT_FOR_EACH", 20),
        ("TFT_CALLABLE", 100),
        ("TFT_BOOL", 200),
        ("TFT_UINT8", 201),
        ("TFT_UINT16", 202),
        ("TFT_UINT32", 203),
        ("TFT_UINT64", 204),
        ("TFT_INT8", 205),
        ("TFT_INT16", 206),
        ("TFT_INT32", 207),
        ("TFT_INT64", 208),
        ("TFT_HALF", 209),
        ("TFT_FLOAT", 210),
        ("TFT_DOUBLE", 211),
        ("TFT_COMPLEX64", 212),
        ("TFT_COMPLEX128", 213),
        ("TFT_STRING", 214),
        ("TFT_BFLOAT16", 215),
        ("TFT_TENSOR", 1000),
        ("TFT_ARRAY", 1001),
        ("TFT_OPTIONAL", 1002),
        ("TFT_LITERAL", 1003),
        ("TFT_ENCODED", 1004),
        ("TFT_SHAPE_TENSOR", 1005),
        ("TFT_DATASET", 10102),
        ("TFT_RAGGED", 10103),
        ("TFT_ITERATOR", 10104),
        ("TFT_MUTEX_LOCK", 10202),
        ("TFT_LEGACY_VARIANT", 10203),
    ],
};

/// `graph_debug_info.proto` is proto2: its scalars have explicit presence.
pub static GRAPH_DEBUG_INFO: MessageDesc = MessageDesc {
    name: "tensorflow.GraphDebugInfo",
    fields: &[
        repeated(1, "files", String),
        proto2(map(2, "traces", String, Message(&GRAPH_DEBUG_INFO_STACK_TRACE))),
        proto2(map(4, "frames_by_id", Fixed64, Message(&GRAPH_DEBUG_INFO_FILE_LINE_COL))),
        proto2(map(5, "name_to_trace_id", String, Fixed64)),
        proto2(map(6, "traces_by_id", Fixed64, Message(&GRAPH_DEBUG_INFO_STACK_TRACE))),
    ],
};

pub static GRAPH_DEBUG_INFO_FILE_LINE_COL: MessageDesc = MessageDesc {
    name: "tensorflow.GraphDebugInfo.FileLineCol",
    fields: &[
        proto2(field(1, "file_index", Int32)),
        proto2(field(2, "line", Int32)),
        proto2(field(3, "col", Int32)),
        proto2(field(4, "func", String)),
        proto2(field(5, "code", String)),
    ],
};

pub static GRAPH_DEBUG_INFO_STACK_TRACE: MessageDesc = MessageDesc {
    name: "tensorflow.GraphDebugInfo.StackTrace",
    fields: &[
        repeated(1, "file_line_cols", Message(&GRAPH_DEBUG_INFO_FILE_LINE_COL)),
        repeated(2, "frame_id", Fixed64),
    ],
};
