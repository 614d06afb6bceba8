"""The glue raises fastckpt's exception classes themselves (imported once as typed exceptions),
not whatever a name in ``fastckpt.errors`` happens to be bound to when an error occurs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fastckpt
from fastckpt import errors


def test_raised_classes_do_not_depend_on_module_attributes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = fastckpt.save({"x": np.zeros(3, np.float32)}, str(tmp_path / "ckpt"))
    reader = fastckpt.load_checkpoint(prefix)
    real_not_found, real_missing = errors.TensorNotFoundError, errors.CheckpointNotFoundError
    with pytest.raises(real_not_found):
        reader.get_tensor("nope")  # the class is in use from here on

    class Impostor(Exception):
        pass

    monkeypatch.setattr(errors, "TensorNotFoundError", Impostor)
    monkeypatch.setattr(errors, "CheckpointNotFoundError", Impostor)
    with pytest.raises(real_not_found) as info:
        reader.get_tensor("nope")
    assert isinstance(info.value, KeyError) and "nope" in str(info.value)
    with pytest.raises(real_missing) as missing:
        fastckpt.load_checkpoint(str(tmp_path / "absent"))
    assert isinstance(missing.value, FileNotFoundError)
