//! Tensors and their parts: `types.proto`, `tensor.proto`, `tensor_shape.proto`,
//! `resource_handle.proto`, `tensor_slice.proto`, `versions.proto` (spec/protos.md §1, §2).
//!
//! ```text
//! TensorProto  1 dtype | 2 tensor_shape {2 dim {1 size, 2 name}, 3 unknown_rank} | 3 version_number
//!              4 tensor_content | 5..17 typed repeated values | 18 float8_val
//! ```

use super::Kind::{self, *};
use super::{field, oneof, repeated, EnumDesc, MessageDesc};

const DTYPE: Kind = Enum(&DATA_TYPE);

/// `DataType`, with the reference variants (`100 + t`) that graphs of TF1 variables use; the names
/// come from the one dtype table (`crate::dtype`).
pub static DATA_TYPE: EnumDesc = EnumDesc { name: "tensorflow.DataType", values: crate::dtype::ENUM_VALUES };

pub static SERIALIZED_DTYPE: MessageDesc =
    MessageDesc { name: "tensorflow.SerializedDType", fields: &[field(1, "datatype", DTYPE)] };

pub static TENSOR_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.TensorProto",
    fields: &[
        field(1, "dtype", DTYPE),
        field(2, "tensor_shape", Message(&TENSOR_SHAPE_PROTO)),
        field(3, "version_number", Int32),
        field(4, "tensor_content", Bytes),
        repeated(5, "float_val", Float),
        repeated(6, "double_val", Double),
        repeated(7, "int_val", Int32),
        repeated(8, "string_val", Bytes),
        repeated(9, "scomplex_val", Float),
        repeated(10, "int64_val", Int64),
        repeated(11, "bool_val", Bool),
        repeated(12, "dcomplex_val", Double),
        repeated(13, "half_val", Int32),
        repeated(14, "resource_handle_val", Message(&RESOURCE_HANDLE_PROTO)),
        repeated(15, "variant_val", Message(&VARIANT_TENSOR_DATA_PROTO)),
        repeated(16, "uint32_val", Uint32),
        repeated(17, "uint64_val", Uint64),
        field(18, "float8_val", Bytes),
    ],
};

pub static VARIANT_TENSOR_DATA_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.VariantTensorDataProto",
    fields: &[
        field(1, "type_name", String),
        field(2, "metadata", Bytes),
        repeated(3, "tensors", Message(&TENSOR_PROTO)),
    ],
};

pub static TENSOR_SHAPE_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.TensorShapeProto",
    fields: &[repeated(2, "dim", Message(&TENSOR_SHAPE_PROTO_DIM)), field(3, "unknown_rank", Bool)],
};

pub static TENSOR_SHAPE_PROTO_DIM: MessageDesc = MessageDesc {
    name: "tensorflow.TensorShapeProto.Dim",
    fields: &[field(1, "size", Int64), field(2, "name", String)],
};

pub static RESOURCE_HANDLE_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.ResourceHandleProto",
    fields: &[
        field(1, "device", String),
        field(2, "container", String),
        field(3, "name", String),
        field(4, "hash_code", Uint64),
        field(5, "maybe_type_name", String),
        repeated(6, "dtypes_and_shapes", Message(&RESOURCE_HANDLE_PROTO_DTYPE_AND_SHAPE)),
    ],
};

pub static RESOURCE_HANDLE_PROTO_DTYPE_AND_SHAPE: MessageDesc = MessageDesc {
    name: "tensorflow.ResourceHandleProto.DtypeAndShape",
    fields: &[field(1, "dtype", DTYPE), field(2, "shape", Message(&TENSOR_SHAPE_PROTO))],
};

pub static TENSOR_SLICE_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.TensorSliceProto",
    fields: &[repeated(1, "extent", Message(&TENSOR_SLICE_PROTO_EXTENT))],
};

pub static TENSOR_SLICE_PROTO_EXTENT: MessageDesc = MessageDesc {
    name: "tensorflow.TensorSliceProto.Extent",
    fields: &[field(1, "start", Int64), oneof(2, "length", Int64, "has_length_hack")],
};

pub static VERSION_DEF: MessageDesc = MessageDesc {
    name: "tensorflow.VersionDef",
    fields: &[field(1, "producer", Int32), field(2, "min_consumer", Int32), repeated(3, "bad_consumers", Int32)],
};
