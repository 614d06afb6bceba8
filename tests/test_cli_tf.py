"""The ``fastckpt`` command run as a user runs it (``python -m fastckpt`` in a child process) on
checkpoints, graphs and SavedModels written by real TensorFlow in the test: a TF1 Saver sharded
over two devices with a partitioned variable and its meta graph, a TF2 Keras model with its
optimizer, a SavedModel with a signature. Outputs, ``--json`` schemas and exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt

COMMAND = [sys.executable, "-m", "fastckpt"]


def run(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert done.returncode == expect, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def run_json(*args: str | Path, expect: int = 0) -> Any:
    return json.loads(run(*args, "--json", expect=expect).stdout)


@dataclass
class Written:
    tf1_prefix: str  # TF1 Saver, sharded over two devices, with a partitioned variable
    tf1_meta: str
    tf1_values: dict[str, np.ndarray[Any, Any]]
    keras_prefix: str  # TF2 tf.train.Checkpoint of a Keras model and its Adam optimizer
    saved_model: str


@pytest.fixture(scope="module")
def written(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Written:
    root = tmp_path_factory.mktemp("cli_tf")
    (root / "tf1").mkdir()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        with tf.device("/cpu:0"):
            w = v1.get_variable("dense/w", initializer=tf.constant(np.arange(12, dtype=np.float32).reshape(3, 4)))
            words = v1.get_variable("words", initializer=tf.constant([b"alpha", b"", b"\xff\x00"]))
        with tf.device("/cpu:1"):
            steps = v1.get_variable("global_step", initializer=tf.constant(7, dtype=tf.int64))
            part = v1.get_variable(
                "part", shape=[6, 2], initializer=v1.random_uniform_initializer(seed=1),
                partitioner=v1.fixed_size_partitioner(2),
            )  # fmt: skip
        tf.identity(tf.matmul(x, w), name="y")
        saver = v1.train.Saver(sharded=True)
        with v1.Session(graph=graph, config=v1.ConfigProto(device_count={"CPU": 2})) as sess:
            sess.run(v1.global_variables_initializer())
            tf1_prefix = saver.save(sess, str(root / "tf1" / "model.ckpt"), global_step=3)
            values = {
                "dense/w": sess.run(w),
                "words": np.array(sess.run(words), dtype=object),
                "global_step": np.array(sess.run(steps)),
                "part": sess.run(part.as_tensor()),
            }
    assert sorted(p.name for p in (root / "tf1").glob("*.data-*")) == [
        "model.ckpt-3.data-00000-of-00002",
        "model.ckpt-3.data-00001-of-00002",
    ]

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3), tf.keras.layers.Dense(2)])
    optimizer = tf.keras.optimizers.Adam()
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    keras_prefix = tf.train.Checkpoint(model=model, optimizer=optimizer).save(str(root / "keras" / "ckpt"))

    class Scale(tf.Module):
        def __init__(self) -> None:
            self.factor = tf.Variable([2.0, 3.0])

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="values")])
        def __call__(self, values: Any) -> Any:
            return {"scaled": values * self.factor}

    module = Scale()
    saved_model = str(root / "saved_model")
    tf.saved_model.save(module, saved_model, signatures=module.__call__)
    return Written(tf1_prefix, tf1_prefix + ".meta", values, keras_prefix, saved_model)


def test_help_everywhere() -> None:
    assert "ls" in run("--help").stdout
    for command in ("ls", "list", "show", "verify", "diff", "graph", "saved-model", "bench"):
        assert run(command, "--help").stdout.startswith("usage: fastckpt ")


def test_ls_tf1_sharded_partitioned(tf: ModuleType, written: Written) -> None:
    listing = run_json("ls", Path(written.tf1_prefix).parent)  # the folder: its latest checkpoint
    assert set(listing) == {"path", "tensors", "total_bytes"}
    assert listing["path"] == written.tf1_prefix
    expected = dict(tf.train.list_variables(written.tf1_prefix))
    assert [t["name"] for t in listing["tensors"]] == sorted(expected)
    by_name = {t["name"]: t for t in listing["tensors"]}
    for name, value in written.tf1_values.items():
        row = by_name[name]
        assert set(row) == {"name", "dtype", "shape", "bytes"}
        assert row["shape"] == list(expected[name]) == list(value.shape)
        size = sum(len(s) for s in value.flat) if value.dtype == object else value.nbytes
        assert row["bytes"] == size
    assert [by_name[n]["dtype"] for n in ("dense/w", "global_step", "part", "words")] == [
        "float32", "int64", "float32", "string",
    ]  # fmt: skip
    assert listing["total_bytes"] == sum(t["bytes"] for t in listing["tensors"])

    text = run("list", written.tf1_prefix).stdout.splitlines()
    assert text[0] == f"{written.tf1_prefix}: {len(expected)} tensors, {listing['total_bytes']} bytes"
    assert text[1].split() == ["dense/w", "float32", "[3,", "4]", "48"]


def test_ls_keras_checkpoint_and_saved_model(tf: ModuleType, written: Written) -> None:
    listing = run_json("ls", written.keras_prefix)
    names = {t["name"] for t in listing["tensors"]}
    assert names == {name for name, _ in tf.train.list_variables(written.keras_prefix)}
    assert any(name.startswith("optimizer/") for name in names) and "_CHECKPOINTABLE_OBJECT_GRAPH" in names

    listing = run_json("ls", written.saved_model)
    assert listing["path"] == str(Path(written.saved_model) / "variables" / "variables")
    assert "factor/.ATTRIBUTES/VARIABLE_VALUE" in {t["name"] for t in listing["tensors"]}


def test_show_values(tf: ModuleType, written: Written) -> None:
    from tensorflow.python.tools import inspect_checkpoint

    part = tf.train.load_variable(written.tf1_prefix, "part")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        inspect_checkpoint.print_tensors_in_checkpoint_file(written.tf1_prefix, "part", False)
    assert run("show", written.tf1_prefix, "part").stdout == printed.getvalue()
    value = run_json("show", written.tf1_prefix, "words")
    assert value == {"name": "words", "dtype": "string", "shape": [3], "values": ["alpha", "", "\\xff\x00"]}
    value = run_json("show", written.tf1_prefix, "part")
    assert np.array_equal(np.array(value["values"], np.float32), part)

    big = Path(written.tf1_prefix).parent / "big"
    fastckpt.save({"r": np.arange(2000, dtype=np.int32)}, big)
    assert "..." in run("show", big, "r").stdout
    assert "..." not in run("show", big, "r", "--all").stdout

    done = run("show", written.tf1_prefix, "nope", expect=1)
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "nope" in done.stderr


def test_verify_good_checkpoints(written: Written) -> None:
    for path in (written.tf1_prefix, written.keras_prefix, written.saved_model):
        report = run_json("verify", path)
        assert set(report) == {"path", "tensors", "bytes", "seconds", "ok", "failures"}
        assert report["ok"] is True and report["failures"] == [] and report["tensors"] > 0
    assert "4 tensors" in run("verify", written.tf1_prefix).stdout


def _copy_checkpoint(prefix: str, folder: Path) -> str:
    folder.mkdir()
    for file in Path(prefix).parent.glob(Path(prefix).name + ".*"):
        shutil.copy(file, folder / file.name)
    return str(folder / Path(prefix).name)


def test_verify_names_every_bad_tensor(written: Written, tmp_path: Path) -> None:
    prefix = _copy_checkpoint(written.tf1_prefix, tmp_path / "bad")
    # Flip one byte inside 'dense/w' (on cpu:0, shard 0) and inside 'global_step' (shard 1): the
    # data files hold the raw little-endian values, so a value's bytes locate its tensor.
    for shard, value in (("00000", written.tf1_values["dense/w"]), ("00001", written.tf1_values["global_step"])):
        data = Path(f"{prefix}.data-{shard}-of-00002")
        raw = bytearray(data.read_bytes())
        at = raw.find(value.tobytes())
        assert at >= 0
        raw[at + 2] ^= 0x40
        data.write_bytes(bytes(raw))
    report = run_json("verify", prefix, expect=1)
    assert report["ok"] is False and report["tensors"] == 4
    assert sorted(f["name"] for f in report["failures"]) == ["dense/w", "global_step"]
    assert all("dense/w" in f["error"] or "global_step" in f["error"] for f in report["failures"])
    text = run("verify", prefix, expect=1).stdout.splitlines()
    assert text[0] == f"{prefix}: 2 of 4 tensors failed verification"
    assert sorted(line.split(":")[0].strip() for line in text[1:]) == ["dense/w", "global_step"]


def test_bad_inputs_are_one_line(written: Written, tmp_path: Path) -> None:
    for command in ("ls", "verify", "show"):
        extra = ["w"] if command == "show" else []
        done = run(command, tmp_path / "missing", *extra, expect=1)
        assert done.stdout == "" and done.stderr.startswith("fastckpt: ") and done.stderr.count("\n") == 1
        assert "missing" in done.stderr
    prefix = _copy_checkpoint(written.tf1_prefix, tmp_path / "corrupt")
    index = Path(prefix + ".index")
    raw = bytearray(index.read_bytes())
    raw[-3] ^= 0xFF  # inside the magic number that ends the footer
    index.write_bytes(bytes(raw))
    for command in ("ls", "verify"):
        done = run(command, prefix, expect=1)
        assert done.stderr.startswith("fastckpt: ") and done.stderr.count("\n") == 1 and ".index" in done.stderr
    done = run("diff", prefix, written.tf1_prefix, expect=2)
    assert done.stderr.count("\n") == 1


def test_diff(tf: ModuleType, written: Written, tmp_path: Path) -> None:
    same = run_json("diff", written.tf1_prefix, written.tf1_prefix)
    assert same == {
        "a": written.tf1_prefix, "b": written.tf1_prefix, "only_in_a": [], "only_in_b": [], "changed": [], "same": 4,
    }  # fmt: skip
    assert run("diff", written.tf1_prefix, written.tf1_prefix).stdout == "4 same, 0 changed, 0 only in A, 0 only in B\n"

    changed = dict(written.tf1_values)
    changed["dense/w"] = changed["dense/w"] + np.float32(0.5) * (np.arange(12).reshape(3, 4) == 5)
    changed["part"] = changed["part"].astype(np.float64)
    changed["global_step"] = np.array([7], np.int64)
    del changed["words"]
    changed["extra"] = np.zeros(1, np.float32)
    other = fastckpt.save(changed, tmp_path / "other")
    report = run_json("diff", written.tf1_prefix, other, expect=1)
    assert report["only_in_a"] == ["words"] and report["only_in_b"] == ["extra"] and report["same"] == 0
    by_name = {c["name"]: c for c in report["changed"]}
    assert by_name["dense/w"]["kind"] == "value" and by_name["dense/w"]["differing"] == 1
    assert by_name["dense/w"]["max_abs_diff"] == 0.5
    assert by_name["part"] == {"name": "part", "kind": "dtype", "detail": "float32 != float64"}
    assert by_name["global_step"] == {"name": "global_step", "kind": "shape", "detail": "[] != [1]"}
    text = run("diff", written.tf1_prefix, other, expect=1).stdout.splitlines()
    assert text[:2] == ["only in A: words", "only in B: extra"]
    assert "value: dense/w: 1 of 12 elements differ, max abs diff 0.5" in text

    close = fastckpt.save({**written.tf1_values, "dense/w": written.tf1_values["dense/w"] + np.float32(1e-3)}, tmp_path / "c")
    assert run_json("diff", written.tf1_prefix, close, expect=1)["changed"][0]["name"] == "dense/w"
    assert run_json("diff", written.tf1_prefix, close, "--atol", "0.01")["same"] == 4


def test_graph_of_tf1_meta_graph(tf: ModuleType, written: Written, tmp_path: Path) -> None:
    graph_def = tf.compat.v1.MetaGraphDef.FromString(Path(written.tf1_meta).read_bytes()).graph_def
    summary = run_json("graph", written.tf1_meta)
    assert set(summary) == {"path", "nodes", "ops", "placeholders", "outputs", "const_count", "const_bytes", "functions"}
    assert summary["nodes"] == len(graph_def.node)
    ops: dict[str, int] = {}
    for node in graph_def.node:
        ops[node.op] = ops.get(node.op, 0) + 1
    assert summary["ops"] == ops
    assert summary["placeholders"][0] == {"name": "x", "dtype": "float32", "shape": [-1, 3]}
    assert {"name": "y", "op": "Identity"} in summary["outputs"]
    const_bytes = sum(
        tf.make_ndarray(node.attr["value"].tensor).nbytes
        if node.attr["value"].tensor.dtype != tf.string.as_datatype_enum
        else sum(len(s) for s in node.attr["value"].tensor.string_val)
        for node in graph_def.node
        if node.op == "Const"
    )
    assert summary["const_bytes"] == const_bytes
    assert f"{len(graph_def.node)} nodes" in run("graph", written.tf1_meta).stdout

    out = tmp_path / "graph.pbtxt"
    run("graph", written.tf1_meta, "--to", "pbtxt", "-o", out)
    from google.protobuf import text_format

    assert text_format.Parse(out.read_text(), tf.compat.v1.GraphDef()) == graph_def
    run("graph", out, "--to", "pb", "-o", tmp_path / "graph.pb")
    assert tf.compat.v1.GraphDef.FromString((tmp_path / "graph.pb").read_bytes()) == graph_def
    assert run("graph", written.tf1_meta, "--to", "pb", expect=1).stderr.startswith("fastckpt: --to needs -o")


def test_saved_model(tf: ModuleType, written: Written) -> None:
    shown = run_json("saved-model", written.saved_model)
    assert shown["path"] == written.saved_model
    [meta_graph] = shown["meta_graphs"]
    assert meta_graph["tags"] == ["serve"]
    signature = meta_graph["signatures"]["serving_default"]
    loaded = tf.saved_model.load(written.saved_model).signatures["serving_default"]
    [(input_key, input_spec)] = loaded.structured_input_signature[1].items()
    assert signature["inputs"][input_key]["dtype"] == "DT_FLOAT"
    assert signature["inputs"][input_key]["shape"] == [-1 if d is None else d for d in input_spec.shape] == [-1, 2]
    assert signature["inputs"][input_key]["name"].startswith("serving_default_values:")
    assert set(signature["outputs"]) == set(loaded.structured_outputs) == {"scaled"}
    assert signature["method_name"] == "tensorflow/serving/predict"
    text = run("saved-model", written.saved_model).stdout
    assert "signature_def['serving_default']:" in text and "inputs['values'] tensor_info:" in text
    assert "Method name is: tensorflow/serving/predict" in text


def test_bench_tiny_json(tmp_path: Path) -> None:
    report = run_json("bench", "--size", "1MiB", "--tensors", "4", "--repeats", "2", "--plot", tmp_path / "b.png")
    assert set(report) == {"machine", "repeats", "workloads", "errors", "skipped"}
    assert report["errors"] == {} and report["repeats"] == 2
    assert "tensorflow" not in report["skipped"]  # the oracle of these tests is installed
    [workload] = report["workloads"]
    assert workload["payload_bytes"] == 1 << 20 and workload["tensors"] == 4 and workload["shape"] == [64, 1024]
    found = {(o["library"], o["operation"]) for o in workload["operations"]}
    expected = {("fastckpt", "save"), ("fastckpt", "restore")}
    expected |= {("tensorflow", op) for op in ("save", "restore", "load_checkpoint", "checkpoint_write", "checkpoint_read")}
    for library in ("safetensors", "numpy"):
        if library not in report["skipped"]:
            expected |= {(library, "save"), (library, "restore")}
    assert found == expected
    for operation in workload["operations"]:
        assert len(operation["seconds"]) == 2
        assert operation["min_seconds"] <= operation["median_seconds"] <= operation["max_seconds"]
        assert operation["gb_per_second"] > 0 and operation["peak_rss_mib"] >= 0
        assert operation["fastckpt_speedup"] > 0 or operation["library"] == "fastckpt"
    assert (tmp_path / "b.png").read_bytes().startswith(b"\x89PNG")


def _tree_tensors(tree: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(object path/attribute, listing row) of every tensor in a ``ls --tree --json`` tree."""
    found = [(f"{path}/{attribute}".lstrip("/"), row) for attribute, row in tree.get("tensors", {}).items()]
    for slot in tree.get("slots", []):
        found += _tree_tensors(slot["object"], f"{path}/{slot['slot']} of {slot['of']}")
    for name, child in tree.get("children", {}).items():
        found += _tree_tensors(child, f"{path}/{name}")
    return found


