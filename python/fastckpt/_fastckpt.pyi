"""Type stubs of the Rust extension module (rust/fastckpt-py). Private: use the fastckpt package."""

import os
from collections.abc import Callable as _Callable
from collections.abc import Iterable, Iterator, Mapping
from typing import Any as _Any
from typing import ClassVar, final

import numpy as np
from typing_extensions import Self, disjoint_base

__all__ = [
    "DType",
    "Descriptor",
    "FieldDescriptor",
    "Graph",
    "Message",
    "MessageMap",
    "Reader",
    "ReaderBase",
    "Operation",
    "RepeatedCompositeContainer",
    "RepeatedScalarContainer",
    "ScalarMap",
    "Source",
    "Tensor",
    "Writer",
    "convert",
    "dtype_table",
    "extract_sub_graph",
    "freeze_graph",
    "import_graph_def",
    "make_ndarray",
    "make_tensor_proto",
    "merge_bundles",
    "parse_message",
    "plan_shards",
    "read_message",
    "remove_training_nodes",
    "saver_meta_graph",
    "write_message",
    "parse_checkpoint_state",
    "parse_object_graph",
    "build_object_graph",
    "object_graph_friendly_names",
    "copy_into",
    "crc32c_copy",
    "crc32c_pread",
    "tensor_key_bytes",
    "remove_file",
    "storage_delete",
    "storage_exists",
    "storage_is_folder",
    "storage_is_url",
    "storage_list",
    "storage_read",
    "storage_write",
    "write_checkpoint_state",
    "Any",
    "AssetFileDef",
    "AttrValue",
    "AttrValue_ListValue",
    "BoolValue",
    "BoundedTensorSpecProto",
    "BundleEntryProto",
    "BundleHeaderProto",
    "CapturedTensor",
    "CheckpointState",
    "CollectionDef",
    "CollectionDef_AnyList",
    "CollectionDef_BytesList",
    "CollectionDef_FloatList",
    "CollectionDef_Int64List",
    "CollectionDef_NodeList",
    "DictValue",
    "FingerprintDef",
    "FullTypeDef",
    "FunctionDef",
    "FunctionDefLibrary",
    "FunctionDef_ArgAttrs",
    "FunctionSpec",
    "GradientDef",
    "GraphDebugInfo",
    "GraphDebugInfo_FileLineCol",
    "GraphDebugInfo_StackTrace",
    "GraphDef",
    "ListValue",
    "MetaGraphDef",
    "MetaGraphDef_MetaInfoDef",
    "NameAttrList",
    "NamedTupleValue",
    "NodeDef",
    "NodeDef_ExperimentalDebugInfo",
    "NoneValue",
    "OpDef",
    "OpDef_ArgDef",
    "OpDef_AttrDef",
    "OpDeprecation",
    "OpList",
    "PairValue",
    "RegisteredGradient",
    "RegisteredSaver",
    "ResourceHandleProto",
    "ResourceHandleProto_DtypeAndShape",
    "SaveSliceInfoDef",
    "SaveableObject",
    "SavedAsset",
    "SavedBareConcreteFunction",
    "SavedConcreteFunction",
    "SavedConstant",
    "SavedFunction",
    "SavedModel",
    "SavedObject",
    "SavedObjectGraph",
    "SavedResource",
    "SavedSlice",
    "SavedSliceMeta",
    "SavedTensorSliceMeta",
    "SavedTensorSlices",
    "SavedUserObject",
    "SavedVariable",
    "SaverDef",
    "SerializedDType",
    "SignatureDef",
    "StructuredValue",
    "TensorInfo",
    "TensorInfo_CompositeTensor",
    "TensorInfo_CooSparse",
    "TensorProto",
    "TensorShapeProto",
    "TensorShapeProto_Dim",
    "TensorSliceProto",
    "TensorSliceProto_Extent",
    "TensorSpecProto",
    "TrackableObjectGraph",
    "TrackableObjectGraph_TrackableObject",
    "TrackableObjectGraph_TrackableObject_ObjectReference",
    "TrackableObjectGraph_TrackableObject_SerializedTensor",
    "TrackableObjectGraph_TrackableObject_SlotVariableReference",
    "TupleValue",
    "TypeSpecProto",
    "VariableDef",
    "VariantTensorDataProto",
    "VersionDef",
    "__version__",
]

__version__: str

