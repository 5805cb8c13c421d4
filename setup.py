"""Package layout: the repository keeps its top-level folders (``proofs_numeric/``, ``bounds/``,
``geometry/``, ``attention/``, ``experiments/``), and each is installed as a subpackage of the one
import name ``attnverify`` (``bounds/`` -> ``attnverify.bounds``). Everything else is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

NAMESPACE = "attnverify"
FOLDERS = ("proofs_numeric", "bounds", "geometry", "attention", "experiments")
DATA = ["*.json", "*.npz", "*.txt", "*.md", "**/*.json", "**/*.npz", "**/*.txt", "**/*.md"]

subpackages = find_packages(include=[f"{f}*" for f in FOLDERS])
setup(
    packages=[NAMESPACE] + [f"{NAMESPACE}.{p}" for p in subpackages],
    package_dir={NAMESPACE: NAMESPACE, **{f"{NAMESPACE}.{f}": f for f in FOLDERS}},
    package_data={NAMESPACE: ["py.typed"], **{f"{NAMESPACE}.{p}": DATA for p in subpackages}},
    include_package_data=False,
)
