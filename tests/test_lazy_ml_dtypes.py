"""``import fastckpt`` does not import ``ml_dtypes`` (slow to import); bfloat16, float8 and int4
tensors still read and save as ``ml_dtypes`` arrays when a process needs them first, whatever was
imported before. Each case runs in a fresh interpreter, as this test process has TensorFlow (and
so ml_dtypes) loaded already."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np

import fastckpt

TYPES = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "int4")


def _fresh(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tensors() -> dict[str, np.ndarray]:
    values = np.array([-2.5, -1, 0, 0.5, 1, 3], dtype=np.float32).reshape(2, 3)
    tensors = {name: values.astype(getattr(ml_dtypes, name)) for name in TYPES}
    tensors["f32"] = values
    return tensors


def test_import_leaves_ml_dtypes_out_until_needed(tmp_path: Path) -> None:
    fastckpt.save({"f32": np.ones(3, np.float32)}, str(tmp_path / "plain"))
    fastckpt.save(_tensors(), str(tmp_path / "typed"))
    out = _fresh(f"""
        import sys
        import fastckpt
        assert "ml_dtypes" not in sys.modules
        plain = fastckpt.load_checkpoint({str(tmp_path / "plain")!r})
        plain.read_all(copy=True), plain.get_variable_to_dtype_map()
        fastckpt.save({{"x": plain.get_tensor("f32")}}, {str(tmp_path / "again")!r})
        print("ml_dtypes" in sys.modules)
        typed = fastckpt.load_checkpoint({str(tmp_path / "typed")!r})
        print(typed.get_tensor("bfloat16").dtype.name, "ml_dtypes" in sys.modules)
        """)
    assert out.split() == ["False", "bfloat16", "True"]


def test_every_read_path_gives_ml_dtypes_arrays_in_a_fresh_process(tmp_path: Path) -> None:
    prefix = str(tmp_path / "typed")
    fastckpt.save(_tensors(), prefix)
    for read in ("r.get_tensor(n)", "r.get_tensor(n, copy=False)", "r.read_all(copy=True)[n]", "r.read_all()[n]"):
        out = _fresh(f"""
            import fastckpt
            r = fastckpt.load_checkpoint({prefix!r})
            for n in {TYPES!r}:
                a = {read}
                print(n, a.dtype.name, a.view("u1").tobytes().hex())
            print(sorted(str(d) for d in r.get_variable_to_dtype_map().values()))
            """)
        lines = out.splitlines()
        for name, line in zip(TYPES, lines):
            expected = _tensors()[name]
            assert line.split() == [name, expected.dtype.name, expected.view(np.uint8).tobytes().hex()], read
        assert lines[-1] == str(sorted(str(a.dtype) for a in _tensors().values()))


def test_ml_dtypes_imported_after_fastckpt_saves_as_tensorflow_types(tmp_path: Path) -> None:
    prefix = str(tmp_path / "late")
    _fresh(f"""
        import fastckpt
        import ml_dtypes, numpy as np
        values = np.array([-2.5, -1, 0, 0.5, 1, 3], dtype=np.float32).reshape(2, 3)
        fastckpt.save({{n: values.astype(getattr(ml_dtypes, n)) for n in {TYPES!r}}}, {prefix!r})
        """)
    reader = fastckpt.load_checkpoint(prefix)
    for name in TYPES:
        np.testing.assert_array_equal(reader.get_tensor(name).view(np.uint8), _tensors()[name].view(np.uint8))
        assert reader.get_tensor(name).dtype == _tensors()[name].dtype
