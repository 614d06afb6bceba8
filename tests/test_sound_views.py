"""Arrays never reach past the memory behind them, whatever Python code does to fastckpt's
modules: element sizes come from the engine's dtype table, and every array's byte length is
checked against the bytes the engine hands over."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastckpt
from fastckpt import _dtypes, _fastckpt


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=120
    )


def _read_with_patched_entry(prefix: str, patch: str) -> list[str]:
    """In a fresh process: runs ``patch`` (Python, with ``np`` and ``_dtypes`` at hand) before the
    first read, then reads tensor "x" as a view and as a copy; one line per read."""
    result = _run(
        f"""
        import sys
        import numpy as np
        import fastckpt
        from fastckpt import _dtypes
        {patch}
        reader = fastckpt.load_checkpoint(sys.argv[1])
        for copy in (False, True):
            try:
                array = reader.get_tensor("x", copy=copy)
            except TypeError as e:
                print("refused:", e)
            else:
                print("array of", array.nbytes, "bytes")
        """,
        prefix,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    return lines


def test_patched_numpy_mapping_cannot_widen_a_view(tmp_path: Path) -> None:
    """Patching the Python mapping before the first read used to make `get_tensor` return a
    float64 view over a float32 tensor: twice its bytes, half of them past its end. (The
    checkpoint is written here: a save in the child would make the glue take the table first.)"""
    prefix = fastckpt.save({"x": np.arange(4, dtype=np.float32)}, str(tmp_path / "ckpt"))
    # The loaded dict is what the glue takes its table from.
    for line in _read_with_patched_entry(prefix, "_dtypes.NUMPY_DTYPES._known[1] = np.dtype(np.float64)"):
        assert line.startswith("refused:") and "DT_FLOAT" in line and "4" in line, line


def test_patched_ml_dtypes_entry_cannot_widen_a_view(tmp_path: Path) -> None:
    """The same for the types of ml_dtypes, whose table the glue takes only when one is first
    needed: a bfloat16 entry patched to a 4-byte dtype before that is refused."""
    import ml_dtypes

    prefix = fastckpt.save({"x": np.arange(4, dtype=ml_dtypes.bfloat16)}, str(tmp_path / "ckpt"))
    patch = "_dtypes.NUMPY_DTYPES.add_ml_dtypes(); _dtypes.NUMPY_DTYPES._known[14] = np.dtype(np.float32)"
    for line in _read_with_patched_entry(prefix, patch):
        assert line.startswith("refused:") and "DT_BFLOAT16" in line and "2" in line, line


def test_patching_the_mapping_later_changes_nothing(tmp_path: Path) -> None:
    prefix = fastckpt.save({"x": np.arange(4, dtype=np.float32)}, str(tmp_path / "ckpt"))
    reader = fastckpt.load_checkpoint(prefix)
    reader.get_tensor("x")  # the glue has taken its dtypes
    saved = _dtypes.NUMPY_DTYPES[1]
    try:
        _dtypes.NUMPY_DTYPES._known[1] = np.dtype(np.float64)
        for copy in (False, True):
            array = reader.get_tensor("x", copy=copy)
            assert array.dtype == np.float32 and array.nbytes == 16
            np.testing.assert_array_equal(array, [0, 1, 2, 3])
    finally:
        _dtypes.NUMPY_DTYPES._known[1] = saved


def test_python_mapping_is_derived_from_the_engine_table() -> None:
    table = _fastckpt.dtype_table()
    assert [row[0] for row in table] == list(range(34))
    for value, enum_name, name, layout, size in table:
        assert enum_name.startswith("DT_")
        if layout is None:  # DT_INVALID, DT_RESOURCE: never tensor data
            assert value not in _dtypes.NUMPY_DTYPES
        elif layout == "fixed":
            assert _dtypes.NAMES[value] == name
            assert _dtypes.NUMPY_DTYPES[value].itemsize == size
        else:
            assert _dtypes.NUMPY_DTYPES[value] == np.dtype(object)
    assert fastckpt.DType(101).name == "float32_ref"
    assert fastckpt.DType(19).name == "float16"


def test_owned_arrays_outlive_their_source_and_are_writeable(tmp_path: Path) -> None:
    """Owned arrays (copies, decoded TensorProto values) hold memory numpy may write, freed with
    the last array that uses it."""
    proto = fastckpt.make_tensor_proto([1.5, 2.5, 3.5], dtype="float64")
    proto.ClearField("tensor_content")
    proto.double_val.extend([1.5, 2.5, 3.5])
    decoded = fastckpt.make_ndarray(proto)
    del proto
    prefix = fastckpt.save({"x": np.arange(6, dtype=np.int32).reshape(2, 3)}, str(tmp_path / "ckpt"))
    copied = fastckpt.load_checkpoint(prefix).get_tensor("x", copy=True)
    gc.collect()
    for array, expected in ((decoded, [1.5, 2.5, 3.5]), (copied, [[0, 1, 2], [3, 4, 5]])):
        assert array.flags.writeable and array.flags.c_contiguous
        np.testing.assert_array_equal(array, expected)
        array[...] = 7
        view = array.reshape(-1)[1:]
        del array
        gc.collect()
        assert (view == 7).all()


@pytest.mark.parametrize("copy", [False, True])
def test_views_keep_the_mapping_alive(tmp_path: Path, copy: bool) -> None:
    prefix = fastckpt.save({"x": np.arange(1000, dtype=np.float32)}, str(tmp_path / "ckpt"))
    reader = fastckpt.load_checkpoint(prefix)
    array = reader.get_tensor("x", copy=copy)
    del reader
    gc.collect()
    np.testing.assert_array_equal(array, np.arange(1000, dtype=np.float32))
    assert array.flags.writeable == copy


def test_views_of_one_data_file_share_the_object_keeping_it_mapped(tmp_path: Path) -> None:
    """Every view of a reader's data file holds the same ``.base`` (one Python object per file,
    not one per view), and that object alone keeps the mapping alive once the reader and the
    other views are gone."""
    source = {f"t{i}": np.full((64, 128), i, dtype=np.float32) for i in range(8)}
    prefix = fastckpt.save(source, str(tmp_path / "ckpt"))
    reader = fastckpt.load_checkpoint(prefix)
    views = [reader.get_tensor(name) for name in source] + list(reader.read_all(copy=False).values())
    bases = {id(view.base) for view in views}
    assert len(bases) == 1, f"{len(bases)} base objects for {len(views)} views of one file"
    kept = views[3]
    del reader, views
    gc.collect()
    np.testing.assert_array_equal(kept, source["t3"])
