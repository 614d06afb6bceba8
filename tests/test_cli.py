"""The ``fastckpt`` command and the package version, run as a user runs them (in a child process)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import fastckpt

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-m", "fastckpt.cli"]


def _cargo_version() -> str:
    manifest = (ROOT / "Cargo.toml").read_text()
    workspace_package = manifest.split("[workspace.package]", 1)[1]
    found = re.search(r'^version = "([^"]+)"', workspace_package, re.MULTILINE)
    assert found is not None
    return found.group(1)


def test_one_version_everywhere() -> None:
    assert fastckpt.__version__ == _cargo_version() == importlib.metadata.version("fastckpt")
    assert fastckpt.__version__ == fastckpt._fastckpt.__version__


def test_version_option() -> None:
    done = subprocess.run([*COMMAND, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == f"fastckpt {fastckpt.__version__}\n"


def test_help_lists_every_command_with_a_whole_sentence() -> None:
    """Each command's line in ``fastckpt --help`` is its docstring's first paragraph, plain text:
    a first line cut mid-sentence ("... (the engine releases the GIL),") or reST markup is not."""
    result = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, check=True)
    commands = result.stdout.split("positional arguments:", 1)[1].split("options:", 1)[0]
    # argparse puts a command's help after its name, wrapped onto indented lines
    entries = re.findall(r"^    (\S+(?: \(\w+\))?)\s+(.*?)(?=^    \S|\Z)", commands, re.MULTILINE | re.DOTALL)
    names = [name for name, _ in entries]
    assert names == ["ls (list)", "show", "verify", "diff", "graph", "saved-model", "convert", "freeze", "bench"]
    for name, text in entries:
        line = " ".join(text.split())
        assert line.endswith(".") and "``" not in line, (name, line)


def test_path_help_names_every_format_read(tmp_path: Path) -> None:
    """The PATH a listing takes is any format fastckpt reads, and its --help says so."""
    tensors = {"w": np.arange(3, dtype=np.float32)}
    fastckpt.save(tensors, tmp_path / "ckpt")
    fastckpt.convert(tmp_path / "ckpt", tmp_path / "w.safetensors")
    np.savez(tmp_path / "w.npz", **tensors)
    for path in ("ckpt", "w.safetensors", "w.npz"):
        listed = subprocess.run([*COMMAND, "ls", str(tmp_path / path)], capture_output=True, text=True, check=True)
        assert "w  " in listed.stdout
    usage = " ".join(subprocess.run([*COMMAND, "ls", "--help"], capture_output=True, text=True, check=True).stdout.split())
    assert all(kind in usage for kind in ("checkpoint prefix", "SavedModel", "safetensors", "npz"))


def test_list_and_verify(tmp_path: Path) -> None:
    prefix = fastckpt.save({"w": np.zeros((2, 3), np.float32), "s": np.array([b"x"], dtype=object)}, tmp_path / "c")
    listed = subprocess.run([*COMMAND, "list", prefix], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and listed.stderr == ""
    lines = listed.stdout.splitlines()
    assert lines[0] == f"{prefix}: 2 tensors, 25 bytes"
    assert [line.split() for line in lines[1:]] == [["s", "string", "[1]", "1"], ["w", "float32", "[2,", "3]", "24"]]
    verified = subprocess.run([*COMMAND, "verify", prefix], capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0 and verified.stdout.startswith(f"{prefix}: 2 tensors, 0.0 MB verified")


def test_errors_are_one_line_on_stderr(tmp_path: Path) -> None:
    done = subprocess.run([*COMMAND, "list", str(tmp_path / "missing")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("fastckpt: ") and "missing.index" in done.stderr
    assert "Traceback" not in done.stderr


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """``fastckpt list … | head -1``: the reader goes away after one line while the listing (far
    larger than a pipe buffer) is still being written."""
    names = {f"layer_{i:05d}/" + "k" * 60: np.zeros(1, np.float32) for i in range(3000)}
    prefix = fastckpt.save(names, tmp_path / "big")
    child = subprocess.Popen([*COMMAND, "list", prefix], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.readline()
    child.stdout.close()
    stderr = child.stderr.read()
    status = child.wait(timeout=120)
    assert first.startswith(prefix.encode() + b": 3000 tensors, 12000 bytes")
    assert stderr == b""
    assert status == 141


def test_v1_checkpoint_folder_is_listed() -> None:
    """A folder of legacy V1 saves lists its latest checkpoint like a V2 one."""
    folder = ROOT / "tests" / "data" / "tf1_saver_v1"
    done = subprocess.run([*COMMAND, "list", str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith(f"{folder / 'model.ckpt-3'}: 3 tensors")
    assert "global_step" in done.stdout and "labels" in done.stdout