@final
class Reader:
    def __new__(cls, prefix: str | os.PathLike[str], verify: bool) -> Reader: ...
    @property
    def prefix(self) -> os.PathLike[str] | str: ...
    def listing(self) -> dict[str, tuple[int, tuple[int, ...]]]: ...
    def has(self, name: bytes) -> bool: ...
    def get(self, name: str | bytes, copy: bool) -> _Any: ...
    def get_many(self, names: list[bytes], copy: bool) -> list[np.ndarray[_Any, _Any]]: ...
    def read_into(self, names: list[bytes], into: list[_Any]) -> None: ...
    def read_arrays(
        self, arrays: Mapping[_Any, _Any], target: _Callable[[_Any, _Any], tuple[bytes, _Any]]
    ) -> None: ...
    def read_region(self, name: bytes, region: list[tuple[int, int]], into: _Any) -> None: ...

@disjoint_base
class ReaderBase:
    _reader: Reader | Source | None
    def __new__(cls, *_args: _Any, **_kwargs: _Any) -> Self: ...
    def get_tensor(
        self, name: str | bytes, *, copy: bool = False, out: np.ndarray[_Any, _Any] | None = None
    ) -> _Any: ...

def crc32c_copy(src: _Any, dst: _Any, chunk: int) -> int: ...
def crc32c_pread(path: str | os.PathLike[str], dst: _Any, chunk: int) -> int: ...
def tensor_key_bytes(name: str | bytes) -> bytes: ...
@final
class Writer:
    def __new__(
        cls,
        prefix: str | os.PathLike[str],
        alignment: int,
        sync: bool = False,
        allow_partial_slices: bool = False,
        merged_prefix: str | os.PathLike[str] | None = None,
        shard: int = 0,
        num_shards: int = 1,
    ) -> Writer: ...
    def add(self, name: bytes, dtype: int, shape: list[int], data: _Any) -> None: ...
    def add_many(
        self, tensors: Iterable[_Any], prepare: _Callable[[_Any], tuple[bytes, int, list[int], _Any]]
    ) -> None: ...
    def add_slice(
        self, name: bytes, dtype: int, full_shape: list[int], extents: list[tuple[int, int]], data: _Any
    ) -> None: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...

def parse_checkpoint_state(data: bytes) -> CheckpointState: ...
def merge_bundles(prefixes: list[str], output: str, delete_dirs: bool, sync: bool) -> None: ...
def plan_shards(sizes: list[int], max_shard_size: int) -> list[list[int]]: ...
def saver_meta_graph(
    variables: list[tuple[str, int, list[int]]], max_to_keep: int, keep_checkpoint_every_n_hours: float
) -> MetaGraphDef: ...

def copy_into(sources: list[_Any], dests: list[_Any]) -> None: ...

# --- Files and objects (local paths and s3:// gs:// az:// abfs[s]:// memory:// URLs) ---------

def storage_is_url(path: str) -> bool: ...
def storage_read(path: str) -> bytes: ...
def storage_write(path: str, data: bytes, sync: bool = False) -> None: ...
def storage_exists(path: str) -> bool: ...
def storage_is_folder(path: str) -> bool: ...
def storage_delete(path: str) -> None: ...
def storage_list(prefix: str) -> list[str]: ...
def remove_file(path: str | os.PathLike[str]) -> None: ...

# --- TF2 object graphs ---------------------------------------------------------------------------

def parse_object_graph(
    data: bytes,
) -> list[
    tuple[
        list[tuple[str, int]],
        list[tuple[str, str, str]],
        list[tuple[int, str, int]],
        tuple[str, str] | None,
        bool | None,
        bool,
        str | None,
        str | None,
    ]
]: ...
def object_graph_friendly_names(data: bytes) -> list[tuple[str, str]]: ...
def build_object_graph(
    specs: list[tuple[list[tuple[str, int]], list[str], list[tuple[str, str, int]]]],
) -> tuple[bytes, list[list[str]]]: ...
def write_checkpoint_state(
    path: str | os.PathLike[str],
    model_checkpoint_path: str,
    all_model_checkpoint_paths: list[str],
    all_model_checkpoint_timestamps: list[float],
    last_preserved_timestamp: float,
) -> None: ...

# --- conversion ---------------------------------------------------------------------------------

