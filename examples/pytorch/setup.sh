#!/usr/bin/env bash
# Creates the virtual environment examples/pytorch/train.py runs in: examples/pytorch/.venv with PyTorch, numpy and
# pillow from PyPI (what grid.toml's `run` calls). Nothing else in the project needs it: CI does not run this.
#
#   examples/pytorch/setup.sh            # or VENV=/path/to/venv PYTHON=python3.12 examples/pytorch/setup.sh
#
# PyPI's torch for Linux x86-64 is the CUDA build: it pulls about 3 GB of NVIDIA libraries, unused on a CPU (the
# example runs on the CPU). pip reads PIP_INDEX_URL / PIP_EXTRA_INDEX_URL, so pointing them at PyTorch's CPU wheel
# index gets the ~200 MB CPU-only build where that index is reachable. Running the script again is a no-op once the
# environment imports all three packages.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "$VENV is ready: $("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)')"
  exit 0
fi
echo "== creating $VENV and installing torch, numpy, pillow (PyPI; a few minutes)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check torch numpy pillow
"$VENV/bin/python" -c 'import torch, numpy, PIL; print("ready: torch", torch.__version__, "numpy", numpy.__version__, "pillow", PIL.__version__)'
