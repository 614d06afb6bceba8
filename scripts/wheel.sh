#!/usr/bin/env bash
# Builds the wheel PyPI would get and checks that it installs and works where nothing else does.
#
#   scripts/wheel.sh [OUT_DIR]        (default: dist/)
#
# The wheel is abi3 (one wheel for CPython >= 3.11) and manylinux2014 (glibc >= 2.17): zig links
# the extension against glibc 2.17's symbols whatever the host's glibc, and maturin's audit
# (`--auditwheel check`) refuses the wheel if it needs anything newer or any library outside the
# manylinux set; `auditwheel show` must agree. The wheel is then installed into a new venv without system site-packages (so no
# TensorFlow; numpy and ml_dtypes come from PyPI) and scripts/wheel_smoke.py runs outside the
# source tree. Cargo reuses target/ (the zig build lives in target/x86_64-unknown-linux-gnu/).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-dist}")

# ziglang < 0.15: maturin 1.x reads `zig env` as JSON, which later zig versions no longer print.
python3 -m pip install --quiet "maturin[zig]>=1.9.4,<2" "ziglang>=0.13,<0.15" "auditwheel>=6"
zig_dir=$(python3 -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
rm -f "$out"/fastckpt-*.whl
PATH="$zig_dir:$PATH" maturin build --quiet --release --zig --compatibility manylinux2014 \
    --auditwheel check --out "$out"
wheel=$(ls "$out"/fastckpt-*.whl)
case "$(basename "$wheel")" in
    *-cp311-abi3-manylinux*_x86_64.whl) echo "built $wheel" ;;
    *) echo "unexpected wheel tags: $wheel" >&2; exit 1 ;;
esac
# A second opinion on the symbols: pypa's auditwheel must agree on glibc 2.17.
audit=$(auditwheel show "$wheel" | tr -s ' \n' ' ')
if [[ "$audit" != *'consistent with the following platform tag: "manylinux_2_17_x86_64"'* ]]; then
    echo "auditwheel: $audit" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
if "$work/venv/bin/python" -c 'import tensorflow' 2>/dev/null; then
    echo "the clean venv sees TensorFlow" >&2
    exit 1
fi
(cd "$work" && "$work/venv/bin/python" "$OLDPWD/scripts/wheel_smoke.py" "$work")
