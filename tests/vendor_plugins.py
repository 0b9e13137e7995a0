"""Build and pip-install small plugin distributions into a directory outside the repo, the
way a vendor would publish a driver: tests then put that directory on ``PYTHONPATH``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "1.2.3"
dependencies = []

[project.entry-points.overcast]
{ep} = "{module}"

[tool.setuptools]
py-modules = ["{module}"]
"""


def make_distribution(root: Path, dist: str, entry_point: str, module: str, source: str) -> Path:
    """Write a one-module distribution with an ``overcast`` entry point; returns its dir."""
    src = root / "src" / dist
    src.mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, ep=entry_point, module=module))
    (src / f"{module}.py").write_text(textwrap.dedent(source))
    return src


def install(site: Path, *packages: Path) -> Path:
    """Really install the distributions into ``site`` with pip (no network needed)."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site)]
    subprocess.run(cmd + [str(p) for p in packages], check=True, capture_output=True)
    return site
