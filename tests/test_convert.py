"""Conversions between TF checkpoints, safetensors and npz (fastckpt.convert, fastckpt.open), each
output read by its own ecosystem's reader, with real TensorFlow 2.21 as the oracle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import fastckpt

safetensors_numpy = pytest.importorskip("safetensors.numpy")
from safetensors import safe_open  # noqa: E402


def same_bits(a: Any, b: Any) -> bool:
    """Equal dtype, shape and bytes (NaN payloads included)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == object or b.dtype == object:
        return a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


SPECIALS = np.array(
    [0.0, -0.0, 1.0, np.nan, -np.nan, np.inf, -np.inf, 1e-40, 3.4e38, 65520.0, 1.00390625, 1.01171875],
    dtype=np.float32,
)


@pytest.fixture(scope="module")
def tf1_checkpoint(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    """A TF1 Saver checkpoint with a partitioned variable and one tensor of each common dtype."""
    rng = np.random.default_rng(7)
    values: dict[str, np.ndarray] = {
        "dense/kernel": rng.standard_normal((6, 5)).astype(np.float32),
        "dense/bias": np.concatenate([SPECIALS, [np.float32(2.5)]]).astype(np.float32),
        "f64": rng.standard_normal(7),
        "f16": rng.standard_normal(4).astype(np.float16),
        "bf16": rng.standard_normal(4).astype(ml_dtypes.bfloat16),
        "i8": np.arange(-3, 3, dtype=np.int8),
        "u8": np.arange(6, dtype=np.uint8),
        "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
        "i64": np.array(123456789012, dtype=np.int64),
        "flag": np.array([True, False, True]),
        "words": np.array([b"alpha", b"", b"gamma"], dtype=object),
    }
    partitioned = rng.standard_normal((10, 4)).astype(np.float32)
    prefix = str(tmp_path_factory.mktemp("tf1") / "model.ckpt")
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.Variable(v, name=k) for k, v in values.items()]
        part = tf.compat.v1.get_variable(
            "part",
            shape=[10, 4],
            initializer=tf.compat.v1.zeros_initializer(),
            partitioner=tf.compat.v1.fixed_size_partitioner(3),
        )
        pieces = list(part)
        assigns = []
        for piece in pieces:
            start = piece._save_slice_info.var_offset[0]
            assigns.append(piece.assign(partitioned[start : start + piece.shape[0]]))
        saver = tf.compat.v1.train.Saver(variables + pieces)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(assigns)
            saver.save(session, prefix, write_meta_graph=False)
    values["part"] = partitioned
    return prefix, values


def oracle(tf: ModuleType, prefix: str) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_fixture_is_what_tf_reads(tf: ModuleType, tf1_checkpoint: tuple[str, dict[str, np.ndarray]]) -> None:
    prefix, values = tf1_checkpoint
    tf_values = oracle(tf, prefix)
    assert set(tf_values) == set(values)
    for name, value in values.items():
        assert same_bits(tf_values[name], value), name


