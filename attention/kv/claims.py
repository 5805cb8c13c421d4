r"""OBCache claims (``docs/papers/obcache.md``, C1-C5, C8): the scores and exact errors of
:mod:`._obcache` against brute-force recomputation, ``jax.hessian`` and sympy.

Instances: batches of heads over a few fixed shapes (one compilation each). The checks call the
functions through the :mod:`._obcache` module, so a monkeypatched formula there is what gets checked.
Registered claims: ``obcache.value_score_exact``, ``obcache.exact_perturbation_closed_forms``,
``obcache.key_score_second_order``, ``obcache.joint_score_second_order``.

Example::

    from attnverify import proofs_numeric as pn
    pn.run_claim(pn.get_claim("obcache.value_score_exact"), scale=0.01).verdict
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from attnverify import proofs_numeric as pn

from . import perturbation as _ob

__all__: list[str] = []


_SHAPE = (8, 40, 16, 16)  # (w, n, d, dv): one shape, one compilation per check; sizes vary through masks
_ADV = ("peaked", "tiny_values", "huge_values", "equal_values", "zero_queries", "random_mask", "near_one_hot", "single_key")


def _heads(rng: np.random.Generator, heads: int, kind: str = "random", shape: tuple[int, ...] = _SHAPE):
    """``heads`` attention heads (q [H,w,d], k [H,n,d], v [H,n,dv], mask [H,w,n]) of a given kind. Random
    heads mix full, causal (last $w$ rows) and random-column masks (effective $n$ from 1 to $n$)."""
    w, n, d, dv = shape
    q = rng.normal(size=(heads, w, d)) * rng.uniform(0.3, 3.0, (heads, 1, 1))
    k, v = rng.normal(size=(heads, n, d)), rng.normal(size=(heads, n, dv)) * rng.uniform(0.2, 5.0, (heads, 1, 1))
    mask = np.broadcast_to(np.arange(n)[None, :] <= np.arange(n - w, n)[:, None], (heads, w, n)).copy()
    if kind == "random":
        third = heads // 3
        mask[:third] = True
        cols = rng.random((heads - 2 * third, 1, n)) < rng.uniform(0.05, 1.0, (heads - 2 * third, 1, 1))
        cols[..., int(rng.integers(n))] = True
        mask[2 * third :] = np.broadcast_to(cols, (heads - 2 * third, w, n))
    elif kind == "peaked":
        q *= 12.0
    elif kind == "tiny_values":
        v *= 1e-6
    elif kind == "huge_values":
        v *= 1e4
    elif kind == "equal_values":
        v[:] = v[:, :1]
    elif kind == "zero_queries":
        q[:] = 0.0
    elif kind == "random_mask":
        mask = rng.random((heads, w, n)) < 0.4
        mask[:, :, 0] = True
    elif kind == "near_one_hot":  # one key dominates every row (a_i -> 1, logit gaps of tens)
        k[:, 3] = 6.0 * q.mean(1)
        mask[:] = True
    elif kind == "single_key":  # a_i = 1: removal is +inf, zeroing stays finite
        mask[:] = False
        mask[:, :, 5] = True
    return q, k, v, mask


def _instances(rng: np.random.Generator, count: int):
    """Yield ``(adversarial?, q, k, v, mask)`` batches: ``count`` random heads, then 4 heads per adversarial kind.
    Valid while no probability underflows to 0 beside a dominant key (logit gaps below ~700 in float64)."""
    yield False, *_heads(rng, count)
    for kind in _ADV:
        yield True, *_heads(rng, 4, kind)


def _rel(a, b, q, k, v, m) -> np.ndarray:
    r"""Per-token relative error $|a-b|/\max(|b|,10^{-6}\|O_{\mathcal W}\|_F^2)$: errors below a millionth of the
    window's output energy (where a brute-force difference of outputs loses digits) are measured
    against that energy. 0 when both are $+\infty$."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    energy = np.sum(np.asarray(_ob.window_attention(q, k, v, m).out) ** 2, axis=(-2, -1))[..., None]
    same = (a == b) | (np.isinf(a) & np.isinf(b))
    with np.errstate(invalid="ignore"):
        return np.where(same, 0.0, np.abs(a - b) / np.maximum(np.abs(b), 1e-6 * energy)).ravel()


