"""TensorFlow 2.21's own test files replayed against fastckpt where its public API covers them; each
test runs the scenario through real TensorFlow and through fastckpt and compares.

- ``framework/dtypes_test.py``: ``fastckpt.DType`` for every ``DataType`` enum value (enum, name,
  ``str``, hash, base type, unique names), refused values (``testInvalid``), equality with what is
  not a ``DType`` (``testEqWithNonTFTypes``: read by ``tf.as_dtype``), pickling (``testReduce``),
  and what is taken as a dtype (``testNumpyConversion``, ``testStringConversion``,
  ``testPythonTypesConversion``, ``testAsDtypeInvalidArgument``) through ``make_tensor_proto``'s
  ``dtype`` and ``DType`` equality. Left out: ``as_numpy_dtype``, ``is_floating``/``is_integer``/…,
  ``min``/``max``/``limits``, ``real_dtype``, subtypes and trace types, which ``fastckpt.DType``
  does not have (checkpoints give numpy dtypes).
- ``trackable/trackable_utils.py``'s name escaping (its test file only tests an ordering helper):
  objects and dict keys named with ``/``, ``.``, ``.S``, ``..``, non-ASCII, at the root, in a dict,
  in a list; TensorFlow's checkpoint read by ``fastckpt.Checkpoint`` (the names unescaped, the same
  keys and object graph written back, TensorFlow restores it) and a tree of such names written by
  fastckpt with TensorFlow's keys and graph. A child named ``.ATTRIBUTES`` (TensorFlow escapes it
  to ``..ATTRIBUTES``) cannot be a key of a tree: reading one is refused, naming the object.
- ``checkpoint/functional_saver_test.py`` and ``checkpoint/sharding/``: a TF2 save split by
  ``CheckpointOptions(experimental_sharding_callback=MaxShardSizePolicy(...))`` (tensors cut into
  slices across data files) read by ``fastckpt.Checkpoint``, changed and written back, restored by
  TensorFlow (the save → restore into a second set of variables of ``test_resource_variable``).
  Left out: multi-device and multi-task saves (``test_checkpoint_is_sharded_by_task``, logical
  CPUs, ``experimental_io_device``, ``ShardByTaskPolicy``) need devices or servers; on one host
  TensorFlow 2.21 writes those as one data file, which the other tests cover.
- ``training/saver_large_variable_test.py`` and ``saver_large_partitioned_variable_test.py``
  (marked ``big``: about 30 s and 7–10 GiB each; ``-m "not big"`` leaves them out): a tensor over
  2 GiB (2**31 + 4096 bytes) saved by TensorFlow's V2 writer read by fastckpt and written back for
  TensorFlow to read; a partitioned variable of 2**31 elements in 4 parts saved by a TF1 ``Saver``
  read by fastckpt as one tensor, and its 4 slices written by fastckpt assembled by TensorFlow.
  The V1 format's refusal of a 2 GiB slice is left out: fastckpt does not write V1 checkpoints.
- ``saved_model/loader_test.py`` and ``saved_model_test.py``, the reading side, on a TF1
  SavedModel of three meta graphs (``foo_graph`` with variables, signatures, an asset and a main
  op; ``serve,gpu`` with sparse and ragged inputs; no tags): tag sets, ``get_meta_graph_def`` and
  ``load_saved_model`` by tags (the meta graph or TensorFlow's ``RuntimeError`` text), the
  variables, the asset, the ``SavedModel`` message, a missing folder (``OSError``, TensorFlow's
  text). Left out: loading into a session, ``import_scope``, running the init op (TF objects).
- ``tools/saved_model_cli_test.py``: ``fastckpt saved-model`` prints what ``saved_model_cli show
  --all`` prints for that SavedModel without its op lists (``testShowCommandAll``); the op lists
  and concrete functions take TensorFlow to load the model.
- ``framework/graph_io.py`` (TensorFlow 2.21 has no ``graph_io_test.py``; ``tests/test_graph_io.py``
  covers ``write_graph`` itself): the file ``tf.io.write_graph`` writes, byte for byte in both
  modes, for attribute values text format spells in special ways (NaN, infinities, subnormals,
  shortest float round trips, non-UTF-8 and escaped bytes, bfloat16, complex) and for the
  SavedModel's graph and whole ``MetaGraphDef``.
"""

