"""The ``attnverify`` command line: the only place that parses arguments or prints.

::

    attnverify verify [--only GLOB] [--seed N] [--scale F] [--jobs N] [--json PATH] [--markdown PATH] [--update-readme PATH] [--html DIR]
    attnverify verify --from-json PATH --html DIR [--only GLOB]
    attnverify verify ... [--evidence DIR]
    attnverify promote RUN_FILE DEST [--claims GLOB ...] [--command CMD] [--schema NAME] [--protocol TEXT]
    attnverify list [--only GLOB]
    attnverify plot NAME [--out DIR] [--quick] [--seed N]
    attnverify experiment NAME [--out DIR] [--quick] [--seed N] [--devices N]

``verify`` decides from the pinned evidence only (:mod:`proofs_numeric.evidence`: every committed result
file is checked against its SHA-256 and validated before a claim reads it; a mismatch makes the claims
that read it ``failed``). ``--evidence DIR`` lets a user's own run replace pinned files (each such verdict is
marked as coming from an unpinned local run). ``promote`` makes a run the pinned evidence
(:mod:`proofs_numeric.promote`). ``verify`` exits 1 if any claim's verdict is ``failed`` (a bug); ``verified``, ``refuted``, ``not
reproduced``, ``inconclusive`` and ``erratum`` are results, not failures.

Usage errors exit 2 **before any work starts**: ``--seed`` must be an integer in [0, 2**32 - 1], ``--scale`` a
finite number > 0 (``nan``, ``inf``, ``0`` rejected by argparse), and every output path is checked up
front (:func:`proofs_numeric.io.check_output_file` / ``check_output_dir``: a directory given as the
file, a read-only directory, a file used as a parent). An ``OSError`` while writing (a full disk)
is reported in one line, exit 1.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


SEED_MAX = 2**32 - 1  #: the largest ``--seed`` (numpy and JAX PRNG seeds; a larger one overflowed inside JAX)


def _int_arg(text: str, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]`` (argparse type; the message is shown after ``argument --flag:``)."""
    want = f"an integer in [{lo}, {hi}]"
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}") from None
    if not lo <= v <= hi:
        raise argparse.ArgumentTypeError(f"must be {want}, got {v}")
    return v


def _seed(text: str) -> int:
    """argparse type of ``--seed``: an integer in ``[0, 2**32 - 1]`` (numpy seeds are non-negative)."""
    return _int_arg(text, 0, SEED_MAX)


def _scale(text: str) -> float:
    """argparse type of ``--scale``: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return v


def _path(text: str) -> str:
    """argparse type of every path option: a non-empty name (an empty string is an error, never "not given")."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a path, got {text!r}")
    return text


#: the defaults of ``verify``'s run options; ``None`` in the parser, so that an option given with
#: ``--from-json`` (which runs nothing) is told apart from one left out
VERIFY_DEFAULTS = {"seed": 0, "scale": 1.0, "jobs": 1, "json": "reports/verify.json", "markdown": "reports/verify.md"}
#: the options of ``verify`` that only a run reads, in the order they are named when given with ``--from-json``
RUN_ONLY = (("--seed", "seed"), ("--scale", "scale"), ("--jobs", "jobs"), ("--json", "json"),
            ("--markdown", "markdown"), ("--evidence", "evidence"), ("--update-readme", "update_readme"))


def _verify_options(args: argparse.Namespace) -> None:
    """``--from-json`` renders a saved report: an option that only a run reads is an error; otherwise the
    run options get their defaults (:data:`VERIFY_DEFAULTS`)."""
    if args.from_json:
        for flag, dest in RUN_ONLY:
            if getattr(args, dest) is not None:
                raise OSError(f"{flag} has no effect with --from-json (it renders a saved report and runs nothing; "
                              "only --html and --only apply)")
        return
    for dest, value in VERIFY_DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)


