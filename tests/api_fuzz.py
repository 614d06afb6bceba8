"""Mutation fuzzing of fastckpt's public Python API with damaged real files.

Shared by ``test_api_fuzz.py`` (a bounded, seeded run) and ``scripts/fuzz_api.py`` (long
campaigns). The parent writes seed files with real TensorFlow (``write_seeds``), derives damaged
copies of them (``make_case``: one *target* — which file is damaged and how — per case), and runs
every entry point of the target on each copy in a child process (``child_jobs.run_jobs`` with
``run_case``). ``judge`` then holds each outcome to fastckpt's promise: success, or a
``fastckpt.CheckpointError`` whose message names the damaged case's folder; the CLI exits with a
non-zero status and one ``fastckpt: …`` line naming it, without a traceback.

Mutators work at three levels: raw bytes (bit flips, truncation, splices), protobuf wire fields
(any message, nested ones too: deleted, duplicated, renumbered, given absurd varints — wrong and
huge node ids, lengths, enum values) and the formats' own structure (safetensors' header JSON,
the ``.npy`` members of an npz, text protos and the ``checkpoint`` state file).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import struct
import sys
import traceback
import zipfile
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

import fastckpt
from fastckpt import cli

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

# ============================================================================================
# Seeds, written by TensorFlow


def write_seeds(root: str, tf: Any) -> None:
    """Writes the seed folders under ``root``: ``tf2/`` (``tf.train.Checkpoint`` of a small Keras
    model and its Adam optimizer after one step, with its state file), ``tf1/`` (a graph-mode
    ``Saver``'s checkpoint, ``.meta`` and state file, the graph as ``graph.pb``/``graph.pbtxt``),
    ``sm/`` (a SavedModel of a ``tf.Module`` with a signature), ``st/model.safetensors`` and
    ``npz/model.npz`` (the TF2 checkpoint's tensors, written by the safetensors package and numpy)."""
    tf2 = os.path.join(root, "tf2")
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(4, activation="relu"), tf.keras.layers.Dense(2)])
    optimizer = tf.keras.optimizers.Adam(0.01)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.ones((2, 3))) ** 2)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=optimizer), tf2, max_to_keep=3).save()

    tf1 = os.path.join(root, "tf1")
    with tf.Graph().as_default() as graph:
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.compat.v1.get_variable("w", initializer=tf.reshape(tf.range(6, dtype=tf.float32), [3, 2]))
        b = tf.compat.v1.get_variable("b", initializer=tf.constant([0.5, -0.5]))
        step = tf.compat.v1.train.get_or_create_global_step()
        tf.identity(tf.matmul(x, w) + b, name="out")
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(step.assign(7))
            saver.save(sess, os.path.join(tf1, "model.ckpt"))
        tf.io.write_graph(graph.as_graph_def(), tf1, "graph.pb", as_text=False)
        tf.io.write_graph(graph.as_graph_def(), tf1, "graph.pbtxt", as_text=True)

    class Affine(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
            self.b = tf.Variable([0.25, -0.25])

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def __call__(self, x: Any) -> Any:
            return tf.matmul(x, self.w) + self.b

    module = Affine()
    tf.saved_model.save(module, os.path.join(root, "sm"), signatures=module.__call__)

    tensors = {k: np.ascontiguousarray(v) for k, v in fastckpt.load_checkpoint(tf2).read_all().items() if k != OBJECT_GRAPH_KEY}
    numeric = {k: v for k, v in tensors.items() if v.dtype != object}
    from safetensors.numpy import save_file

    os.makedirs(os.path.join(root, "st"))
    save_file(numeric, os.path.join(root, "st", "model.safetensors"))
    os.makedirs(os.path.join(root, "npz"))
    np.savez(os.path.join(root, "npz", "model.npz"), **{k.replace("/", "|"): v for k, v in numeric.items()})


# ============================================================================================
# Byte-level mutations

INTERESTING_INTS = [0, 1, 2, 3, 7, 255, 256, 65535, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53, 2**62, 2**63 - 1, 2**63, 2**64 - 1]


def interesting_int(rng: random.Random, small: int = 8) -> int:
    """A value that breaks code: a small one (a plausible id or count), a boundary, or -1."""
    roll = rng.random()
    if roll < 0.4:
        return rng.randrange(-1, small + 2)
    if roll < 0.9:
        return rng.choice(INTERESTING_INTS)
    return rng.getrandbits(rng.choice((8, 16, 32, 64)))


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """One random damage: flipped bits, an overwritten byte, a cut, a removed, inserted or
    repeated run."""
    buf = bytearray(data)
    kind = rng.choice(("flip", "byte", "truncate", "delete", "insert", "repeat", "zero"))
    if not buf:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 16)))
    pos = rng.randrange(len(buf))
    if kind == "flip":
        for _ in range(rng.randrange(1, 4)):
            p = rng.randrange(len(buf))
            buf[p] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        buf[pos] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.getrandbits(8)))
    elif kind == "truncate":
        del buf[pos:]
    elif kind == "delete":
        del buf[pos : pos + rng.randrange(1, 32)]
    elif kind == "insert":
        buf[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 16)))
    elif kind == "repeat":
        run = buf[pos : pos + rng.randrange(1, 64)]
        buf[pos:pos] = run * rng.randrange(1, 8)
    else:
        n = rng.randrange(1, 16)
        buf[pos : pos + n] = b"\0" * len(buf[pos : pos + n])
    return bytes(buf)


