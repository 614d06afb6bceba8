"""Legacy V1 checkpoints (the single-file TensorSlice format) written by TensorFlow 2.21, read by
fastckpt like V2 ones and compared bit for bit with what TensorFlow reads back.

TensorFlow's own readers differ in reach: ``tf.train.load_checkpoint`` on a V1 file refuses
partitioned tensors ("Sliced checkpoints are not supported") and float16, uint16, complex and
quantized dtypes ("Data type not supported"); the V1 ``Restore`` op (what ``Saver.restore`` runs)
reads all of them and assembles slices. Each value is compared with the reader of TF that can read
it — ``load_checkpoint`` where it works, ``tf.raw_ops.Restore`` always."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fastckpt
from conftest import fixture_builders

COMMAND = [sys.executable, "-m", "fastckpt.cli"]


def _same_bits(ours: np.ndarray, theirs: Any) -> None:
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape
    if ours.dtype == object:
        assert ours.tolist() == theirs.tolist()
    else:
        assert ours.dtype.itemsize == theirs.dtype.itemsize
        assert ours.tobytes() == np.ascontiguousarray(theirs).tobytes()


#: The integer type each quantized dtype is stored as.
QUANTIZED_STORAGE = {"qint8": np.int8, "quint8": np.uint8, "qint32": np.int32}


def _restore(tf: Any, pattern: str, name: str, dtype: Any) -> np.ndarray:
    """The V1 ``Restore`` op's value, as raw bytes of TF's numpy form (quantized types as their
    storage integers)."""
    value = tf.raw_ops.Restore(file_pattern=pattern, tensor_name=name, dt=dtype)
    if dtype.is_quantized:
        value = tf.bitcast(value, tf.as_dtype(QUANTIZED_STORAGE[dtype.name]))
    return value.numpy()


def test_fixture_reads_as_tensorflow_reads_it(tf: Any) -> None:
    fixtures = fixture_builders()
    folder, prefix = fixtures.V1_DIR, fixtures.V1_PREFIX
    assert not Path(str(prefix) + ".index").exists()
    assert tf.train.latest_checkpoint(str(folder)) == str(prefix) == fastckpt.latest_checkpoint(folder)
    theirs = tf.train.load_checkpoint(str(prefix))
    expected = fixtures.expected_v1()
    for path in (prefix, folder):
        with fastckpt.load_checkpoint(path) as ours:
            assert sorted(ours) == sorted(expected) == sorted(theirs.get_variable_to_shape_map())
            assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
            assert {k: v.name for k, v in theirs.get_variable_to_dtype_map().items()} == {
                k: (v.name if v != np.dtype(object) else "string") for k, v in ours.get_variable_to_dtype_map().items()
            }
            for name, value in expected.items():
                _same_bits(ours.get_tensor(name), theirs.get_tensor(name))
                _same_bits(ours.get_tensor(name, copy=True), value)
            assert ours == {name: theirs.get_tensor(name) for name in expected}
    assert fastckpt.list_variables(folder) == sorted(tf.train.list_variables(str(folder)))
    np.testing.assert_array_equal(fastckpt.load_variable(folder, "w:0"), expected["w"])


#: dtype name -> values; every dtype TF 2.21's V1 writer (the ``Save`` op) stores.
V1_VALUES: dict[str, Any] = {
    "float32": [[1.5, -0.0, np.inf], [np.nan, 3e38, -1e-45]],
    "float64": [1e308, -2.5, 5e-324],
    "float16": [1.0, -65504.0, 6e-8, np.nan],
    "int8": [-128, 127, 0],
    "int16": [-32768, 32767, 1],
    "int32": [-(2**31), 2**31 - 1, 7],
    "int64": [-(2**63), 2**63 - 1, 12345678901],
    "uint8": [0, 255, 9],
    "uint16": [0, 65535, 300],
    "bool": [[True, False], [False, True]],
    "complex64": [1 + 2j, -3.5j, 0],
    "complex128": [1e300 - 1j, 2.5 + 0j],
    "string": [b"", b"hello", "w\u00f6rld".encode(), bytes(range(256))],
    "qint8": [-128, 5, 127],
    "quint8": [0, 200, 255],
    "qint32": [-(2**31), 0, 2**31 - 1],
}


def test_every_dtype_the_v1_writer_stores(tf: Any, tmp_path: Path) -> None:
    names, tensors = [], []
    for dtype_name, values in V1_VALUES.items():
        dtype = tf.as_dtype(dtype_name)
        if dtype.is_quantized:
            tensor = tf.bitcast(tf.constant(np.array(values, QUANTIZED_STORAGE[dtype_name])), dtype)
        else:
            tensor = tf.constant(values, dtype=dtype)
        names.append(f"t_{dtype_name}")
        tensors.append(tensor)
    names.append("scalar")
    tensors.append(tf.constant(7, tf.int64))
    names.append("empty")
    tensors.append(tf.zeros([0, 3], tf.float32))
    path = str(tmp_path / "all_dtypes")
    tf.raw_ops.Save(filename=path, tensor_names=names, data=tensors)
    theirs = tf.train.load_checkpoint(path)
    with fastckpt.load_checkpoint(path) as ours:
        assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
        for name, tensor in zip(names, tensors):
            expected = _restore(tf, path, name, tensor.dtype)
            for copy in (False, True):
                _same_bits(ours.get_tensor(name, copy=copy), expected)
            if tensor.dtype.is_quantized:
                assert ours.get_tensor(name).dtype.names == (tensor.dtype.name,)
            try:
                by_load = theirs.get_tensor(name)
            except tf.errors.UnimplementedError:
                continue  # load_checkpoint cannot read this dtype of a V1 file; Restore did
            _same_bits(ours.get_tensor(name), by_load)
        everything = ours.read_all()
        assert sorted(everything) == sorted(names)


def _partitioned_graph(tf: Any) -> tuple[Any, dict[str, Any]]:
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(3)
        variables = {
            "emb": v1.get_variable("emb", [7, 4], tf.float32, partitioner=v1.fixed_size_partitioner(3)),
            "wide": v1.get_variable("wide", [3, 10], tf.float64, partitioner=v1.fixed_size_partitioner(4, axis=1)),
            "words": v1.get_variable("words", [5], tf.string, partitioner=v1.fixed_size_partitioner(2),
                                     initializer=v1.constant_initializer("w")),
            "half": v1.get_variable("half", [6, 2], tf.float16, partitioner=v1.fixed_size_partitioner(2)),
            "plain": v1.get_variable("plain", [2, 2], tf.int32, initializer=v1.constant_initializer(5)),
        }
        with tf.device("/cpu:0"):
            variables["step"] = v1.get_variable("step", [], tf.int64, initializer=v1.constant_initializer(42))
    return graph, variables


@pytest.mark.parametrize("sharded", [False, True], ids=["single_file", "sharded"])
def test_partitioned_variables_are_assembled(tf: Any, tmp_path: Path, sharded: bool) -> None:
    v1 = tf.compat.v1
    graph, variables = _partitioned_graph(tf)
    with graph.as_default():
        saver = v1.train.Saver(write_version=v1.train.SaverDef.V1, sharded=sharded)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            values = {name: sess.run(v.as_tensor() if hasattr(v, "as_tensor") else v) for name, v in variables.items()}
            path = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=9, write_meta_graph=False)
    if sharded:
        assert path.endswith("-?????-of-00002"), path
        assert len(list(tmp_path.glob("model.ckpt-9-0000?-of-00002"))) == 2
    else:
        assert Path(path).is_file() and not Path(path + ".index").exists()
    theirs = tf.train.load_checkpoint(path)
    with fastckpt.load_checkpoint(tmp_path) as ours:
        assert ours.prefix == path
        assert ours.get_variable_to_shape_map() == theirs.get_variable_to_shape_map()
        for name, value in values.items():
            got = ours.get_tensor(name)
            _same_bits(got, value)
            _same_bits(got, _restore(tf, path, name, tf.as_dtype(theirs.get_variable_to_dtype_map()[name])))
        assert ours.get_tensor("emb").shape == (7, 4) and "emb/part_0" not in ours
        with pytest.raises(tf.errors.UnimplementedError, match="Sliced checkpoints are not supported"):
            theirs.get_tensor("emb")  # TF's load_checkpoint stops here; fastckpt assembles


def test_latest_of_a_folder_of_v1_saves(tf: Any, tmp_path: Path) -> None:
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        w = v1.get_variable("w", initializer=tf.zeros([3]))
        bump = w.assign_add(tf.ones([3]))
        saver = v1.train.Saver(write_version=v1.train.SaverDef.V1, max_to_keep=2)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for step in range(1, 5):
                sess.run(bump)
                saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step, write_meta_graph=False)
    latest = tf.train.latest_checkpoint(str(tmp_path))
    assert latest == str(tmp_path / "model.ckpt-4") == fastckpt.latest_checkpoint(tmp_path)
    assert not (tmp_path / "model.ckpt-2").exists()
    np.testing.assert_array_equal(fastckpt.load_checkpoint(tmp_path)["w"], np.full(3, 4, np.float32))
    np.testing.assert_array_equal(fastckpt.load_variable(tmp_path / "model.ckpt-3", "w"), np.full(3, 3, np.float32))


def test_sharded_pattern_with_a_missing_shard(tf: Any, tmp_path: Path) -> None:
    v1 = tf.compat.v1
    graph, _ = _partitioned_graph(tf)
    with graph.as_default():
        saver = v1.train.Saver(write_version=v1.train.SaverDef.V1, sharded=True)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            pattern = saver.save(sess, str(tmp_path / "m"), write_meta_graph=False)
    missing = tmp_path / "m-00001-of-00002"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=str(missing)):
        fastckpt.load_checkpoint(pattern)


def test_cli_lists_and_verifies_v1(tf: Any, tmp_path: Path) -> None:
    fixtures = fixture_builders()
    listed = subprocess.run([*COMMAND, "list", str(fixtures.V1_DIR)], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert f"{fixtures.V1_PREFIX}: 3 tensors" in listed.stdout
    assert any(line.split()[:3] == ["w", "float32", "[2,"] for line in listed.stdout.splitlines()), listed.stdout
    verified = subprocess.run([*COMMAND, "verify", str(fixtures.V1_PREFIX)], capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0 and "3 tensors" in verified.stdout, verified.stderr
    # A flipped byte in a table block is found by its crc32c and reported with the file.
    damaged = tmp_path / "model.ckpt-3"
    data = bytearray(fixtures.V1_PREFIX.read_bytes())
    data[len(data) // 3] ^= 0x10
    damaged.write_bytes(bytes(data))
    bad = subprocess.run([*COMMAND, "verify", str(damaged)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and str(damaged) in bad.stderr and "checksum" in bad.stderr, bad.stderr


def test_v1_file_reads_without_tensorflow_in_a_fresh_process() -> None:
    """The engine alone: no TensorFlow imported by the process that reads."""
    fixtures = fixture_builders()
    code = ("import sys, fastckpt; r = fastckpt.load_checkpoint(sys.argv[1]); "
            "print(sorted(r), r['w'].tolist(), 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(fixtures.V1_PREFIX)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['global_step', 'labels', 'w'] [[1.0, -2.0, 3.5], [0.0, 0.25, -8.0]] False"
