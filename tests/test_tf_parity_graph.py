"""TensorFlow's graph-side tests replayed against fastckpt where the two differed: each step runs
through TensorFlow 2.21 and through fastckpt in the same test, and the results are compared.

- ``saver_test.py``'s MetaGraph classes / ``meta_graph_test.py``: ``import_meta_graph`` of the
  ``.meta`` files TensorFlow 2's ``tf.compat.v1`` graphs write (resource variables, restored
  through ``AssignVariableOp``), with ``import_scope``, ``clear_devices``, a ``MetaGraphDef``
  object, ``input_map`` and meta graphs without a ``SaverDef``.
- ``importer_test.py``: ``Operation.colocation_groups()``, ``Graph.graph_def_versions`` and
  ``Operation.op_def`` (new here) after the colocation and version cases of the test
  (testColocationAndDevice, testNamePrefixColocationAttrs(MultipleImport),
  testMultipleColocationWithDeviceFn, testVersion, testBasic), and testInvalidInputForInputMap.
- ``graph_util_test.py``: ``extract_sub_graph`` and ``remove_training_nodes`` (new here) give the
  GraphDef TensorFlow's give, byte for byte, on the test's graphs and on a graph TensorFlow builds.
- ``saved_model_utils_test.py``: ``get_saved_model_tag_sets`` and ``get_meta_graph_def`` (new here).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt

# --------------------------------------------------------------------------------------------------
# import_meta_graph
# --------------------------------------------------------------------------------------------------


def describe(graph: Any) -> list[tuple[str, str, list[str], list[str], str]]:
    return [
        (op.name, op.type, [t.name for t in op.inputs], [c.name for c in op.control_inputs], op.device)
        for op in graph.get_operations()
    ]


def saved_model_graph(tf: ModuleType, folder: Path, *, use_resource: bool, with_saver: bool) -> tuple[str, str, Any]:
    """A TF1-style graph built by TensorFlow 2 (``tf.compat.v1``), its variables saved by a
    Saver; returns the checkpoint prefix, the ``.meta`` written beside it (with a ``SaverDef``, or
    exported without one) and the values saved."""
    graph = tf.Graph()
    with graph.as_default():
        initial = np.arange(6, dtype=np.float32).reshape(2, 3)
        v = tf.compat.v1.get_variable("v", initializer=initial, use_resource=use_resource)
        with tf.compat.v1.variable_scope("layer"):
            w = tf.compat.v1.get_variable("w", initializer=np.int64(7), use_resource=use_resource)
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        tf.add(tf.matmul(x, v, transpose_b=True), tf.cast(w, tf.float32), name="y")
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, str(folder / "model"))
            values = dict(zip(["v", "layer/w"], sess.run([v, w])))
        meta = prefix + ".meta"
        if not with_saver:
            meta = str(folder / "no_saver.meta")
            tf.compat.v1.train.export_meta_graph(meta)
    return prefix, meta, values


def tf_import_meta_graph(tf: ModuleType, meta: Any, prefix: str, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """TensorFlow's import into a fresh graph, and what its Saver restores."""
    graph = tf.Graph()
    with graph.as_default():
        saver = tf.compat.v1.train.import_meta_graph(meta, **kwargs)
        scope = kwargs.get("import_scope")
        names = {v.op.name: v for v in tf.compat.v1.global_variables()}
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, prefix)
            restored = sess.run(names)
    return graph, {name[len(scope) + 1 :] if scope else name: value for name, value in restored.items()}


@pytest.mark.parametrize("use_resource", [True, False], ids=["resource", "ref"])
@pytest.mark.parametrize(
    "options", [{}, {"import_scope": "new_model"}, {"clear_devices": True, "import_scope": "a/b"}], ids=str
)
def test_import_meta_graph_saver_restores_as_tensorflows(
    tf: ModuleType, tmp_path: Path, use_resource: bool, options: dict[str, Any]
) -> None:
    """TensorFlow 2 builds resource variables, restored through Identity + AssignVariableOp: our
    Saver took their shapes from Assign ops only and failed to restore them."""
    prefix, meta, values = saved_model_graph(tf, tmp_path, use_resource=use_resource, with_saver=True)
    tf_graph, tf_restored = tf_import_meta_graph(tf, meta, prefix, **options)
    graph, saver = fastckpt.import_meta_graph(meta, **options)
    assert describe(graph) == describe(tf_graph)
    restored = saver.restore(prefix)
    assert sorted(restored) == sorted(tf_restored) == sorted(values)
    for name, value in tf_restored.items():
        np.testing.assert_array_equal(restored[name], value)
        assert restored[name].dtype == value.dtype


