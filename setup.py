"""Build script; metadata lives in setup.cfg.

The top-level ``models/`` and ``guides/`` folders install as ``pyronas.models`` and
``pyronas.guides`` (see ``package_dir`` in setup.cfg), never as top-level packages.
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["pyronas", "pyronas.*"]) + ["pyronas.models", "pyronas.guides"])
