"""``string`` fields must hold UTF-8 where protobuf says so: every string field (singular,
repeated, map key, map value) of every message fastckpt knows, fed bytes that are not UTF-8, in
the binary and the text format, is accepted or refused exactly as TensorFlow's protobuf runtime
does; ``bytes`` fields take any bytes in both."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import fastckpt
from fastckpt import protos

STRING, BYTES = 9, 12
LEN = 2
BAD = b"\xff\xfe"


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _record(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | LEN) + _varint(len(payload)) + payload


def _our_message_names() -> list[str]:
    names = {
        cls.DESCRIPTOR.full_name
        for cls in vars(protos).values()
        if isinstance(cls, type) and issubclass(cls, fastckpt.Message) and cls is not fastckpt.Message
    }
    return sorted(names)


def _load_tf_protos() -> None:
    """Imports the protobuf modules of TensorFlow that `import tensorflow` leaves out."""
    import importlib

    for module in ("tensorflow.core.framework.graph_debug_info_pb2", "tensorflow.core.protobuf.fingerprint_pb2",
                   "tensorflow.core.protobuf.saved_model_pb2", "tensorflow.core.protobuf.tensor_bundle_pb2",
                   "tensorflow.core.protobuf.trackable_object_graph_pb2", "tensorflow.core.util.saved_tensor_slice_pb2",
                   "tensorflow.python.training.checkpoint_state_pb2"):
        importlib.import_module(module)


def _cases(tf: ModuleType, kinds: tuple[int, ...]) -> list[tuple[str, str, bytes, str]]:
    """(message, where, binary record, text) with ``BAD`` in each field of ``kinds``."""
    from google.protobuf import descriptor_pool

    _load_tf_protos()
    pool = descriptor_pool.Default()
    cases = []
    for name in _our_message_names():
        for field in pool.FindMessageTypeByName(name).fields:
            entry = field.message_type
            if entry is not None and entry.GetOptions().map_entry:
                key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
                if key.type in kinds:
                    cases.append((name, f"{field.name} key", _record(field.number, _record(1, BAD)),
                                  f'{field.name} {{ key: "\\377\\376" }}'))
                if value.type in kinds:
                    cases.append((name, f"{field.name} value", _record(field.number, _record(2, BAD)),
                                  f'{field.name} {{ value: "\\377\\376" }}'))
            elif field.type in kinds:
                cases.append((name, field.name, _record(field.number, BAD), f'{field.name}: "\\377\\376"'))
    return cases


def _outcome(parse: Any) -> str:
    try:
        parse()
    except Exception as e:  # noqa: BLE001 - what is compared is refused vs accepted
        return f"refused ({type(e).__name__})"
    return "accepted"


def _tf_class(name: str) -> Any:
    from google.protobuf import descriptor_pool, message_factory

    return message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(name))


@pytest.mark.parametrize("kind", [STRING, BYTES], ids=["string", "bytes"])
def test_binary_format_like_tf(tf: ModuleType, kind: int) -> None:
    cases = _cases(tf, (kind,))
    assert len(cases) > (100 if kind == STRING else 5)
    differences = []
    outcomes = set()
    for name, where, record, _ in cases:
        theirs = _outcome(lambda: _tf_class(name).FromString(record))
        ours = _outcome(lambda: protos.message_class(name).FromString(record))
        outcomes.add(theirs)
        if theirs.split()[0] != ours.split()[0] or (ours != "accepted" and "DecodeError" not in ours):
            differences.append(f"{name}.{where}: TF {theirs}, fastckpt {ours}")
    assert not differences, "\n".join(differences)
    # Both outcomes occur for strings: proto3 messages refuse, the proto2 GraphDebugInfo accepts.
    assert outcomes == ({"accepted", "refused (DecodeError)"} if kind == STRING else {"accepted"})


@pytest.mark.parametrize("kind", [STRING, BYTES], ids=["string", "bytes"])
def test_text_format_like_tf(tf: ModuleType, kind: int) -> None:
    from google.protobuf import text_format

    differences = []
    for name, where, _, text in _cases(tf, (kind,)):
        theirs = _outcome(lambda: text_format.Parse(text, _tf_class(name)()))
        ours = _outcome(lambda: protos.parse_text(text, protos.message_class(name)()))
        if theirs.split()[0] != ours.split()[0] or (ours != "accepted" and "DecodeError" not in ours):
            differences.append(f"{name}.{where}: TF {theirs}, fastckpt {ours}")
    assert not differences, "\n".join(differences)


def test_proto2_strings_that_are_not_utf8_read_as_bytes(tf: ModuleType) -> None:
    record = _record(4, BAD)  # GraphDebugInfo.FileLineCol.func, proto2
    theirs = _tf_class("tensorflow.GraphDebugInfo.FileLineCol").FromString(record)
    ours = protos.GraphDebugInfo_FileLineCol.FromString(record)
    assert ours.func == theirs.func == BAD
    assert ours.SerializeToString() == record


def test_setting_a_string_field_takes_text_only(tf: ModuleType) -> None:
    for value, error in ((BAD, UnicodeDecodeError), ("\udcff", UnicodeEncodeError)):
        for message in (tf.compat.v1.NodeDef(), fastckpt.NodeDef()):
            with pytest.raises(error):
                message.name = value
    node = fastckpt.NodeDef()
    node.name = "é".encode()
    assert node.name == "é"


def test_graph_file_with_bad_utf8_is_refused_naming_the_field(tmp_path: Any) -> None:
    node = _record(1, b"a") + _record(2, b"NoOp") + _record(4, BAD)  # device not UTF-8
    path = tmp_path / "g.pb"
    path.write_bytes(_record(1, node))
    with pytest.raises(fastckpt.DecodeError, match="field node.device: string field is not valid UTF-8"):
        fastckpt.read_graph_def(path)
