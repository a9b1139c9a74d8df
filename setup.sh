#!/usr/bin/env bash
# Sets up a virtual environment with ganforge in it (idempotent). Usage: source-free,
#   bash setup.sh            -> .venv with ganforge and the test tools
# torch is pinned and installed FIRST: an open torch requirement would make pip resolve a
# multi-GB CUDA build; 2.13.0 is the CPU build this project is tested with.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test,keras]"   # keras: ganforge.keras and its tests
# Fashion-MNIST for the default run (Debian package; without it ganforge uses its 2,000-image
# slice and says so).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
    || echo "note: could not install dataset-fashion-mnist; the committed slice will be used"
fi
