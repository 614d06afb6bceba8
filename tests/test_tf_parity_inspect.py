"""TensorFlow's ``inspect_checkpoint`` tool (``print_tensors_in_checkpoint_file`` with
``tensor_name``, ``all_tensors``, ``all_tensor_names`` or none of them) against ``fastckpt show``
on the same checkpoints: what TensorFlow 2.21 prints, captured in the test, is what the command
prints."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt

COMMAND = [sys.executable, "-m", "fastckpt", "show"]


def _show(*args: str) -> str:
    done = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", (done.returncode, done.stderr)
    return done.stdout


def _inspect(tf: ModuleType, prefix: str, **flags: Any) -> str:
    from tensorflow.python.tools import inspect_checkpoint

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        inspect_checkpoint.print_tensors_in_checkpoint_file(prefix, flags.pop("tensor_name", ""), **flags)
    return printed.getvalue()


@pytest.fixture(scope="module")
def prefixes(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tensors of many dtypes and shapes (one beyond numpy's summary threshold) written by
    ``tf.raw_ops.SaveV2``, and a TF2 checkpoint with its object graph and a ``tf.data``
    iterator's state (a variant)."""
    folder = tmp_path_factory.mktemp("inspect")
    tensors = {
        "scalar": tf.constant(1.5),
        "step": tf.constant(7, tf.int64),
        "text": tf.constant(b"x\x00y"),
        "words": tf.constant([b"a", b"bc"]),
        "bf16": tf.constant([2.0, -0.5], tf.bfloat16),
        "half": tf.constant([0.5], tf.float16),
        "flag": tf.constant(True),
        "complex": tf.constant([1 + 2j], tf.complex64),
        "big/matrix": tf.reshape(tf.range(2000, dtype=tf.float32), [40, 50]),
        "empty": tf.zeros([0, 3], tf.int32),
    }
    raw = str(folder / "raw")
    tf.raw_ops.SaveV2(prefix=raw, tensor_names=list(tensors), shape_and_slices=[""] * len(tensors), tensors=list(tensors.values()))
    model = tf.Module()
    model.dense = tf.Module()
    model.dense.kernel = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    iterator = iter(tf.data.Dataset.range(3))
    next(iterator)
    tf2 = tf.train.Checkpoint(model=model, step=tf.Variable(3, dtype=tf.int64), it=iterator).save(str(folder / "tf2" / "ckpt"))
    return {"raw": raw, "tf2": tf2}


@pytest.mark.parametrize("which", ["raw", "tf2"])
def test_one_tensor(tf: ModuleType, prefixes: dict[str, str], which: str) -> None:
    """``--tensor_name``: TF 2.21 prints ``tensor: NAME (dtype) [shape]``, the values and the
    parameter count; fastckpt printed ``tensor_name:  NAME`` and the values (the output of older
    TensorFlow versions)."""
    prefix = prefixes[which]
    for name in fastckpt.load_checkpoint(prefix):
        if name.endswith("ITERATOR_STATE"):  # TF prints its reader's error; fastckpt as --all-tensors
            continue
        assert _show(prefix, name) == _inspect(tf, prefix, tensor_name=name, all_tensors=False), name


@pytest.mark.parametrize("which", ["raw", "tf2"])
def test_every_tensor(tf: ModuleType, prefixes: dict[str, str], which: str) -> None:
    """``all_tensor_names`` and ``all_tensors`` (names sorted), and no flag at all (the reader's
    debug string): fastckpt had no counterpart to print. A variant is listed as ``variant``
    (fastckpt's listings say ``string``: numpy holds it as bytes)."""
    prefix = prefixes[which]
    assert _show(prefix, "--all-tensor-names") == _inspect(tf, prefix, all_tensors=False, all_tensor_names=True)
    assert _show(prefix) == _inspect(tf, prefix, all_tensors=False)
    theirs = _inspect(tf, prefix, all_tensors=True)
    assert _show(prefix, "--all-tensors") == theirs  # a variant as '<not convertible to a numpy dtype>'
    if which == "raw":
        printed = json.loads(_show(prefix, "--all-tensors", "--json"))
        assert [t["name"] for t in printed["tensors"]] == sorted(fastckpt.load_checkpoint(prefix))
        assert f"# Total number of params: {printed['total_params']}\n" == theirs.splitlines(keepends=True)[-1]


def test_flags_that_exclude_each_other(prefixes: dict[str, str]) -> None:
    done = subprocess.run([*COMMAND, prefixes["raw"], "scalar", "--all-tensors"], capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == "" and done.stderr.count("\n") == 1
