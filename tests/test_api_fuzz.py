"""Fuzzing of the public Python API with damaged real files (see ``api_fuzz.py``).

Seed files are written by TensorFlow here; each target (a TF2 checkpoint's object graph and
files, a Saver's ``.meta``, the ``checkpoint`` state file, a SavedModel, GraphDefs in both formats,
safetensors and npz) gets ``CASES_PER_TARGET`` damaged copies from a fixed random seed, and every
entry point of the target runs on each copy in a child process (``child_jobs.py``: address-space
limit, peak-RSS budget, hang guard). Each outcome must be a success or a
``fastckpt.CheckpointError`` naming the damaged file; the CLI must exit non-zero with one
``fastckpt: …`` line. ``scripts/fuzz_api.py`` runs the same mutators for long campaigns; what they
found is pinned by the regression tests at the end, each rebuilding its minimized input.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import sys
from typing import Any

import numpy as np
import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

import api_fuzz  # noqa: E402
from child_jobs import RSS_BUDGET_MB, JobResult, run_jobs  # noqa: E402

import fastckpt  # noqa: E402

CASES_PER_TARGET = 10


@pytest.fixture(scope="module")
def seeds(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("api-fuzz-seeds"))
    api_fuzz.write_seeds(root, tf)
    return root


@pytest.fixture(scope="module")
def fuzz_results(seeds: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str, JobResult]]:
    """case id -> (target, what was damaged, the child's result)."""
    root = str(tmp_path_factory.mktemp("api-fuzz-cases"))
    jobs, damaged = [], {}
    for target in api_fuzz.TARGETS:
        for i in range(CASES_PER_TARGET):
            case_id = f"case-{target}-{i}"
            case_dir = os.path.join(root, case_id)
            damaged[case_id] = (target, api_fuzz.make_case(seeds, target, case_dir, f"{target}:{i}"))
            jobs.append({"id": case_id, "func": "run_case", "kwargs": {"target": target, "case_dir": case_dir, "seeds": seeds}})
    harness = os.path.join(root, "harness")
    os.makedirs(harness)
    results = run_jobs(jobs, harness, "api_fuzz")
    return {case_id: (target, what, results[case_id]) for case_id, (target, what) in damaged.items()}


def test_entry_points_read_the_tensorflow_seeds(seeds: str, tf: Any, tmp_path: Any) -> None:
    """The control: on intact copies every entry point succeeds (the fuzzing reaches past the
    first check), and the TF2 checkpoint reads as TensorFlow reads it."""
    for target in api_fuzz.TARGETS:
        case_dir = str(tmp_path / target)
        os.makedirs(case_dir)
        for name in api_fuzz.TARGETS[target][0]:
            shutil.copytree(os.path.join(seeds, name), os.path.join(case_dir, name))
        outcomes = api_fuzz.run_case(target, case_dir, seeds)
        failed = {op: out for op, out in outcomes.items() if not out["ok"]}
        assert not failed, f"{target}: {failed}"
    prefix = os.path.join(seeds, "tf2", "ckpt-1")
    theirs = tf.train.load_checkpoint(prefix)
    ours = fastckpt.load_checkpoint(prefix)
    assert sorted(ours.keys()) == sorted(theirs.get_variable_to_shape_map())
    for name in ours.keys():
        if name != api_fuzz.OBJECT_GRAPH_KEY:
            np.testing.assert_array_equal(ours.get_tensor(name), theirs.get_tensor(name))


@pytest.mark.parametrize("target", sorted(api_fuzz.TARGETS))
def test_damaged_inputs_are_refused_cleanly(fuzz_results: dict[str, tuple[str, str, JobResult]], target: str) -> None:
    problems = []
    for case_id, (case_target, what, result) in sorted(fuzz_results.items()):
        if case_target != target:
            continue
        if result.status != "done" or result.error:
            problems.append(f"{case_id} ({what}): {result.describe()} {result.error or ''}")
            continue
        if result.rss_growth_mb > RSS_BUDGET_MB:
            problems.append(f"{case_id} ({what}): peak RSS grew by {result.rss_growth_mb:.0f} MB")
        for op, problem in api_fuzz.judge(result.value, case_id):
            problems.append(f"{case_id} ({what}) {op}: {problem}")
    assert not problems, "\n\n".join(problems)


def _files(folder: str) -> dict[str, bytes]:
    out = {}
    for where, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(where, name), "rb") as f:
                out[os.path.relpath(os.path.join(where, name), folder)] = f.read()
    return out