def _softmax_model(n: int = 3):
    """Sympy model of one query row with scalar values: logits, values, $a_p$ and $o$."""
    import sympy as sp

    z, v = sp.symbols(f"z0:{n}", real=True), sp.symbols(f"v0:{n}", real=True)
    den = sum(sp.exp(x) for x in z)
    o = sum(sp.exp(x) * y for x, y in zip(z, v)) / den
    return z, v, [sp.exp(x) / den for x in z], o, den


def _symbolic_second_order(joint: bool):
    r"""$\tfrac12\partial_\epsilon^2\mathcal L$ at 0 along $z_0\to(1-\epsilon)z_0$ (and $v_0\to(1-\epsilon)v_0$) equals
    $a^2z^2r^2$ (resp. $(av_0+azr)^2$), $r=v_0-o$: the OBD term along $\delta=-k_p$ or $-(v_p,k_p)$."""
    import sympy as sp

    z, v, a, o, _ = _softmax_model()
    eps = sp.Symbol("epsilon")
    subs = {z[0]: (1 - eps) * z[0], **({v[0]: (1 - eps) * v[0]} if joint else {})}
    loss = (o.subs(subs, simultaneous=True) - o) ** 2
    half_hess = sp.diff(loss, eps, 2).subs(eps, 0) / 2
    closed = (a[0] * v[0] + a[0] * z[0] * (v[0] - o)) ** 2 if joint else (a[0] * z[0] * (v[0] - o)) ** 2
    return sp.simplify(half_hess - closed) == 0


def _symbolic_exact_forms():
    r"""Zeroing $v_0$, setting $z_0=0$ and removing token 0 give the closed forms (one row, $n=3$)."""
    import sympy as sp

    z, v, a, o, den = _softmax_model()
    e = sp.exp(-z[0]) * a[0]
    d = 1 - a[0] + e
    key = o.subs(z[0], 0) - o - (e - a[0]) / d * (v[0] - o)
    joint = o.subs({z[0]: 0, v[0]: 0}, simultaneous=True) - (o - a[0] * v[0]) / d
    rem = sum(sp.exp(x) * y for x, y in zip(z[1:], v[1:])) / (den - sp.exp(z[0])) - o - a[0] / (1 - a[0]) * (o - v[0])
    val = o.subs(v[0], 0) - o + a[0] * v[0]
    return all(sp.simplify(x) == 0 for x in (key, joint, rem, val))


@pn.claim(
    "obcache.value_score_exact", paper="obcache", equation="§2.2-2.3, C2",
    statement=r"S^V_p=\|v_p\|^2\sum_{i\in\mathcal W}a_i^2=\sum_{i\in\mathcal W}\|\hat o_i(v_p{=}0)-o_i\|^2",
    provenance="derived", tolerance=1e-11, error="rel", symbolic=_symbolic_exact_forms, symbolic_kind="derivation",
)
def _value_score_exact(ctx: pn.Context) -> pn.Evidence:
    """The value score is the exact value-zeroing error at any magnitude (not only to second order):
    closed form against brute-force recomputation of the window outputs with $v_p=0$, every token."""
    errs: dict[bool, list] = {False: [], True: []}
    for adv, q, k, v, m in _instances(ctx.rng, ctx.count(256)):
        s = _ob.obcache_scores(_ob.window_attention(q, k, v, m), v).value
        errs[adv].append(_rel(s, _ob.perturbation_errors_bruteforce(q, k, v, m, "value"), q, k, v, m))
    return pn.Evidence.from_errors(np.concatenate(errs[False]), np.concatenate(errs[True]))


