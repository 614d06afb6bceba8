#!/usr/bin/env bash
# Installs what the tests need (the package itself, pytest, tensorflow-cpu as the oracle) and runs
# every test: the engine's Rust tests, then pytest, then the type checks of the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --upgrade pip
# The extension is abi3 (`_fastckpt.abi3.so`); a version-tagged one left by an older build would be
# imported in its place.
rm -f python/fastckpt/_fastckpt.cpython-*.so
python3 -m pip install --quiet -e ".[test]"
cargo test --workspace --exclude fastckpt-py
FASTCKPT_REQUIRE_TF=1 python3 -m pytest -q tests
python3 -m mypy
python3 -m mypy.stubtest fastckpt._fastckpt