@pytest.mark.parametrize("use_resource", [True, False], ids=["resource", "ref"])
def test_import_meta_graph_of_a_sharded_saver_on_two_devices(
    tf: ModuleType, tmp_path: Path, use_resource: bool
) -> None:
    """A sharded Saver over two devices restores through save/RestoreV2 and save/RestoreV2_1 (we
    read the first only, and missed the variables of the second)."""
    graph = tf.Graph()
    with graph.as_default():
        with tf.device("/cpu:0"):
            tf.compat.v1.get_variable("a", initializer=np.ones([2], np.float32), use_resource=use_resource)
        with tf.device("/device:CPU:1"):
            tf.compat.v1.get_variable("b", initializer=np.full([3], 2, np.int32), use_resource=use_resource)
        saver = tf.compat.v1.train.Saver(sharded=True)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with tf.compat.v1.Session(config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, str(tmp_path / "sharded"))
    restore_ops = [n.name for n in fastckpt.read_meta_graph(prefix + ".meta").graph_def.node if n.op == "RestoreV2"]
    assert restore_ops == ["save/RestoreV2", "save/RestoreV2_1"]
    _, ours = fastckpt.import_meta_graph(prefix + ".meta")
    restored = ours.restore(prefix)
    assert sorted(restored) == sorted(name for name, _ in tf.train.list_variables(prefix))
    for name, value in restored.items():
        np.testing.assert_array_equal(value, tf.train.load_variable(prefix, name))


def test_import_meta_graph_positional_arguments_and_message(tf: ModuleType, tmp_path: Path) -> None:
    """TensorFlow's order is (meta_graph_or_file, clear_devices, import_scope); a MetaGraphDef
    object is accepted as well as a file (ours took a path only, import_scope second)."""
    prefix, meta, _ = saved_model_graph(tf, tmp_path, use_resource=True, with_saver=True)
    read = tf.compat.v1.MetaGraphDef.FromString
    # (TensorFlow's Saver prefixes the scope to the SaverDef of the message it is given, in place.)
    tf_graph, tf_restored = tf_import_meta_graph(
        tf, read(Path(meta).read_bytes()), prefix, clear_devices=True, import_scope="s"
    )
    message = read(Path(meta).read_bytes())
    for source in (message, fastckpt.read_meta_graph(meta), Path(meta)):
        graph, saver = fastckpt.import_meta_graph(source, True, "s")
        assert describe(graph) == describe(tf_graph)
        assert sorted(saver.restore(prefix)) == sorted(tf_restored)
    assert message == read(Path(meta).read_bytes())  # ours leaves it as it was


def test_import_meta_graph_input_map_into_a_graph(tf: ModuleType, tmp_path: Path) -> None:
    prefix, meta, _ = saved_model_graph(tf, tmp_path, use_resource=True, with_saver=True)
    tf_graph = tf.Graph()
    with tf_graph.as_default():
        z = tf.compat.v1.placeholder(tf.float32, [None, 3], name="z")
        tf.compat.v1.train.import_meta_graph(meta, input_map={"x:0": z})
    graph = fastckpt.Graph()
    only_z = tf.compat.v1.GraphDef(node=[tf_graph.get_operation_by_name("z").node_def])
    fastckpt.import_graph_def(only_z, name="", graph=graph)
    _, saver = fastckpt.import_meta_graph(meta, input_map={"x:0": graph.get_tensor_by_name("z:0")}, graph=graph)
    assert describe(graph) == describe(tf_graph)
    assert sorted(saver.restore(prefix)) == ["layer/w", "v"]


