"""The floors of the package layout, checked on the import graph (parsed with ``ast``; nothing is imported).

Floors (README "Architecture"): ``proofs_numeric`` (0) < ``bounds``, ``geometry`` (1) < ``attention`` (2)
< ``experiments`` (3). A module may import its own floor or a lower one, never a higher one, and the
module graph has no cycle. Every ``import`` statement counts, including those inside functions: a
lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"proofs_numeric": 0, "bounds": 1, "geometry": 1, "attention": 2, "experiments": 3}


NAMESPACE = "attnverify"


def module_files(root: Path = ROOT, packages=tuple(FLOORS)) -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of the library packages, under their installed
    names: the top-level folder ``bounds/`` is the package ``attnverify.bounds`` (``pyproject.toml``)."""
    out = {}
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            parts = [NAMESPACE, *f.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of ours."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: modules it imports}``, restricted to our modules (``from pkg import sub`` -> ``pkg.sub``)."""
    graph: dict[str, set[str]] = {}
    for mod, f in modules.items():
        is_pkg = f.name == "__init__.py"
        package = mod if is_pkg else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                # `from pkg import sub` depends on the module pkg.sub; `from pkg import name` on pkg
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                r = _resolve(t, modules)
                if r is not None and r != mod:
                    deps.add(r)
        graph[mod] = deps
    return graph


def floor(mod: str) -> int:
    return FLOORS[mod.split(".")[1]]


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((m, d) for m, ds in graph.items() for d in ds if floor(d) > floor(m))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or ``None``."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        colour[u] = GREY
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if colour.get(v, BLACK) == GREY:
                return stack[stack.index(v):] + [v]
            if colour.get(v) == WHITE:
                found = visit(v)
                if found:
                    return found
        stack.pop()
        colour[u] = BLACK
        return None

    for u in sorted(graph):
        if colour[u] == WHITE:
            found = visit(u)
            if found:
                return found
    return None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(module_files())


def test_no_upward_imports(graph):
    assert upward_imports(graph) == []


def test_no_import_cycles(graph):
    assert find_cycle(graph) is None


def test_no_module_imports_the_old_top_level_names():
    """Every import goes through ``attnverify.``: ``import bounds`` would load a second copy of the
    module from the working directory (and fails outside the clone)."""
    bad = []
    files = list(module_files().values()) + sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "tests").glob("*.py"))
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [(f.name, n) for n in names if n.split(".")[0] in FLOORS]
    assert bad == []


def test_proofs_numeric_imports_no_domain_package(graph):
    bad = sorted((m, d) for m, ds in graph.items() if m.startswith("attnverify.proofs_numeric") for d in ds
                 if not d.startswith("attnverify.proofs_numeric"))
    assert bad == []


def test_layout_has_one_subpackage_per_paper():
    for sub in ("models", "kv", "delta", "fal", "hybrid", "sae"):
        assert (ROOT / "attention" / sub / "__init__.py").is_file(), sub
    flat = sorted(p.name for p in (ROOT / "attention").glob("_*.py") if p.name != "__init__.py")
    assert all(not any(p.startswith(f"_{paper}") for paper in ("fal", "delta", "obcache", "hybrid", "sae", "bert"))
               for p in flat), flat


def _write(tmp: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        f = tmp / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return module_files(tmp, ("proofs_numeric", "attention", "experiments"))


def test_the_check_fails_on_an_upward_import(tmp_path):
    mods = _write(tmp_path, {
        "proofs_numeric/__init__.py": "",
        "proofs_numeric/runner.py": "def f():\n    from attnverify.experiments.study import x\n",
        "attention/__init__.py": "",
        "experiments/__init__.py": "",
        "experiments/study.py": "from attnverify import attention\nx = 1\n",
    })
    assert upward_imports(import_graph(mods)) == [("attnverify.proofs_numeric.runner", "attnverify.experiments.study")]


def test_the_check_fails_on_a_cycle(tmp_path):
    mods = _write(tmp_path, {
        "attention/__init__.py": "",
        "attention/kv/__init__.py": "from .a import f\n",
        "attention/kv/a.py": "from .b import g\n",
        "attention/kv/b.py": "def g():\n    from . import a\n",
    })
    cycle = find_cycle(import_graph(mods))
    assert cycle is not None and set(cycle) == {"attnverify.attention.kv.a", "attnverify.attention.kv.b"}


def test_every_module_compiles_without_warnings():
    """An invalid escape such as ``"\\m"`` in a docstring is a SyntaxWarning today and an error in a later
    Python: math in docstrings goes in raw strings."""
    import warnings

    bad = []
    files = list(module_files().values()) + sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "tests").glob("*.py"))
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                compile(path.read_text(), str(path), "exec")
            except (SyntaxError, SyntaxWarning, DeprecationWarning) as e:
                bad.append(f"{path.relative_to(ROOT)}: {e}")
    assert not bad, bad