def _check_outputs(args: argparse.Namespace) -> None:
    """Every destination of the command, before any work (``OutputPathError`` -> exit 2)."""
    from .io import check_output_dir, check_output_file

    if args.cmd == "verify":
        _verify_options(args)
        for flag, path in (("--json", args.json), ("--markdown", args.markdown)):
            if path:
                check_output_file(path, what=f"{flag} file")
        if args.html:
            check_output_dir(args.html, what="--html directory")
            check_output_file(Path(args.html) / "index.html", what="--html page")  # DIR/index.html a directory
        if args.from_json and not args.html:
            raise OSError("--from-json renders a saved report and needs --html DIR")
        if args.from_json and not Path(args.from_json).is_file():
            raise OSError(f"--from-json file {args.from_json} does not exist (it must be a verify --json report)")
        if args.from_json:  # its contents too, before --html DIR is created (ValueError names file and field)
            from .html_report import load_report_json

            load_report_json(args.from_json)
        if args.update_readme:
            p = Path(args.update_readme)
            if not p.is_file():
                raise OSError(f"--update-readme file {p} does not exist (it must be the README to update)")
            check_output_file(p, what="--update-readme file")
        if args.evidence and not Path(args.evidence).is_dir():
            raise OSError(f"--evidence directory {args.evidence} does not exist (it must hold a run's files)")
    elif args.cmd in ("plot", "experiment"):
        if args.out is not None and not args.out.strip():
            raise OSError("--out must name a directory, got an empty string")
        if getattr(args, "from_json", None) is not None and not Path(args.from_json).is_file():
            raise OSError(f"--from-json file {args.from_json} does not exist (it must be a verify --json report)")
        out = args.out or (Path("results" if args.cmd == "experiment" else "plots") / args.name)
        check_output_dir(out, what="--out directory")
        from .evidence import in_package_tree

        if in_package_tree(out):  # the pinned evidence changes only through `attnverify promote`
            raise OSError(f"--out directory {out} is inside the package tree; write to results/{args.name} and "
                          "promote a run to evidence with `attnverify promote`")


def _setup() -> None:
    from .precision import enable_x64

    enable_x64()  # verification is float64 throughout; documented in README and precision.py


def _use_evidence(directory: str | None) -> None:
    """``--evidence DIR``: a user's run replaces pinned files (workers inherit the environment); without
    it nothing but the pinned files decides."""
    import os

    from .evidence import EVIDENCE_ENV

    if directory:
        os.environ[EVIDENCE_ENV] = str(Path(directory).resolve())
    else:
        os.environ.pop(EVIDENCE_ENV, None)


def _cmd_promote(args: argparse.Namespace) -> int:
    from .promote import promote

    pin = promote(args.run_file, args.dest, claims=args.claims, command=args.command, schema=args.schema, protocol=args.protocol)
    print(f"promoted {args.run_file} -> {pin.file} (sha256 {pin.sha256}); pinned for {', '.join(pin.claims)}; "
          "commit the file and experiments/evidence_manifest.json together")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.from_json:  # re-render a saved report as HTML, running nothing
        from .html_report import load_report_json, select_claims, write_html_report

        data = select_claims(load_report_json(args.from_json), args.only, source=args.from_json)
        print(f"wrote {write_html_report(data, args.html)}")
        return 0
    from ._runner import run_claims
    from .progress import progress
    from .report import evidence_table, summary_table, update_readme_table, write_reports

    _use_evidence(args.evidence)
    report = run_claims(
        args.only,
        seed=args.seed,
        scale=args.scale,
        wrap=lambda cs: progress(cs, desc="verifying claims", total=len(cs)),
        jobs=args.jobs,
    )
    print(summary_table(report))
    print(evidence_table(report))
    written = write_reports(report, args.json, args.markdown)
    if args.html:
        from .html_report import write_html_report

        written.append(write_html_report(report, args.html))
    if args.update_readme:
        update_readme_table(args.update_readme, report)
        written.append(Path(args.update_readme))
    for p in written:
        print(f"wrote {p}")
    for r in report.failed:
        print(f"\nFAILED {r.claim.id}: {r.message.strip().splitlines()[-1] if r.message.strip() else 'check failed'}", file=sys.stderr)
    return 1 if report.failed else 0