from __future__ import annotations

import gc
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import fastckpt
from fastckpt import Checkpoint, DType, object_graph
from fastckpt.errors import UnimplementedError


def _outcome(call: Any) -> Any:
    """What ``call()`` returns, or the type and text of what it raises."""
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - the exception is the outcome compared
        return type(error).__name__, str(error)


def _enum_values(tf: ModuleType) -> list[int]:
    from tensorflow.core.framework import types_pb2

    return [value for value in types_pb2.DataType.values() if value != types_pb2.DT_INVALID]


# --- framework/dtypes_test.py ---------------------------------------------------------------------


def test_dtype_of_every_enum_value_is_tensorflows(tf: ModuleType) -> None:
    """testAllTypesConstructible, testDTypesHaveUniqueNames: every enum value, reference types
    included, makes a ``DType`` with TensorFlow's name, text, hash and base type, equal to
    TensorFlow's."""
    values = _enum_values(tf)
    for value in values:
        theirs, ours = tf.dtypes.DType(value), DType(value)
        assert ours.as_datatype_enum == value
        assert (ours.name, str(ours), hash(ours)) == (theirs.name, str(theirs), hash(theirs))
        assert ours.base_dtype == theirs.base_dtype and ours.base_dtype.as_datatype_enum == theirs.base_dtype.as_datatype_enum
        assert ours == theirs and theirs == ours and not ours != theirs
        assert repr(ours) == "fastckpt." + theirs.name  # TensorFlow's is "tf." + name
    assert len({DType(value).name for value in values}) == len(values)


@pytest.mark.parametrize("value", [0, 99, 100, 134, 1000, -1])
def test_dtype_refuses_what_tensorflow_refuses(tf: ModuleType, value: int) -> None:
    """testInvalid: ``DT_INVALID`` and values outside the enum raise TensorFlow's TypeError."""
    theirs = _outcome(lambda: tf.dtypes.DType(value))
    assert theirs[0] == "TypeError"
    assert _outcome(lambda: DType(value)) == theirs


def _dtype_likes(tf: ModuleType) -> list[Any]:
    """What dtypes_test hands ``tf.as_dtype``, and what it refuses."""

    class WithDtypeString:
        dtype = "f4"

    class WithNumpyDtype:
        dtype = np.dtype(np.complex64)

    numpy_types = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
                   np.uint16, np.uint32, np.uint64, np.complex64, np.complex128, np.bool_, np.object_, np.str_,
                   np.bytes_]
    ml_types = [ml_dtypes.bfloat16, ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz,
                ml_dtypes.float8_e4m3b11fnuz, ml_dtypes.float8_e5m2fnuz, ml_dtypes.float4_e2m1fn, ml_dtypes.int4,
                ml_dtypes.uint4, ml_dtypes.int2, ml_dtypes.uint2]
    names = [tf.dtypes.DType(v).name for v in _enum_values(tf)]
    return [
        *numpy_types, *ml_types, *(np.dtype(t) for t in numpy_types + ml_types),
        np.dtype(">f4"), np.dtype("S3"), np.array(["foo", "bar"]).dtype, np.array(2**32).dtype,
        np.dtype([("qint8", np.int8)]), np.dtype([("f1", np.uint), ("f2", np.int32)]),
        *names, "float", "double", "half", "float_ref", "half_ref", "not_a_type", "DT_FLOAT", "Float32", "",
        b"float32", *_enum_values(tf), 0, 100, 1000, -1, True, np.int64(3),
        float, bool, object, int, complex, str, bytes, 2.1, None,
        WithDtypeString, WithNumpyDtype, (tf.int32, tf.float32), tf.float32, tf.dtypes.DType(103), DType(1),
    ]


