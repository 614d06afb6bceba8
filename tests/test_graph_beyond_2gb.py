"""GraphDefs larger than protobuf's 2 GiB limit, which TensorFlow cannot write or read, go
through fastckpt: written, read back from the mapped file, constants equal and not copied."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import fastckpt

GIB = 1 << 30


def test_graph_def_over_2_gib_round_trips(tmp_path: Path) -> None:
    if shutil.disk_usage(tmp_path).free < 6 * GIB:
        pytest.skip("needs about 5 GiB of free disk")
    elements = (GIB + (64 << 20)) // 4  # 1.06 GiB of float32 per constant, 2.1 GiB in all
    graph = fastckpt.GraphDef()
    for i in range(2):
        values = np.full(elements, float(i + 1), dtype=np.float32)
        values[-1] = -1.0
        node = graph.node.add(name=f"c{i}", op="Const")
        node.attr["dtype"].type = 1
        node.attr["value"].tensor.CopyFrom(fastckpt.make_tensor_proto(values))
        del values
    path = fastckpt.write_graph(graph, tmp_path, "big.pb", as_text=False)
    assert os.path.getsize(path) > 2 * GIB
    del graph

    loaded = fastckpt.read_graph_def(path)
    assert [n.name for n in loaded.node] == ["c0", "c1"]
    for i, node in enumerate(loaded.node):
        value = fastckpt.make_ndarray(node.attr["value"].tensor)
        assert value.shape == (elements,)
        assert value.base is not None  # a view into the mapped file, not a copy
        assert value[0] == i + 1 and value[elements // 2] == i + 1 and value[-1] == -1.0
    assert loaded.ByteSize() == os.path.getsize(path)
