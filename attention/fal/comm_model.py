r"""A communication model of a tensor-parallel training step: what FAL's saved all-reduces buy (C6, C8).

Step time of a variant with $n$ activation all-reduces of $M=B\,T\,d\cdot\text{bytes}$ each at TP
degree $p$ (no overlap of communication with compute):

$$t_{\rm step}=t_{\rm comp}+n\,t_{\rm ar},\qquad
t_{\rm ar}=2\,\frac{p-1}{p}\,\frac{M}{\eta\,\mathrm{BW}}+2(p-1)\,\alpha$$

(ring all-reduce: $2(p-1)$ steps of $M/p$ bytes, each paying the link latency $\alpha$). FAL's
predicted saving over the baseline is
$$S=\frac{(n_{\rm base}-n_{\rm FAL})\,t_{\rm ar}}{t_{\rm comp}+n_{\rm base}t_{\rm ar}}
=\varphi\Big(1-\frac{n_{\rm FAL}}{n_{\rm base}}\Big),\qquad
\varphi=\frac{n_{\rm base}t_{\rm ar}}{t_{\rm comp}+n_{\rm base}t_{\rm ar}}\ \text{(baseline comm. fraction)},$$
so $S\to c(N)=1-n_{\rm FAL}/n_{\rm base}$ as $\varphi\to1$: $c=\frac{N-1}{2N}$ (forward only),
$\frac{2N-3}{4N}$ (forward+backward, one $f$ per block: $N+2$ backward all-reduces),
$\frac{N-1}{2N}$ (forward+backward with the cotangent of $\bar A_1$ folded, $N+1$:
:mod:`~attention.fal.folded`), $\frac{N-1}{4N}$ (default autodiff). A saving $S^\star$ needs
$\varphi\ge S^\star/c(N)$; at $N=12$, $c=7/16=43.75\,\%<44\,\%$ under the $N+2$ schedule but
$11/24=45.8\,\%$ under the $N+1$ one ($\varphi\ge0.96$).

**Interconnects** (:data:`LINKS`; bandwidth per direction, stated sources):

* PCIe 4.0 x16: 16 GT/s per lane x 16 lanes x 128/130 encoding = 31.5 GB/s (PCI-SIG, PCI Express
  Base Specification 4.0);
* NVLink 4 (H100 SXM): 900 GB/s total bidirectional per GPU = 450 GB/s per direction (NVIDIA H100
  Tensor Core GPU datasheet, 2022);
* efficiency $\eta=0.8$ of nominal (NCCL's reported bus bandwidth for large all-reduces stays below
  nominal) and per-step latency $\alpha$ = 5 µs (PCIe) / 2 µs (NVLink): assumptions [open], exposed as
  parameters.

**Compute** (:func:`gpt2_step_flops`): $6\,P_{\rm nonemb}+6\,V d+12\,N T d$ FLOPs per token for
forward + backward (Kaplan et al. 2020, $C\approx6N$ plus attention and unembedding), split over
$p$ GPUs at an achieved throughput ``flops_per_s`` (default: A100 bf16 dense peak 312 TFLOP/s x MFU
0.4, an assumption [open]); or a *measured* step time (:func:`measure_step_time`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np

from attnverify.proofs_numeric.precision import check_int, check_real

from .tp_step import allreduce_law

__all__ = ["PAPER_SAVING", "comm_counts", "savings_grid", "Link", "LINKS", "GPT2_SHAPES", "ring_allreduce_time", "gpt2_step_flops", "predicted_saving",
           "saving_ceiling", "required_comm_fraction", "measure_step_time"]


#: the paper's headline: "up to 44 %" less multi-GPU training time (spec section 4)
PAPER_SAVING = 0.44


@dataclasses.dataclass(frozen=True)
class Link:
    """An interconnect: nominal ``bandwidth`` per direction (bytes/s), ``efficiency`` and ring-step ``latency`` (s)."""

    name: str
    bandwidth: float
    latency: float
    efficiency: float = 0.8
    source: str = ""

    def __post_init__(self) -> None:
        if not (self.bandwidth > 0 and self.latency >= 0 and 0 < self.efficiency <= 1):
            raise ValueError(f"need bandwidth > 0, latency >= 0, 0 < efficiency <= 1, got {self}")


LINKS = {
    "PCIe 4.0 x16": Link("PCIe 4.0 x16", 16e9 * 16 * 128 / 130 / 8, 5e-6,
                         source="PCI-SIG PCIe Base Spec 4.0: 16 GT/s/lane, 128b/130b"),
    "NVLink 4": Link("NVLink 4", 450e9, 2e-6, source="NVIDIA H100 datasheet: 900 GB/s bidirectional per GPU"),
}

#: GPT-2 small / medium / large: (N blocks, d, heads); vocabulary 50257, context 1024 (Radford et al. 2019)
GPT2_SHAPES = {"GPT-2 small": (12, 768, 12), "GPT-2 medium": (24, 1024, 16), "GPT-2 large": (36, 1280, 20)}


def ring_allreduce_time(nbytes: float, p: int, link: Link) -> float:
    r"""$2\frac{p-1}{p}\frac{M}{\eta\,\mathrm{BW}}+2(p-1)\alpha$ seconds for $M$ = ``nbytes`` over ``p`` devices."""
    check_int(p, "p", minimum=1)
    check_real(nbytes, "nbytes", nonnegative=True)
    if not isinstance(link, Link):
        raise TypeError(f"link must be a Link (e.g. LINKS['nvlink']), got {type(link).__name__}")
    return 2 * (p - 1) / p * nbytes / (link.efficiency * link.bandwidth) + 2 * (p - 1) * link.latency


def gpt2_step_flops(n_blocks: int, d: int, tokens: int, seq: int = 1024, vocab: int = 50257) -> float:
    r"""Forward + backward FLOPs of a step: ``tokens`` $\times(6\cdot12Nd^2+6Vd+12NTd)$ (MLP $4d$)."""
    for name, v in (("n_blocks", n_blocks), ("d", d), ("tokens", tokens), ("seq", seq), ("vocab", vocab)):
        check_int(v, name, minimum=1)
    return float(tokens) * (6 * 12 * n_blocks * d * d + 6 * vocab * d + 12 * n_blocks * seq * d)


def predicted_saving(t_comp: float, n_base: int, n_fal: int, t_ar: float) -> dict[str, float]:
    """``{"saving": S, "phi": baseline communication fraction, "t_base": s, "t_fal": s}``."""
    check_real(t_comp, "t_comp", nonnegative=True)
    check_real(t_ar, "t_ar", nonnegative=True)
    _check_counts(n_base, n_fal)
    if t_comp + n_base * t_ar == 0:
        raise ValueError("t_comp and t_ar are both 0: the baseline step takes no time and the saving is undefined")
    t_base, t_fal = t_comp + n_base * t_ar, t_comp + n_fal * t_ar
    return {"saving": 1 - t_fal / t_base, "phi": n_base * t_ar / t_base, "t_base": t_base, "t_fal": t_fal}


def saving_ceiling(n_base: int, n_fal: int) -> float:
    """$c=1-n_{\\rm FAL}/n_{\\rm base}$: the saving when communication is the whole step."""
    _check_counts(n_base, n_fal)
    return 1 - n_fal / n_base


def _check_counts(n_base: Any, n_fal: Any) -> None:
    """All-reduce counts: integers with ``0 <= n_fal <= n_base`` and ``n_base >= 1``."""
    n_base = check_int(n_base, "n_base", minimum=1)
    check_int(n_fal, "n_fal", minimum=0, maximum=n_base)


def required_comm_fraction(target: float, n_base: int, n_fal: int) -> float:
    """Smallest baseline communication fraction $\\varphi$ with saving $\\ge$ ``target`` (> 1: unreachable)."""
    target = check_real(target, "target", nonnegative=True)
    if target > 1:
        raise ValueError(f"target must be a saving in [0, 1], got {target}")
    c = saving_ceiling(n_base, n_fal)
    return target / c if c > 0 else (0.0 if target == 0 else float("inf"))


def measure_step_time(step: Any, args: tuple, n_steps: int = 20, warmup: int = 2) -> dict[str, Any]:
    """Median and all wall times (s) of ``n_steps`` calls of a jitted ``step(*args) -> (*args', loss)``
    (its outputs are fed back), after ``warmup`` calls; each call is waited for."""
    check_int(n_steps, "n_steps", minimum=1)
    check_int(warmup, "warmup", minimum=0)
    if not callable(step):
        raise TypeError(f"step must be a callable step(*args) -> (*args', loss), got {type(step).__name__}")
    times = []
    for i in range(warmup + n_steps):
        t0 = time.perf_counter()
        out = step(*args)
        jax.block_until_ready(out)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        args = (*out[:-1], *args[len(out) - 1:])
    return {"median_s": float(np.median(times)), "times_s": times}


def comm_counts(n_blocks: int) -> dict[str, int]:
    r"""Activation all-reduces per step (forward + backward) at depth ``n_blocks`` from the C4/C5 laws
    (:func:`~attention.fal.tp_step.allreduce_law`), which the study checks against the counted
    tensors of the real training step and the claims check for $N\le6$: baseline, FAL (default
    autodiff), FAL (one $f$ per block, $N+2$ backward), FAL with the folded schedule ($N+1$), and the
    forward-only counts."""
    law = lambda name: allreduce_law(name, n_blocks)
    tot = lambda name: law(name)["fwd"] + law(name)["bwd_act"]
    return {"baseline": tot("baseline"), "fal_auto": tot("fal"), "fal_one_f": tot("fal_shared_ln_output"), "fal_folded": tot("fal_folded"),
            "fal_fwd_only": law("fal")["fwd"], "baseline_fwd_only": law("baseline")["fwd"]}


def savings_grid(tps=(2, 4, 8), tokens: int = 8192, seq: int = 1024, bytes_per: int = 2,
                 flops_per_s: float = 312e12 * 0.4) -> list[dict[str, Any]]:
    """Predicted FAL saving for every GPT-2 shape x TP degree x link (``tokens`` per step, bf16 activations)."""
    if not hasattr(tps, "__iter__") or not tps:
        raise ValueError(f"tps must be a non-empty sequence of TP degrees, got {tps!r}")
    for tp in tps:
        check_int(tp, "tps", minimum=1)
    check_int(bytes_per, "bytes_per", minimum=1)
    check_real(flops_per_s, "flops_per_s", positive=True)
    rows = []
    for name, (N, d, _h) in GPT2_SHAPES.items():
        counts = comm_counts(N)
        t_comp_1 = gpt2_step_flops(N, d, tokens, seq) / flops_per_s
        for tp in tps:
            for link in LINKS.values():
                t_ar = ring_allreduce_time(tokens * d * bytes_per, tp, link)
                one_f = predicted_saving(t_comp_1 / tp, counts["baseline"], counts["fal_one_f"], t_ar)
                auto = predicted_saving(t_comp_1 / tp, counts["baseline"], counts["fal_auto"], t_ar)
                folded = predicted_saving(t_comp_1 / tp, counts["baseline"], counts["fal_folded"], t_ar)
                rows.append({"model": name, "N": N, "d": d, "tp": tp, "link": link.name, "t_comp_s": t_comp_1 / tp,
                             "t_allreduce_s": t_ar, "n_base": counts["baseline"], "n_fal_one_f": counts["fal_one_f"],
                             "n_fal_auto": counts["fal_auto"], "phi": one_f["phi"], "saving_one_f": one_f["saving"],
                             "saving_auto": auto["saving"], "ceiling_one_f": saving_ceiling(counts["baseline"], counts["fal_one_f"]),
                             "n_fal_folded": counts["fal_folded"], "saving_folded": folded["saving"],
                             "ceiling_folded": saving_ceiling(counts["baseline"], counts["fal_folded"]),
                             "ceiling_fwd": saving_ceiling(counts["baseline_fwd_only"], counts["fal_fwd_only"])})
    return rows
