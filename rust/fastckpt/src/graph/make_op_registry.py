"""Writes ops.pb: the OpList of every op registered in TensorFlow, which the import engine embeds.

The engine needs each op's signature (argument dtypes, how the number and types of outputs follow
from attrs), its attrs with their kinds, defaults, minimums and allowed values, and deprecation:
exactly what TensorFlow's own registry holds. Summaries and descriptions are documentation only and
are dropped. The file is serialized deterministically, so running this again with the same
TensorFlow gives the same bytes.

Run from anywhere with TensorFlow installed: python3 rust/fastckpt/src/graph/make_op_registry.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
from tensorflow.core.framework import op_def_pb2  # noqa: E402
from tensorflow.python.client import pywrap_tf_session  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ops = op_def_pb2.OpList()
    buf = pywrap_tf_session.TF_GetAllOpList()
    try:
        ops.ParseFromString(pywrap_tf_session.TF_GetBuffer(buf))
    finally:
        pywrap_tf_session.TF_DeleteBuffer(buf)
    for op in ops.op:
        op.ClearField("summary")
        op.ClearField("description")
        for arg in list(op.input_arg) + list(op.output_arg):
            arg.ClearField("description")
        for attr in op.attr:
            attr.ClearField("description")
    ops.op.sort(key=lambda op: op.name)
    data = ops.SerializeToString(deterministic=True)
    with open(os.path.join(HERE, "ops.pb"), "wb") as f:
        f.write(data)
    print(f"TensorFlow {tf.__version__}: {len(ops.op)} ops, {len(data)} bytes")


if __name__ == "__main__":
    main()
