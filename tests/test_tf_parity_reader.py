"""TensorFlow's reader tests replayed against fastckpt where the two differed — ``saver_test.py``'s
``CheckpointReaderTest`` (``testDebugString``, ``testNonexistentPath``) and
``checkpoint_utils_test.py``'s ``testNoTensor``/``testNoCheckpoints``, ``load_checkpoint`` of an
empty folder — each step run through TensorFlow 2.21 and fastckpt on the same files."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import fastckpt

DATA = Path(__file__).resolve().parent / "data"

VALUES: dict[str, Any] = {
    "v0": np.array([[1, 2, 3], [4, 5, 6]], np.float32),
    "v1": np.arange(6, dtype=np.float32).reshape(3, 2, 1),
    "scope/half": np.float16(1),
    "b16": np.zeros(3, ml_dtypes.bfloat16),
    "s": np.array([b"a", b"bc"], dtype=object),
    "c": np.ones(2, np.complex128),
    "empty": np.zeros((0, 3), np.int64),
    "flag": np.array([True]),
}


@pytest.fixture(scope="module")
def prefixes(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The same tensors written by TensorFlow (``tf.raw_ops.SaveV2``) and by fastckpt, and the
    committed V1 checkpoint TensorFlow wrote."""
    folder = tmp_path_factory.mktemp("reader-parity")
    by_tf = str(folder / "tf")
    tf.raw_ops.SaveV2(
        prefix=by_tf, tensor_names=list(VALUES), shape_and_slices=[""] * len(VALUES),
        tensors=[tf.constant(v) for v in VALUES.values()],
    )
    return {"tf": by_tf, "fc": fastckpt.save(VALUES, folder / "fc"), "v1": fastckpt.latest_checkpoint(DATA / "tf1_saver_v1")}


@pytest.mark.parametrize("writer", ["tf", "fc", "v1"])
def test_debug_string(tf: ModuleType, prefixes: dict[str, str], writer: str) -> None:
    expected = tf.train.load_checkpoint(prefixes[writer]).debug_string()
    ours = fastckpt.load_checkpoint(prefixes[writer]).debug_string()
    if writer == "v1":  # TensorFlow lists a V1 checkpoint in the order of a hash map; we sort
        assert ours.splitlines() == sorted(expected.splitlines())
    else:
        assert ours == expected
        assert b"v0 (DT_FLOAT) [2,3]\n" in expected and b"v1 (DT_FLOAT) [3,2,1]\n" in expected


def test_missing_tensor(tf: ModuleType, prefixes: dict[str, str]) -> None:
    prefix = prefixes["fc"]
    with pytest.raises(tf.errors.NotFoundError) as theirs:
        tf.train.load_checkpoint(prefix).get_tensor("v3")
    with pytest.raises(fastckpt.NotFoundError) as ours:
        fastckpt.load_checkpoint(prefix).get_tensor("v3")
    assert isinstance(ours.value, fastckpt.TensorNotFoundError) and isinstance(ours.value, KeyError)
    assert str(ours.value) == f"{theirs.value.message} {prefix}"  # TF's text, then the file
    with pytest.raises(tf.errors.NotFoundError) as theirs:
        tf.train.load_variable(prefix, "var5")
    with pytest.raises(fastckpt.NotFoundError, match="^Key var5 not found in checkpoint "):
        fastckpt.load_variable(prefix, "var5")
    assert theirs.value.message == "Key var5 not found in checkpoint"


