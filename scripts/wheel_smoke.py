"""Smoke test of an installed wheel, run by scripts/wheel.sh in a fresh venv that has only the wheel
and its dependencies (no TensorFlow, no source tree on the path): save, load and verify a
checkpoint, write a graph and read it back, import it, and run the CLI.

    python wheel_smoke.py WORKDIR
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import ml_dtypes
import numpy as np

import fastckpt

work = Path(sys.argv[1])
installed = Path(fastckpt.__file__).resolve()
site = Path(sysconfig.get_paths()["purelib"]).resolve()
assert site in installed.parents, f"fastckpt imported from {installed}, not from the wheel in {site}"

arrays = {
    "dense/kernel": np.arange(12, dtype=np.float32).reshape(3, 4),
    "dense/bias": np.ones(4, ml_dtypes.bfloat16),
    "step": np.int64(7),
    "vocab": np.array([b"a", b"", b"xyz"], dtype=object),
}
prefix = work / "model" / "ckpt-1"
fastckpt.save(arrays, str(prefix))
reader = fastckpt.load_checkpoint(str(prefix))
assert sorted(reader.keys()) == sorted(arrays), reader.keys()
for name, expected in arrays.items():
    got = reader.get_tensor(name)
    assert got.dtype == np.asarray(expected).dtype and np.array_equal(got, expected), (name, got, expected)
assert reader.get_variable_to_shape_map()["dense/kernel"] == [3, 4]

# The data file damaged: verification names the tensor.
data = next((work / "model").glob("ckpt-1.data-*"))
damaged = bytearray(data.read_bytes())
damaged[0] ^= 0xFF
data.write_bytes(bytes(damaged))
try:
    fastckpt.load_checkpoint(str(prefix)).read_all()
except fastckpt.ChecksumMismatchError as error:
    assert "dense/" in str(error) or "step" in str(error) or "vocab" in str(error), error
else:
    raise AssertionError("a damaged data file was read without a checksum error")
fastckpt.save(arrays, str(prefix))

graph_def = fastckpt.GraphDef()
graph_def.node.add(name="x", op="Placeholder").attr["dtype"].type = 1
const = graph_def.node.add(name="w", op="Const")
const.attr["dtype"].type = 1
const.attr["value"].tensor.CopyFrom(fastckpt.make_tensor_proto(arrays["dense/kernel"]))
graph_def.node.add(name="y", op="MatMul", input=["x", "w"]).attr["T"].type = 1
for as_text, name in ((True, "graph.pbtxt"), (False, "graph.pb")):
    path = fastckpt.write_graph(graph_def, str(work), name, as_text=as_text)
    back = fastckpt.read_graph_def(path)
    assert back == graph_def, name
    assert np.array_equal(fastckpt.make_ndarray(back.node[1].attr["value"].tensor), arrays["dense/kernel"])
graph = fastckpt.import_graph_def(graph_def)
assert [op.name for op in graph.get_operations()] == ["import/x", "import/w", "import/y"]

cli = Path(sys.executable).with_name("fastckpt")
listed = subprocess.run([str(cli), "list", str(prefix)], check=True, capture_output=True, text=True).stdout
assert "dense/kernel" in listed and "vocab" in listed, listed
subprocess.run([str(cli), "verify", str(prefix)], check=True, capture_output=True)
print(f"wheel smoke test passed: {installed.parent}")