def test_import_meta_graph_of_a_scoped_export_needs_its_unbound_inputs(tf: ModuleType, tmp_path: Path) -> None:
    """meta_graph_test's _testScopedImport: a meta graph exported from a scope reads what lies
    outside through ``$unbound_inputs_…`` inputs, which input_map must map, all and only them."""
    from tensorflow.python.framework import meta_graph

    graph = tf.Graph()
    with graph.as_default():
        images = tf.constant(1.2, tf.float32, shape=[100, 28], name="images")
        with tf.name_scope("hidden1"):
            weights = tf.compat.v1.Variable(tf.compat.v1.truncated_normal([28, 128]), name="weights")
            tf.nn.relu(tf.matmul(images, weights), name="relu")
        meta = str(tmp_path / "hidden1.pbtxt")
        meta_graph.export_scoped_meta_graph(filename=meta, graph=graph, export_scope="hidden1")

    outside = tf.Graph()
    with outside.as_default():
        tf.constant(1.2, tf.float32, shape=[100, 28], name="new_images")
    for input_map in (None, {"images:0": "new_images:0"}, {"$unbound_inputs_images": "new_images:0"}):
        tf_graph = tf.Graph()
        with tf_graph.as_default():
            tf.compat.v1.import_graph_def(outside.as_graph_def(), name="")
            mapped = {k: tf_graph.get_tensor_by_name(v) for k, v in (input_map or {}).items()}
            try:
                tf.compat.v1.train.import_meta_graph(meta, import_scope="new_hidden1", input_map=mapped or None)
                # (no SaverDef: TF adds a new Saver's save/ operations, our Saver none)
                theirs = [op for op in describe(tf_graph) if not op[0].startswith("save/")]
            except ValueError as e:
                theirs = str(e)
        ours_graph = fastckpt.Graph()
        fastckpt.import_graph_def(outside.as_graph_def(), name="", graph=ours_graph)
        mapped = {k: ours_graph.get_tensor_by_name(v) for k, v in (input_map or {}).items()}
        try:
            _, saver = fastckpt.import_meta_graph(
                meta, import_scope="new_hidden1", input_map=mapped or None, graph=ours_graph
            )
            ours = describe(ours_graph)
            assert saver is not None and list(saver.var_list) == ["new_hidden1/weights"]
        except ValueError as e:
            ours = str(e)
        assert ours == theirs


@pytest.mark.parametrize("import_scope", [None, "scoped"])
def test_import_meta_graph_without_saver_def(tf: ModuleType, tmp_path: Path, import_scope: str | None) -> None:
    """Without a SaverDef TensorFlow makes a new Saver() over the imported global variables (ours
    returned None); its checkpoint names are the scoped variable names."""
    _, meta, values = saved_model_graph(tf, tmp_path, use_resource=True, with_saver=False)
    tf_graph = tf.Graph()
    with tf_graph.as_default():
        tf_saver = tf.compat.v1.train.import_meta_graph(meta, import_scope=import_scope)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf_prefix = tf_saver.save(sess, str(tmp_path / "again"))
    names = sorted(name for name, _ in tf.train.list_variables(tf_prefix))
    graph, saver = fastckpt.import_meta_graph(meta, import_scope=import_scope)
    assert saver is not None and sorted(saver.var_list) == names
    restored = saver.restore(tf_prefix)
    for name, value in values.items():
        np.testing.assert_array_equal(restored[f"{import_scope}/{name}" if import_scope else name], value)

    # No variables, no SaverDef: no Saver in either library.
    empty = tf.Graph()
    with empty.as_default():
        tf.constant(1.0, name="c")
        tf.compat.v1.train.export_meta_graph(str(tmp_path / "empty.meta"))
    with tf.Graph().as_default():
        assert tf.compat.v1.train.import_meta_graph(str(tmp_path / "empty.meta")) is None
    assert fastckpt.import_meta_graph(os.fspath(tmp_path / "empty.meta"))[1] is None


# --------------------------------------------------------------------------------------------------
# import_graph_def: colocation groups and versions of the imported graph
# --------------------------------------------------------------------------------------------------


def colocated_graph_defs(tf: ModuleType) -> list[Any]:
    """importer_test's colocation graphs: A and B colocated with A (device on A, on B, on
    neither), C colocated with both A and B, an op whose _class has a non-loc entry."""
    noop = "node {{ name: '{}' op: 'NoOp' {} {} }}"

    def colocate(*names: str) -> str:
        return "attr { key: '_class' value { list { " + " ".join(f"s: '{n}'" for n in names) + " } } }"

    texts = [
        noop.format("A", "device: '/device:CPU:0'", colocate("loc:@A")) + noop.format("B", "", colocate("loc:@A")),
        noop.format("A", "", colocate("loc:@A")) + noop.format("B", "device: '/device:CPU:0'", colocate("loc:@A")),
        noop.format("A", "", "") + noop.format("B", "", colocate("loc:@A")),
        noop.format("A", "", "") + noop.format("B", "", "") + noop.format("C", "", colocate("loc:@A", "loc:@B")),
        noop.format("A", "", "") + noop.format("B", "", colocate("other", "loc:@A")),
    ]
    from google.protobuf import text_format

    return [text_format.Parse(f"versions {{ producer: 1882 }} {text}", tf.compat.v1.GraphDef()) for text in texts]