def test_missing_checkpoint(tf: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for path in ("non-existent", str(tmp_path / "no_checkpoints")):
        with pytest.raises(tf.errors.NotFoundError) as theirs:
            tf.train.load_checkpoint(path)
        for call in (fastckpt.CheckpointReader, fastckpt.load_checkpoint, lambda p: fastckpt.load_variable(p, "var1")):
            with pytest.raises(fastckpt.CheckpointNotFoundError) as ours:
                call(path)
            assert isinstance(ours.value, fastckpt.NotFoundError)  # as TF's error, and a FileNotFoundError
            assert theirs.value.message in str(ours.value)
            assert ours.value.filename == path + ".index"
    assert theirs.value.message.startswith("Unsuccessful TensorSliceReader constructor: Failed to find any matching files")


def test_missing_data_file_is_still_named(tmp_path: Path) -> None:
    prefix = fastckpt.save({"x": np.ones(2)}, tmp_path / "m")
    os.remove(prefix + ".data-00000-of-00001")
    with pytest.raises(fastckpt.CheckpointNotFoundError) as missing:
        fastckpt.load_checkpoint(prefix).get_tensor("x")
    assert missing.value.filename == prefix + ".data-00000-of-00001"


def test_folder_without_checkpoint(tf: ModuleType, tmp_path: Path) -> None:
    """``tf.train.load_checkpoint`` of a folder holding no checkpoint (none at all, or a state
    file naming files that are gone) raises ``ValueError``; ours is one too."""
    empty, stale = tmp_path / "empty", tmp_path / "stale"
    empty.mkdir()
    fastckpt.Saver({"v": np.float32(1)}).save(str(stale / "model"))
    os.remove(stale / "model.index")
    for folder in (empty, stale):
        with pytest.raises(ValueError) as theirs:
            tf.train.load_checkpoint(str(folder))
        for call in (fastckpt.load_checkpoint, fastckpt.list_variables, lambda p: fastckpt.load_variable(p, "v")):
            with pytest.raises(ValueError) as ours:
                call(folder)
            assert isinstance(ours.value, fastckpt.CheckpointNotFoundError)
            assert str(ours.value) == str(theirs.value)


def test_scalars_come_back_as_tensorflow_gives_them(tf: ModuleType, tmp_path: Path) -> None:
    """TF's reader hands a scalar tensor out as a numpy scalar (``bytes`` for a string), which
    code relies on: ``TrackableObjectGraph.FromString(reader.get_tensor(...))``, ``step + 1``
    staying a numpy int64. Every way fastckpt hands out one tensor does the same; arrays stay
    arrays, and ``read_all`` (no TF counterpart) keeps its arrays."""
    scalars = {
        "f32": tf.constant(1.5),
        "i64": tf.constant(7, tf.int64),
        "flag": tf.constant(True),
        "half": tf.constant(0.5, tf.float16),
        "bf16": tf.constant(2.0, tf.bfloat16),
        "c64": tf.constant(1 + 2j, tf.complex64),
        "text": tf.constant(b"\x00graph\x00"),
        "vector": tf.constant([1.0, 2.0]),
    }
    prefix = str(tmp_path / "scalars")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=list(scalars), shape_and_slices=[""] * len(scalars),
                      tensors=list(scalars.values()))
    theirs = tf.train.load_checkpoint(prefix)
    with fastckpt.load_checkpoint(prefix) as reader:
        for name in scalars:
            expected = theirs.get_tensor(name)
            for how, ours in (("get_tensor", reader.get_tensor(name)), ("copy=True", reader.get_tensor(name, copy=True)),
                              ("reader[name]", reader[name]), ("load_variable", fastckpt.load_variable(prefix, name))):
                assert type(ours) is type(expected), f"{name} by {how}: {type(ours)} vs TF's {type(expected)}"
                if name == "text":
                    assert ours == expected
                else:
                    assert np.asarray(ours).tobytes() == np.asarray(expected).tobytes(), f"{name} by {how}"
        assert all(isinstance(a, np.ndarray) and a.shape == () for n, a in reader.read_all().items() if n != "vector")
        assert reader == dict(reader.items()) and reader == reader.read_all()  # scalars against 0-d arrays
    graph = fastckpt.Checkpoint(step=np.int64(3)).write(str(tmp_path / "tf2"))
    assert isinstance(fastckpt.load_checkpoint(graph).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"), bytes)
