"""Shared pytest fixtures.

``tf`` imports real TensorFlow once per session; it is the oracle of the interoperability tests.
Those tests are skipped only when TensorFlow cannot be imported at all (set
``FASTCKPT_REQUIRE_TF=1`` to turn that skip into a failure, e.g. in CI where it must be present).

``training_runs`` is the input of the bulk conversion tests: 20 training runs saved by TensorFlow,
two of them corrupted.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


# Before anything can import TensorFlow: keep its C++ INFO/WARNING chatter out of the test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fixture_builders() -> ModuleType:
    """`tests/data/make_fixtures.py`, which wrote the committed fixtures and says what they hold."""
    path = Path(__file__).resolve().parent / "data" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("fastckpt_test_make_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tf() -> ModuleType:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL") or "2"
    try:
        import tensorflow
    except ImportError as exc:
        if os.environ.get("FASTCKPT_REQUIRE_TF"):
            pytest.fail(f"FASTCKPT_REQUIRE_TF is set but tensorflow cannot be imported: {exc}")
        pytest.skip(f"tensorflow is not importable ({exc}); interoperability tests need it as the oracle")
    return tensorflow


#: What a test marked ``big`` needs free (``MemAvailable``) and on the temp dir's disk: its peak
#: is about 10 GiB of memory and it writes 4–5 GiB.
BIG_MEMORY = 12 << 30
BIG_DISK = 8 << 30


def _available_memory() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``big`` test is skipped, saying why, on a machine without the memory or disk it needs,
    rather than swapping or being killed mid-run."""
    if item.get_closest_marker("big") is None:
        return
    import shutil
    import tempfile

    memory, disk = _available_memory(), shutil.disk_usage(tempfile.gettempdir()).free
    if memory < BIG_MEMORY or disk < BIG_DISK:
        pytest.skip(
            f"needs {BIG_MEMORY >> 30} GiB of available memory and {BIG_DISK >> 30} GiB of free disk; "
            f"this machine has {memory / 2**30:.1f} GiB and {disk / 2**30:.1f} GiB"
        )


@dataclass
class TrainingRuns:
    """``folder/runNN/`` for NN in 00..19, each a TF2 checkpoint ``ckpt-1`` and its state file, with
    the values each holds; ``run03``'s index is truncated and ``run11``'s data file has a flipped
    byte."""

    folder: Path
    values: dict[str, dict[str, np.ndarray]]
    truncated_index: str = "run03"
    bad_data: str = "run11"


@pytest.fixture(scope="session")
def training_runs(tf: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> TrainingRuns:
    runs = TrainingRuns(tmp_path_factory.mktemp("training-runs"), {})
    for i in range(20):
        values = {"w": np.full((4, 3), i, np.float32), "step": np.array(i, np.int64)}
        ckpt = tf.train.Checkpoint(w=tf.Variable(values["w"]), step=tf.Variable(values["step"]))
        tf.train.CheckpointManager(ckpt, str(runs.folder / f"run{i:02d}"), max_to_keep=1).save()
        runs.values[f"run{i:02d}"] = values
    bad_index = runs.folder / runs.truncated_index / "ckpt-1.index"
    bad_index.write_bytes(bad_index.read_bytes()[:-20])
    bad_data = runs.folder / runs.bad_data / "ckpt-1.data-00000-of-00001"
    raw = bytearray(bad_data.read_bytes())
    raw[0] ^= 0xFF
    bad_data.write_bytes(bytes(raw))
    return runs
