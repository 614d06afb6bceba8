"""TensorFlow's ``freeze_graph_test.py`` / ``graph_util_test.py`` freezing cases replayed against
``fastckpt.freeze_graph``: TensorFlow freezes a graph in a session
(``tf.compat.v1.graph_util.convert_variables_to_constants``), fastckpt from the checkpoint that
session saved, and the two frozen GraphDefs must be the same, node for node.

- testFreezeGraph / testFreezeMetaGraph: ``variable_node * 2``, reference and resource variables,
  from the GraphDef and from the ``.meta`` file.
- testSinglePartitionedVariable (TensorFlow 2.21 freezes it; the test's old expectation was a
  ValueError): a partitioned variable's parts are saved as slices of one checkpoint tensor, and
  a variable a Saver saved under another name is found under that name — both through the
  graph's own ``SaveV2`` node (we looked the node name up in the checkpoint and failed).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np
import pytest

import fastckpt


def freeze_both(
    tf: ModuleType, folder: Path, build: Callable[[], dict[str, Any] | None], outputs: list[str]
) -> tuple[Any, Any, str]:
    """Builds a graph, saves it with a Saver over ``build``'s var_list (all variables when
    ``None``), and freezes it in the session (TensorFlow) and from the checkpoint (fastckpt)."""
    graph = tf.Graph()
    with graph.as_default():
        var_list = build()
        saver = tf.compat.v1.train.Saver(var_list)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, str(folder / "model"))
            theirs = tf.compat.v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), outputs)
    ours = fastckpt.freeze_graph(graph.as_graph_def(), prefix, outputs)
    return ours, theirs, prefix


def assert_same_graph_def(ours: Any, theirs: Any) -> None:
    assert [(n.name, n.op) for n in ours.node] == [(n.name, n.op) for n in theirs.node]
    for mine, their in zip(ours.node, theirs.node):
        assert mine.SerializeToString(deterministic=True) == their.SerializeToString(deterministic=True), mine.name


@pytest.mark.parametrize("use_resource", [False, True], ids=["ref", "resource"])
def test_freeze_graph_and_meta_graph(tf: ModuleType, tmp_path: Path, use_resource: bool) -> None:
    def build() -> None:
        v = tf.compat.v1.get_variable("variable_node", initializer=1.0, use_resource=use_resource)
        tf.multiply(v, 2.0, name="output_node")

    ours, theirs, prefix = freeze_both(tf, tmp_path, build, ["output_node"])
    assert_same_graph_def(ours, theirs)
    assert len(ours.node) == 4 and not {n.op for n in ours.node} & {"Variable", "VariableV2", "VarHandleOp"}

    # testFreezeMetaGraph: the GraphDef of the .meta (with _output_shapes), restored by its Saver.
    meta_graph_def = tf.compat.v1.MetaGraphDef.FromString(Path(prefix + ".meta").read_bytes()).graph_def
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.train.import_meta_graph(prefix + ".meta").restore(sess, prefix)
        theirs = tf.compat.v1.graph_util.convert_variables_to_constants(sess, meta_graph_def, ["output_node"])
    assert_same_graph_def(fastckpt.freeze_graph(meta_graph_def, prefix, ["output_node"]), theirs)


@pytest.mark.parametrize("partitions", [1, 2])
@pytest.mark.parametrize("use_resource", [False, True], ids=["ref", "resource"])
def test_partitioned_variable(tf: ModuleType, tmp_path: Path, partitions: int, use_resource: bool) -> None:
    def build() -> None:
        partitioner = tf.compat.v1.fixed_size_partitioner(partitions)
        with tf.compat.v1.variable_scope("part", partitioner=partitioner, use_resource=use_resource):
            initial = tf.compat.v1.random_normal_initializer(seed=3)
            kernel = tf.compat.v1.get_variable("filter", shape=[4, 3], initializer=initial)
            tf.identity(tf.matmul(tf.ones([1, 4]), kernel), name="out")

    ours, theirs, prefix = freeze_both(tf, tmp_path, build, ["part/out"])
    assert [name for name, _ in tf.train.list_variables(prefix)] == ["part/filter"]  # one tensor, sliced
    assert_same_graph_def(ours, theirs)
    for i in range(partitions):
        node = next(n for n in ours.node if n.name == f"part/filter/part_{i}")
        assert node.op == "Const"


def test_variable_saved_under_another_name(tf: ModuleType, tmp_path: Path) -> None:
    def build() -> dict[str, Any]:
        v = tf.compat.v1.get_variable("v", initializer=np.array([1.5, 2.5], np.float32), use_resource=True)
        w = tf.compat.v1.get_variable("w", initializer=np.array([3], np.int32), use_resource=False)
        tf.add(v, tf.cast(w, tf.float32), name="out")
        return {"renamed/v": v, "renamed/w": w}

    ours, theirs, prefix = freeze_both(tf, tmp_path, build, ["out"])
    assert sorted(name for name, _ in tf.train.list_variables(prefix)) == ["renamed/v", "renamed/w"]
    assert_same_graph_def(ours, theirs)