def test_mutators_are_deterministic(seeds: str, tmp_path: Any) -> None:
    for target in api_fuzz.TARGETS:
        a, b = str(tmp_path / f"{target}-a"), str(tmp_path / f"{target}-b")
        assert api_fuzz.make_case(seeds, target, a, f"{target}:det") == api_fuzz.make_case(seeds, target, b, f"{target}:det")
        assert _files(a) == _files(b), target


def test_wire_mutator_round_trips(seeds: str) -> None:
    with open(os.path.join(seeds, "tf1", "model.ckpt.meta"), "rb") as f:
        data = f.read()
    fields = api_fuzz.parse_fields(data)
    assert fields and api_fuzz.encode_fields(fields) == data
    assert api_fuzz.mutate_proto(random.Random(1), data) != data


# ============================================================================================
# Regression tests: what the campaigns found, each input rebuilt from the seeds


def _copy(seeds: str, name: str, tmp_path: Any) -> str:
    folder = str(tmp_path / name)
    shutil.copytree(os.path.join(seeds, name), folder)
    return folder


def _edit_object_graph(tf: Any, prefix: str, edit: Any) -> None:
    """Rewrites the object graph of the bundle ``prefix`` after ``edit`` changed TensorFlow's
    parsed ``TrackableObjectGraph`` of it."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    def mutate(data: bytes) -> bytes:
        graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(data)
        edit(graph)
        return graph.SerializeToString()

    api_fuzz.rewrite_object_graph(prefix, mutate)


def _cli_error(argv: list[str]) -> str:
    """The one line ``fastckpt ARGV`` writes to stderr when it fails (warnings aside)."""
    out = api_fuzz._cli(argv)
    assert "escaped" not in out, out.get("trace")
    assert out["status"] not in (0, None), out
    lines = [x for x in out["stderr"].splitlines() if not x.startswith("fastckpt: warning:")]
    assert len(lines) == 1 and lines[0].startswith("fastckpt: "), out["stderr"]
    return str(lines[0])


def test_ls_tree_checks_the_object_graph(seeds: str, tf: Any, tmp_path: Any) -> None:
    """``fastckpt ls --tree`` parsed the object graph itself: a child id past the nodes was an
    IndexError traceback, an undecodable graph a message without the file."""
    prefix = os.path.join(_copy(seeds, "tf2", tmp_path), "ckpt-1")

    def far_child(graph: Any) -> None:
        graph.nodes[0].children[0].node_id = len(graph.nodes) + 5

    _edit_object_graph(tf, prefix, far_child)
    with pytest.raises(fastckpt.CheckpointError) as ours:
        fastckpt.object_graph(prefix)
    assert prefix in str(ours.value)
    assert _cli_error(["ls", "--tree", prefix]) == f"fastckpt: {ours.value}"
    api_fuzz.rewrite_object_graph(prefix, lambda data: data[: len(data) // 2])
    line = _cli_error(["ls", "--tree", prefix])
    assert prefix in line and api_fuzz.OBJECT_GRAPH_KEY in line


def test_checkpoint_read_whose_root_is_a_variable(seeds: str, tf: Any, tmp_path: Any) -> None:
    """An object graph whose root holds a variable's value: ``Checkpoint.read`` built the tree
    as that array and failed on it (AttributeError 'pop'); the root is the caller's mapping, so
    the value is one of its attributes."""
    prefix = os.path.join(_copy(seeds, "tf2", tmp_path), "ckpt-1")
    key = "save_counter/.ATTRIBUTES/VARIABLE_VALUE"

    def root_variable(graph: Any) -> None:
        del graph.nodes[0].children[:]
        graph.nodes[0].attributes.add(name="VARIABLE_VALUE", full_name="c", checkpoint_key=key)

    _edit_object_graph(tf, prefix, root_variable)
    tree = fastckpt.Checkpoint().read(prefix)
    np.testing.assert_array_equal(tree[".ATTRIBUTES"]["VARIABLE_VALUE"], tf.train.load_checkpoint(prefix).get_tensor(key))


def test_restore_into_objects_the_checkpoint_does_not_fit(seeds: str, tf: Any, tmp_path: Any) -> None:
    """A stored shape other than the caller's array's: TensorFlow's ValueError text, now as
    ``InvalidArgumentError`` (a ValueError); a key stored in parts under an object the caller
    holds as an array was a KeyError."""
    written = tf.train.Checkpoint(v=tf.Variable(np.ones((3, 2), np.float32))).write(str(tmp_path / "v"))
    with pytest.raises(ValueError, match="Received incompatible tensor with shape") as theirs:
        tf.train.Checkpoint(v=tf.Variable(np.zeros((2, 3), np.float32))).restore(written)
    with pytest.raises(fastckpt.InvalidArgumentError, match="Received incompatible tensor with shape") as ours:
        fastckpt.Checkpoint(v=np.zeros((2, 3), np.float32)).restore(written)
    assert isinstance(ours.value, ValueError)
    assert str(ours.value).split(" and name ")[0] == str(theirs.value).split(" and name ")[0]

    prefix = os.path.join(seeds, "tf2", "ckpt-1")
    parted = os.path.join(_copy(seeds, "tf2", tmp_path), "ckpt-1")

    def parts_key(graph: Any) -> None:  # the stored key extends it: read as a key stored in parts
        optimizer = next(c.node_id for c in graph.nodes[0].children if c.local_name == "optimizer")
        iterations = next(c.node_id for c in graph.nodes[optimizer].children if c.local_name == "_iterations")
        graph.nodes[iterations].attributes[0].checkpoint_key = "optimizer/_iterations/.ATTRIBUTES/VARIABLE_"

    _edit_object_graph(tf, parted, parts_key)
    restored = fastckpt.Checkpoint(fastckpt.Checkpoint().read(prefix)).restore(parted)
    stored = tf.train.load_checkpoint(parted).get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")
    assert restored["optimizer"]["_iterations"] == {"VALUE": stored}


def test_state_file_naming_no_checkpoint(seeds: str, tf: Any, tmp_path: Any) -> None:
    """A state file without ``model_checkpoint_path``: TensorFlow's ValueError, now also a
    ``CheckpointError`` (it was a bare ValueError)."""
    folder = _copy(seeds, "tf1", tmp_path)
    with open(os.path.join(folder, "checkpoint"), "w") as f:
        f.write('all_model_checkpoint_paths: "model.ckpt"\n')
    with pytest.raises(ValueError, match="Invalid checkpoint state loaded from"):
        tf.train.get_checkpoint_state(folder)
    for call in (fastckpt.get_checkpoint_state, fastckpt.latest_checkpoint, fastckpt.load_checkpoint):
        with pytest.raises(fastckpt.InvalidFileError, match=f"Invalid checkpoint state loaded from {folder}") as ours:
            call(folder)
        assert isinstance(ours.value, ValueError)


def test_cli_warnings_about_a_state_file_are_command_lines(seeds: str, tmp_path: Any) -> None:
    """The library's log of a state file it cannot parse (TensorFlow's 'Checkpoint ignored')
    reached the command's stderr as bare lines between its own."""
    folder = _copy(seeds, "tf1", tmp_path)
    with open(os.path.join(folder, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "model.ckpt"\nmeta_graphs {\n')
    out = api_fuzz._cli(["ls", folder])
    lines = out["stderr"].splitlines()
    assert out["status"] == 1 and len(lines) == 3, out
    assert all(line.startswith("fastckpt: warning: ") for line in lines[:2]) and "Checkpoint ignored" in lines[1]
    assert lines[2].startswith("fastckpt: ") and folder in lines[2]


def _saved_model_without(seeds: str, tmp_path: Any, edit: Any) -> str:
    from tensorflow.core.protobuf import saved_model_pb2

    folder = _copy(seeds, "sm", tmp_path)
    path = os.path.join(folder, "saved_model.pb")
    with open(path, "rb") as f:
        message = saved_model_pb2.SavedModel.FromString(f.read())
    edit(message)
    with open(path, "wb") as f:
        f.write(message.SerializeToString())
    return folder


def test_saved_model_missing_what_is_asked(seeds: str, tf: Any, tmp_path: Any) -> None:
    """No meta graph, no such tag set, no such signature, a signature output its graph lacks:
    ValueError, RuntimeError, KeyError and KeyError before, none a ``CheckpointError``."""
    from tensorflow.python.tools import saved_model_utils

    empty = _saved_model_without(seeds, tmp_path / "a", lambda m: m.ClearField("meta_graphs"))
    with pytest.raises(fastckpt.InvalidFileError, match=f"the SavedModel in {empty} holds no meta graph"):
        fastckpt.load_saved_model(empty)
    with pytest.raises(RuntimeError, match="MetaGraphDef associated with tag-set serve could not be found in the SavedModel"):
        saved_model_utils.get_meta_graph_def(empty, "serve")
    with pytest.raises(fastckpt.MetaGraphNotFoundError, match="tag-set serve could not be found in the SavedModel") as ours:
        fastckpt.get_meta_graph_def(empty, "serve")
    assert isinstance(ours.value, RuntimeError)
    tagged = _copy(seeds, "sm", tmp_path / "b")
    with pytest.raises(fastckpt.MetaGraphNotFoundError) as ours:
        fastckpt.load_saved_model(tagged, tags="train")
    assert isinstance(ours.value, RuntimeError)  # TensorFlow's loader's text, which names no folder

    unsigned = _saved_model_without(seeds, tmp_path / "c", lambda m: m.meta_graphs[0].signature_def.pop("serving_default"))
    with pytest.raises(fastckpt.SignatureNotFoundError, match="signature 'serving_default' is not in the SavedModel") as missing:
        fastckpt.freeze_saved_model(unsigned)
    assert isinstance(missing.value, KeyError) and unsigned in str(missing.value)
    assert unsigned in _cli_error(["freeze", unsigned, "-o", str(tmp_path / "f.pb")])

    def drop_output(m: Any) -> None:
        outputs = m.meta_graphs[0].signature_def["serving_default"].outputs
        graph = m.meta_graphs[0].graph_def
        names = {t.name.split(":")[0] for t in outputs.values()}
        kept = [n for n in graph.node if n.name not in names]
        del graph.node[:]
        graph.node.extend(kept)

    headless = _saved_model_without(seeds, tmp_path / "d", drop_output)
    with pytest.raises(fastckpt.InvalidFileError, match="a node its graph lacks") as lacking:
        fastckpt.freeze_saved_model(headless)
    assert headless in str(lacking.value)


def test_freeze_saved_model_checks_the_variables_object_graph(seeds: str, tf: Any, tmp_path: Any) -> None:
    """An undecodable object graph in ``variables/``: a DecodeError without the file; a
    captured object id past the checkpoint's nodes: an IndexError."""
    folder = _copy(seeds, "sm", tmp_path)
    prefix = os.path.join(folder, "variables", "variables")
    api_fuzz.rewrite_object_graph(prefix, lambda data: data[: len(data) - 3])
    with pytest.raises(fastckpt.DecodeError) as ours:
        fastckpt.freeze_saved_model(folder)
    assert prefix in str(ours.value) and api_fuzz.OBJECT_GRAPH_KEY in str(ours.value)

    folder = _copy(seeds, "sm", tmp_path / "b")

    def root_only(graph: Any) -> None:
        del graph.nodes[0].children[:]
        del graph.nodes[1:]

    _edit_object_graph(tf, os.path.join(folder, "variables", "variables"), root_only)
    with pytest.raises(fastckpt.InvalidFileError, match="which its object graphs lack") as ours:
        fastckpt.freeze_saved_model(folder)
    assert folder in str(ours.value)


def _edit_meta(tf: Any, path: str, edit: Any) -> None:
    from tensorflow.core.protobuf import meta_graph_pb2

    with open(path, "rb") as f:
        meta = meta_graph_pb2.MetaGraphDef.FromString(f.read())
    edit(meta)
    with open(path, "wb") as f:
        f.write(meta.SerializeToString())


def test_import_meta_graph_errors_name_the_file(seeds: str, tf: Any, tmp_path: Any) -> None:
    """A SaverDef whose restore op is not in the graph was a KeyError; a graph TensorFlow refuses
    (a node given twice) a GraphImportError naming the node but not the ``.meta`` file."""
    meta = os.path.join(_copy(seeds, "tf1", tmp_path), "model.ckpt.meta")
    _edit_meta(tf, meta, lambda m: setattr(m.saver_def, "restore_op_name", "save/nowhere"))
    with pytest.raises(fastckpt.InvalidFileError, match="save/nowhere") as ours:
        fastckpt.import_meta_graph(meta)
    assert meta in str(ours.value)

    _edit_meta(tf, meta, lambda m: m.graph_def.node.append(m.graph_def.node[0]))
    name = tf.compat.v1.MetaGraphDef.FromString(open(meta, "rb").read()).graph_def.node[0].name
    with tf.Graph().as_default(), pytest.raises(ValueError) as theirs:
        tf.compat.v1.train.import_meta_graph(meta)
    with pytest.raises(fastckpt.GraphImportError) as ours:
        fastckpt.import_meta_graph(meta)
    assert str(ours.value) == f"{meta}: Node '{name}' is not unique" and f"Node '{name}' is not unique" in str(theirs.value)


def test_cli_graph_with_a_const_tensorflow_cannot_hold(seeds: str, tmp_path: Any) -> None:
    """``fastckpt graph`` on a Const of dtype DT_INVALID: make_ndarray's TypeError escaped the
    command as a traceback."""
    folder = _copy(seeds, "tf1", tmp_path)
    graph = fastckpt.read_graph_def(os.path.join(folder, "graph.pb"))
    const = next(node for node in graph.node if node.op == "Const" and not node.attr["value"].tensor.tensor_content)
    const.attr["value"].tensor.dtype = 0
    path = fastckpt.write_graph(graph, folder, "bad.pb", as_text=False)
    line = _cli_error(["graph", path])
    assert path in line and f"Const '{const.name}'" in line


def test_cli_text_parse_errors_are_one_line(seeds: str, tmp_path: Any) -> None:
    """A string token holding a line break, shown where a '{' was expected, split the message."""
    folder = _copy(seeds, "tf1", tmp_path)
    path = os.path.join(folder, "graph.pbtxt")
    with open(path, "a") as f:
        f.write('node "a\nb"\n')
    with pytest.raises(fastckpt.DecodeError) as ours:
        fastckpt.read_graph_def(path)
    assert "\n" not in str(ours.value) and '\\"a\\n' in str(ours.value)
    assert path in _cli_error(["graph", path])


def test_freeze_graph_refusals_are_checkpoint_errors(seeds: str, tf: Any, tmp_path: Any) -> None:
    """An output the graph lacks, a variable of another dtype than its checkpoint value: the
    engine's invalid arguments were bare ValueErrors."""
    folder = _copy(seeds, "tf1", tmp_path)
    graph = fastckpt.read_graph_def(os.path.join(folder, "graph.pb"))
    with pytest.raises(fastckpt.InvalidArgumentError, match="nope is not in graph") as ours:
        fastckpt.freeze_graph(graph, os.path.join(folder, "model.ckpt"), "nope")
    assert isinstance(ours.value, ValueError)
    variable = next(node for node in graph.node if node.name == "w")
    variable.attr["dtype"].type = tf.int32.as_datatype_enum
    with pytest.raises(fastckpt.InvalidArgumentError, match="has dtype DT_INT32 but checkpoint"):
        fastckpt.freeze_graph(graph, os.path.join(folder, "model.ckpt"), "out")
    line = _cli_error(["freeze", os.path.join(folder, "graph.pb"), "-o", str(tmp_path / "f.pb"),
                       "--checkpoint", os.path.join(folder, "model.ckpt"), "--outputs", "nope"])
    assert os.path.join(folder, "graph.pb") in line and "nope is not in graph" in line


def _npz_with(path: str, members: dict[str, bytes]) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_tensor_files_numpy_cannot_hold(tmp_path: Any) -> None:
    """An npz member or safetensors entry of rank 70 (or a size past isize): numpy's ValueError
    came out as is, naming neither the file nor the tensor."""
    npz = str(tmp_path / "deep.npz")
    _npz_with(npz, {"deep.npy": api_fuzz._npy(f"{{'descr': '<f4', 'fortran_order': False, 'shape': {(1,) * 70!r}, }}", b"\0" * 4)})
    header = json.dumps({"deep": {"dtype": "F32", "shape": [1] * 70, "data_offsets": [0, 4]}}).encode()
    st = str(tmp_path / "deep.safetensors")
    with open(st, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    for path in (npz, st):
        with fastckpt.open(path) as reader:
            with pytest.raises(fastckpt.CheckpointError, match="cannot be a numpy array") as ours:
                reader.read_all()
            assert path in str(ours.value) and "'deep'" in str(ours.value)


def test_convert_names_the_source_of_an_empty_tensor_name(tmp_path: Any) -> None:
    """An npz member '.npy' (a tensor named ''): the refusal was a bare ValueError without the
    file."""
    npz = str(tmp_path / "empty-name.npz")
    buf = io.BytesIO()
    np.save(buf, np.arange(3, dtype=np.float32))
    _npz_with(npz, {".npy": buf.getvalue()})
    with pytest.raises(fastckpt.InvalidArgumentError, match="tensor '' would be renamed to the empty name") as ours:
        fastckpt.convert(npz, str(tmp_path / "out.safetensors"))
    assert npz in str(ours.value) and isinstance(ours.value, ValueError)


def test_text_parse_errors_escape_control_characters(seeds: str, tmp_path: Any) -> None:
    """A stray control byte (\\x1d, which Python's splitlines breaks at) was shown raw in the
    'found' part of a text-format error, splitting the CLI's one line."""
    folder = _copy(seeds, "tf1", tmp_path)
    path = os.path.join(folder, "graph.pbtxt")
    with open(path, "ab") as f:
        f.write(b"\x1d\n")
    with pytest.raises(fastckpt.DecodeError) as ours:
        fastckpt.read_graph_def(path)
    assert len(str(ours.value).splitlines()) == 1 and "\\u{1d}" in str(ours.value)
    assert path in _cli_error(["graph", path])


def test_restore_into_one_array_held_twice(tf: Any, tmp_path: Any) -> None:
    """The same caller array under two names was handed twice to the engine's in-place read
    ('read_into needs buffers that do not overlap each other', a bare ValueError)."""
    prefix = tf.train.Checkpoint(a=tf.Variable([1.0, 2.0]), b=tf.Variable([3.0, 4.0])).write(str(tmp_path / "ab"))
    shared = np.zeros(2, np.float32)
    fastckpt.Checkpoint(a=shared, b=shared).restore(prefix)
    assert shared.tolist() in ([1.0, 2.0], [3.0, 4.0])


def test_freeze_saved_model_graph_errors_name_the_folder(seeds: str, tf: Any, tmp_path: Any) -> None:
    """The engine's refusal of a SavedModel's graph (a call whose inputs outnumber its Tin)
    named neither the SavedModel nor its files."""

    def short_tin(m: Any) -> None:
        for node in m.meta_graphs[0].graph_def.node:
            if node.op == "StatefulPartitionedCall":
                del node.attr["Tin"].list.type[1:]

    folder = _saved_model_without(seeds, tmp_path, short_tin)
    with pytest.raises(fastckpt.CheckpointError) as ours:
        fastckpt.freeze_saved_model(folder)
    assert folder in str(ours.value)