def _cmd_list(args: argparse.Namespace) -> int:
    from ._registry import claims, discover, experiments, plots

    discover()
    for c in claims(args.only):
        print(f"{c.id:50s} {c.provenance.value:8s} {c.paper}, {c.equation}")
    print("\nexperiments: " + ", ".join(experiments()))
    print("plots: " + ", ".join(plots()))
    return 0


def _cmd_task(args: argparse.Namespace, kind: str) -> int:
    from ._registry import discover, experiments, plots
    from .io import atomic_write_json

    discover()
    table = experiments() if kind == "experiment" else plots()
    if args.name not in table:
        print(f"attnverify {kind}: unknown {kind} {args.name!r}; available: {', '.join(table) or 'none'}", file=sys.stderr)
        return 2
    out = Path(args.out or (Path("results" if kind == "experiment" else "plots") / args.name))
    fn, extra = table[args.name].fn, {}
    if getattr(args, "devices", 1) != 1 or "devices" in inspect.signature(fn).parameters:
        if "devices" not in inspect.signature(fn).parameters:
            print(f"attnverify {kind}: {args.name!r} does not take --devices", file=sys.stderr)
            return 2
        extra["devices"] = args.devices
    if getattr(args, "from_json", None) is not None:
        if "from_json" not in inspect.signature(fn).parameters:
            print(f"attnverify {kind}: {args.name!r} does not take --from-json", file=sys.stderr)
            return 2
        extra["from_json"] = args.from_json
        check = getattr(fn, "check_from_json", None)  # the report's contents, before --out is created
        if check is not None:
            check(args.from_json)
    out.mkdir(parents=True, exist_ok=True)  # after every usage check: a refused command leaves no directory
    t0 = time.perf_counter()
    result = fn(out, quick=args.quick, seed=args.seed, **extra) or {}
    seconds = time.perf_counter() - t0
    if kind == "experiment":
        from .environment import environment

        atomic_write_json(out / "run.json", {"name": args.name, "quick": args.quick, "seed": args.seed, "seconds": seconds,
                                             "environment": environment()})
    files = result.get("files", []) if isinstance(result, dict) else []
    for f in files:
        print(f"wrote {f}")
    print(f"{kind} {args.name} done in {seconds:.1f} s; output in {out}")
    return 0


def _positive(text: str) -> int:
    """argparse type of ``--devices`` and ``--jobs``: an integer in [1, 4096]."""
    return _int_arg(text, 1, 4096)


def _list_names_in_help(parser: argparse.ArgumentParser, kind: str) -> None:
    """``attnverify plot --help`` / ``experiment --help`` end with the registered names and their help
    (the registry is imported only when the help is printed)."""
    base = parser.format_help

    def format_help() -> str:
        from ._registry import discover, experiments, plots

        discover()
        table = experiments() if kind == "experiment" else plots()
        rows = "\n".join(f"  {name:18s} {task.help}" for name, task in table.items())
        return f"{base()}\n{kind}s:\n{rows}\n"

    parser.format_help = format_help  # type: ignore[method-assign]


