//! MetaGraphDef and what hangs off it: `meta_graph.proto`, `saver.proto`, `variable.proto`, the
//! two well-known types TensorFlow uses, `Any` and `BoolValue` (spec/protos.md §4, §0).
//!
//! ```text
//! MetaGraphDef  1 meta_info_def {1 meta_graph_version, 2 stripped_op_list, 4 tags*, 5 tensorflow_version, ...}
//!               2 graph_def | 3 saver_def | 4 collection_def map | 5 signature_def map
//!               6 asset_file_def* | 7 object_graph_def
//! Any           1 type_url "type.googleapis.com/tensorflow.X" | 2 value (serialized X)
//! ```

use super::Kind::*;
use super::{field, map, oneof, repeated, EnumDesc, MessageDesc, DATA_TYPE, GRAPH_DEF, OP_LIST};
use super::{SAVED_OBJECT_GRAPH, STRUCTURED_VALUE, TENSOR_PROTO, TENSOR_SHAPE_PROTO};

pub static ANY: MessageDesc =
    MessageDesc { name: "google.protobuf.Any", fields: &[field(1, "type_url", String), field(2, "value", Bytes)] };

pub static BOOL_VALUE: MessageDesc =
    MessageDesc { name: "google.protobuf.BoolValue", fields: &[field(1, "value", Bool)] };

pub static META_GRAPH_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.MetaGraphDef",
    fields: &[
        field(1, "meta_info_def", Message(&META_GRAPH_DEF_META_INFO_DEF)),
        field(2, "graph_def", Message(&GRAPH_DEF)),
        field(3, "saver_def", Message(&SAVER_DEF)),
        map(4, "collection_def", String, Message(&COLLECTION_DEF)),
        map(5, "signature_def", String, Message(&SIGNATURE_DEF)),
        repeated(6, "asset_file_def", Message(&ASSET_FILE_DEF)),
        field(7, "object_graph_def", Message(&SAVED_OBJECT_GRAPH)),
    ],
};

pub static META_GRAPH_DEF_META_INFO_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.MetaGraphDef.MetaInfoDef",
    fields: &[
        field(1, "meta_graph_version", String),
        field(2, "stripped_op_list", Message(&OP_LIST)),
        field(3, "any_info", Message(&ANY)),
        repeated(4, "tags", String),
        field(5, "tensorflow_version", String),
        field(6, "tensorflow_git_version", String),
        field(7, "stripped_default_attrs", Bool),
        map(8, "function_aliases", String, String),
    ],
};

pub static COLLECTION_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.CollectionDef",
    fields: &[
        oneof(1, "node_list", Message(&COLLECTION_DEF_NODE_LIST), "kind"),
        oneof(2, "bytes_list", Message(&COLLECTION_DEF_BYTES_LIST), "kind"),
        oneof(3, "int64_list", Message(&COLLECTION_DEF_INT64_LIST), "kind"),
        oneof(4, "float_list", Message(&COLLECTION_DEF_FLOAT_LIST), "kind"),
        oneof(5, "any_list", Message(&COLLECTION_DEF_ANY_LIST), "kind"),
    ],
};

pub static COLLECTION_DEF_NODE_LIST: MessageDesc =
    MessageDesc { name: "tensorflow.CollectionDef.NodeList", fields: &[repeated(1, "value", String)] };

pub static COLLECTION_DEF_BYTES_LIST: MessageDesc =
    MessageDesc { name: "tensorflow.CollectionDef.BytesList", fields: &[repeated(1, "value", Bytes)] };

pub static COLLECTION_DEF_INT64_LIST: MessageDesc =
    MessageDesc { name: "tensorflow.CollectionDef.Int64List", fields: &[repeated(1, "value", Int64)] };

pub static COLLECTION_DEF_FLOAT_LIST: MessageDesc =
    MessageDesc { name: "tensorflow.CollectionDef.FloatList", fields: &[repeated(1, "value", Float)] };

pub static COLLECTION_DEF_ANY_LIST: MessageDesc =
    MessageDesc { name: "tensorflow.CollectionDef.AnyList", fields: &[repeated(1, "value", Message(&ANY))] };

pub static TENSOR_INFO: MessageDesc = MessageDesc {
    name: "tensorflow.TensorInfo",
    fields: &[
        oneof(1, "name", String, "encoding"),
        field(2, "dtype", Enum(&DATA_TYPE)),
        field(3, "tensor_shape", Message(&TENSOR_SHAPE_PROTO)),
        oneof(4, "coo_sparse", Message(&TENSOR_INFO_COO_SPARSE), "encoding"),
        oneof(5, "composite_tensor", Message(&TENSOR_INFO_COMPOSITE_TENSOR), "encoding"),
    ],
};