def test_dtype_equals_what_tensorflow_reads_as_it(tf: ModuleType) -> None:
    """testEqWithNonTFTypes and the conversions of testNumpyConversion/testStringConversion/
    testPythonTypesConversion: a ``DType`` equals whatever ``tf.as_dtype`` reads as its type (an
    enum value, a name, a numpy type, ``float``), and nothing ``tf.as_dtype`` refuses."""
    for value in [1, 2, 3, 7, 9, 10, 14, 19, 20, 101, 103, 114]:
        theirs, ours = tf.dtypes.DType(value), DType(value)
        for other in _dtype_likes(tf):
            assert (ours == other, ours != other) == (theirs == other, theirs != other), (ours, other)


def test_make_tensor_proto_reads_its_dtype_as_tensorflow(tf: ModuleType) -> None:
    """The ``dtype`` of ``make_tensor_proto`` is read as ``tf.as_dtype`` reads it (``float`` is
    float32, ``"float32_ref"`` float32, ``int`` and ``"DT_FLOAT"`` are refused): the same
    ``TensorProto`` bytes, or the same error."""
    for other in _dtype_likes(tf):
        if isinstance(other, (str, int)) and not other:
            continue  # TensorFlow takes "" and 0 for no dtype, then fails with an AttributeError
        for values in ([1, 0], np.array([1, 0], np.int32)):
            theirs = _outcome(lambda: tf.make_tensor_proto(values, dtype=other).SerializeToString())
            ours = _outcome(lambda: fastckpt.make_tensor_proto(values, dtype=other).SerializeToString())
            assert ours == theirs, (other, values)


def test_dtype_pickles(tf: ModuleType) -> None:
    """testReduce: every ``DType`` survives pickling."""
    for value in _enum_values(tf):
        back = pickle.loads(pickle.dumps(DType(value)))
        assert type(back) is DType and back == DType(value) and back == tf.dtypes.DType(value)


# --- name escaping of TF2 object checkpoints (trackable_utils.escape_local_name) ------------------

#: Attribute and dict-key names that need TensorFlow's escaping (``.`` → ``..``, ``/`` → ``.S``).
ODD_NAMES = ["a/b", "c.d", "..", ".S", "x.Sy", "./", "/", "dots...", "\u00e9/\u00fc", "..S/."]


def _odd_model(tf: ModuleType, fill: float | None) -> tuple[Any, dict[str, Any]]:
    """A ``tf.train.Checkpoint`` whose objects have ``ODD_NAMES`` as attribute names, dict keys and
    list items, and its variables (``fill`` or distinct values) by a readable path."""
    root = tf.Module()
    variables: dict[str, Any] = {}
    for i, name in enumerate(ODD_NAMES):
        variables[name] = tf.Variable(float(i) if fill is None else float(fill))
        setattr(root, name, variables[name])
    inner = [np.int64(i) if fill is None else np.int64(fill) for i in (1, 2)]
    variables["tracked/k/x.y"] = tf.Variable(np.array(inner))
    variables["tracked/plain"] = tf.Variable(np.int32(3 if fill is None else fill))
    root.tracked = {"k/x.y": variables["tracked/k/x.y"], "plain": variables["tracked/plain"]}
    variables["lst/1/in.list/"] = tf.Variable(6.0 if fill is None else float(fill))
    root.lst = [tf.Module(), {"in.list/": variables["lst/1/in.list/"]}]
    variables["top/level.x"] = tf.Variable(9.0 if fill is None else float(fill))
    return tf.train.Checkpoint(root=root, **{"top/level.x": variables["top/level.x"]}), variables


