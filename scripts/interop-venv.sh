#!/bin/bash
# Creates (idempotently) the venv .venv-interop/ at the repo root with the C++ RocketMQ client's Python binding
# (PyPI rocketmq==0.4.4: ctypes around Apache's librocketmq.so, which the wheel bundles), checks that the
# library loads, and prints the venv's python path on the last line.
#   scripts/interop-venv.sh            then: "$(scripts/interop-venv.sh | tail -1)" Tests/Interop/cpp_client.py ...
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$ROOT/.venv-interop
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("rocketmq") != "0.4.4")' 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check rocketmq==0.4.4 >&2
fi
# The import loads librocketmq.so through ctypes: fails here if the shared library or its deps are missing.
"$VENV/bin/python" -c 'import rocketmq.client, rocketmq.ffi as f; assert f.dll is not None' >&2 \
  || { echo "interop-venv: librocketmq.so does not load" >&2; exit 1; }
echo "$VENV/bin/python"
