r"""Run claims in worker processes: ``attnverify verify --jobs N``.

Most of ``verify``'s time is spent in single-threaded work (tracing, XLA compilation, Python
loops), so on a machine with $c$ cores, $N\le c$ worker processes cut its wall time by up to
a factor $N$. The verdicts do not change: every check draws its instances from
:attr:`Context.rng`, seeded by ``(seed, claim id)`` alone, so a claim's evidence does not depend on
which process runs it or on what ran before it.

**Scheduling.** Claims are sent to the workers in *groups*, one per area (``topk``, ``geometry``,
...): claims of one area share per-process caches (a trained study, a loaded model), and splitting
them would compute those twice. Groups go largest first to whichever worker is free (longest
processing time first, with the claim count as the cost estimate).

**Workers** are started with ``spawn`` (JAX is not fork-safe), enable float64 when the parent has
it on, import every claim module (:func:`~proofs_numeric.discover`) and send each result back as
soon as it is ready, so the progress bar moves claim by claim. A claim that is not importable in a
worker (registered at run time, e.g. by a test) or a worker that dies gives the verdict ``failed``
with the reason; the run still reports every other claim.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ._claim import Claim, Verdict

__all__ = ["claim_groups", "run_parallel"]

_Payload = tuple[str, str, Any, str, float, str]  # id, verdict, evidence, symbolic, seconds, message


def claim_groups(selected: Sequence[Claim]) -> list[list[str]]:
    """Claim ids grouped by area, the largest group first (ties: registry order)."""
    groups: dict[str, list[str]] = {}
    for c in selected:
        groups.setdefault(c.area, []).append(c.id)
    return sorted(groups.values(), key=len, reverse=True)


def _init_worker(x64: bool) -> None:
    if x64:
        from .precision import enable_x64

        enable_x64()
    from ._registry import discover

    discover()


def _run_group(ids: list[str], seed: int, scale: float, out: Any, run_claim: Callable[..., Any]) -> int:
    """Worker side: run each claim of ``ids`` with ``run_claim`` and put its result on the ``out`` queue."""
    from ._registry import _CLAIMS

    for cid in ids:
        c = _CLAIMS.get(cid)
        if c is None:
            out.put((cid, Verdict.FAILED.value, None, "n/a", 0.0, "claim is not registered in a worker process "
                     "(claims registered at run time need --jobs 1)"))
            continue
        r = run_claim(c, seed=seed, scale=scale)
        try:
            out.put((cid, r.verdict.value, r.evidence, r.symbolic, r.seconds, r.message))
        except Exception as e:  # evidence that cannot be pickled: keep the verdict, say why
            out.put((cid, Verdict.FAILED.value, None, r.symbolic, r.seconds, f"evidence could not be sent back: {e}"))
    return len(ids)


def run_parallel(selected: Sequence[Claim], *, seed: int, scale: float, jobs: int,
                 run_claim: Callable[..., Any], make_result: Callable[..., Any],
                 on_result: Callable[[Any], None] | None = None) -> list[Any]:
    """Run ``selected`` in ``jobs`` worker processes; results in the order of ``selected``.

    ``run_claim`` (a module-level function, sent to the workers by name) runs one claim there;
    ``make_result(claim, verdict, evidence, symbolic, seconds, message)`` rebuilds its result in the
    parent; ``on_result`` is called with each result as it arrives (the CLI's progress bar). The
    runner passes its own ``run_claim`` and ``ClaimResult`` (this module does not import it)."""
    import jax

    by_id = {c.id: c for c in selected}
    results: dict[str, Any] = {}
    ctx = mp.get_context("spawn")

    def receive(p: _Payload) -> None:
        cid, verdict, evidence, sym, seconds, message = p
        r = make_result(by_id[cid], Verdict(verdict), evidence, sym, seconds, message)
        results[cid] = r
        if on_result:
            on_result(r)

    with ctx.Manager() as manager:
        out = manager.Queue()
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(bool(jax.config.jax_enable_x64),)) as pool:
            futures = [pool.submit(_run_group, g, seed, scale, out, run_claim) for g in claim_groups(selected)]
            pending = set(futures)
            while pending:
                try:
                    receive(out.get(timeout=0.5))
                except queue_mod.Empty:
                    pending = {f for f in pending if not f.done()}
            errors = [f.exception() for f in futures if f.exception() is not None]
        while True:  # results that arrived after the last future finished
            try:
                receive(out.get_nowait())
            except queue_mod.Empty:
                break
    why = f"worker process failed: {errors[0]!r}" if errors else "no result came back from the worker"
    for c in selected:
        if c.id not in results:
            receive((c.id, Verdict.FAILED.value, None, "n/a", 0.0, why))
    return [results[c.id] for c in selected]