def test_escaped_names_read_and_written_back(tf: ModuleType, tmp_path: Path) -> None:
    """TensorFlow's keys for odd names (``a.Sb``, ``c..d``, ``tracked/k.Sx..y``) are read as the
    names themselves, and written back as TensorFlow wrote them; TensorFlow restores every value."""
    ckpt, variables = _odd_model(tf, None)
    prefix = ckpt.write(str(tmp_path / "tf" / "ckpt"))
    theirs = fastckpt.load_checkpoint(prefix).get_variable_to_shape_map()
    assert "a.Sb/.ATTRIBUTES/VARIABLE_VALUE" in theirs and "tracked/k.Sx..y/.ATTRIBUTES/VARIABLE_VALUE" in theirs

    ckpt = Checkpoint()
    tree = ckpt.read(prefix)  # `root=` makes the module the root: its children are the tree's
    assert {name: tree[name] for name in ODD_NAMES} == {name: variables[name].numpy() for name in ODD_NAMES}
    assert tree["tracked"]["k/x.y"].tolist() == [1, 2] and tree["lst"]["1"]["in.list/"] == 6.0
    assert tree["top/level.x"] == 9.0
    for name in ODD_NAMES:
        tree[name] = tree[name] + 10

    ours = ckpt.write(str(tmp_path / "ours" / "ckpt"))
    assert fastckpt.load_checkpoint(ours).get_variable_to_shape_map() == theirs
    assert object_graph(ours).serialized == object_graph(prefix).serialized

    restoring, fresh = _odd_model(tf, -1)
    restoring.read(ours).assert_consumed()
    for path, variable in variables.items():
        expected = variable.numpy() + (10 if path in ODD_NAMES else 0)
        assert np.array_equal(fresh[path].numpy(), expected), path


