"""Shared pytest fixtures.

``tf`` imports real TensorFlow once per session; it is the oracle of the interoperability tests.
Those tests are skipped only when TensorFlow cannot be imported at all (set
``FASTCKPT_REQUIRE_TF=1`` to turn that skip into a failure, e.g. in CI where it must be present).
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest

# Before anything can import TensorFlow: keep its C++ INFO/WARNING chatter out of the test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
