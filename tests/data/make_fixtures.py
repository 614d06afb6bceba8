#!/usr/bin/env python3
"""Regenerates the small TensorFlow-written checkpoints kept under ``tests/data/``.

Run with real TensorFlow installed (``pip install tensorflow-cpu==2.21.*``)::

    python3 tests/data/make_fixtures.py [golden] [tf1] [tf2] [v1]     (all when none is named)

It (re)writes, next to this file:

``savev2_golden/g.index``, ``savev2_golden/g.data-00000-of-00001``
    ``tf.raw_ops.SaveV2`` of ``a = [1, 2, 3]`` (float32) and ``s = ["ab", ""]`` (string): the
    complete golden example of tensor-bundle.md section 10 (142 + 20 bytes).
``tf1_saver/checkpoint``, ``tf1_saver/model.ckpt-7.{index,data-00000-of-00001}``
    A TF1 ``tf.compat.v1.train.Saver(save_relative_paths=True)`` checkpoint (graph + session) at
    global step 7; the ``checkpoint`` state file holds the *relative* path ``model.ckpt-7``. Holds
    ``embedding``, a variable partitioned in 3 by ``fixed_size_partitioner`` (stored as slices).
``tf2_checkpoint/checkpoint``, ``tf2_checkpoint/ckpt-1.{index,data-00000-of-00001}``
    ``tf.train.Checkpoint(model=...).save`` of a small ``tf.Module`` with float32, float16, bfloat16,
    int64, uint8, bool, complex64 and string variables, plus ``save_counter`` and the
    ``_CHECKPOINTABLE_OBJECT_GRAPH`` string tensor.
``tf1_saver_v1/checkpoint``, ``tf1_saver_v1/model.ckpt-3``
    A legacy V1 checkpoint: ``tf.compat.v1.train.Saver(write_version=SaverDef.V1)`` (graph +
    session) at global step 3 — one TensorSlice-format file named by the prefix, no ``.index``.

The values stored are defined by the ``expected_*`` functions below, which need only numpy and
ml_dtypes, so tests (and anyone else) can import this module without TensorFlow.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

DATA = Path(__file__).resolve().parent

GOLDEN_DIR = DATA / "savev2_golden"
GOLDEN_PREFIX = GOLDEN_DIR / "g"
TF1_DIR = DATA / "tf1_saver"
TF1_PREFIX = TF1_DIR / "model.ckpt-7"
TF1_STEP = 7
TF2_DIR = DATA / "tf2_checkpoint"
TF2_PREFIX = TF2_DIR / "ckpt-1"
V1_DIR = DATA / "tf1_saver_v1"
V1_PREFIX = V1_DIR / "model.ckpt-3"
V1_STEP = 3

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def expected_golden() -> dict[str, np.ndarray[Any, Any]]:
    """Tensors of ``savev2_golden/g`` in the order they were passed to SaveV2."""
    return {
        "a": np.array([1.0, 2.0, 3.0], np.float32),
        "s": np.array([b"ab", b""], dtype=object),
    }


def expected_tf1() -> dict[str, np.ndarray[Any, Any]]:
    """Variables of ``tf1_saver/model.ckpt-7``, keyed by checkpoint name (= variable op name)."""
    return {
        "dense/kernel": (np.arange(12, dtype=np.float32).reshape(3, 4) / 8).astype(np.float32),
        "dense/bias": np.array([0.5, -0.25, 0.0, 1.0], np.float32),
        "embedding": (np.arange(28, dtype=np.float32).reshape(7, 4) - 10.0).astype(np.float32),
        "global_step": np.array(TF1_STEP, np.int64),
        "counts": np.array([0, -1, 2**31 - 1, -(2**31), 42], np.int32),
        "mask": np.array([[True, False], [False, True]]),
        "vocab": np.array([b"hello", b"", "w\u00f6rld \u2713".encode("utf-8")], dtype=object),
    }


#: ``embedding`` is split by ``fixed_size_partitioner(3)`` along axis 0: rows 0:3, 3:5, 5:7.
TF1_PARTITIONED = {"embedding": [(0, 3), (3, 2), (5, 2)]}


def _tf2_key(path: str) -> str:
    return f"{path}/.ATTRIBUTES/VARIABLE_VALUE"


def expected_tf2() -> dict[str, np.ndarray[Any, Any]]:
    """Tensors of ``tf2_checkpoint/ckpt-1`` keyed by checkpoint key (the object graph excluded)."""
    return {
        _tf2_key("model/dense/kernel"): (np.arange(6, dtype=np.float32).reshape(2, 3) / 4).astype(np.float32),
        _tf2_key("model/dense/bias"): np.array([0.5, 0.0, -1.5], np.float32),
        _tf2_key("model/step"): np.array(12345678901, np.int64),
        _tf2_key("model/half"): np.array([1.0, 0.5, -65504.0], np.float16),
        _tf2_key("model/bf"): np.array([1.0, -2.5], ml_dtypes.bfloat16),
        _tf2_key("model/flags"): np.array([True, False, True]),
        _tf2_key("model/z"): np.array([1 + 2j, -3.5j], np.complex64),
        _tf2_key("model/u8"): np.array([0, 255, 7], np.uint8),
        _tf2_key("model/words"): np.array([b"ab", b"", b"xyz"], dtype=object),
        _tf2_key("save_counter"): np.array(1, np.int64),
    }


def expected_v1() -> dict[str, np.ndarray[Any, Any]]:
    """Variables of the V1 checkpoint ``tf1_saver_v1/model.ckpt-3``."""
    return {
        "w": np.array([[1.0, -2.0, 3.5], [0.0, 0.25, -8.0]], np.float32),
        "global_step": np.array(V1_STEP, np.int64),
        "labels": np.array([b"cat", b"", b"dog"], dtype=object),
    }


def _reset(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def write_golden(tf: Any) -> None:
    _reset(GOLDEN_DIR)
    tensors = expected_golden()
    tf.raw_ops.SaveV2(
        prefix=str(GOLDEN_PREFIX),
        tensor_names=list(tensors),
        shape_and_slices=[""] * len(tensors),
        tensors=[tf.constant(tensors["a"]), tf.constant(tensors["s"], dtype=tf.string)],
    )


def write_tf1(tf: Any) -> None:
    _reset(TF1_DIR)
    values = expected_tf1()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        with v1.variable_scope("dense"):
            v1.get_variable("kernel", initializer=tf.constant(values["dense/kernel"]))
            v1.get_variable("bias", initializer=tf.constant(values["dense/bias"]))
        full = values["embedding"]

        def embedding_init(shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
            row = 0 if partition_info is None else partition_info.var_offset[0]
            return tf.constant(full[row : row + shape[0]])

        v1.get_variable(
            "embedding",
            shape=full.shape,
            dtype=tf.float32,
            initializer=embedding_init,
            partitioner=v1.fixed_size_partitioner(3),
        )
        v1.get_variable("global_step", initializer=tf.constant(values["global_step"]))
        v1.get_variable("counts", initializer=tf.constant(values["counts"]))
        v1.get_variable("mask", initializer=tf.constant(values["mask"]))
        v1.get_variable("vocab", initializer=tf.constant(values["vocab"], dtype=tf.string))
        saver = v1.train.Saver(save_relative_paths=True)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            written = saver.save(sess, str(TF1_DIR / "model.ckpt"), global_step=TF1_STEP, write_meta_graph=False)
    assert written == str(TF1_PREFIX), written


def write_tf2(tf: Any) -> None:
    _reset(TF2_DIR)
    values = expected_tf2()

    def value(path: str) -> Any:
        return values[_tf2_key(path)]

    class Dense(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(value("model/dense/kernel"))
            self.bias = tf.Variable(value("model/dense/bias"))

    class Model(tf.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.dense = Dense()
            self.step = tf.Variable(value("model/step"))
            self.half = tf.Variable(value("model/half"))
            self.bf = tf.Variable(value("model/bf"))
            self.flags = tf.Variable(value("model/flags"))
            self.z = tf.Variable(value("model/z"))
            self.u8 = tf.Variable(value("model/u8"))
            self.words = tf.Variable(tf.constant(value("model/words"), dtype=tf.string))

    written = tf.train.Checkpoint(model=Model()).save(str(TF2_DIR / "ckpt"))
    assert written == str(TF2_PREFIX), written


def write_v1(tf: Any) -> None:
    _reset(V1_DIR)
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        for name, value in expected_v1().items():
            dtype = tf.string if value.dtype == object else None
            v1.get_variable(name, initializer=tf.constant(value, dtype=dtype))
        saver = v1.train.Saver(write_version=v1.train.SaverDef.V1, save_relative_paths=True)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            written = saver.save(sess, str(V1_DIR / "model.ckpt"), global_step=V1_STEP, write_meta_graph=False)
    assert written == str(V1_PREFIX), written


WRITERS = {"golden": (write_golden, GOLDEN_DIR), "tf1": (write_tf1, TF1_DIR), "tf2": (write_tf2, TF2_DIR),
           "v1": (write_v1, V1_DIR)}


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    chosen = sys.argv[1:] or list(WRITERS)
    for name in chosen:
        WRITERS[name][0](tf)
    total = 0
    for directory in (WRITERS[name][1] for name in chosen):
        for path in sorted(directory.iterdir()):
            total += path.stat().st_size
            print(f"{path.relative_to(DATA)}: {path.stat().st_size} bytes")
    print(f"total {total} bytes, written with TensorFlow {tf.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
