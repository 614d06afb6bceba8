"""TensorFlow's protobuf messages, without protobuf or TensorFlow.

Every message type fastckpt knows is a class here (``GraphDef``, ``NodeDef``, ``AttrValue``,
``TensorProto``, ``MetaGraphDef``, ``SavedModel``, …; nested types both as ``AttrValue.ListValue``
and ``AttrValue_ListValue``) with the API of protobuf's Python messages: fields as attributes,
``CopyFrom``/``MergeFrom``/``Clear``/``ClearField``/``HasField``/``WhichOneof``/``ListFields``,
``SerializeToString(deterministic=...)``/``ParseFromString``/``FromString``/``ByteSize``, ``==``,
``str()`` as the text format; repeated fields as lists (``add``, ``append``, ``extend``, ``del``),
maps as dicts. Wherever one of these messages is expected, TensorFlow's own protobuf object of
the same type is accepted too.

Objects are views into a shared tree held by the engine: parsing builds no Python objects, and
``gd.node[3].name = "x"`` edits ``gd`` in place. A sub-message object follows its message when
the list around it changes and keeps its contents (detached) when the message is removed.
"""

from __future__ import annotations

import collections.abc
from typing import TypeVar

from . import _fastckpt
from ._fastckpt import (
    Any,
    AssetFileDef,
    AttrValue,
    AttrValue_ListValue,
    BoolValue,
    BoundedTensorSpecProto,
    BundleEntryProto,
    BundleHeaderProto,
    CapturedTensor,
    CheckpointState,
    CollectionDef,
    CollectionDef_AnyList,
    CollectionDef_BytesList,
    CollectionDef_FloatList,
    CollectionDef_Int64List,
    CollectionDef_NodeList,
    Descriptor,
    DictValue,
    FieldDescriptor,
    FingerprintDef,
    FullTypeDef,
    FunctionDef,
    FunctionDefLibrary,
    FunctionDef_ArgAttrs,
    FunctionSpec,
    GradientDef,
    GraphDebugInfo,
    GraphDebugInfo_FileLineCol,
    GraphDebugInfo_StackTrace,
    GraphDef,
    ListValue,
    Message,
    MessageMap,
    MetaGraphDef,
    MetaGraphDef_MetaInfoDef,
    NameAttrList,
    NamedTupleValue,
    NodeDef,
    NodeDef_ExperimentalDebugInfo,
    NoneValue,
    OpDef,
    OpDef_ArgDef,
    OpDef_AttrDef,
    OpDeprecation,
    OpList,
    PairValue,
    RegisteredGradient,
    RegisteredSaver,
    RepeatedCompositeContainer,
    RepeatedScalarContainer,
    ResourceHandleProto,
    ResourceHandleProto_DtypeAndShape,
    SaveSliceInfoDef,
    SaveableObject,
    SavedAsset,
    SavedBareConcreteFunction,
    SavedConcreteFunction,
    SavedConstant,
    SavedFunction,
    SavedModel,
    SavedObject,
    SavedObjectGraph,
    SavedResource,
    SavedSlice,
    SavedSliceMeta,
    SavedTensorSliceMeta,
    SavedTensorSlices,
    SavedUserObject,
    SavedVariable,
    SaverDef,
    ScalarMap,
    SerializedDType,
    SignatureDef,
    StructuredValue,
    TensorInfo,
    TensorInfo_CompositeTensor,
    TensorInfo_CooSparse,
    TensorProto,
    TensorShapeProto,
    TensorShapeProto_Dim,
    TensorSliceProto,
    TensorSliceProto_Extent,
    TensorSpecProto,
    TrackableObjectGraph,
    TrackableObjectGraph_TrackableObject,
    TrackableObjectGraph_TrackableObject_ObjectReference,
    TrackableObjectGraph_TrackableObject_SerializedTensor,
    TrackableObjectGraph_TrackableObject_SlotVariableReference,
    TupleValue,
    TypeSpecProto,
    VariableDef,
    VariantTensorDataProto,
    VersionDef,
)

__all__ = [
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
    "Descriptor",
    "DictValue",
    "FieldDescriptor",
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
    "Message",
    "MessageMap",
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
    "RepeatedCompositeContainer",
    "RepeatedScalarContainer",
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
    "ScalarMap",
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
    "merge_text",
    "message_class",
    "parse_text",
]

collections.abc.MutableSequence.register(RepeatedCompositeContainer)
collections.abc.MutableSequence.register(RepeatedScalarContainer)
collections.abc.MutableMapping.register(MessageMap)
collections.abc.MutableMapping.register(ScalarMap)

M = TypeVar("M", bound=Message)


def message_class(full_name: str) -> type[Message]:
    """The class of a message type by its full name (``"tensorflow.GraphDef"``)."""
    short = full_name.removeprefix("tensorflow.").removeprefix("google.protobuf.").replace(".", "_")
    cls = getattr(_fastckpt, short, None)
    if not (isinstance(cls, type) and issubclass(cls, Message)) or getattr(cls, "DESCRIPTOR").full_name != full_name:
        raise KeyError(f"unknown message type {full_name!r}")
    return cls


def parse_text(text: str | bytes, message: M) -> M:
    """Replaces ``message``'s contents with the text-format message in ``text`` and returns it,
    as ``google.protobuf.text_format.Parse``."""
    parsed, _ = _fastckpt.parse_message(text, message.DESCRIPTOR.full_name, "text")
    message.CopyFrom(parsed)
    return message


def merge_text(text: str | bytes, message: M) -> M:
    """Merges the text-format message in ``text`` into ``message`` and returns it, as
    ``google.protobuf.text_format.Merge``."""
    parsed, _ = _fastckpt.parse_message(text, message.DESCRIPTOR.full_name, "text")
    message.MergeFrom(parsed)
    return message
