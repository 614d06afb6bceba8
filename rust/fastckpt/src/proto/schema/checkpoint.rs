//! Checkpoint-side messages: `tensor_bundle.proto`, `checkpoint_state.proto`,
//! `trackable_object_graph.proto`, `saved_tensor_slice.proto` (spec/protos.md §5).
//!
//! ```text
//! BundleHeaderProto  1 num_shards | 2 endianness | 3 version       (index key "")
//! BundleEntryProto   1 dtype | 2 shape | 3 shard_id | 4 offset | 5 size | 6 crc32c (fixed32) | 7 slices*
//! TrackableObjectGraph  1 nodes* {1 children*, 2 attributes*, 3 slot_variables*, 4 registered_saver,
//!                                 5 has_checkpoint_values BoolValue}
//! ```

use super::Kind::*;
use super::{field, repeated, EnumDesc, MessageDesc, BOOL_VALUE, DATA_TYPE, TENSOR_PROTO, TENSOR_SHAPE_PROTO};
use super::{TENSOR_SLICE_PROTO, VERSION_DEF};

pub static BUNDLE_HEADER_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.BundleHeaderProto",
    fields: &[
        field(1, "num_shards", Int32),
        field(2, "endianness", Enum(&BUNDLE_HEADER_PROTO_ENDIANNESS)),
        field(3, "version", Message(&VERSION_DEF)),
    ],
};

pub static BUNDLE_HEADER_PROTO_ENDIANNESS: EnumDesc =
    EnumDesc { name: "tensorflow.BundleHeaderProto.Endianness", values: &[("LITTLE", 0), ("BIG", 1)] };

pub static BUNDLE_ENTRY_PROTO: MessageDesc = MessageDesc {
    name: "tensorflow.BundleEntryProto",
    fields: &[
        field(1, "dtype", Enum(&DATA_TYPE)),
        field(2, "shape", Message(&TENSOR_SHAPE_PROTO)),
        field(3, "shard_id", Int32),
        field(4, "offset", Int64),
        field(5, "size", Int64),
        field(6, "crc32c", Fixed32),
        repeated(7, "slices", Message(&TENSOR_SLICE_PROTO)),
    ],
};

pub static CHECKPOINT_STATE: MessageDesc = MessageDesc {
    name: "tensorflow.CheckpointState",
    fields: &[
        field(1, "model_checkpoint_path", String),
        repeated(2, "all_model_checkpoint_paths", String),
        repeated(3, "all_model_checkpoint_timestamps", Double),
        field(4, "last_preserved_timestamp", Double),
    ],
};

pub static TRACKABLE_OBJECT_GRAPH: MessageDesc = MessageDesc {
    name: "tensorflow.TrackableObjectGraph",
    fields: &[repeated(1, "nodes", Message(&TRACKABLE_OBJECT))],
};

pub static TRACKABLE_OBJECT: MessageDesc = MessageDesc {
    name: "tensorflow.TrackableObjectGraph.TrackableObject",
    fields: &[
        repeated(1, "children", Message(&TRACKABLE_OBJECT_OBJECT_REFERENCE)),
        repeated(2, "attributes", Message(&TRACKABLE_OBJECT_SERIALIZED_TENSOR)),
        repeated(3, "slot_variables", Message(&TRACKABLE_OBJECT_SLOT_VARIABLE_REFERENCE)),
        field(4, "registered_saver", Message(&REGISTERED_SAVER)),
        field(5, "has_checkpoint_values", Message(&BOOL_VALUE)),
    ],
};

pub static TRACKABLE_OBJECT_OBJECT_REFERENCE: MessageDesc = MessageDesc {
    name: "tensorflow.TrackableObjectGraph.TrackableObject.ObjectReference",
    fields: &[field(1, "node_id", Int32), field(2, "local_name", String)],
};

pub static TRACKABLE_OBJECT_SERIALIZED_TENSOR: MessageDesc = MessageDesc {
    name: "tensorflow.TrackableObjectGraph.TrackableObject.SerializedTensor",
    fields: &[field(1, "name", String), field(2, "full_name", String), field(3, "checkpoint_key", String)],
};

pub static TRACKABLE_OBJECT_SLOT_VARIABLE_REFERENCE: MessageDesc = MessageDesc {
    name: "tensorflow.TrackableObjectGraph.TrackableObject.SlotVariableReference",
    fields: &[
        field(1, "original_variable_node_id", Int32),
        field(2, "slot_name", String),
        field(3, "slot_variable_node_id", Int32),
    ],
};

pub static REGISTERED_SAVER: MessageDesc = MessageDesc {
    name: "tensorflow.RegisteredSaver",
    fields: &[field(1, "name", String), field(2, "object_name", String)],
};

pub static SAVED_TENSOR_SLICES: MessageDesc = MessageDesc {
    name: "tensorflow.SavedTensorSlices",
    fields: &[field(1, "meta", Message(&SAVED_TENSOR_SLICE_META)), field(2, "data", Message(&SAVED_SLICE))],
};

pub static SAVED_TENSOR_SLICE_META: MessageDesc = MessageDesc {
    name: "tensorflow.SavedTensorSliceMeta",
    fields: &[repeated(1, "tensor", Message(&SAVED_SLICE_META)), field(2, "versions", Message(&VERSION_DEF))],
};

pub static SAVED_SLICE_META: MessageDesc = MessageDesc {
    name: "tensorflow.SavedSliceMeta",
    fields: &[
        field(1, "name", String),
        field(2, "shape", Message(&TENSOR_SHAPE_PROTO)),
        field(3, "type", Enum(&DATA_TYPE)),
        repeated(4, "slice", Message(&TENSOR_SLICE_PROTO)),
    ],
};

pub static SAVED_SLICE: MessageDesc = MessageDesc {
    name: "tensorflow.SavedSlice",
    fields: &[
        field(1, "name", String),
        field(2, "slice", Message(&TENSOR_SLICE_PROTO)),
        field(3, "data", Message(&TENSOR_PROTO)),
    ],
};