def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    to: str | None = None,
    include: list[str] = ...,
    exclude: list[str] = ...,
    friendly_names: bool = False,
    rename: list[tuple[str, str]] = ...,
    names: dict[bytes, str | None] | None = None,
    cast: str | None = None,
    max_shard_size: int | None = None,
    alignment: int = 64,
    skip_unsupported: bool = False,
    progress: _Callable[[str, int], object] | None = None,
) -> tuple[list[os.PathLike[str] | str], list[str]]: ...
@final
class Source:
    def __new__(cls, path: str | os.PathLike[str]) -> Source: ...
    @property
    def prefix(self) -> os.PathLike[str] | str: ...
    @property
    def format(self) -> str: ...
    def listing(self) -> dict[str, tuple[int, tuple[int, ...]]]: ...
    def has(self, name: bytes) -> bool: ...
    def get(self, name: str | bytes, copy: bool) -> _Any: ...
    def get_many(self, names: list[bytes], copy: bool) -> list[np.ndarray[_Any, _Any]]: ...

# (enum value, enum name, tf.DType name, "fixed" / "string" / "variant" or None, bytes per element)
def dtype_table() -> list[tuple[int, str, str, str | None, int | None]]: ...

# --- graphs -------------------------------------------------------------------------------------

@final
class DType:
    def __new__(cls, as_datatype_enum: int) -> DType: ...
    @property
    def name(self) -> str: ...
    @property
    def as_datatype_enum(self) -> int: ...
    @property
    def is_ref_dtype(self) -> bool: ...
    @property
    def base_dtype(self) -> DType: ...
    @property
    def _as_ref(self) -> DType: ...
    def __reduce__(self) -> tuple[type[DType], tuple[int]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Graph:
    def __new__(cls) -> Graph: ...
    def get_operation_by_name(self, name: str | bytes) -> Operation: ...
    def get_tensor_by_name(self, name: str | bytes) -> Tensor: ...
    def get_operations(self) -> list[Operation]: ...
    def as_graph_def(self) -> GraphDef: ...
    @property
    def graph_def_versions(self) -> VersionDef: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object, /) -> bool: ...

@final
class Operation:
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def graph(self) -> Graph: ...
    @property
    def inputs(self) -> list[Tensor]: ...
    @property
    def control_inputs(self) -> list[Operation]: ...
    @property
    def outputs(self) -> list[Tensor]: ...
    @property
    def node_def(self) -> NodeDef: ...
    def get_attr(self, name: str) -> _Any: ...
    @property
    def op_def(self) -> OpDef | None: ...
    def colocation_groups(self) -> list[bytes]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Tensor:
    @property
    def name(self) -> str: ...
    @property
    def op(self) -> Operation: ...
    @property
    def value_index(self) -> int: ...
    @property
    def graph(self) -> Graph: ...
    @property
    def dtype(self) -> DType: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def import_graph_def(
    graph: Graph,
    graph_def: _Any,
    input_map: dict[str, Tensor | str] | None,
    return_elements: list[str] | None,
    name: str | None,
    producer_op_list: _Any,
    host: str,
) -> list[Operation | Tensor] | None: ...

def read_message(
    path: str | os.PathLike[str], type_name: str, format: str | None = None
) -> tuple[Message, str]: ...
def parse_message(data: bytes | str, type_name: str, format: str | None = None) -> tuple[Message, str]: ...
def write_message(message: _Any, path: str | os.PathLike[str], as_text: bool) -> None: ...
def make_ndarray(tensor: _Any, max_fill_bytes: int | None = None) -> np.ndarray[_Any, _Any]: ...
def make_tensor_proto(dtype: int, shape: list[int], values: bytes | list[bytes]) -> TensorProto: ...
def freeze_graph(graph_def: _Any, prefix: str | os.PathLike[str], output_nodes: list[str]) -> GraphDef: ...
def extract_sub_graph(graph_def: _Any, dest_nodes: list[str]) -> GraphDef: ...
def remove_training_nodes(graph_def: _Any, protected_nodes: list[str]) -> GraphDef: ...