@pytest.mark.parametrize("name", [None, "", "imported_graph"])
def test_colocation_groups_as_tensorflows(tf: ModuleType, name: str | None) -> None:
    for graph_def in colocated_graph_defs(tf):
        tf_graph = tf.Graph()
        graph = fastckpt.Graph()
        for _ in range(2):  # the second import is renamed (A_1 …), its colocations with it
            with tf_graph.as_default():
                tf.compat.v1.import_graph_def(graph_def, name=name)
            fastckpt.import_graph_def(graph_def, name=name, graph=graph)
        assert describe(graph) == describe(tf_graph)
        theirs = [op.colocation_groups() for op in tf_graph.get_operations()]
        assert [op.colocation_groups() for op in graph.get_operations()] == theirs


def test_graph_def_versions_as_tensorflows(tf: ModuleType) -> None:
    from tensorflow.python.framework import versions

    low, high = versions.GRAPH_DEF_VERSION_MIN_CONSUMER, versions.GRAPH_DEF_VERSION
    assert fastckpt.Graph().graph_def_versions == tf.Graph().graph_def_versions
    for producer in (low, (low + high) // 2, high):
        for min_consumer in (low, (low + high) // 2, high):
            graph_def = tf.compat.v1.GraphDef()
            graph_def.versions.producer, graph_def.versions.min_consumer = producer, min_consumer
            graph_def.node.add(name="A", op="NoOp")
            tf_graph = tf.Graph()
            with tf_graph.as_default():
                tf.compat.v1.import_graph_def(graph_def)
                tf.compat.v1.import_graph_def(graph_def)  # a second import merges the versions
            graph = fastckpt.Graph()
            fastckpt.import_graph_def(graph_def, graph=graph)
            fastckpt.import_graph_def(graph_def, graph=graph)
            versions_def = graph.graph_def_versions
            assert isinstance(versions_def, fastckpt.VersionDef)
            assert versions_def.SerializeToString() == tf_graph.graph_def_versions.SerializeToString()


def test_op_def_as_tensorflows(tf: ModuleType) -> None:
    """``Operation.op_def``: the registered OpDef of each op type, or the signature of the library
    function a call runs (importer_test's testBasic only asks that it is there)."""

    @tf.function
    def inner(x: Any) -> Any:
        return tf.nn.relu(x)

    @tf.function
    def f(x: Any) -> Any:
        return inner(x) * 2.0

    graph_def = f.get_concrete_function(tf.TensorSpec([None], tf.float32)).graph.as_graph_def()
    with tf.Graph().as_default() as tf_graph:
        tf.compat.v1.import_graph_def(graph_def)
        tf.raw_ops.Unique(x=tf.constant([1, 1]), name="u")
    graph = fastckpt.Graph()
    fastckpt.import_graph_def(tf_graph.as_graph_def(), name="", graph=graph)
    assert {op.type for op in graph.get_operations()} >= {"Placeholder", "PartitionedCall", "Unique"}
    assert len(graph_def.library.function) == 1
    for tf_op in tf_graph.get_operations():
        ours = graph.get_operation_by_name(tf_op.name).op_def
        assert isinstance(ours, fastckpt.OpDef)
        assert ours.SerializeToString(deterministic=True) == tf_op.op_def.SerializeToString(deterministic=True)
    for function in graph_def.library.function:  # a call of a library function: its signature
        call = tf.compat.v1.GraphDef()
        call.library.CopyFrom(graph_def.library)
        call.node.add(name="call", op=function.signature.name, input=["p"])
        placeholder = call.node.add(name="p", op="Placeholder")
        placeholder.attr["dtype"].type = tf.float32.as_datatype_enum
        with tf.Graph().as_default() as calling:
            tf.compat.v1.import_graph_def(call, name="")
        ours = fastckpt.import_graph_def(call, name="").get_operation_by_name("call").op_def
        theirs = calling.get_operation_by_name("call").op_def
        assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)


def test_input_map_values_that_are_not_tensors(tf: ModuleType) -> None:
    """importer_test's testInvalidInputForInputMap: a value that is no tensor needs a name scope
    for the constant TensorFlow makes of it; with ``name=""`` both refuse it with TF's ValueError."""
    graph_def = tf.compat.v1.GraphDef()
    placeholder = graph_def.node.add(name="a", op="Placeholder")
    placeholder.attr["dtype"].type = tf.float32.as_datatype_enum
    with tf.Graph().as_default(), pytest.raises(ValueError) as tf_error:
        tf.compat.v1.import_graph_def(graph_def, input_map={"a:0": 5.0}, name="")
    with pytest.raises(ValueError) as fc_error:
        fastckpt.import_graph_def(graph_def, input_map={"a:0": 5.0}, name="")
    assert str(fc_error.value) == str(tf_error.value)
    with pytest.raises(TypeError, match="input_map values must be"):  # TF would make a constant
        fastckpt.import_graph_def(graph_def, input_map={"a:0": 5.0}, name="scoped")


# --------------------------------------------------------------------------------------------------
# graph_util: extract_sub_graph, remove_training_nodes
# --------------------------------------------------------------------------------------------------


def graph_def_of(tf: ModuleType, *nodes: tuple[str, str, list[str]], colocate: dict[str, str] | None = None) -> Any:
    graph_def = tf.compat.v1.GraphDef()
    for name, op, inputs in nodes:
        node = graph_def.node.add(name=name, op=op, input=inputs)
        if colocate and name in colocate:
            node.attr["_class"].list.s.append(colocate[name].encode())
    return graph_def


def same_bytes(ours: Any, theirs: Any) -> bool:
    assert isinstance(ours, fastckpt.GraphDef)
    return bool(ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True))