def test_ls_tree_of_keras_checkpoint(tf: ModuleType, written: Written) -> None:
    listing = run_json("ls", "--tree", written.keras_prefix)
    assert set(listing) == {"path", "tree", "total_bytes"}
    tree = listing["tree"]
    assert {"model", "optimizer"} <= set(tree["children"])
    # Every tensor TF lists (but the object graph itself) sits under exactly one object.
    tensors = _tree_tensors(tree)
    listed = dict(tf.train.list_variables(written.keras_prefix))
    assert sorted(row["name"] for _, row in tensors) == sorted(set(listed) - {"_CHECKPOINTABLE_OBJECT_GRAPH"})
    for _, row in tensors:
        assert row["shape"] == list(listed[row["name"]])
    # Keras 3 saves the weights under the optimizer's alias; the tree shows them inside the model.
    kernels = [(path, row["name"]) for path, row in tensors if path.endswith("/_kernel/VARIABLE_VALUE")]
    assert [name for _, name in kernels] == [f"optimizer/_trainable_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE" for i in (0, 2)]
    assert all(path.startswith("model/") for path, _ in kernels)
    text = run("ls", "--tree", written.keras_prefix).stdout.splitlines()
    assert text[1] == "  model"
    assert "  optimizer -> model/optimizer" in text

    done = run("ls", "--tree", written.tf1_prefix, expect=1)
    assert "not a TF2 object-based checkpoint" in done.stderr and done.stderr.count("\n") == 1


def test_saved_model_text_is_saved_model_cli_show_all(tf: ModuleType, written: Written) -> None:
    """The text of ``fastckpt saved-model`` is what TF's ``saved_model_cli show --all`` prints
    before its op list and concrete functions (which take TensorFlow to load): the blank line
    first, tags joined by ', ', shapes as tuples ``(-1, 2)`` and ``unknown_rank``. It printed
    Python lists and ``None``."""
    theirs = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", written.saved_model, "--all"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert theirs.returncode == 0, theirs.stderr
    signatures = theirs.stdout.split("\nThe MetaGraph with tag set")[0]
    assert "shape: (-1, 2)" in signatures and "shape: unknown_rank" in signatures
    assert run("saved-model", written.saved_model).stdout == signatures + "\n"
