"""Package layout: the repository keeps its top-level folders (``proofs_numeric/``, ``bounds/``,
``geometry/``, ``attention/``, ``experiments/``), and each is installed as a subpackage of the one
import name ``attnverify`` (``bounds/`` -> ``attnverify.bounds``). Everything else is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

NAMESPACE = "attnverify"
FOLDERS = ("proofs_numeric", "bounds", "geometry", "attention", "experiments")
#: committed evidence shipped as package data (reference runs, result snapshots, manifests, figures, the
#: device script); tests/test_packaging.py checks that every tracked non-Python file of a folder is in the wheel
EVIDENCE = ("json", "npz", "txt", "md", "csv", "tsv", "toml", "yaml", "yml", "sha256", "png", "svg", "sh")
DATA = [f"{glob}.{ext}" for ext in EVIDENCE for glob in ("*", "**/*")]

subpackages = find_packages(include=[f"{f}*" for f in FOLDERS])
setup(
    packages=[NAMESPACE] + [f"{NAMESPACE}.{p}" for p in subpackages],
    package_dir={NAMESPACE: NAMESPACE, **{f"{NAMESPACE}.{f}": f for f in FOLDERS}},
    package_data={NAMESPACE: ["py.typed"], **{f"{NAMESPACE}.{p}": DATA for p in subpackages}},
    include_package_data=False,
)