# ============================================================================================
# Protobuf wire-level mutations (any message; nested messages found by parsing LEN fields)

Field = tuple[int, int, Any]  # (field number, wire type, int value or bytes)


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def parse_fields(data: bytes) -> Optional[list[Field]]:
    """The fields of a message, or None if ``data`` does not parse as one."""
    fields: list[Field] = []
    pos = 0
    try:
        while pos < len(data):
            key, pos = _read_varint(data, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                return None
            if wire == 0:
                value, pos = _read_varint(data, pos)
            elif wire == 1:
                value, pos = data[pos : pos + 8], pos + 8
            elif wire == 2:
                n, pos = _read_varint(data, pos)
                value, pos = data[pos : pos + n], pos + n
            elif wire == 5:
                value, pos = data[pos : pos + 4], pos + 4
            else:
                return None
            if pos > len(data):
                return None
            fields.append((number, wire, value))
    except ValueError:
        return None
    return fields


def encode_fields(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _varint((number << 3) | wire)
        if wire == 0:
            out += _varint(value)
        elif wire == 2:
            out += _varint(len(value)) + value
        else:
            out += value
    return bytes(out)


def mutate_proto(rng: random.Random, data: bytes, depth: int = 0) -> bytes:
    """One field-level mutation somewhere in the message tree of ``data``."""
    fields = parse_fields(data)
    if not fields:
        return mutate_bytes(rng, data)
    i = rng.randrange(len(fields))
    number, wire, value = fields[i]
    if wire == 2 and depth < 12 and rng.random() < 0.65 and parse_fields(value):
        fields[i] = (number, wire, mutate_proto(rng, value, depth + 1))
        return encode_fields(fields)
    kind = rng.choice(("delete", "duplicate", "value", "value", "renumber", "rewire", "swap", "move"))
    if kind == "delete":
        del fields[i]
    elif kind == "duplicate":
        fields.insert(rng.randrange(len(fields) + 1), fields[i])
    elif kind == "value":
        if wire == 0:
            fields[i] = (number, 0, interesting_int(rng) & ((1 << 64) - 1))
        elif wire == 2:
            choice = rng.random()
            if choice < 0.5:
                new = mutate_bytes(rng, value)
            elif choice < 0.7:
                new = value + value
            elif choice < 0.85:
                new = b"\xff\xfe" + value
            else:
                new = b""
            fields[i] = (number, 2, new)
        else:
            fields[i] = (number, wire, mutate_bytes(rng, value)[: len(value)].ljust(len(value), b"\xff"))
    elif kind == "renumber":
        fields[i] = (rng.choice((1, 2, 3, 4, 5, 6, number + 1, 1000)), wire, value)
    elif kind == "rewire":
        if wire == 0:
            fields[i] = (number, 2, _varint(value))
        elif wire == 2:
            fields[i] = (number, 0, len(value))
        else:
            fields[i] = (number, 0, int.from_bytes(value, "little"))
    elif kind == "swap":
        j = rng.randrange(len(fields))
        fields[i], fields[j] = fields[j], fields[i]
    else:
        fields.insert(rng.randrange(len(fields) + 1), fields.pop(i))
    return encode_fields(fields)


# ============================================================================================
# Text mutations (text protos, the `checkpoint` state file)

TEXT_TOKENS = [
    b'"', b"{", b"}", b"<", b">", b":", b"[", b"]", b"\\", b"\\x", b"\\777", b"\\u", b"#", b"\n", b"\0", b"\xff\xfe",
    b"nan", b"-inf", b"1e999", b"-0", b"99999999999999999999999", b"-9223372036854775809", b"0x", b"true",
    b'model_checkpoint_path: ""', b'all_model_checkpoint_paths: "../../x"', b"unknown_field: 1",
    b'model_checkpoint_path: "/"', b"last_preserved_timestamp: 1e308",
]


def mutate_text(rng: random.Random, data: bytes) -> bytes:
    """Token-level damage of a text format: a token inserted or a line removed, repeated or
    swapped, a number made absurd, a quote or brace lost, or a deeply nested message."""
    lines = data.split(b"\n")
    kind = rng.choice(("token", "token", "drop_line", "repeat_line", "swap_lines", "number", "nest", "bytes"))
    if kind == "token":
        pos = rng.randrange(len(data) + 1)
        return data[:pos] + rng.choice(TEXT_TOKENS) + data[pos:]
    if kind == "drop_line" and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    elif kind == "repeat_line":
        i = rng.randrange(len(lines))
        lines[i:i] = [lines[i]] * rng.randrange(1, 4)
    elif kind == "swap_lines":
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "number":
        digits = [i for i, c in enumerate(data) if chr(c).isdigit()]
        if digits:
            pos = rng.choice(digits)
            return data[:pos] + str(interesting_int(rng) * rng.choice((1, -1))).encode() + data[pos + 1 :]
    elif kind == "nest":
        depth = rng.choice((100, 1000, 20000))
        opener = rng.choice((b"node { attr { key: \"a\" value { ", b"x { ", b"meta_graphs { "))
        return data + opener * depth + b"}" * (depth * opener.count(b"{"))
    else:
        return mutate_bytes(rng, data)
    return b"\n".join(lines)


# ============================================================================================
# safetensors: header JSON mutations

ST_DTYPES: list[Any] = ["F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2", "C64", "U64",
                        "XX", "f32", "", 5, None, ["F32"]]


def _st_split(data: bytes) -> tuple[dict[str, Any], bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _st_join(header: Any, payload: bytes, raw: Optional[bytes] = None) -> bytes:
    text = raw if raw is not None else json.dumps(header, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(text)) + text + payload


def mutate_safetensors(rng: random.Random, data: bytes) -> bytes:
    """One mutation of a safetensors file's header (offsets, dtypes, shapes, names, metadata,
    duplicate keys, non-UTF-8, the length prefix) or, rarely, of its raw bytes."""
    header, payload = _st_split(data)
    names = [k for k in header if k != "__metadata__"]
    name = rng.choice(names)
    entry = header[name]
    kind = rng.choice(("offsets", "offsets", "overlap", "dtype", "shape", "shape", "name", "metadata", "drop_key",
                       "duplicate_key", "non_utf8", "length", "not_object", "payload", "bytes"))
    if kind == "offsets":
        entry["data_offsets"] = rng.choice((
            [interesting_int(rng, len(payload)), interesting_int(rng, len(payload))],
            [entry["data_offsets"][1], entry["data_offsets"][0]],
            [-1, entry["data_offsets"][1]], [entry["data_offsets"][0]], [0.5, 4], ["0", "4"], None, [0, 2**64],
            [entry["data_offsets"][0], len(payload) + rng.randrange(1, 64)],
        ))
    elif kind == "overlap":
        other = header[rng.choice(names)]
        entry["data_offsets"] = list(other["data_offsets"])
    elif kind == "dtype":
        entry["dtype"] = rng.choice(ST_DTYPES)
    elif kind == "shape":
        entry["shape"] = rng.choice((
            [-1], [2**62, 2**62], [2**64], [], [0], [1] * 70, "x", [1.5], [[2]], None,
            list(reversed(entry["shape"])), entry["shape"] + [1], entry["shape"] + [2], [2**31, 2**31, 4],
        ))
    elif kind == "name":
        new = rng.choice(("", "a" * 70000, "\0", "x\ud800y", "../../etc", "/", "__metadata__", "a\nb"))
        header[new] = header.pop(name)
    elif kind == "metadata":
        header["__metadata__"] = rng.choice(({"format": 1}, {"a": {"b": "c"}}, [1], "x", None, {"\ud800": "v"}))
    elif kind == "drop_key":
        entry.pop(rng.choice(list(entry)), None)
    elif kind == "duplicate_key":
        text = json.dumps(header).encode()
        one = json.dumps({name: entry})[1:-1].encode()
        other = json.dumps({name: header[rng.choice(names)]})[1:-1].encode()
        return _st_join(None, payload, text[:-1] + b", " + (other if rng.random() < 0.5 else one) + b"}")
    elif kind == "non_utf8":
        text = json.dumps(header).encode()
        pos = rng.randrange(1, len(text) - 1)
        return _st_join(None, payload, text[:pos] + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80")) + text[pos:])
    elif kind == "length":
        text = json.dumps(header).encode()
        n = rng.choice((0, 1, len(text) - 1, len(text) + 1, len(text) + len(payload) + 1, 2**63, 2**64 - 1, 100_000_000))
        return struct.pack("<Q", n) + text + payload
    elif kind == "not_object":
        return _st_join(rng.choice(([header], "x", 1, None, [])), payload)
    elif kind == "payload":
        payload = payload[: rng.randrange(len(payload) + 1)]
    else:
        return mutate_bytes(rng, data)
    return _st_join(header, payload)


# ============================================================================================
# npz: zip damage and .npy header mutations


def _npy(header: str, payload: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    text = header.encode("latin-1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    length = struct.pack("<H", len(text)) if version[0] == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes(version) + length + text + payload


def mutate_npy(rng: random.Random, member: bytes) -> bytes:
    """A ``.npy`` member with a damaged header dict, version, header length or payload."""
    from numpy.lib import format as npformat

    stream = io.BytesIO(member)
    npformat.read_magic(stream)  # numpy.savez writes version 1.0
    shape, fortran, dtype = npformat.read_array_header_1_0(stream)
    payload = member[stream.tell() :]
    descr = npformat.dtype_to_descr(dtype)
    kind = rng.choice(("descr", "shape", "shape", "fortran", "raw", "version", "hlen", "payload", "pickle"))
    if kind == "descr":
        descr = rng.choice(("<f3", "|O", "<U5", "|V8", ">f4", "<c16", "|S3", "<M8[s]", "[('a', '<f4')]", "x", "<f4"))
    elif kind == "shape":
        shape = rng.choice(((-1,), (2**62, 2**62), (2**63,), (), (0, 2**62), tuple([1] * 70), "x", (1.5,), (len(payload) + 1,)))
    elif kind == "fortran":
        fortran = rng.choice((True, "x", None))
    if kind == "raw":
        header = rng.choice(("{'descr': '<f4'}", "{", "[1, 2]", "__import__('os')", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}"))
    else:
        header = f"{{'descr': {descr!r}, 'fortran_order': {fortran!r}, 'shape': {shape!r}, }}"
        if kind == "descr" and descr.startswith("["):
            header = header.replace(repr(descr), descr)
    if kind == "pickle":
        header = f"{{'descr': '|O', 'fortran_order': False, 'shape': {(1,)!r}, }}"
        payload = b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."  # pickle of the int 1
    out = _npy(header, payload, rng.choice(((1, 0), (2, 0))) if kind == "version" else (1, 0))
    if kind == "version":
        out = out[:6] + bytes([rng.choice((0, 3, 9, 255)), 0]) + out[8:] if rng.random() < 0.5 else out
    elif kind == "hlen":
        out = out[:8] + struct.pack("<H", rng.choice((0, 1, 0xFFFF, len(out)))) + out[10:]
    elif kind == "payload":
        out = out[: rng.randrange(len(out) - len(payload), len(out) + 1)] if payload else out + b"\0"
    return out


def mutate_npz(rng: random.Random, data: bytes) -> bytes:
    """Either raw damage of the zip file or a new zip whose members are mutated (``.npy`` headers,
    names, duplicates, compression)."""
    if rng.random() < 0.3:
        return mutate_bytes(rng, data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [(info.filename, z.read(info)) for info in z.infolist()]
    i = rng.randrange(len(members))
    kind = rng.choice(("npy", "npy", "npy", "name", "duplicate", "drop_all", "directory", "garbage"))
    name, member = members[i]
    if kind == "npy":
        members[i] = (name, mutate_npy(rng, member))
    elif kind == "name":
        members[i] = (rng.choice(("", "a", "x.npz", "a/../../b.npy", "\u00ff\u4e2d.npy", "a" * 5000 + ".npy")), member)
    elif kind == "duplicate":
        members.append((name, members[rng.randrange(len(members))][1]))
    elif kind == "drop_all":
        members = []
    elif kind == "directory":
        members.append(("d/", b""))
    else:
        members[i] = (name, mutate_bytes(rng, member))
    out = io.BytesIO()
    compression = rng.choice((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED))
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, member in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            z.writestr(info, member)
    return out.getvalue()


# ============================================================================================
# Targets: which seed folder is damaged and how


def rewrite_object_graph(prefix: str, mutate: Callable[[bytes], bytes]) -> None:
    """Rewrites the bundle ``prefix`` with its object graph tensor mutated (other tensors kept)."""
    tensors = fastckpt.load_checkpoint(prefix).read_all()
    graph = tensors[OBJECT_GRAPH_KEY].reshape(()).item()
    tensors[OBJECT_GRAPH_KEY] = np.array(mutate(graph), dtype=object)
    for suffix in (".index", ".data-00000-of-00001"):
        os.unlink(prefix + suffix)
    fastckpt.save(tensors, prefix)


def _damage(path: str, mutate: Callable[[bytes], bytes]) -> None:
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)  # never rewrite a file in place (a seed may share its inode)
    with open(path, "wb") as f:
        f.write(mutate(data))


def _tf2_data_file(folder: str) -> str:
    return next(os.path.join(folder, n) for n in sorted(os.listdir(folder)) if ".data-" in n)


def _damage_tf2(rng: random.Random, folder: str) -> str:
    prefix = os.path.join(folder, "ckpt-1")
    roll = rng.random()
    if roll < 0.6:
        mutate = (lambda b: mutate_proto(rng, b)) if rng.random() < 0.8 else (lambda b: mutate_bytes(rng, b))
        rewrite_object_graph(prefix, mutate)
        return "object graph"
    if roll < 0.8:
        _damage(_tf2_data_file(folder), lambda b: mutate_bytes(rng, b))
        return "data file"
    _damage(prefix + ".index", lambda b: mutate_bytes(rng, b))
    return "index file"


def _damage_tf1_meta(rng: random.Random, folder: str) -> str:
    _damage(os.path.join(folder, "model.ckpt.meta"), lambda b: mutate_proto(rng, b))
    return "meta graph"


def _damage_state(rng: random.Random, folder: str) -> str:
    sub = rng.choice(("tf1", "tf2"))
    _damage(os.path.join(folder, sub, "checkpoint"), lambda b: mutate_text(rng, b))
    return f"{sub} state file"


def _damage_saved_model(rng: random.Random, folder: str) -> str:
    if rng.random() < 0.75:
        _damage(os.path.join(folder, "saved_model.pb"), lambda b: mutate_proto(rng, b))
        return "saved_model.pb"
    variables = os.path.join(folder, "variables")
    if rng.random() < 0.5:
        rewrite_object_graph(os.path.join(variables, "variables"), lambda b: mutate_proto(rng, b))
        return "variables object graph"
    name = rng.choice(sorted(os.listdir(variables)))
    _damage(os.path.join(variables, name), lambda b: mutate_bytes(rng, b))
    return f"variables/{name}"


def _damage_graph_pb(rng: random.Random, folder: str) -> str:
    _damage(os.path.join(folder, "graph.pb"), lambda b: mutate_proto(rng, b))
    return "graph.pb"


def _damage_graph_pbtxt(rng: random.Random, folder: str) -> str:
    _damage(os.path.join(folder, "graph.pbtxt"), lambda b: mutate_text(rng, b))
    return "graph.pbtxt"


def _damage_safetensors(rng: random.Random, folder: str) -> str:
    _damage(os.path.join(folder, "model.safetensors"), lambda b: mutate_safetensors(rng, b))
    return "model.safetensors"


def _damage_npz(rng: random.Random, folder: str) -> str:
    _damage(os.path.join(folder, "model.npz"), lambda b: mutate_npz(rng, b))
    return "model.npz"


#: target -> (seed folders copied into the case, the mutator of the copy)
TARGETS: dict[str, tuple[tuple[str, ...], Callable[[random.Random, str], str]]] = {
    "tf2_checkpoint": (("tf2",), _damage_tf2),
    "tf1_meta": (("tf1",), _damage_tf1_meta),
    "state_file": (("tf1", "tf2"), _damage_state),
    "saved_model": (("sm",), _damage_saved_model),
    "graph_pb": (("tf1",), _damage_graph_pb),
    "graph_pbtxt": (("tf1",), _damage_graph_pbtxt),
    "safetensors": (("st",), _damage_safetensors),
    "npz": (("npz",), _damage_npz),
}


def make_case(seeds: str, target: str, case_dir: str, seed: str) -> str:
    """Copies the target's seed folders into ``case_dir`` (which names the case in messages) and
    damages the copy with the random generator ``seed``; returns what was damaged."""
    folders, damage = TARGETS[target]
    rng = random.Random(seed)
    os.makedirs(case_dir)
    for name in folders:
        shutil.copytree(os.path.join(seeds, name), os.path.join(case_dir, name))
    where = case_dir if len(folders) > 1 else os.path.join(case_dir, folders[0])
    return damage(rng, where)


# ============================================================================================
# Child side: every entry point of a target on one damaged case


def _outcome(fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        fn()
        return {"ok": True}
    except BaseException as e:  # noqa: BLE001 - PanicException derives from BaseException
        return {
            "ok": False,
            "type": type(e).__name__,
            "checkpoint_error": isinstance(e, fastckpt.CheckpointError),
            "msg": str(e)[:2000],
            "trace": traceback.format_exc()[-6000:],
        }


def _cli(argv: list[str]) -> dict[str, Any]:
    """``fastckpt ARGV`` in this process: its exit status and what it wrote, or the exception
    that escaped it (a traceback for the user)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(argv)
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - PanicException derives from BaseException
        return {"cli": True, "ok": False, "escaped": type(e).__name__, "trace": traceback.format_exc()[-6000:]}
    return {"cli": True, "ok": status == 0, "status": status, "stdout": out.getvalue()[:65536], "stderr": err.getvalue()[:65536]}


def _ops_tf2(d: str, seeds: str) -> dict[str, Callable[[], Any]]:
    folder = os.path.join(d, "tf2")
    prefix = os.path.join(folder, "ckpt-1")

    def restore_into() -> None:
        tree = fastckpt.Checkpoint().read(os.path.join(seeds, "tf2", "ckpt-1"))
        fastckpt.Checkpoint(tree).restore(prefix)

    def manager() -> None:
        m = fastckpt.CheckpointManager(fastckpt.Checkpoint(), folder, max_to_keep=3)
        m.restore_or_initialize()

    return {
        "object_graph": lambda: fastckpt.object_graph(prefix).variables(),
        "Checkpoint.read": lambda: fastckpt.Checkpoint().read(prefix),
        "Checkpoint.restore": restore_into,
        "CheckpointManager": manager,
        "load_checkpoint": lambda: fastckpt.load_checkpoint(folder).read_all(),
        "convert.friendly": lambda: fastckpt.convert(prefix, os.path.join(d, "out.safetensors"), friendly_names=True),
        "cli ls --tree": lambda: _cli(["ls", "--tree", prefix]),
        "cli verify": lambda: _cli(["verify", folder]),
    }


def _ops_tf1_meta(d: str) -> dict[str, Callable[[], Any]]:
    folder = os.path.join(d, "tf1")
    meta = os.path.join(folder, "model.ckpt.meta")

    def restore() -> None:
        _, saver = fastckpt.import_meta_graph(meta)
        if saver is not None:
            saver.restore(os.path.join(folder, "model.ckpt"))

    return {
        "import_meta_graph+Saver.restore": restore,
        "read_meta_graph": lambda: fastckpt.read_meta_graph(meta),
        "cli graph": lambda: _cli(["graph", meta]),
        "cli freeze": lambda: _cli(["freeze", meta, "-o", os.path.join(d, "frozen.pb"), "--checkpoint",
                                    os.path.join(folder, "model.ckpt"), "--outputs", "out"]),
    }


def _ops_state(d: str) -> dict[str, Callable[[], Any]]:
    tf1, tf2 = os.path.join(d, "tf1"), os.path.join(d, "tf2")

    def manager(folder: str) -> None:
        m = fastckpt.CheckpointManager(fastckpt.Checkpoint(v=np.zeros(2, np.float32)), folder, max_to_keep=2)
        m.save()

    ops: dict[str, Callable[[], Any]] = {}
    for tag, folder in (("tf1", tf1), ("tf2", tf2)):
        ops[f"latest_checkpoint:{tag}"] = lambda f=folder: fastckpt.latest_checkpoint(f)
        ops[f"get_checkpoint_state:{tag}"] = lambda f=folder: fastckpt.get_checkpoint_state(f)
        ops[f"load_checkpoint:{tag}"] = lambda f=folder: fastckpt.load_checkpoint(f).keys()
        ops[f"cli ls:{tag}"] = lambda f=folder: _cli(["ls", f])

    def saver_restore() -> None:
        latest = fastckpt.latest_checkpoint(tf1)
        if latest is not None:  # restore(None) is TensorFlow's ValueError, whatever the folder holds
            fastckpt.Saver({"w": np.zeros((3, 2), np.float32)}).restore(latest)

    ops["Saver.restore"] = saver_restore
    ops["CheckpointManager:tf2"] = lambda: manager(tf2)
    ops["CheckpointManager:tf1"] = lambda: manager(tf1)
    return ops


def _ops_saved_model(d: str) -> dict[str, Callable[[], Any]]:
    sm = os.path.join(d, "sm")
    return {
        "read_saved_model": lambda: fastckpt.read_saved_model(sm),
        "load_saved_model": lambda: fastckpt.load_saved_model(sm).signatures,
        "get_meta_graph_def": lambda: fastckpt.get_meta_graph_def(sm, "serve"),
        "freeze_saved_model": lambda: fastckpt.freeze_saved_model(sm),
        "cli saved-model": lambda: _cli(["saved-model", sm]),
        "cli freeze": lambda: _cli(["freeze", sm, "-o", os.path.join(d, "frozen.pb")]),
        "cli ls": lambda: _cli(["ls", sm]),
    }


def _ops_graph(d: str, name: str) -> dict[str, Callable[[], Any]]:
    folder = os.path.join(d, "tf1")
    path = os.path.join(folder, name)

    def imported() -> None:
        fastckpt.import_graph_def(fastckpt.read_graph_def(path), name="")

    ops: dict[str, Callable[[], Any]] = {
        "read_graph_def": lambda: fastckpt.read_graph_def(path),
        "import_graph_def": imported,
        "freeze_graph": lambda: fastckpt.freeze_graph(fastckpt.read_graph_def(path), os.path.join(folder, "model.ckpt"), "out"),
        "cli graph": lambda: _cli(["graph", path]),
        "cli graph --to": lambda: _cli(["graph", path, "--to", "pbtxt", "-o", os.path.join(d, "g.pbtxt")]),
    }
    if name.endswith(".pbtxt"):
        ops["parse_text"] = lambda: fastckpt.parse_text(open(path, "rb").read(), fastckpt.GraphDef())
    return ops


def _ops_tensor_file(d: str, path: str) -> dict[str, Callable[[], Any]]:
    def read_all() -> None:
        with fastckpt.open(path) as r:
            r.read_all()

    return {
        "open+read_all": read_all,
        "convert->tf": lambda: fastckpt.convert(path, os.path.join(d, "out", "ckpt")),
        "convert->npz": lambda: fastckpt.convert(path, os.path.join(d, "out.npz")),
        "convert->safetensors": lambda: fastckpt.convert(path, os.path.join(d, "out2.safetensors")),
        "convert_many": lambda: _convert_many(path, os.path.join(d, "many")),
        "cli convert": lambda: _cli(["convert", path, os.path.join(d, "cli-out.safetensors"), "-q"]),
        "cli ls": lambda: _cli(["ls", path]),
        "cli show --all-tensors": lambda: _cli(["show", path, "--all-tensors"]),
    }


def _convert_many(path: str, dst: str) -> None:
    result = fastckpt.convert_many([path], dst, jobs=1)
    for src, reason in result.failed:  # a failed source is reported, not raised: judge the reason
        raise fastckpt.CheckpointError(f"convert_many: {src}: {reason}")


def operations(target: str, case_dir: str, seeds: str) -> dict[str, Callable[[], Any]]:
    if target == "tf2_checkpoint":
        return _ops_tf2(case_dir, seeds)
    if target == "tf1_meta":
        return _ops_tf1_meta(case_dir)
    if target == "state_file":
        return _ops_state(case_dir)
    if target == "saved_model":
        return _ops_saved_model(case_dir)
    if target == "graph_pb":
        return _ops_graph(case_dir, "graph.pb")
    if target == "graph_pbtxt":
        return _ops_graph(case_dir, "graph.pbtxt")
    if target == "safetensors":
        return _ops_tensor_file(case_dir, os.path.join(case_dir, "st", "model.safetensors"))
    if target == "npz":
        return _ops_tensor_file(case_dir, os.path.join(case_dir, "npz", "model.npz"))
    raise KeyError(target)


def warm_up() -> None:
    """Imports what the entry points import lazily, before the child limits its address space."""
    import numpy.lib.format  # noqa: F401

    from fastckpt import conversion, freeze, meta_graph, saved_model  # noqa: F401

    cli._parser()


def run_case(target: str, case_dir: str, seeds: str) -> dict[str, Any]:
    """Runs every entry point of ``target`` on the damaged copy in ``case_dir`` (``seeds``: the
    intact seed folders, whose objects a restore is made into)."""
    results = {}
    for op, fn in operations(target, case_dir, seeds).items():
        results[op] = fn() if op.startswith("cli ") else _outcome(fn)
    return results


# ============================================================================================
# Parent side: judging the outcomes

#: Entry points given bytes or a message in memory, not the damaged file: their messages cannot
#: name it (they name the node instead).
NO_FILE = {"parse_text", "import_graph_def", "freeze_graph"}


#: Restores into the caller's objects: a stored tensor that does not fit its object raises
#: TensorFlow's InvalidArgumentError text (parity tests hold it to the letter), which names the
#: tensor and the object, not the file.
RESTORES = {"Checkpoint.restore", "import_meta_graph+Saver.restore", "Saver.restore"}

#: Entry points whose refusal is TensorFlow's text to the letter, which names no file.
TF_TEXT = {("get_meta_graph_def", "MetaGraphNotFoundError"), ("load_saved_model", "MetaGraphNotFoundError")}

#: Commands whose exit status 1 with a report on stdout is their answer about a damaged input.
REPORTS = {"cli verify"}


def judge(outcomes: dict[str, Any], tag: str) -> list[tuple[str, str]]:
    """``(entry point, problem)`` for each outcome that breaks the promise; ``tag`` is the case
    folder's name, which every message must contain."""
    problems = []
    for op, out in outcomes.items():
        if out["ok"]:
            continue
        if out.get("cli"):
            if "escaped" in out:
                problems.append((op, f"{out['escaped']} escaped the command:\n{out['trace']}"))
                continue
            lines = [x for x in out["stderr"].splitlines() if x.strip() and not x.startswith("fastckpt: warning:")]
            if op in REPORTS and not lines and out["status"] == 1 and tag in out["stdout"]:
                continue  # the command's own report of what is damaged
            if "Traceback" in out["stderr"] or len(lines) != 1 or not lines[0].startswith("fastckpt: "):
                problems.append((op, f"exit status {out['status']} with stderr not one 'fastckpt: ' line:\n{out['stderr']}"))
            elif tag not in lines[0]:
                problems.append((op, f"the message does not name the file: {lines[0]}"))
        elif not out["checkpoint_error"]:
            problems.append((op, f"{out['type']} (not a fastckpt.CheckpointError): {out['msg']}\n{out['trace']}"))
        elif op in RESTORES and out["type"] == "InvalidArgumentError" or (op, out["type"]) in TF_TEXT:
            continue
        elif op not in NO_FILE and tag not in out["msg"]:
            problems.append((op, f"{out['type']}: the message does not name the file: {out['msg']}"))
    return problems


def signature(target: str, op: str, problem: str) -> str:
    """What two findings share when they are the same bug: the entry point and the first line of
    the problem with paths and numbers blanked."""
    import re

    first = problem.splitlines()[0] if problem else ""
    first = re.sub(r"/\S+", "PATH", first)
    first = re.sub(r"\d+", "N", first)
    return f"{target} | {op} | {first[:160]}"