pub static TENSOR_INFO_COO_SPARSE: MessageDesc = MessageDesc {
    name: "tensorflow.TensorInfo.CooSparse",
    fields: &[
        field(1, "values_tensor_name", String),
        field(2, "indices_tensor_name", String),
        field(3, "dense_shape_tensor_name", String),
    ],
};

pub static TENSOR_INFO_COMPOSITE_TENSOR: MessageDesc = MessageDesc {
    name: "tensorflow.TensorInfo.CompositeTensor",
    fields: &[field(1, "type_spec", Message(&TYPE_SPEC_PROTO)), repeated(2, "components", Message(&TENSOR_INFO))],
};

pub static TYPE_SPEC_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.TypeSpecProto",
    fields: &[
        field(1, "type_spec_class", Enum(&TYPE_SPEC_PROTO_TYPE_SPEC_CLASS)),
        field(2, "type_state", Message(&STRUCTURED_VALUE)),
        field(3, "type_spec_class_name", String),
        field(4, "num_flat_components", Int32),
    ],
};

pub static TYPE_SPEC_PROTO_TYPE_SPEC_CLASS: EnumDesc = EnumDesc {
    name: "tensorflow.TypeSpecProto.TypeSpecClass",
    values: &[
        ("UNKNOWN", 0),
        ("SPARSE_TENSOR_SPEC", 1),
        ("INDEXED_SLICES_SPEC", 2),
        ("RAGGED_TENSOR_SPEC", 3),
        ("TENSOR_ARRAY_SPEC", 4),
        ("DATA_DATASET_SPEC", 5),
        ("DATA_ITERATOR_SPEC", 6),
        ("OPTIONAL_SPEC", 7),
        ("PER_REPLICA_SPEC", 8),
        ("VARIABLE_SPEC", 9),
        ("ROW_PARTITION_SPEC", 10),
        ("REGISTERED_TYPE_SPEC", 12),
        ("EXTENSION_TYPE_SPEC", 13),
    ],
};

pub static SIGNATURE_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.SignatureDef",
    fields: &[
        map(1, "inputs", String, Message(&TENSOR_INFO)),
        map(2, "outputs", String, Message(&TENSOR_INFO)),
        field(3, "method_name", String),
        map(4, "defaults", String, Message(&TENSOR_PROTO)),
    ],
};

pub static ASSET_FILE_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.AssetFileDef",
    fields: &[field(1, "tensor_info", Message(&TENSOR_INFO)), field(2, "filename", String)],
};

pub static SAVER_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.SaverDef",
    fields: &[
        field(1, "filename_tensor_name", String),
        field(2, "save_tensor_name", String),
        field(3, "restore_op_name", String),
        field(4, "max_to_keep", Int32),
        field(5, "sharded", Bool),
        field(6, "keep_checkpoint_every_n_hours", Float),
        field(7, "version", Enum(&SAVER_DEF_CHECKPOINT_FORMAT_VERSION)),
    ],
};

pub static SAVER_DEF_CHECKPOINT_FORMAT_VERSION: EnumDesc =
    EnumDesc { name: "tensorflow.SaverDef.CheckpointFormatVersion", values: &[("LEGACY", 0), ("V1", 1), ("V2", 2)] };

pub static VARIABLE_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.VariableDef",
    fields: &[
        field(1, "variable_name", String),
        field(2, "initializer_name", String),
        field(3, "snapshot_name", String),
        field(4, "save_slice_info_def", Message(&SAVE_SLICE_INFO_DEF)),
        field(5, "is_resource", Bool),
        field(6, "initial_value_name", String),
        field(7, "trainable", Bool),
        field(8, "synchronization", Enum(&VARIABLE_SYNCHRONIZATION)),
        field(9, "aggregation", Enum(&VARIABLE_AGGREGATION)),
    ],
};

pub static VARIABLE_SYNCHRONIZATION: EnumDesc = EnumDesc {
    name: "tensorflow.VariableSynchronization",
    values: &[
        ("VARIABLE_SYNCHRONIZATION_AUTO", 0),
        ("VARIABLE_SYNCHRONIZATION_NONE", 1),
        ("VARIABLE_SYNCHRONIZATION_ON_WRITE", 2),
        ("VARIABLE_SYNCHRONIZATION_ON_READ", 3),
    ],
};

pub static VARIABLE_AGGREGATION: EnumDesc = EnumDesc {
    name: "tensorflow.VariableAggregation",
    values: &[
        ("VARIABLE_AGGREGATION_NONE", 0),
        ("VARIABLE_AGGREGATION_SUM", 1),
        ("VARIABLE_AGGREGATION_MEAN", 2),
        ("VARIABLE_AGGREGATION_ONLY_FIRST_REPLICA", 3),
    ],
};

pub static SAVE_SLICE_INFO_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.SaveSliceInfoDef",
    fields: &[
        field(1, "full_name", String),
        repeated(2, "full_shape", Int64),
        repeated(3, "var_offset", Int64),
        repeated(4, "var_shape", Int64),
    ],
};