def _graph_without_names(tf: ModuleType, prefix: str) -> Any:
    """The object graph with the variables' own names (``full_name``) cleared: TensorFlow's are
    the names its variables were made with, fastckpt's their paths."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(object_graph(prefix).serialized)
    for node in graph.nodes:
        for attribute in node.attributes:
            attribute.full_name = ""
    return graph


def test_odd_names_of_a_tree_are_escaped_as_tensorflow(tf: ModuleType, tmp_path: Path) -> None:
    """A tree written by fastckpt with odd names gets TensorFlow's keys and object graph, and
    TensorFlow restores it into objects of those names."""
    tree: dict[str, Any] = {name: np.float32(i) for i, name in enumerate(ODD_NAMES)}
    tree["d"] = {"k/x.y": np.arange(3), "in": [np.float32(7), {"x.S/": np.float32(8)}]}
    ours = Checkpoint(**tree).write(str(tmp_path / "ours" / "ckpt"))

    kwargs = {name: tf.Variable(-1.0) for name in ODD_NAMES}
    inner = {"x.S/": tf.Variable(-1.0)}
    kwargs["d"] = {"k/x.y": tf.Variable(np.zeros(3, np.int64)), "in": [tf.Variable(-1.0), inner]}
    restoring = tf.train.Checkpoint(**kwargs)
    restoring.read(ours).assert_consumed()
    assert [float(kwargs[name].numpy()) for name in ODD_NAMES] == [float(tree[name]) for name in ODD_NAMES]
    assert kwargs["d"]["k/x.y"].numpy().tolist() == [0, 1, 2] and inner["x.S/"].numpy() == 8

    theirs = restoring.write(str(tmp_path / "tf" / "ckpt"))
    assert fastckpt.load_checkpoint(ours).get_variable_to_shape_map() == fastckpt.load_checkpoint(
        theirs
    ).get_variable_to_shape_map()
    assert _graph_without_names(tf, ours) == _graph_without_names(tf, theirs)


@pytest.mark.parametrize("name", [".ATTRIBUTES", ".OPTIMIZER_SLOT"])
def test_a_child_named_as_a_tree_key_is_refused(tf: ModuleType, tmp_path: Path, name: str) -> None:
    """TensorFlow saves an object named ``.ATTRIBUTES`` (as ``..ATTRIBUTES``); a tree would mistake
    it for the attributes of its parent, so reading it is refused, naming the object and file."""
    model = tf.Module()
    model.inner = tf.Module()
    setattr(model.inner, name, tf.Variable(1.0))
    model.inner.w = tf.Variable(2.0)
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    assert object_graph(prefix).checkpoint_key("model/inner/" + name.replace(".", "..")) is not None
    with pytest.raises(UnimplementedError, match=f"object 'model/inner' of .*ckpt has a child named '{name}'"):
        Checkpoint().read(prefix)


# --- checkpoint/functional_saver_test.py, checkpoint/sharding ---------------------------------------


def test_a_save_sliced_by_max_shard_size_is_read_changed_and_restored(tf: ModuleType, tmp_path: Path) -> None:
    """A TF2 save whose tensors TensorFlow cut into slices over data files of at most 1000 bytes
    reads as whole arrays; written back by fastckpt (each tensor whole, one data file) TensorFlow
    restores it into new variables, with the same keys and object graph."""
    def variables(fill: int | None) -> dict[str, Any]:
        def value(array: np.ndarray) -> Any:
            return tf.Variable(array if fill is None else np.full_like(array, fill))

        return {
            "big": value(np.arange(1200, dtype=np.float32).reshape(300, 4)),
            "wide": value(np.arange(600, dtype=np.int64).reshape(3, 200)),
            "scalar": value(np.array(3, np.int32)),
            "words": tf.Variable([b"a" * 700, b"b" * 500] if fill is None else [b"", b""]),
        }

    saved = variables(None)
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=1000)
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy)
    prefix = tf.train.Checkpoint(**saved).write(str(tmp_path / "tf" / "ckpt"), options=options)
    assert len(list((tmp_path / "tf").glob("ckpt.data-*"))) > 4

    ckpt = Checkpoint()
    tree = ckpt.read(prefix)
    for name, variable in saved.items():
        assert np.array_equal(tree[name], variable.numpy()), name
    tree["big"] = tree["big"] * 2
    ours = ckpt.write(str(tmp_path / "ours" / "ckpt"))
    assert [p.name for p in (tmp_path / "ours").glob("ckpt.data-*")] == ["ckpt.data-00000-of-00001"]
    assert fastckpt.list_variables(ours) == [(k, list(s)) for k, s in tf.train.list_variables(prefix)]
    assert object_graph(ours).serialized == object_graph(prefix).serialized

    restored = variables(0)
    tf.train.Checkpoint(**restored).read(ours).assert_consumed()
    for name, variable in saved.items():
        expected = variable.numpy() * 2 if name == "big" else variable.numpy()
        assert np.array_equal(restored[name].numpy(), expected), name


# --- training/saver_large_variable_test.py, saver_large_partitioned_variable_test.py --------------

CYCLE = np.arange(251, dtype=np.uint8)
#: Big arrays are compared in parts of this many elements, so that no second copy is made.
STEP = 1 << 27


def _cycled(start: int, stop: int) -> np.ndarray:
    """Elements ``start:stop`` of 0, 1, …, 250, 0, 1, … (uint8)."""
    return np.tile(np.roll(CYCLE, -(start % len(CYCLE))), (stop - start) // len(CYCLE) + 2)[: stop - start]


@pytest.fixture
def big_tmp(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path``, emptied afterwards: pytest keeps the last runs' folders, GiBs each here."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def _is_cycled(array: np.ndarray) -> bool:
    return all(np.array_equal(array[i : i + STEP], _cycled(i, min(i + STEP, len(array)))) for i in range(0, len(array), STEP))


@pytest.mark.big
def test_a_tensor_over_2_gib_both_ways(tf: ModuleType, big_tmp: Path) -> None:
    """testLargeVariable, in the V2 format TensorFlow writes today: one uint8 tensor of 2**31 +
    4096 bytes (past every 32-bit offset and size) saved by TensorFlow and read by fastckpt, then
    saved by fastckpt and read by TensorFlow; one big array alive at a time."""
    size = (1 << 31) + 4096
    variable = tf.Variable(_cycled(0, size))
    gc.collect()
    prefix = tf.train.Checkpoint(v=variable).write(str(big_tmp / "tf" / "ckpt"))
    del variable
    gc.collect()

    key = "v/.ATTRIBUTES/VARIABLE_VALUE"
    reader = fastckpt.load_checkpoint(prefix)
    assert reader.get_variable_to_shape_map()[key] == [size]
    view = reader.get_tensor(key)  # a view of the mapped file
    assert view.dtype == np.uint8 and _is_cycled(view)
    ours = fastckpt.save({"big": view}, big_tmp / "ours" / "ckpt")
    del view, reader
    gc.collect()

    theirs = tf.train.load_checkpoint(ours).get_tensor("big")
    assert theirs.shape == (size,) and _is_cycled(theirs)
    del theirs
    gc.collect()


@pytest.mark.big
def test_a_partitioned_variable_over_2_gib_both_ways(tf: ModuleType, big_tmp: Path) -> None:
    """testLargePartitionedVariables: a variable of 2**31 elements in 4 parts of 512 MiB, saved
    by a TF1 ``Saver``, is one tensor of that shape to fastckpt (part i holds i + 1, uint8 rather
    than the original bool so that the parts differ); the 4 slices written by fastckpt are
    assembled by TensorFlow's reader."""
    size, parts = 1 << 31, 4
    quarter = size // parts

    def initializer(shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        part = partition_info.single_offset(shape) // shape[0]
        return tf.fill(shape, tf.constant(part + 1, tf.uint8))

    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        partitioner = tf.compat.v1.fixed_size_partitioner(parts)
        variable = tf.compat.v1.get_variable("my_var", [size], tf.uint8, initializer=initializer, partitioner=partitioner)
        sess.run(tf.compat.v1.global_variables_initializer())
        save_path = str(big_tmp / "tf" / "large_variable")
        assert tf.compat.v1.train.Saver(list(variable)).save(sess, save_path) == save_path
    gc.collect()

    assert fastckpt.list_variables(save_path) == [(k, list(s)) for k, s in tf.train.list_variables(save_path)]
    whole = fastckpt.load_checkpoint(save_path).get_tensor("my_var")
    assert whole.shape == (size,)
    assert all(np.all(whole[i * quarter : (i + 1) * quarter] == i + 1) for i in range(parts))

    with fastckpt.BundleWriter(big_tmp / "ours" / "ckpt") as writer:
        for i in range(parts):
            writer.add_slice("my_var", [size], [(i * quarter, quarter)], whole[i * quarter : (i + 1) * quarter])
    del whole
    gc.collect()
    theirs = tf.train.load_checkpoint(writer.prefix).get_tensor("my_var")
    assert theirs.shape == (size,)
    assert all(np.all(theirs[i * quarter : (i + 1) * quarter] == i + 1) for i in range(parts))
    del theirs
    gc.collect()


# --- saved_model/loader_test.py, saved_model_test.py, tools/saved_model_cli_test.py ----------------


@pytest.fixture(scope="module")
def tf1_saved_model(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """loader_test's SavedModel (x = 5, y = 11, z = x + y, signatures ``foo`` and ``bar``, a main
    op setting y to 7) with an asset, and two more meta graphs: ``serve,gpu`` with sparse and
    ragged inputs, and one without tags."""
    folder = tmp_path_factory.mktemp("saved-model")
    asset = folder / "vocab.txt"
    asset.write_text("a\nb\n")
    export_dir = str(folder / "model")
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as sess:
        x = v1.Variable(5, name="x")
        y = v1.Variable(11, name="y")
        z = x + y
        example = v1.placeholder(tf.string, name="tf_example")
        sparse = v1.sparse_placeholder(tf.float32, shape=[None, 3], name="sp")
        ragged = v1.ragged.placeholder(tf.int64, 1, [None], name="rg")
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, tf.constant(str(asset), name="asset_path"))
        sess.run(v1.global_variables_initializer())
        info = v1.saved_model.utils.build_tensor_info
        signature = v1.saved_model.signature_def_utils.build_signature_def
        foo = signature({"foo_input": info(x)}, {"foo_output": info(z)})
        bar = signature({"bar_x": info(x), "bar_y": info(y), "ex": info(example)}, {"bar_z": info(z)}, "tensorflow/serving/classify")
        odd = signature({"sp": info(sparse), "rg": info(ragged)}, {"z": info(z)})
        builder = v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(
            sess, ["foo_graph"], {"foo": foo, "bar": bar},
            assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS), main_op=tf.group(v1.assign(y, 7)),
        )
        builder.add_meta_graph(["serve", "gpu"], {"odd": odd})
        builder.add_meta_graph([])
        builder.save()
    return export_dir


