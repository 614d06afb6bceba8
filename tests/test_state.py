"""The ``checkpoint`` state file functions against TensorFlow 2.21's ``checkpoint_management`` on
the same files: what each writes (byte for byte), what each reads back, and the edge cases of
issue 9 §2 (``latest_filename``, duplicate fields, unparsable and empty files, V1 patterns)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import fastckpt
from fastckpt import _fastckpt


@pytest.fixture
def cm(tf: ModuleType) -> Any:
    from tensorflow.python.checkpoint import checkpoint_management

    return checkpoint_management


def _state_fields(state: Any) -> tuple[Any, ...] | None:
    if state is None:
        return None
    return (
        state.model_checkpoint_path,
        list(state.all_model_checkpoint_paths),
        list(state.all_model_checkpoint_timestamps),
        state.last_preserved_timestamp,
    )


UPDATES = [
    # (save_dir relative to tmp or absolute marker, model path, all paths, timestamps, last preserved, relative)
    ("abs", "{d}/model.ckpt-20", ["{d}/model.ckpt-10", "{d}/model.ckpt-20"], None, None, False),
    ("abs", "{d}/model.ckpt-20", ["{d}/model.ckpt-10"], None, None, False),
    ("abs", "{d}/model.ckpt-20", None, None, None, False),
    ("abs", "{d}/sub/model.ckpt-20", ["{d}/model.ckpt-10"], None, None, True),
    ("abs", "model.ckpt-20", ["model.ckpt-10", "model.ckpt-20"], [1795636091.6588638, 1795636095.0], 1795636080.5, False),
    ("abs", "{d}/model.ckpt-3", ["{d}/model.ckpt-1"], [1.5, 2.25], 0.1, True),
    ("rel", "ckdir/model.ckpt-5", ["ckdir/model.ckpt-4"], None, None, False),
    ("rel", "model.ckpt-5", ["/abs/model.ckpt-4"], None, None, False),
    ("rel", "{d}/ckdir/model.ckpt-5", ["{d}/ckdir/model.ckpt-4"], None, None, True),
]


@pytest.mark.parametrize("case", range(len(UPDATES)))
@pytest.mark.parametrize("latest_filename", [None, "my_state"])
def test_update_writes_what_tensorflow_writes(
    cm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: int, latest_filename: str | None
) -> None:
    where, model, paths, stamps, last, relative = UPDATES[case]
    monkeypatch.chdir(tmp_path)
    outputs = []
    for who in ("tf", "fc"):
        root = tmp_path / who
        (root / "ckdir").mkdir(parents=True)
        d = str(root / "ckdir")
        save_dir = d if where == "abs" else os.path.relpath(d, tmp_path)
        args: dict[str, Any] = dict(
            model_checkpoint_path=model.format(d=d if where == "abs" else os.path.relpath(str(root), tmp_path)),
            all_model_checkpoint_paths=None
            if paths is None
            else [p.format(d=d if where == "abs" else os.path.relpath(str(root), tmp_path)) for p in paths],
            latest_filename=latest_filename,
            all_model_checkpoint_timestamps=stamps,
            last_preserved_timestamp=last,
        )
        if who == "tf":
            cm.update_checkpoint_state_internal(save_dir, save_relative_paths=relative, **args)
        else:
            fastckpt.update_checkpoint_state(save_dir, save_relative_paths=relative, **args)
        text = (root / "ckdir" / (latest_filename or "checkpoint")).read_text()
        outputs.append(text.replace(str(root), "<root>").replace(who, "<who>"))
        # Each reads what the other (and itself) wrote identically.
        assert _state_fields(fastckpt.get_checkpoint_state(save_dir, latest_filename)) == _state_fields(
            cm.get_checkpoint_state(save_dir, latest_filename)
        )
    assert outputs[0] == outputs[1]
    assert sorted(os.listdir(tmp_path / "fc" / "ckdir")) == [latest_filename or "checkpoint"], "no temporary files"


def test_update_errors_as_tensorflow(cm: Any, tmp_path: Path) -> None:
    d = str(tmp_path)
    with pytest.raises(ValueError, match="Checkpoint timestamps, if provided, must match checkpoint paths") as ours:
        fastckpt.update_checkpoint_state(d, d + "/a", [d + "/b"], all_model_checkpoint_timestamps=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError) as theirs:
        cm.update_checkpoint_state(d, d + "/a", [d + "/b"], all_model_checkpoint_timestamps=[1.0, 2.0, 3.0])
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(RuntimeError) as ours_rt:
        fastckpt.update_checkpoint_state(d, d + "/checkpoint")
    with pytest.raises(RuntimeError) as theirs_rt:
        cm.update_checkpoint_state(d, d + "/checkpoint")
    assert str(ours_rt.value) == str(theirs_rt.value)
    assert not os.path.exists(d + "/checkpoint")


STATE_FILES = {
    "duplicate_model_path": 'model_checkpoint_path: "a"\nmodel_checkpoint_path: "b"\nall_model_checkpoint_paths: "a"\n',
    "unparsable": 'model_checkpoint_path: "a\n',
    "unknown_field": 'model_checkpoint_path: "a"\nbogus: 3\n',
    "empty": "",
    "only_list": 'all_model_checkpoint_paths: "a"\n',
    "absolute": 'model_checkpoint_path: "/nowhere/x"\nall_model_checkpoint_paths: "/nowhere/x"\n',
    "timestamps": 'model_checkpoint_path: "b"\nall_model_checkpoint_timestamps: 1.5\nlast_preserved_timestamp: 7.25\n',
    "v1_pattern": 'model_checkpoint_path: "v1-?????-of-00002"\n',
    "v1_single": 'model_checkpoint_path: "v1file"\n',
    "v2": 'model_checkpoint_path: "b"\n',
    "missing_files": 'model_checkpoint_path: "zzz"\n',
}


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as e:  # the exception class and text are what is compared: of ours, the
        # Python class it derives from (an InvalidFileError is the ValueError TensorFlow raises)
        cls = type(e)
        if isinstance(e, fastckpt.CheckpointError):
            cls = next(c for c in cls.__mro__ if c.__module__ == "builtins")
        return (cls.__name__, str(e))


@pytest.mark.parametrize("name", sorted(STATE_FILES))
@pytest.mark.parametrize("latest_filename", [None, "other"])
def test_reading_state_files_as_tensorflow(cm: Any, tmp_path: Path, name: str, latest_filename: str | None) -> None:
    d = str(tmp_path)
    (tmp_path / (latest_filename or "checkpoint")).write_text(STATE_FILES[name])
    fastckpt.save({"x": np.zeros(2, np.float32)}, d + "/b")
    for shard in ("v1-00000-of-00002", "v1-00001-of-00002", "v1file"):
        (tmp_path / shard).write_bytes(b"")
    ours = _outcome(lambda: _state_fields(fastckpt.get_checkpoint_state(d, latest_filename)))
    theirs = _outcome(lambda: _state_fields(cm.get_checkpoint_state(d, latest_filename)))
    assert ours == theirs
    assert _outcome(fastckpt.latest_checkpoint, d, latest_filename) == _outcome(cm.latest_checkpoint, d, latest_filename)
    # The default file name is not looked at when another is given, and vice versa.
    assert fastckpt.get_checkpoint_state(d, "absent") is None and cm.get_checkpoint_state(d, "absent") is None


def test_no_state_file(cm: Any, tmp_path: Path) -> None:
    assert fastckpt.get_checkpoint_state(tmp_path) is None
    assert fastckpt.latest_checkpoint(tmp_path) is None is cm.latest_checkpoint(str(tmp_path))
    (tmp_path / "checkpoint").mkdir()  # unreadable as a file: TensorFlow logs and returns None
    assert fastckpt.get_checkpoint_state(tmp_path) is None is cm.get_checkpoint_state(str(tmp_path))


def test_checkpoint_exists_and_remove_checkpoint(cm: Any, tmp_path: Path) -> None:
    d = str(tmp_path)
    for who, mod in (("fc", fastckpt), ("tf", cm)):
        prefix = f"{d}/{who}/model.ckpt-7"
        fastckpt.save({"x": np.arange(3)}, prefix)
        Path(prefix + ".meta").write_bytes(b"m")
        Path(prefix + ".data-00001-of-00002").write_bytes(b"")
        Path(f"{d}/{who}/model.ckpt-77.index").write_bytes(b"")  # another checkpoint: kept
        Path(f"{d}/{who}/v1").write_bytes(b"")
        assert fastckpt.checkpoint_exists(prefix) is cm.checkpoint_exists(prefix) is True
        assert fastckpt.checkpoint_exists(f"{d}/{who}/v1") is cm.checkpoint_exists(f"{d}/{who}/v1") is True
        assert fastckpt.checkpoint_exists(f"{d}/{who}/model.ckpt-?") is cm.checkpoint_exists(f"{d}/{who}/model.ckpt-?")
        assert fastckpt.checkpoint_exists(f"{d}/{who}/nope") is cm.checkpoint_exists(f"{d}/{who}/nope") is False
        mod.remove_checkpoint(prefix)
        mod.remove_checkpoint(f"{d}/{who}/v1", 1)
        mod.remove_checkpoint(f"{d}/{who}/absent")
    assert sorted(os.listdir(d + "/fc")) == sorted(os.listdir(d + "/tf")) == ["model.ckpt-77.index"]


@pytest.mark.parametrize(
    "prefix", ["model.ckpt", "model.ckpt-20", "/a/b-00000-of-00002", "m-?????-of-00001", "m-1-of-2.x", "a.b"]
)
def test_meta_graph_filename(cm: Any, prefix: str) -> None:
    assert fastckpt.meta_graph_filename(prefix) == cm.meta_graph_filename(prefix)
    assert fastckpt.meta_graph_filename(prefix, "txt") == cm.meta_graph_filename(prefix, "txt")


def test_removed_checkpoint_stays_readable_through_open_views(tmp_path: Path) -> None:
    """remove_checkpoint unlinks at once and leaves freeing the space to a background thread: a
    reader that has the files mapped keeps valid views, and nothing of the checkpoint is listed."""
    prefix = str(tmp_path / "ckpt-1")
    source = {f"t{i}": np.full(8192, i, np.float32) for i in range(64)}
    fastckpt.save(source, prefix)
    reader = fastckpt.load_checkpoint(prefix)
    views = {name: reader.get_tensor(name) for name in source}
    fastckpt.remove_checkpoint(prefix)
    assert os.listdir(tmp_path) == []
    assert all(np.array_equal(views[n], a) for n, a in source.items())
    with pytest.raises(FileNotFoundError, match="ckpt-1.index"):
        _fastckpt.remove_file(prefix + ".index")
