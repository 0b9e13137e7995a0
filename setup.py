"""Maps the ``core/`` source tree to the ``overcast`` import package.

pyproject.toml cannot rename a found package tree, so the package list is computed here:
every package under ``core/`` becomes ``overcast.<subpackage>``.
"""
from setuptools import find_packages, setup

setup(packages=["overcast"] + [f"overcast.{name}" for name in find_packages("core")])