def test_saved_model_read_by_tags_as_tensorflow(tf: ModuleType, tf1_saved_model: str) -> None:
    """Tag sets, the meta graph of a tag set (saved_model_utils) or of tags (the loader's
    ``get_meta_graph_def_from_tags``: test_parse_saved_model, test_load_invalid_meta_graph), with
    TensorFlow's ``RuntimeError`` texts; the variables, the asset and the whole message."""
    from tensorflow.core.protobuf.meta_graph_pb2 import MetaGraphDef
    from tensorflow.python.saved_model import loader_impl
    from tensorflow.python.tools import saved_model_utils

    def as_tf(message: Any) -> Any:  # map fields are serialized in an order of their own
        return MetaGraphDef.FromString(message.SerializeToString())

    def ours_of(call: Any) -> Any:
        """``_outcome``; our ``MetaGraphNotFoundError`` is the ``RuntimeError`` TensorFlow raises."""
        try:
            return call()
        except fastckpt.MetaGraphNotFoundError as error:
            assert isinstance(error, RuntimeError)
            return "RuntimeError", str(error)

    assert fastckpt.get_saved_model_tag_sets(tf1_saved_model) == saved_model_utils.get_saved_model_tag_sets(tf1_saved_model)
    for tag_set in ("foo_graph", "serve,gpu", "gpu,serve", "", "serve", "not_a_graph", "foo_graph,"):
        theirs = _outcome(lambda: saved_model_utils.get_meta_graph_def(tf1_saved_model, tag_set))
        ours = _outcome(lambda: ours_of(lambda: as_tf(fastckpt.get_meta_graph_def(tf1_saved_model, tag_set))))
        assert ours == theirs, tag_set

    loader = loader_impl.SavedModelLoader(tf1_saved_model)
    for tags in (["foo_graph"], ["gpu", "serve"], [], [""], ["not_a_graph"], ["serve"], ("foo_graph", "x")):
        theirs = _outcome(lambda: loader.get_meta_graph_def_from_tags(tags))
        ours = _outcome(lambda: ours_of(lambda: as_tf(fastckpt.load_saved_model(tf1_saved_model, tags).meta_graph)))
        assert ours == theirs, tags

    loaded = fastckpt.load_saved_model(tf1_saved_model, ["foo_graph"])
    assert sorted(loaded.signatures) == ["bar", "foo"]
    assert loaded.signatures["bar"].method_name == "tensorflow/serving/classify"
    assert loaded.variables is not None
    tf_reader = tf.train.load_checkpoint(os.path.join(tf1_saved_model, "variables", "variables"))
    assert {name: loaded.variables.get_tensor(name) for name in ("x", "y")} == {"x": 5, "y": 11}
    assert {name: tf_reader.get_tensor(name) for name in ("x", "y")} == {"x": 5, "y": 11}

    message = fastckpt.read_saved_model(tf1_saved_model)
    parsed = loader_impl.parse_saved_model(tf1_saved_model)
    assert type(parsed).FromString(message.SerializeToString()) == parsed
    # A TF1 builder records its assets in a collection of AssetFileDefs.
    assert "saved_model_assets" in parsed.meta_graphs[0].collection_def
    assert as_tf(loaded.meta_graph) == parsed.meta_graphs[0]


