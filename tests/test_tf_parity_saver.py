"""TensorFlow's ``saver_test.py`` replayed against ``fastckpt.Saver`` where the two differed, each
step run through TensorFlow 2.21's ``tf.compat.v1.train.Saver`` (in a graph and session, as the
test) and fastckpt side by side: ``testSaveToNonexistingPath`` (which folders a save creates and the
``ValueError`` when it cannot)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import fastckpt

# Where the prefix goes, relative to the test's folder (``file`` is a plain file there).
SAVE_PATHS = ["ckpt", "new/ckpt", "new/deeper/ckpt", "file/ckpt"]


def _outcome(save: object, save_path: str) -> str:
    try:
        save(save_path)  # type: ignore[operator]
    except ValueError as e:
        return str(e)
    return "saved " + " ".join(sorted(p for p in os.listdir(os.path.dirname(save_path)) if not p.endswith(".meta")))


@pytest.mark.parametrize("sharded", [False, True])
@pytest.mark.parametrize("where", SAVE_PATHS)
def test_missing_folders_as_tensorflow(tf: ModuleType, tmp_path: Path, where: str, sharded: bool) -> None:
    outcomes = []
    for who in ("tf", "fc"):
        root = tmp_path / who
        root.mkdir()
        (root / "file").write_bytes(b"")
        save_path = str(root / where)
        if who == "tf":
            with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
                v0 = tf.compat.v1.Variable(1.0, name="v0")
                sess.run(v0.initializer)
                saver = tf.compat.v1.train.Saver({"v0": v0}, sharded=sharded)
                outcome = _outcome(lambda p: saver.save(sess, p), save_path)
        else:
            ours = fastckpt.Saver({"v0": np.float32(1)}, sharded=sharded)
            outcome = _outcome(ours.save, save_path)
        outcomes.append(outcome.replace(str(root), "<root>"))
    assert outcomes[1] == outcomes[0]
