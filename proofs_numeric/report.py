"""Render a :class:`~proofs_numeric.Report` as a terminal table, Markdown and JSON (written atomically)."""

from __future__ import annotations

import re
from pathlib import Path

from ._runner import Report
from .io import atomic_write_json, atomic_write_text

__all__ = ["summary_table", "markdown_report", "claims_table_markdown", "write_reports", "update_readme_table"]

README_START = "<!-- claims-table:start -->"
README_END = "<!-- claims-table:end -->"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2e}"


def summary_table(report: Report) -> str:
    """A fixed-width text table, one row per claim."""
    rows = [("claim", "verdict", "worst err", "tol", "instances", "sympy", "s")]
    for r in report.results:
        e = r.evidence
        rows.append(
            (
                r.claim.id,
                r.verdict.value,
                _fmt(None if e is None else e.worst_error),
                f"{r.claim.tolerance:.0e}",
                "-" if e is None else f"{e.n_random}+{e.n_adversarial}",
                r.symbolic,
                f"{r.seconds:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    c = report.counts()
    lines.append("")
    lines.append(
        f"{len(report.results)} claims: {c['verified']} verified, {c['refuted']} refuted "
        f"(paper statement fails as stated; see report), {c['failed']} failed  [{report.seconds:.1f} s]"
    )
    return "\n".join(lines)


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def claims_table_markdown(report: Report) -> str:
    """Markdown table of claims and verdicts (also used for the README)."""
    out = ["| claim | paper, equation | provenance | statement | verdict | worst error (tol) | instances |", "|---|---|---|---|---|---|---|"]
    for r in report.results:
        c, e = r.claim, r.evidence
        err = "-" if e is None else f"{e.worst_error:.1e} ({c.tolerance:.0e}, {c.error})"
        inst = "-" if e is None else f"{e.n_random} + {e.n_adversarial} adv."
        out.append(
            f"| `{c.id}` | {c.paper}, {_md_escape(c.equation)} | {c.provenance.value} | ${_md_escape(c.statement)}$ "
            f"| **{r.verdict.value}** | {err} | {inst} |"
        )
    return "\n".join(out)


def markdown_report(report: Report) -> str:
    """The full Markdown report: environment, table, findings (refuted claims) and failures."""
    d = report.as_dict()
    c = report.counts()
    lines = [
        "# attnverify verification report",
        "",
        f"Started {d['started']}, seed {report.seed}, scale {report.scale}, selection `{report.pattern or '*'}`, "
        f"{report.seconds:.1f} s.",
        "",
        f"**{len(report.results)} claims: {c['verified']} verified, {c['refuted']} refuted, {c['failed']} failed.**",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in d["environment"].items()),
        "",
        claims_table_markdown(report),
        "",
    ]
    refuted = [r for r in report.results if r.verdict.value == "refuted"]
    if refuted:
        lines += ["## Findings: paper statements that fail as stated", ""]
        for r in refuted:
            lines.append(f"### `{r.claim.id}` ({r.claim.paper}, {r.claim.equation})")
            lines.append("")
            if r.claim.notes:
                lines.append(r.claim.notes)
                lines.append("")
            if r.evidence is not None and r.evidence.counterexample:
                lines.append("Counterexample: `" + _md_escape(str(dict(r.evidence.counterexample))) + "`")
                lines.append("")
    failed = report.failed
    if failed:
        lines += ["## Failures", ""]
        for r in failed:
            lines += [f"### `{r.claim.id}`", "", "```", r.message.strip() or "check failed", "```", ""]
    lines += ["## Details", ""]
    for r in report.results:
        if r.evidence is not None and r.evidence.details:
            lines.append(f"- `{r.claim.id}`: " + _md_escape(", ".join(f"{k}={v}" for k, v in r.evidence.details.items()))[:2000])
    return "\n".join(lines) + "\n"


def write_reports(report: Report, json_path: str | Path | None, markdown_path: str | Path | None) -> list[Path]:
    """Write the JSON and Markdown reports atomically; returns the written paths."""
    written = []
    if json_path:
        written.append(atomic_write_json(json_path, report.as_dict()))
    if markdown_path:
        written.append(atomic_write_text(markdown_path, markdown_report(report)))
    return written


def update_readme_table(readme: str | Path, report: Report) -> bool:
    """Replace the README block between the claims-table markers with the generated table."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {README_START} ... {README_END} block")
    block = f"{README_START}\n{claims_table_markdown(report)}\n{README_END}"
    new = pattern.sub(lambda _: block, text)
    if new != text:
        atomic_write_text(path, new)
    return new != text