def built_by_tf(tf: ModuleType) -> Any:
    """A graph with what both functions look at: CheckNumerics, Identity and StopGradient chains,
    control dependencies, colocation, a function library and versions."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        checked = tf.debugging.check_numerics(x, "bad x", name="check")
        # (TensorFlow's remove_training_nodes fails with IndexError on an Identity of a CheckNumerics.)
        squared = tf.math.square(checked, name="squared")
        a = tf.identity(tf.stop_gradient(tf.identity(squared, name="i1"), name="sg"), name="i2")
        with tf.control_dependencies([a.op]):
            b = tf.identity(x, name="guarded")
        with graph.colocate_with(a.op):
            c = tf.math.square(a, name="c")

        @tf.function
        def double(t: Any) -> Any:
            return t * 2.0

        tf.add(double(c), b, name="out")
        tf.identity(x, name="unused")
    return graph.as_graph_def()


def test_extract_sub_graph_as_tensorflows(tf: ModuleType) -> None:
    gu = tf.compat.v1.graph_util
    # graph_util_test's testExtractSubGraph: a loop, a control input, an unreachable node.
    loop = graph_def_of(
        tf, ("n1", "", ["n5"]), ("n2", "", ["n1:0"]), ("n3", "", ["^n2"]), ("n4", "", []), ("n5", "", ["n1"])
    )
    colocated = graph_def_of(tf, ("a", "NoOp", []), ("b", "NoOp", []), ("c", "NoOp", ["^b"]), colocate={"c": "loc:@a"})
    real = built_by_tf(tf)
    cases = [(loop, ["n3"]), (loop, ["n4", "n2"]), (colocated, ["c"]), (real, ["out"]), (real, ["c", "x"])]
    for graph_def, dest in cases:
        theirs = gu.extract_sub_graph(graph_def, dest)
        assert same_bytes(fastckpt.extract_sub_graph(graph_def, dest), theirs)
        ours = fastckpt.GraphDef.FromString(graph_def.SerializeToString())
        assert same_bytes(fastckpt.extract_sub_graph(ours, dest), theirs)

    # testExtractSubGraphWithInvalidDestNodes, and the other argument checks.
    for args in [(loop, "n1"), (loop.node[0], ["n1"]), (b"", ["n1"])]:
        with pytest.raises(TypeError) as tf_error:
            gu.extract_sub_graph(*args)
        with pytest.raises(TypeError) as fc_error:
            fastckpt.extract_sub_graph(*args)
        assert str(fc_error.value) == str(tf_error.value)
    for dest in (["zz"], ["n1:0"], ["n3", "^n2"]):
        with pytest.raises(AssertionError) as tf_assert:
            gu.extract_sub_graph(loop, dest)
        with pytest.raises(ValueError) as fc_error:
            fastckpt.extract_sub_graph(loop, dest)
        assert str(fc_error.value) == str(tf_assert.value)


def test_remove_training_nodes_as_tensorflows(tf: ModuleType) -> None:
    gu = tf.compat.v1.graph_util
    cases = [
        # testRemoveTrainingNodes: CheckNumerics behind control inputs, colocation keeps c_identity.
        graph_def_of(
            tf,
            ("a_constant", "Const", []),
            ("a_check", "CheckNumerics", ["a_constant"]),
            ("a_identity", "Identity", ["a_constant", "^a_check"]),
            ("b_constant", "Const", []),
            ("b_check", "CheckNumerics", ["b_constant"]),
            ("b_identity", "Identity", ["b_constant", "^b_check"]),
            ("add", "Add", ["a_identity", "b_identity"]),
            ("c_constant", "Const", []),
            ("c_identity", "Identity", ["c_constant"]),
            ("sub", "Sub", ["c_constant", "c_identity"]),
            colocate={"sub": "c_identity"},
        ),
        # testRemoveIdentityChains
        graph_def_of(tf, ("A", "Aop", ["B"]), ("B", "Identity", ["C"]), ("C", "Identity", ["D"]), ("D", "Dop", [])),
        # testRemoveIdentityUsedAsControlInputInConst
        graph_def_of(tf, ("C", "Const", ["^I"]), ("I", "Identity", ["Base"]), ("Base", "BaseOp", [])),
        # a chain through an output index and StopGradient, a check read as "check:0" (kept: TensorFlow
        # drops only inputs that name the node whole)
        graph_def_of(
            tf,
            ("A", "Aop", ["S", "check:0"]),
            ("S", "StopGradient", ["I"]),
            ("I", "Identity", ["D:1"]),
            ("D", "Dop", ["check"]),
            ("check", "CheckNumerics", ["E"]),
            ("E", "Eop", []),
        ),
        built_by_tf(tf),
    ]
    for graph_def in cases:
        for protected in (None, ["I", "i2", "c_identity"]):
            theirs = gu.remove_training_nodes(graph_def, protected)
            assert same_bytes(fastckpt.remove_training_nodes(graph_def, protected), theirs)
    with pytest.raises(TypeError, match="must be a graph_pb2.GraphDef proto"):
        fastckpt.remove_training_nodes(cases[0].node[0])


# --------------------------------------------------------------------------------------------------
# saved_model_utils: get_saved_model_tag_sets, get_meta_graph_def
# --------------------------------------------------------------------------------------------------


def test_saved_model_utils_as_tensorflows(tf: ModuleType, tmp_path: Path) -> None:
    """saved_model_utils_test's testGetSavedModelTagSets, and get_meta_graph_def on its SavedModel."""
    from tensorflow.python.tools import saved_model_utils

    export_dir = str(tmp_path / "tags")
    builder = tf.compat.v1.saved_model.Builder(export_dir)
    tag_sets = [["train"], ["serve"], ["serve", "gpu"], ["serve", "tpu"], ["foo", "bar"]]
    for i, tags in enumerate(tag_sets):
        with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
            tf.compat.v1.Variable(42 + i, name="v")
            sess.run(tf.compat.v1.global_variables_initializer())
            if i == 0:
                builder.add_meta_graph_and_variables(sess, tags)
            else:
                builder.add_meta_graph(tags)
    builder.save()

    assert fastckpt.get_saved_model_tag_sets(export_dir) == saved_model_utils.get_saved_model_tag_sets(export_dir)
    for tag_set in ["train", "serve", "gpu,serve", "serve,tpu,", "bar,foo"]:
        ours = fastckpt.get_meta_graph_def(export_dir, tag_set)
        theirs = saved_model_utils.get_meta_graph_def(export_dir, tag_set)
        assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    for tag_set in ["", "serve,gpu,tpu", "nope"]:
        with pytest.raises(RuntimeError) as tf_error:
            saved_model_utils.get_meta_graph_def(export_dir, tag_set)
        with pytest.raises(RuntimeError) as fc_error:
            fastckpt.get_meta_graph_def(export_dir, tag_set)
        # TensorFlow lists each tag set joined in the order of a Python set: compare them as sets.
        head, _, listed = str(tf_error.value).partition("tag-sets: ")
        ours_head, _, ours_listed = str(fc_error.value).partition("tag-sets: ")
        assert ours_head == head

        def tag_set_of(text: str) -> list[frozenset[str]]:
            return [frozenset(t.split(",")) for t in ast.literal_eval(text)]

        assert tag_set_of(ours_listed) == tag_set_of(listed)