@pn.claim(
    "obcache.exact_perturbation_closed_forms", paper="obcache", equation="§2.3, C5",
    statement=r"E^K_p=\sum_i\tfrac{(e_i-a_i)^2}{D_i^2}\|r_i\|^2,\ E^{VK}_p=\sum_i\|\tfrac{o_i-a_iv_p}{D_i}-o_i\|^2,\ E^{\rm rm}_p=\sum_i\tfrac{a_i^2}{(1-a_i)^2}\|r_i\|^2",
    provenance="derived", tolerance=1e-9, error="rel", symbolic=_symbolic_exact_forms, symbolic_kind="derivation",
)
def _exact_closed_forms(ctx: pn.Context) -> pn.Evidence:
    """The exact errors of zeroing the key (logit 0, the key stays in the softmax), zeroing key and
    value, and true removal with renormalisation equal brute-force recomputation, every token."""
    errs: dict[bool, list] = {False: [], True: []}
    for adv, q, k, v, m in _instances(ctx.rng, ctx.count(256)):
        ex = _ob.exact_errors(_ob.window_attention(q, k, v, m), v)
        for kind in ("key", "joint", "removal"):
            errs[adv].append(_rel(getattr(ex, kind), _ob.perturbation_errors_bruteforce(q, k, v, m, kind), q, k, v, m))
    return pn.Evidence.from_errors(np.concatenate(errs[False]), np.concatenate(errs[True]))


_batched_second_order = jax.jit(jax.vmap(jax.vmap(_ob._second_order.__wrapped__, (None, None, None, None, 0)), (0, 0, 0, 0, None)))


def _second_order_check(ctx: pn.Context, kinds: tuple[str, ...]) -> pn.Evidence:
    errs: dict[bool, list] = {False: [], True: []}
    grads, neg = [], 0.0
    for adv, q, k, v, m in _instances(ctx.rng, ctx.count(96)):
        s = _ob.obcache_scores(_ob.window_attention(q, k, v, m), v)
        h = _batched_second_order(*(jnp.asarray(x) for x in (q, k, v, m)), jnp.arange(k.shape[1]))
        errs[adv] += [_rel(getattr(s, kind), h[kind], q, k, v, m) for kind in kinds]
        grads.append(float(jnp.max(h["grad"])))
        scale = float(jnp.max(jnp.abs(s.joint))) or 1.0
        neg = max(neg, float(-jnp.min(s.joint)) / scale)
    details = {"max_grad_norm_at_cache": max(grads), "max_negative_joint_rel": neg}
    return pn.Evidence.from_errors(np.concatenate(errs[False]), np.concatenate(errs[True]), details=details)


@pn.claim(
    "obcache.key_score_second_order", paper="obcache", equation="§2.1-2.2, C1, C3",
    statement=r"S^K_p=\sum_ia_i^2z_i^2\|v_p-o_i\|^2=\tfrac12\delta^\top\nabla^2_{k_p}\mathcal L\,\delta,\ \delta=-k_p",
    provenance="derived", tolerance=1e-8, error="rel", symbolic=lambda: _symbolic_second_order(False), symbolic_kind="derivation",
)
def _key_second_order(ctx: pn.Context) -> pn.Evidence:
    r"""The key score is the second-order (OBD) term of the exact key-zeroing error: ``jax.hessian`` of
    $\\mathcal L$ restricted to token $p$'s $(v_p,k_p)$ block, every token; the gradient there is 0."""
    return _second_order_check(ctx, ("key",))


@pn.claim(
    "obcache.joint_score_second_order", paper="obcache", equation="§2.1-2.2, C4",
    statement=r"S^{VK}_p=S^V_p+S^K_p+S^\times_p=\tfrac12\delta^\top\nabla^2_{(v_p,k_p)}\mathcal L\,\delta\ge0,\ \delta=-(v_p,k_p)",
    provenance="derived", tolerance=1e-8, error="rel", symbolic=lambda: _symbolic_second_order(True), symbolic_kind="derivation",
)
def _joint_second_order(ctx: pn.Context) -> pn.Evidence:
    r"""The joint score (with the cross term, which can be negative) is the second-order term of zeroing
    both key and value, from the full Hessian block including $\\partial^2/\\partial v\\partial k$; and the
    value score is the same quadratic form along $\\delta=-v_p$."""
    return _second_order_check(ctx, ("joint", "value"))