@final
class Descriptor:
    @property
    def full_name(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def fields(self) -> list[FieldDescriptor]: ...
    @property
    def fields_by_name(self) -> dict[str, FieldDescriptor]: ...
    @property
    def fields_by_number(self) -> dict[int, FieldDescriptor]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class FieldDescriptor:
    @property
    def name(self) -> str: ...
    @property
    def full_name(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def label(self) -> int: ...
    @property
    def type(self) -> int: ...
    @property
    def message_type(self) -> Descriptor | None: ...
    @property
    def has_presence(self) -> bool: ...
    @property
    def is_map(self) -> bool: ...

@disjoint_base
class Message:
    """A protobuf message; fields are attributes (typed ``_Any``)."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __getattribute__(self, name: str, /) -> _Any: ...
    def __setattr__(self, name: str, value: _Any, /) -> None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def __reduce__(self) -> tuple[_Any, ...]: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: _Any, /) -> Self: ...
    def CopyFrom(self, other: _Any) -> None: ...
    def MergeFrom(self, other: _Any) -> None: ...
    def Clear(self) -> None: ...
    def ClearField(self, field_name: str) -> None: ...
    def HasField(self, field_name: str) -> bool: ...
    def WhichOneof(self, oneof_group: str) -> str | None: ...
    def ListFields(self) -> list[tuple[FieldDescriptor, _Any]]: ...
    def SerializeToString(self, deterministic: bool | None = None) -> bytes: ...
    def SerializePartialToString(self, deterministic: bool | None = None) -> bytes: ...
    def ParseFromString(self, serialized: bytes) -> int: ...
    def MergeFromString(self, serialized: bytes) -> int: ...
    @classmethod
    def FromString(cls, s: bytes) -> Self: ...
    def ByteSize(self) -> int: ...
    def IsInitialized(self) -> bool: ...
    def SetInParent(self) -> None: ...
    def DiscardUnknownFields(self) -> None: ...

@final
class RepeatedCompositeContainer:
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __len__(self) -> int: ...
    def __getitem__(self, index: int | slice, /) -> _Any: ...
    def __delitem__(self, index: int | slice, /) -> None: ...
    def __iter__(self) -> Iterator[_Any]: ...
    def __contains__(self, value: object, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def add(self, **kwargs: _Any) -> _Any: ...
    def append(self, value: _Any) -> None: ...
    def extend(self, elem_seq: Iterable[_Any]) -> None: ...
    def insert(self, key: int, value: _Any) -> None: ...
    def pop(self, key: int = ...) -> _Any: ...
    def remove(self, elem: _Any) -> None: ...
    def clear(self) -> None: ...
    def sort(self, *, key: _Any = None, reverse: bool = False) -> None: ...
    def reverse(self) -> None: ...
    def MergeFrom(self, other: Iterable[_Any]) -> None: ...

@final
class RepeatedScalarContainer:
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __len__(self) -> int: ...
    def __getitem__(self, index: int | slice, /) -> _Any: ...
    def __setitem__(self, index: int | slice, value: _Any, /) -> None: ...
    def __delitem__(self, index: int | slice, /) -> None: ...
    def __iter__(self) -> Iterator[_Any]: ...
    def __contains__(self, value: object, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def append(self, value: _Any) -> None: ...
    def extend(self, elem_seq: Iterable[_Any]) -> None: ...
    def insert(self, key: int, value: _Any) -> None: ...
    def pop(self, key: int = ...) -> _Any: ...
    def remove(self, elem: _Any) -> None: ...
    def clear(self) -> None: ...
    def sort(self, *, key: _Any = None, reverse: bool = False) -> None: ...
    def reverse(self) -> None: ...
    def index(self, value: _Any) -> int: ...
    def count(self, value: _Any) -> int: ...
    def MergeFrom(self, other: Iterable[_Any]) -> None: ...

@final
class MessageMap:
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __len__(self) -> int: ...
    def __getitem__(self, key: _Any, /) -> _Any: ...
    def __setitem__(self, key: _Any, value: _Any, /) -> None: ...
    def __delitem__(self, key: _Any, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[_Any]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def keys(self) -> list[_Any]: ...
    def values(self) -> list[_Any]: ...
    def items(self) -> list[tuple[_Any, _Any]]: ...
    def get(self, key: _Any, default: _Any = None) -> _Any: ...
    def get_or_create(self, key: _Any) -> _Any: ...
    def pop(self, key: _Any, default: _Any = None) -> _Any: ...
    def clear(self) -> None: ...
    def MergeFrom(self, other: _Any) -> None: ...

@final
class ScalarMap:
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __len__(self) -> int: ...
    def __getitem__(self, key: _Any, /) -> _Any: ...
    def __setitem__(self, key: _Any, value: _Any, /) -> None: ...
    def __delitem__(self, key: _Any, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[_Any]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def keys(self) -> list[_Any]: ...
    def values(self) -> list[_Any]: ...
    def items(self) -> list[tuple[_Any, _Any]]: ...
    def get(self, key: _Any, default: _Any = None) -> _Any: ...
    def pop(self, key: _Any, default: _Any = None) -> _Any: ...
    def setdefault(self, key: _Any, default: _Any = None) -> _Any: ...
    def clear(self) -> None: ...
    def update(self, other: _Any) -> None: ...
    def MergeFrom(self, other: _Any) -> None: ...

# One class per message type; nested types are also attributes of their parent.
@final
class Any(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class AssetFileDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class AttrValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    ListValue: ClassVar[type[AttrValue_ListValue]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class AttrValue_ListValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class BoolValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class BoundedTensorSpecProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class BundleEntryProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class BundleHeaderProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class CapturedTensor(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class CheckpointState(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class CollectionDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    AnyList: ClassVar[type[CollectionDef_AnyList]]
    BytesList: ClassVar[type[CollectionDef_BytesList]]
    FloatList: ClassVar[type[CollectionDef_FloatList]]
    Int64List: ClassVar[type[CollectionDef_Int64List]]
    NodeList: ClassVar[type[CollectionDef_NodeList]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class CollectionDef_AnyList(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class CollectionDef_BytesList(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class CollectionDef_FloatList(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class CollectionDef_Int64List(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class CollectionDef_NodeList(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class DictValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class FingerprintDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class FullTypeDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class FunctionDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    ArgAttrs: ClassVar[type[FunctionDef_ArgAttrs]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class FunctionDefLibrary(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class FunctionDef_ArgAttrs(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class FunctionSpec(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class GradientDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class GraphDebugInfo(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    FileLineCol: ClassVar[type[GraphDebugInfo_FileLineCol]]
    StackTrace: ClassVar[type[GraphDebugInfo_StackTrace]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class GraphDebugInfo_FileLineCol(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class GraphDebugInfo_StackTrace(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class GraphDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class ListValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class MetaGraphDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    MetaInfoDef: ClassVar[type[MetaGraphDef_MetaInfoDef]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class MetaGraphDef_MetaInfoDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class NameAttrList(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class NamedTupleValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class NodeDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    ExperimentalDebugInfo: ClassVar[type[NodeDef_ExperimentalDebugInfo]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class NodeDef_ExperimentalDebugInfo(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class NoneValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class OpDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    ArgDef: ClassVar[type[OpDef_ArgDef]]
    AttrDef: ClassVar[type[OpDef_AttrDef]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class OpDef_ArgDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class OpDef_AttrDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class OpDeprecation(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class OpList(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class PairValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class RegisteredGradient(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class RegisteredSaver(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class ResourceHandleProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    DtypeAndShape: ClassVar[type[ResourceHandleProto_DtypeAndShape]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class ResourceHandleProto_DtypeAndShape(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SaveSliceInfoDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SaveableObject(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedAsset(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedBareConcreteFunction(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedConcreteFunction(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedConstant(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedFunction(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedModel(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedObject(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedObjectGraph(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedResource(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedSlice(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedSliceMeta(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedTensorSliceMeta(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedTensorSlices(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedUserObject(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SavedVariable(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SaverDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SerializedDType(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class SignatureDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class StructuredValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorInfo(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    CompositeTensor: ClassVar[type[TensorInfo_CompositeTensor]]
    CooSparse: ClassVar[type[TensorInfo_CooSparse]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorInfo_CompositeTensor(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorInfo_CooSparse(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorShapeProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    Dim: ClassVar[type[TensorShapeProto_Dim]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorShapeProto_Dim(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorSliceProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    Extent: ClassVar[type[TensorSliceProto_Extent]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorSliceProto_Extent(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TensorSpecProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TrackableObjectGraph(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    TrackableObject: ClassVar[type[TrackableObjectGraph_TrackableObject]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TrackableObjectGraph_TrackableObject(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    ObjectReference: ClassVar[type[TrackableObjectGraph_TrackableObject_ObjectReference]]
    SerializedTensor: ClassVar[type[TrackableObjectGraph_TrackableObject_SerializedTensor]]
    SlotVariableReference: ClassVar[type[TrackableObjectGraph_TrackableObject_SlotVariableReference]]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TrackableObjectGraph_TrackableObject_ObjectReference(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TrackableObjectGraph_TrackableObject_SerializedTensor(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TrackableObjectGraph_TrackableObject_SlotVariableReference(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TupleValue(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class TypeSpecProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class VariableDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class VariantTensorDataProto(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...

@final
class VersionDef(Message):
    DESCRIPTOR: ClassVar[Descriptor]
    def __new__(cls, **kwargs: _Any) -> Self: ...
