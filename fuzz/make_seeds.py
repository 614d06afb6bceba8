#!/usr/bin/env python3
"""Writes the fuzz targets' seeds under ``fuzz/seeds/<target>/``: every file is written by
TensorFlow, either copied from the test fixtures or made here with TensorFlow 2.21.

    python3 fuzz/make_seeds.py

Seeds take the form the target reads (see ``fuzz/fuzz_targets/``): ``bundle`` seeds are
``u32 LE len(index) | index | data``; ``v1`` seeds are the single file of a V1 checkpoint; ``meta_graph`` seeds start with 0 (MetaGraphDef) or 1
(SavedModel).
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
PY_DATA = ROOT / "tests" / "data"
RUST_DATA = ROOT / "rust" / "fastckpt" / "tests" / "data"


def put(target: str, name: str, data: bytes) -> None:
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def put_bundle(name: str, prefix: Path) -> None:
    index = Path(f"{prefix}.index").read_bytes()
    data = Path(f"{prefix}.data-00000-of-00001").read_bytes()
    put("index_table", f"{name}.index", index)
    put("bundle", name, struct.pack("<I", len(index)) + index + data)


def fixtures() -> None:
    put_bundle("savev2_golden", PY_DATA / "savev2_golden" / "g")
    put_bundle("tf1_saver", PY_DATA / "tf1_saver" / "model.ckpt-7")
    put_bundle("tf2_checkpoint", PY_DATA / "tf2_checkpoint" / "ckpt-1")
    for folder in ("tf1_saver", "tf2_checkpoint"):
        put("state_file", folder, (PY_DATA / folder / "checkpoint").read_bytes())
    for pb in sorted((RUST_DATA / "import").glob("*.pb")):
        put("graph_def", pb.name, pb.read_bytes())
    kinds = {"tensorflow.MetaGraphDef": b"\0", "tensorflow.SavedModel": b"\1"}
    for type_file in sorted((RUST_DATA / "proto").glob("*.type")):
        kind = type_file.read_text().strip()
        for ext in ("pb", "pbtxt"):
            data = type_file.with_suffix(f".{ext}").read_bytes()
            name = f"{type_file.stem}.{ext}"
            if kind == "tensorflow.GraphDef":
                put("graph_def" if ext == "pb" else "graph_text", name, data)
            elif kind in kinds:
                put("meta_graph", name, kinds[kind] + data)
            elif kind == "tensorflow.TensorProto" and ext == "pb":
                put("tensor_proto", name, data)


def tensors() -> dict[str, tf.Tensor]:
    return {
        "f16": tf.constant([1.5, -2.0], tf.float16),
        "bf16": tf.constant([[1.0, 2.0]], tf.bfloat16),
        "c128": tf.constant([1 + 2j], tf.complex128),
        "i8": tf.constant([-1, 2, 3], tf.int8),
        "u64": tf.constant([2**63], tf.uint64),
        "flag": tf.constant(True),
        "empty": tf.zeros([0, 3], tf.float32),
        "words": tf.constant([b"", b"x" * 200, "\u00e9".encode()]),
        "scalar_word": tf.constant(b"only"),
    }


def bundles(work: Path) -> None:
    ts = tensors()
    prefix = str(work / "dtypes")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=list(ts), shape_and_slices=[""] * len(ts),
                      tensors=list(ts.values()))
    put_bundle("dtypes", Path(prefix))
    # Enough entries for several data blocks in the index, and a partitioned tensor.
    many = {f"layer_{i:03d}/kernel/with/a/long/name": tf.constant([float(i)]) for i in range(120)}
    prefix = str(work / "many")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=list(many), shape_and_slices=[""] * len(many),
                      tensors=list(many.values()))
    put_bundle("many_blocks", Path(prefix))
    prefix = str(work / "sliced")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["w", "w", "s", "s"],
                      shape_and_slices=["4 2 0,2:-", "4 2 2,2:-", "3 0,1", "3 1,2"],
                      tensors=[tf.ones([2, 2]), tf.zeros([2, 2]), tf.constant([b"a"]), tf.constant([b"b", b"c"])])
    put_bundle("sliced", Path(prefix))


def v1_checkpoints(work: Path) -> None:
    """Legacy V1 (TensorSlice) files, written by TensorFlow's ``Save``/``SaveSlices`` ops: the
    test fixture, every dtype V1 stores, and a partitioned tensor in two slices."""
    put("v1", "tf1_saver_v1", (PY_DATA / "tf1_saver_v1" / "model.ckpt-3").read_bytes())
    ts = {
        "f32": tf.constant([[1.5, -2.0], [0.0, 3.0]]),
        "f64": tf.constant([2.5], tf.float64),
        "f16": tf.constant([1.5, -2.0], tf.float16),
        "c64": tf.constant([1 + 2j], tf.complex64),
        "c128": tf.constant([3 - 1j], tf.complex128),
        "i8": tf.constant([-1, 2, 3], tf.int8),
        "i16": tf.constant([-300], tf.int16),
        "i32": tf.constant([7, -7], tf.int32),
        "i64": tf.constant([2**40], tf.int64),
        "u8": tf.constant([255], tf.uint8),
        "u16": tf.constant([65535], tf.uint16),
        "flag": tf.constant([True, False]),
        "empty": tf.zeros([0, 3], tf.float32),
        "words": tf.constant([b"", b"x" * 200, "\u00e9".encode()]),
    }
    path = str(work / "v1_dtypes")
    tf.raw_ops.Save(filename=path, tensor_names=list(ts), data=list(ts.values()))
    put("v1", "dtypes", Path(path).read_bytes())
    path = str(work / "v1_sliced")
    tf.raw_ops.SaveSlices(filename=path, tensor_names=["w", "w", "s"],
                          shapes_and_slices=["4 2 0,2:-", "4 2 2,2:-", "3 -"],
                          data=[tf.ones([2, 2]), tf.zeros([2, 2]), tf.constant([b"a", b"b", b"c"])])
    put("v1", "sliced", Path(path).read_bytes())


def graphs_and_protos(work: Path) -> None:
    for name, value in tensors().items():
        put("tensor_proto", f"{name}.pb", tf.make_tensor_proto(value).SerializeToString())
    filled = {
        "fill_float": tf.make_tensor_proto(2.5, shape=[3, 2]),
        "fill_string": tf.make_tensor_proto([b"z"], shape=[4]),
        "fill_half": tf.make_tensor_proto(np.float16(1), shape=[5]),
        "content_int32": tf.make_tensor_proto(np.arange(6, dtype=np.int32).reshape(2, 3)),
    }
    for name, proto in filled.items():
        put("tensor_proto", f"{name}.pb", proto.SerializeToString())

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.constant(np.ones([3, 2], np.float32), name="w")
        tf.nn.relu(tf.matmul(x, w), name="y")
        tf.strings.join([tf.constant(["a"]), tf.constant(["b"])], name="s")
    tf.io.write_graph(g.as_graph_def(), str(work), "small.pbtxt", as_text=True)
    put("graph_text", "small.pbtxt", (work / "small.pbtxt").read_bytes())
    put("graph_def", "small.pb", g.as_graph_def().SerializeToString())

    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    manager = tf.train.CheckpointManager(ckpt, str(work / "managed"), max_to_keep=2)
    for _ in range(3):
        manager.save()
    put("state_file", "manager", (work / "managed" / "checkpoint").read_bytes())


def main() -> None:
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    fixtures()
    with tempfile.TemporaryDirectory() as tmp:
        bundles(Path(tmp))
        v1_checkpoints(Path(tmp))
        graphs_and_protos(Path(tmp))
    for folder in sorted(SEEDS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