def build_parser() -> argparse.ArgumentParser:
    from attnverify import __version__

    p = argparse.ArgumentParser(prog="attnverify", description="Claim-by-claim verification of the mathematics of attention outputs.")
    p.add_argument("--version", action="version", version=f"attnverify {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="cmd", required=True)

    v = sub.add_parser("verify", help="run every registered claim and write reports")
    v.add_argument("--only", metavar="GLOB", default=None, help="claim-id glob, e.g. 'topk*' or 'geometry.*'")
    v.add_argument("--seed", type=_seed, default=None, help="integer in [0, 2**32 - 1] (default 0)")
    v.add_argument("--scale", type=_scale, default=None, help="instance-count multiplier, finite and > 0 (default 1.0 = full)")
    v.add_argument("--jobs", type=_positive, default=None, metavar="N",
                   help="run the claims in N worker processes, one area at a time each (same verdicts; default 1)")
    v.add_argument("--json", metavar="PATH", type=_path, default=None,
                   help=f"machine-readable report: every claim, verdict and evidence (default {VERIFY_DEFAULTS['json']})")
    v.add_argument("--markdown", metavar="PATH", type=_path, default=None,
                   help=f"the report as a Markdown table (default {VERIFY_DEFAULTS['markdown']})")
    v.add_argument("--update-readme", metavar="PATH", type=_path, default=None, help="rewrite the claims table in this README")
    v.add_argument("--evidence", metavar="DIR", type=_path, default=None,
                   help="decide from your own run in DIR instead of the pinned files it replaces (verdicts marked unpinned)")
    v.add_argument("--html", metavar="DIR", type=_path, default=None,
                   help="also write DIR/index.html: the self-contained verdict report (opens from disk, no network)")
    v.add_argument("--from-json", metavar="PATH", type=_path, default=None,
                   help="with --html: render this verify --json report instead of running claims (--only filters its claims)")
    v.set_defaults(func=_cmd_verify)

    pr = sub.add_parser("promote", help="make a run's file the pinned evidence: copy it into the tree and update the manifest")
    pr.add_argument("run_file", help="the file an experiment wrote, e.g. results/gating/results.json")
    pr.add_argument("dest", help="its repository path, e.g. experiments/gating/reference/results.json")
    pr.add_argument("--claims", metavar="GLOB", action="append", default=None, help="claim-id glob that reads it (new pins; repeatable)")
    pr.add_argument("--command", metavar="CMD", default=None, help="the command that reproduces it (new pins)")
    pr.add_argument("--schema", metavar="NAME", default=None, help="the validator of the file (proofs_numeric.validate)")
    pr.add_argument("--protocol", metavar="TEXT", default=None, help="the protocol, when the file does not record it")
    pr.set_defaults(func=_cmd_promote)

    ls = sub.add_parser("list", help="list registered claims, experiments and plots")
    ls.add_argument("--only", metavar="GLOB", default=None, help="list only the claims whose id matches, e.g. 'topk*'")
    ls.set_defaults(func=_cmd_list)

    for kind, default in (("plot", "plots/NAME"), ("experiment", "results/NAME")):
        t = sub.add_parser(kind, help=f"run a registered {kind}", formatter_class=argparse.RawDescriptionHelpFormatter)
        t.add_argument("name", help=f"which {kind} (listed below)")
        _list_names_in_help(t, kind)
        t.add_argument("--out", metavar="DIR", type=_path, default=None, help=f"output directory (default {default})")
        t.add_argument("--quick", action="store_true", help="reduced version (what the test suite runs)")
        t.add_argument("--seed", type=_seed, default=0, help="integer in [0, 2**32 - 1]")
        if kind == "plot":
            t.add_argument("--from-json", metavar="PATH", type=_path, default=None,
                           help="plots that draw a report (verdicts): the verify --json file (default: the checkout's reports/verify.json)")
        if kind == "experiment":
            t.add_argument("--devices", type=_positive, default=1, metavar="N",
                           help="shard attention rows over N devices (experiments that accept it; default 1)")
        t.set_defaults(func=lambda a, kind=kind: _cmd_task(a, kind))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # bad arguments: argparse exits 2 here, before any work
    try:
        _check_outputs(args)
    except (OSError, ValueError) as e:
        print(f"attnverify {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    _setup()
    try:
        return int(args.func(args))
    except (ValueError, KeyError) as e:
        print(f"attnverify {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. a full disk while writing: one line, no traceback
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        print(f"attnverify {args.cmd}: error: cannot write{where}: {e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
