"""MkDocs hook: pages generated at build time from the project's own sources (one source for every figure).

* ``getting-started.md``: the README's "Two commands" and "Quickstart" sections;
* ``how-to-read-a-verdict.md``: :data:`attnverify.proofs_numeric.report.HOW_TO_READ` (what ``verify`` prints);
* ``evidence.md``: ``experiments/evidence_manifest.json`` (every pinned file, its SHA-256, command, claims);
* ``benchmarks.md``: the latest ``benchmarks/results/*.json`` (tables, load average, machine);
* ``api/*.md``: one mkdocstrings page per package floor;
* the navigation, with the per-paper pages of ``docs/papers/`` and every notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
API = {"proofs_numeric": "Registry, decisions, reports, I/O (the floor every package builds on)",
       "bounds": "Top-k bounds, certified Top-k, MC-Search", "geometry": "Fisher-Rao curvature engine",
       "attention": "Models, KV eviction, Delta attention, FAL, SAE, hybrid attention",
       "experiments": "Experiments, their claims and figures"}
TOPICS = ("verdicts.md", "certified_topk.md", "topk_real.md", "fal.md", "hybrid.md", "gemma.md", "sae_steering.md", "errors.md")


def _readme_sections(*titles: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for title in titles:
        m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
        if m:
            out.append(f"## {title}\n{m.group(1)}")
    body = "\n".join(out)
    body = re.sub(r"\]\(docs/([^)]+)\)", r"](\1)", body)  # README links into docs/ are site pages here
    return re.sub(r"\]\((?!https?:|#)([^)]+)\)", lambda m: m.group(0) if (ROOT / "docs" / m.group(1).split("#")[0]).exists()
                  else f"] (`{m.group(1)}`)", body)


def _table(rows: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, (dict, list))))
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
                     + ["| " + " | ".join(_cell(r.get(k, "")) for k in keys) + " |" for r in rows])


def _flat(x: Any, prefix: str = "") -> dict[str, Any]:
    """Scalars of a nested dictionary, keyed by their dotted path (lists of numbers joined)."""
    out: dict[str, Any] = {}
    for k, v in x.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, list) and all(isinstance(i, (int, float, str)) for i in v):
            out[key] = ", ".join(f"{i:.4g}" if isinstance(i, float) else str(i) for i in v)
        elif not isinstance(v, list):
            out[key] = v
    return out


def _tables(x: Any, path: str = "") -> list[tuple[str, list[dict[str, Any]]]]:
    """Every list of dictionaries (a results table) in ``x``, with where it sits; a dict of dicts is one table too."""
    if isinstance(x, list) and x and all(isinstance(r, dict) for r in x):
        return [(path, [_flat(r) for r in x])]
    if isinstance(x, dict):
        if len(x) > 1 and all(isinstance(v, dict) for v in x.values()) and path:
            return [(path, [{"case": k, **_flat(v)} for k, v in x.items()])]
        return [t for k, v in x.items() for t in _tables(v, f"{path}.{k}" if path else k)]
    return []


def benchmarks_page() -> str:
    parts = ["# Benchmarks", "",
             "Standalone scripts in `benchmarks/` time each method against what a user would otherwise write, in the "
             "same run, and write `benchmarks/results/<area>.json`. Below are the latest committed results, as tables; a "
             "timing taken at load average >= 0.5 is an upper bound (the load is shown where the run recorded it).", ""]
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        parts += [f"## {path.stem}", "", f"`benchmarks/results/{path.name}`", ""]
        if not isinstance(data, dict):
            continue
        top = {k: v for k, v in _flat(data).items() if not k.startswith("environment.")}
        tables = _tables(data)
        in_tables = {t.split(".")[0] for t, _ in tables}
        facts = {k: v for k, v in top.items() if k.split(".")[0] not in in_tables}
        if facts:
            parts += ["| setting | value |", "|---|---|"] + [f"| {k} | {_cell(v)} |" for k, v in facts.items()] + [""]
        for where, rows in tables:
            parts += [f"**{where}**", "", _table(rows), ""]
    return "\n".join(parts)


def _cell(v: Any) -> str:
    return (f"{v:.4g}" if isinstance(v, float) else str(v)).replace("|", "\\|").replace("\n", " ")


def evidence_page() -> str:
    path = ROOT / "experiments" / "evidence_manifest.json"
    parts = ["# Evidence manifest", ""]
    if not path.exists():
        return "\n".join(parts + ["No `experiments/evidence_manifest.json` in this checkout."])
    data = json.loads(path.read_text(encoding="utf-8"))
    parts += [data.get("about", ""), "", "| file | SHA-256 | command | protocol | machine | claims |", "|---|---|---|---|---|---|"]
    for f in data.get("files", []):
        cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        parts.append(f"| `{f['file']}` | `{f['sha256'][:16]}…` | `{cell(f.get('command', ''))}` | {cell(f.get('protocol', ''))} "
                     f"| {cell(f.get('machine', ''))} | {', '.join(f'`{c}`' for c in f.get('claims', []))} |")
    return "\n".join(parts)


def how_to_read_page() -> str:
    from attnverify.proofs_numeric.report import HOW_TO_READ

    body = HOW_TO_READ.replace("**How to read a verdict.**", "").strip()
    return ("# How to read a verdict\n\nThis is the text `attnverify verify` puts at the top of its Markdown report and "
            "the HTML report (`attnverify verify --html DIR`).\n\n" + body +
            "\n\nMore: [Verdicts and empirical claims](verdicts.md).\n")


#: modules documented on a floor's page besides its package's public names: the subpackages of ``attention``
#: (each lists its ``__all__``) and of ``experiments`` (no ``__all__``: each submodule's public members)
API_MODULES = {"proofs_numeric": ("report", "report_schema", "html_report", "mathml", "plotstyle", "evidence"),
               "attention": ("models", "data", "kv", "delta", "fal", "hybrid", "sae"),
               "experiments": ("verdicts", "gating", "delta", "fal", "hybrid", "kv_eviction", "sae_steering", "topk_real",
                               "evidence_schemas")}
#: floors whose subpackages export through submodules rather than ``__all__``
API_SUBMODULES = ("experiments",)


def api_page(name: str) -> str:
    """The mkdocstrings page of a floor: the package, then each module of :data:`API_MODULES`."""
    options = "\n    options:\n      show_submodules: true\n" if name in API_SUBMODULES else "\n"
    extra = "".join(f"\n::: attnverify.{name}.{m}{options}" for m in API_MODULES.get(name, ()))
    return f"# `attnverify.{name}`\n\n{API[name]}.\n\n::: attnverify.{name}\n{extra}"


def generated() -> dict[str, str]:
    pages = {"getting-started.md": "# Getting started\n\n" + _readme_sections("Two commands", "Quickstart"),
             "how-to-read-a-verdict.md": how_to_read_page(), "evidence.md": evidence_page(),
             "benchmarks.md": benchmarks_page(),
             "api/index.md": "# API reference\n\nGenerated from the docstrings. Floors, bottom to top: "
                             + ", ".join(f"[`attnverify.{n}`]({n}.md)" for n in API) + ".\n"}
    pages.update({f"api/{n}.md": api_page(n) for n in API})
    return pages


@event_priority(90)
def on_config(config, **kwargs):
    papers = sorted((ROOT / "docs" / "papers").glob("*.md"))
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    config["nav"] = [
        {"Home": "index.md"}, {"Getting started": "getting-started.md"}, {"How to read a verdict": "how-to-read-a-verdict.md"},
        *([{"Papers": [f"papers/{p.name}" for p in papers]}] if papers else []),
        {"Notebooks": [f"notebooks/{n.name}" for n in notebooks]},
        {"Topics": [t for t in TOPICS if (ROOT / "docs" / t).exists()]},
        {"Evidence manifest": "evidence.md"}, {"Benchmarks": "benchmarks.md"},
        {"API reference": ["api/index.md", *[f"api/{n}.md" for n in API]]},
    ]
    return config


@event_priority(90)
def on_files(files, config, **kwargs):
    for uri, content in generated().items():
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=content))
    return files