def test_missing_saved_model_as_tensorflow(tf: ModuleType, tmp_path: Path) -> None:
    """A folder without ``saved_model.pb``, or no folder: TensorFlow's ``OSError`` text."""
    from tensorflow.python.saved_model import loader_impl

    for path in (tmp_path, tmp_path / "nope"):
        with pytest.raises(OSError) as theirs:
            loader_impl.parse_saved_model(str(path))
        with pytest.raises(OSError) as ours:
            fastckpt.load_saved_model(path)
        assert str(ours.value) == str(theirs.value)


def test_saved_model_cli_show_all(tf: ModuleType, tf1_saved_model: str) -> None:
    """testShowCommandAll on three meta graphs: ``fastckpt saved-model`` prints what
    ``saved_model_cli show --all`` prints, less the op list after each meta graph."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", tf1_saved_model, "--all"]
    theirs = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert theirs.returncode == 0, theirs.stderr
    lines = theirs.stdout.splitlines(keepends=True)
    expected = "".join(line for line in lines if not line.startswith("The MetaGraph with tag set "))
    assert expected.count("MetaGraphDef with tag-set:") == 3 and "inputs['sp']" in expected
    ours = subprocess.run([sys.executable, "-m", "fastckpt", "saved-model", tf1_saved_model], capture_output=True, text=True, timeout=300)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == expected


# --- framework/graph_io.py: write_graph -----------------------------------------------------------


def test_write_graph_spells_values_as_tensorflow(tf: ModuleType, tf1_saved_model: str, tmp_path: Path) -> None:
    """Text format's hard cases (float and double specials and shortest round trips, bytes that
    need escapes, a non-ASCII device) and a whole SavedModel meta graph: ``write_graph`` writes
    ``tf.io.write_graph``'s bytes, as text and binary."""
    from tensorflow.python.saved_model import loader_impl

    with tf.Graph().as_default() as graph:
        tf.constant([b"\x00\xff\xfe", "h\u00e9llo \u2713".encode(), b"'\"\\\n\t"], name="s")
        tf.constant(np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4028235e38, 0.1], np.float32), name="f")
        tf.constant(np.array([np.nan, 1e308, 5e-324, 0.1], np.float64), name="d")
        for i, value in enumerate([np.float32(0.1), np.float64(1 / 3), np.float32(-np.inf), np.float32(np.nan)]):
            tf.constant(value, name=f"scalar{i}")
        tf.constant(np.array([1 + 2j], np.complex64), name="c")
        tf.constant(np.int64(-(2**63)), name="i")
        tf.constant(np.array([0.5, -3.0], ml_dtypes.bfloat16), name="bf")
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        for alpha in (0.1, float("nan"), float("-inf"), 1e-40):
            tf.nn.leaky_relu(x, alpha=alpha)
    graph_def = graph.as_graph_def()
    graph_def.node.add(name="odd_device", op="NoOp", device="/d:\u00e9")
    meta = loader_impl.parse_saved_model(tf1_saved_model).meta_graphs[0]
    for message, name in ((graph_def, "values"), (meta.graph_def, "graph"), (meta, "meta")):
        for as_text in (True, False):
            theirs = tf.io.write_graph(message, str(tmp_path / "tf"), name, as_text=as_text)
            ours = fastckpt.write_graph(message, tmp_path / "ours", name, as_text=as_text)
            assert Path(ours).read_bytes() == Path(theirs).read_bytes(), (name, as_text)
