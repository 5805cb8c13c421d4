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
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
                     + ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows])


def benchmarks_page() -> str:
    parts = ["# Benchmarks", "",
             "Standalone scripts in `benchmarks/` time each method against what a user would otherwise write, in the "
             "same run, and write `benchmarks/results/<area>.json`. The tables below are the latest committed results; a "
             "timing taken at load average >= 0.5 is an upper bound (the load is shown).", ""]
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        parts += [f"## {path.stem}", "", f"`benchmarks/results/{path.name}`"
                  + (f", load average {data['load_average']}" if isinstance(data, dict) and "load_average" in data else ""), ""]
        rows = data.get("results") if isinstance(data, dict) else None
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            parts += [_table(rows), ""]
        else:
            parts += ['??? note "raw results"', "    ```json"] + ["    " + x for x in json.dumps(data, indent=1)[:6000].splitlines()] + ["    ```", ""]
    return "\n".join(parts)


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


def api_page(name: str) -> str:
    return f"# `attnverify.{name}`\n\n{API[name]}.\n\n::: attnverify.{name}\n"


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