def test_tf_to_safetensors_to_tf_bit_for_bit(
    tf: ModuleType, tf1_checkpoint: tuple[str, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    prefix, _ = tf1_checkpoint
    expected = oracle(tf, prefix)
    out = tmp_path / "model.safetensors"
    with pytest.warns(UserWarning, match="words"):
        files = fastckpt.convert(prefix, out, skip_unsupported=True)
    assert files == [str(out)]
    loaded = safetensors_numpy.load_file(str(out))
    assert set(loaded) == set(expected) - {"words"}
    for name, array in loaded.items():
        assert same_bits(array, expected[name]), name
    with safe_open(str(out), "np") as f:
        assert f.metadata()["format"] == "tf"
        assert f.metadata()["fastckpt.source_format"] == "tf"
        assert same_bits(f.get_tensor("part"), expected["part"])

    back = str(tmp_path / "back" / "ckpt")
    fastckpt.convert(out, back)
    tf_back = oracle(tf, back)
    assert set(tf_back) == set(loaded)
    for name, array in tf_back.items():
        assert same_bits(array, expected[name]), name


def test_tf_to_npz_to_tf_bit_for_bit(
    tf: ModuleType, tf1_checkpoint: tuple[str, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    prefix, _ = tf1_checkpoint
    expected = oracle(tf, prefix)
    out = tmp_path / "model.npz"
    with pytest.warns(UserWarning, match="bf16"):
        fastckpt.convert(prefix, out, skip_unsupported=True)
    with np.load(out) as npz:
        loaded = {name: npz[name] for name in npz.files}
    assert set(loaded) == set(expected) - {"words", "bf16"}
    for name, array in loaded.items():
        assert same_bits(array, expected[name]), name

    back = str(tmp_path / "back")
    files = fastckpt.convert(out, back, to="tf", alignment=1)
    assert files == [back + ".index", back + ".data-00000-of-00001"]
    tf_back = oracle(tf, back)
    assert set(tf_back) == set(loaded)
    for name, array in tf_back.items():
        assert same_bits(array, expected[name]), name


def test_npz_written_by_numpy_converts(tf: ModuleType, tmp_path: Path) -> None:
    arrays = {"a/b": np.arange(12, dtype=np.float64).reshape(3, 4), "scalar": np.array(7, np.int16)}
    np.savez(tmp_path / "np.npz", **arrays)
    fastckpt.convert(tmp_path / "np.npz", tmp_path / "ckpt")
    back = oracle(tf, str(tmp_path / "ckpt"))
    assert all(same_bits(back[k], v) for k, v in arrays.items()) and set(back) == set(arrays)
    np.savez_compressed(tmp_path / "zipped.npz", **arrays)
    with pytest.raises(fastckpt.CheckpointError, match="compressed"):
        fastckpt.convert(tmp_path / "zipped.npz", tmp_path / "x.safetensors")


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:1 tensors of")
@pytest.mark.parametrize("target", ["bfloat16", "float16"])
def test_cast_rounds_as_ml_dtypes_and_numpy(
    tf: ModuleType, tf1_checkpoint: tuple[str, dict[str, np.ndarray]], tmp_path: Path, target: str
) -> None:
    prefix, values = tf1_checkpoint
    dtype = np.dtype(ml_dtypes.bfloat16) if target == "bfloat16" else np.dtype(np.float16)
    out = tmp_path / "cast.safetensors"
    fastckpt.convert(prefix, out, cast=target, skip_unsupported=True)
    with safe_open(str(out), "np") as f:
        raw = {name: f.get_slice(name) for name in f.keys()}
        assert raw["dense/bias"].get_dtype() == ("BF16" if target == "bfloat16" else "F16")
    # safetensors' numpy loader has no bfloat16: compare the raw 16-bit patterns.
    data = out.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    for name in ("dense/bias", "dense/kernel", "f64", "part"):
        begin, end = header[name]["data_offsets"]
        got = np.frombuffer(data[8 + header_len + begin : 8 + header_len + end], dtype=np.uint16)
        want = values[name].astype(dtype).view(np.uint16).ravel()
        assert got.tolist() == want.tolist(), name
    # Integer and narrower float tensors are kept as they are.
    assert header["i32"]["dtype"] == "I32" and header["f16"]["dtype"] == "F16"

    back = str(tmp_path / "cast_back")
    fastckpt.convert(out, back)
    tf_back = oracle(tf, back)
    assert same_bits(tf_back["dense/bias"], values["dense/bias"].astype(dtype))


def test_nan_payloads_cast_to_float16_as_numpy(tmp_path: Path) -> None:
    nans = np.array([0x7F800001, 0xFFC00000, 0x7FBFFFFF, 0x7F802000], dtype=np.uint32).view(np.float32)
    fastckpt.save({"x": nans}, tmp_path / "nan")
    fastckpt.convert(tmp_path / "nan", tmp_path / "nan.npz", cast="float16")
    with np.load(tmp_path / "nan.npz") as npz:
        assert npz["x"].view(np.uint16).tolist() == nans.astype(np.float16).view(np.uint16).tolist()
    fastckpt.convert(tmp_path / "nan", tmp_path / "nan.safetensors", cast="bfloat16")
    with fastckpt.open(tmp_path / "nan.safetensors") as reader:
        got = reader["x"]
    assert got.view(np.uint16).tolist() == nans.astype(ml_dtypes.bfloat16).view(np.uint16).tolist()


def test_sharded_safetensors_index(
    tf: ModuleType, tf1_checkpoint: tuple[str, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    prefix, _ = tf1_checkpoint
    expected = oracle(tf, prefix)
    folder = tmp_path / "hf"
    files = fastckpt.convert(prefix, folder, to="safetensors", max_shard_size="100B", skip_unsupported=True)
    index_path = folder / "model.safetensors.index.json"
    assert files[-1] == str(index_path)
    index = json.loads(index_path.read_text())
    shards = sorted({os.path.basename(f) for f in files[:-1]})
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    # As transformers' sharded loader reads it: every weight_map entry resolves in its shard.
    total = 0
    for name, shard in index["weight_map"].items():
        with safe_open(str(folder / shard), "np") as f:
            array = f.get_tensor(name)
        assert same_bits(array, expected[name]), name
        total += array.nbytes
    assert index["metadata"]["total_size"] == total
    assert set(index["weight_map"]) == set(expected) - {"words"}

    with fastckpt.open(folder) as reader:
        assert set(reader) == set(index["weight_map"])
        assert same_bits(reader["part"], expected["part"])
    back = str(tmp_path / "back")
    fastckpt.convert(folder, back)
    assert all(same_bits(v, expected[k]) for k, v in oracle(tf, back).items())
    # Without a size limit the folder holds one model.safetensors.
    single = fastckpt.convert(prefix, tmp_path / "hf1", to="safetensors", skip_unsupported=True)
    assert single == [str(tmp_path / "hf1" / "model.safetensors")]


@pytest.fixture(scope="module")
def tf2_checkpoint(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A TF2 object-based checkpoint: a module tree with two layers, a step counter and an
    optimizer-like module holding a slot."""
    rng = np.random.default_rng(3)
    model = tf.Module()
    for layer, (n_in, n_out) in (("dense", (3, 4)), ("head", (4, 2))):
        module = tf.Module()
        module.kernel = tf.Variable(rng.standard_normal((n_in, n_out)).astype(np.float32))
        module.bias = tf.Variable(rng.standard_normal(n_out).astype(np.float32))
        setattr(model, layer, module)
    optimizer = tf.Module()
    optimizer.momentum = tf.Variable(np.zeros((3, 4), np.float32))
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, global_step=tf.Variable(np.int64(42)))
    return str(checkpoint.write(str(tmp_path_factory.mktemp("tf2") / "ckpt")))


def test_tf2_friendly_names_filters_and_rules(tf: ModuleType, tf2_checkpoint: str, tmp_path: Path) -> None:
    expected = oracle(tf, tf2_checkpoint)
    out = tmp_path / "model.safetensors"
    fastckpt.convert(
        tf2_checkpoint,
        out,
        friendly_names=True,
        exclude=["optimizer/*", "re:^(global_step|save_counter)/"],
        rename=[(r"^model/(\w+)/", r"\1."), (r"/", "_")],
    )
    loaded = safetensors_numpy.load_file(str(out))
    assert set(loaded) == {"dense.kernel", "dense.bias", "head.kernel", "head.bias"}
    key = "model/head/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert same_bits(loaded["head.kernel"], expected[key])
    with safe_open(str(out), "np") as f:
        keys = json.loads(f.metadata()["fastckpt.checkpoint_keys"])
    assert keys["head.kernel"] == key

    # include keeps only what matches; a callable names each tensor itself (None drops it).
    def name(key: str) -> str | None:
        return key.split("/.ATTRIBUTES")[0].upper() if key.endswith("bias/.ATTRIBUTES/VARIABLE_VALUE") else None

    fastckpt.convert(tf2_checkpoint, tmp_path / "bias.npz", include="model/*", rename=name)
    with np.load(tmp_path / "bias.npz") as npz:
        assert sorted(npz.files) == ["MODEL/DENSE/BIAS", "MODEL/HEAD/BIAS"]


def test_tf_to_tf_realigned_renamed_and_read_by_tf(tf: ModuleType, tf2_checkpoint: str, tmp_path: Path) -> None:
    expected = oracle(tf, tf2_checkpoint)
    out = str(tmp_path / "re")
    fastckpt.convert(tf2_checkpoint, out, alignment=4096, rename={"^model/": "net/"})
    got = oracle(tf, out)
    assert set(got) == {k.replace("model/", "net/", 1) if k.startswith("model/") else k for k in expected}
    graph_key = "_CHECKPOINTABLE_OBJECT_GRAPH"
    for name, value in expected.items():
        if name != graph_key:
            assert same_bits(got[name.replace("model/", "net/", 1) if name.startswith("model/") else name], value)
    # The object graph names the renamed keys.
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(got[graph_key])
    assert {a.checkpoint_key for node in graph.nodes for a in node.attributes} == set(got) - {graph_key}
    reader = fastckpt.load_checkpoint(out)
    assert reader["net/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"].ctypes.data % 4096 == 0


def test_tf_to_tf_resharded_and_read_by_tf(
    tf: ModuleType, tf1_checkpoint: tuple[str, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    """max_shard_size on a TF output spreads the tensors over several data files of one
    checkpoint (partitioned variables written whole); TensorFlow reads every value."""
    prefix, values = tf1_checkpoint
    out = str(tmp_path / "resharded" / "ckpt")
    files = fastckpt.convert(prefix, out, to="tf", max_shard_size=100)
    data_files = sorted(f for f in os.listdir(tmp_path / "resharded") if ".data-" in f)
    count = len(data_files)
    assert count > 2 and data_files == [f"ckpt.data-{i:05d}-of-{count:05d}" for i in range(count)]
    assert sorted(files) == sorted([out + ".index"] + [str(tmp_path / "resharded" / f) for f in data_files])
    assert sorted(os.listdir(tmp_path / "resharded")) == sorted(data_files + ["ckpt.index"]), "no part left over"
    got = oracle(tf, out)
    assert set(got) == set(values)
    for name, value in values.items():
        assert same_bits(got[name], value), name
    assert fastckpt.load_checkpoint(out)["part"].shape == (10, 4)


def test_open_reads_every_format_like_a_checkpoint_reader(
    tf1_checkpoint: tuple[str, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    prefix, values = tf1_checkpoint
    fastckpt.convert(prefix, tmp_path / "m.safetensors", skip_unsupported=True)
    fastckpt.convert(prefix, tmp_path / "m.npz", skip_unsupported=True)
    with fastckpt.open(prefix) as tf_reader:
        assert isinstance(tf_reader, fastckpt.CheckpointReader) and "words" in tf_reader
    for path, fmt in ((tmp_path / "m.safetensors", "safetensors"), (tmp_path / "m.npz", "npz")):
        with fastckpt.open(path) as reader:
            assert isinstance(reader, fastckpt.TensorFileReader) and reader.format == fmt
            assert reader.get_variable_to_shape_map()["dense/kernel"] == [6, 5]
            assert reader.get_variable_to_dtype_map()["i64"] == np.dtype(np.int64)
            view = reader.get_tensor("dense/kernel")
            assert not view.flags.writeable and same_bits(view, values["dense/kernel"])
            copy = reader.get_tensor("part", copy=True)
            assert copy.flags.writeable and same_bits(copy, values["part"])
            assert reader.has_tensor("u8") and "nope" not in reader
            assert all(same_bits(a, values[k]) for k, a in reader.read_all().items())
            with pytest.raises(fastckpt.TensorNotFoundError, match="nope"):
                reader.get_tensor("nope")
        with pytest.raises(ValueError, match="closed"):
            reader.get_tensor("u8")


def test_unsupported_dtype_names_tensor_and_file(
    tf1_checkpoint: tuple[str, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    prefix, _ = tf1_checkpoint
    with pytest.raises(fastckpt.CheckpointError, match=r"model\.ckpt.*'words' is string.*skip_unsupported"):
        fastckpt.convert(prefix, tmp_path / "m.safetensors")
    with pytest.raises(fastckpt.CheckpointError, match="'bf16' is bfloat16"):
        fastckpt.convert(prefix, tmp_path / "m.npz", exclude="words")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="would both be named 'x'"):
        fastckpt.convert(prefix, tmp_path / "m.safetensors", rename=[("^(i8|u8)$", "x")], skip_unsupported=True)
    with pytest.raises(ValueError, match="max_shard_size"):
        fastckpt.convert(prefix, tmp_path / "m.safetensors", max_shard_size="1GB")
    with pytest.raises(ValueError, match="cast to int32"):
        fastckpt.convert(prefix, tmp_path / "m.safetensors", cast="int32")


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ""])
def test_failed_conversion_keeps_previous_output(
    tf1_checkpoint: tuple[str, dict[str, np.ndarray]], tmp_path: Path, suffix: str
) -> None:
    """A source whose data turns out corrupt midway: the conversion raises, the earlier output at
    the destination stays as it was, and no temporary file is left behind."""
    prefix, _ = tf1_checkpoint
    source = tmp_path / "src"
    source.mkdir()
    fastckpt.save({"a": np.arange(1000, dtype=np.float32), "b": np.ones(1000, np.float32)}, source / "ckpt")
    dst = tmp_path / "out" / f"m{suffix}"
    fastckpt.convert(source / "ckpt", dst, skip_unsupported=True)
    before = {p.name: p.read_bytes() for p in dst.parent.iterdir()}
    data = source / "ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[5000] ^= 0xFF  # inside tensor "b" (bytes 4032..8032; "a" is before it)
    data.write_bytes(bytes(raw))
    with pytest.raises(fastckpt.ChecksumMismatchError, match="'b'"):
        fastckpt.convert(source / "ckpt", dst)
    assert {p.name: p.read_bytes() for p in dst.parent.iterdir()} == before


def test_parse_size() -> None:
    from fastckpt.conversion import parse_size

    assert parse_size("5GB") == 5 * 10**9 and parse_size("500MiB") == 500 << 20 and parse_size(1234) == 1234
    assert parse_size("1.5KB") == 1500
    with pytest.raises(ValueError):
        parse_size("lots")


def test_progress_callback_sees_every_tensor(tmp_path: Path) -> None:
    arrays = {"a": np.zeros(10, np.float32), "b": np.ones((2, 3), np.int64)}
    fastckpt.save(arrays, tmp_path / "ckpt")
    seen: list[tuple[str, int]] = []
    for dst in ("m.safetensors", "m.npz", "re"):
        seen.clear()
        fastckpt.convert(tmp_path / "ckpt", tmp_path / dst, progress=lambda name, nbytes: seen.append((name, nbytes)))
        assert sorted(seen) == [("a", 40), ("b", 48)], dst
    with pytest.raises(ValueError, match="unknown checkpoint format 'onnx'"):
        fastckpt.convert(tmp_path / "ckpt", tmp_path / "x", to="onnx")
