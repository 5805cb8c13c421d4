r"""OBCache: closed-form KV-eviction saliency scores and the exact perturbation errors they approximate.

Paper: Gu, Liang, Zhao, Diao, *OBCache: Optimal Brain KV Cache Pruning* (arXiv 2510.07651); spec
``../shared/papers/obcache.md`` §2.2-2.3. One layer, one head, a window $\mathcal W$ of $w$ query rows
over a cache of $n$ keys; every function is batched over leading (head) axes.

Notation (spec §1): raw, **unmasked**, scaled logits $Z_{ij}=q_i^\top k_j/\sqrt d$; attention
$A=\mathrm{softmax}(Z+M)$ with mask $M\in\{0,-\infty\}$; $o_i=\sum_jA_{ij}v_j$; for a token $p$:
$a_i=A_{ip}$, $z_i=Z_{ip}$, $r_i=v_p-o_i$. The objective is $\mathcal L=\sum_{i\in\mathcal W}\|\hat o_i-o_i\|^2$.

Scores (the OBD second-order term $\tfrac12\delta^\top H_{pp}\delta$, $\delta=-v_p$, $-k_p$ or both):

$$S^V_p=\|v_p\|^2\sum_ia_i^2,\quad S^K_p=\sum_ia_i^2z_i^2\|r_i\|^2,\quad
S^\times_p=2\sum_ia_i^2z_i(\|v_p\|^2-v_p^\top o_i),\quad S^{VK}_p=S^V_p+S^K_p+S^\times_p.$$

Exact errors (spec §2.3), with $e_i=a_ie^{-z_i}=e^{-\mathrm{lse}_i}$ and $D_i=1-a_i+e_i$:
zeroing $v_p$ gives $-a_iv_p$ ($E^V=S^V$); zeroing $k_p$ (logit $\to0$, the key stays in the
softmax) gives $\frac{e_i-a_i}{D_i}r_i$; zeroing both gives $\frac{o_i-a_iv_p}{D_i}-o_i$; true removal
gives $\frac{a_i}{1-a_i}(o_i-v_p)$, so $E^{\rm rm}_p=\sum_i\frac{a_i^2}{(1-a_i)^2}\|v_p-o_i\|^2$
($+\infty$ when some $a_i=1$).

Costs: scores and exact closed forms are $O(w\,n\,d)$ per head; the brute-force reference
:func:`perturbation_errors_bruteforce` is $O(w\,n^2d)$.

Example::

    att = window_attention(q, k, v, causal_mask(n, rows=jnp.arange(n - 16, n)))
    s = obcache_scores(att, v)          # s.value, s.key, s.cross, s.joint: [..., n]
    e = exact_errors(att, v)            # e.value, e.key, e.joint, e.removal: [..., n]
"""

from __future__ import annotations

import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "WindowAttention", "OBCacheScores", "ExactErrors", "PERTURBATIONS", "causal_mask", "window_attention",
    "obcache_scores", "exact_errors", "perturbation_errors_bruteforce", "second_order_autodiff",
]

PERTURBATIONS = ("value", "key", "joint", "removal")
Perturbation = Literal["value", "key", "joint", "removal"]


class WindowAttention(NamedTuple):
    """Attention of a query window: ``probs`` $A$ and raw unmasked scaled ``logits`` $Z$ [..., w, n],
    ``out`` $O$ [..., w, dv], log-partition ``lse`` [..., w], boolean ``mask`` [..., w, n] (True: visible)."""

    probs: jax.Array
    logits: jax.Array
    out: jax.Array
    lse: jax.Array
    mask: jax.Array


class OBCacheScores(NamedTuple):
    r"""Closed-form OBCache saliencies [..., n]: $S^V$, $S^K$, $S^\times$, $S^{VK}$."""

    value: jax.Array
    key: jax.Array
    cross: jax.Array
    joint: jax.Array


class ExactErrors(NamedTuple):
    r"""Exact $\sum_i\|\hat o_i-o_i\|^2$ per token [..., n] for zeroing $v_p$, $k_p$, both, and true removal."""

    value: jax.Array
    key: jax.Array
    joint: jax.Array
    removal: jax.Array


def _concrete(*xs) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def _validate(q, k, v, mask) -> None:
    """Shape, finiteness and mask checks at the Python boundary (skipped under tracing)."""
    if not _concrete(q, k, v, mask):
        return
    q, k, v = (np.asarray(x) for x in (q, k, v))
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"q, k, v must be [..., rows, dim]; got shapes {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"query dim {q.shape[-1]} != key dim {k.shape[-1]} (shapes {q.shape}, {k.shape})")
    if k.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"keys {k.shape} and values {v.shape} must agree on [..., n]")
    if q.shape[:-2] != k.shape[:-2]:
        raise ValueError(f"batch/head axes differ: q {q.shape[:-2]} vs k {k.shape[:-2]}")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{name} contains NaN/inf at index {tuple(int(i) for i in bad)}")
    if mask is not None:
        m = np.asarray(mask)
        want = q.shape[:-1] + k.shape[-2:-1]
        try:
            m = np.broadcast_to(m, want)
        except ValueError:
            raise ValueError(f"mask shape {np.shape(mask)} does not broadcast to [..., w, n] = {want}") from None
        empty = ~m.any(-1)
        if empty.any():
            raise ValueError(f"query row {tuple(int(i) for i in np.argwhere(empty)[0])} sees no key (mask all False)")


def causal_mask(n: int, rows: jax.Array | np.ndarray) -> jax.Array:
    r"""Boolean causal mask [w, n] for queries at positions ``rows`` over keys ``0..n-1`` ($j\le$ row)."""
    rows = jnp.asarray(rows)
    if _concrete(rows) and rows.size and (int(jnp.min(rows)) < 0 or int(jnp.max(rows)) >= n):
        raise ValueError(f"query positions must lie in [0, {n}); got range [{int(jnp.min(rows))}, {int(jnp.max(rows))}]")
    return jnp.arange(n)[None, :] <= rows[:, None]


@jax.jit
def _attend(q, k, v, mask) -> WindowAttention:
    scale = 1.0 / np.sqrt(q.shape[-1])
    z = jnp.einsum("...id,...jd->...ij", q, k) * scale
    m = jnp.ones(z.shape, bool) if mask is None else jnp.broadcast_to(mask, z.shape)
    zm = jnp.where(m, z, -jnp.inf)
    lse = jax.nn.logsumexp(zm, axis=-1)
    a = jnp.exp(zm - lse[..., None])
    return WindowAttention(a, z, jnp.einsum("...ij,...jd->...id", a, v), lse, m)


def window_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None = None) -> WindowAttention:
    r"""Attention of the window rows ``q`` [..., w, d] over ``k`` [..., n, d], ``v`` [..., n, dv].

    ``mask`` (bool, broadcastable to [..., w, n], True = visible; ``None`` = all visible) enters as
    $M\in\{0,-\infty\}$; the returned ``logits`` are raw and unmasked (spec pitfall 3). Dtype follows
    the inputs (use float64 for the identity checks). Raises ``ValueError`` on mismatched shapes,
    NaN/inf or a row that sees no key.
    """
    _validate(q, k, v, mask)
    return _attend(q, k, v, mask)


class _Residuals(NamedTuple):
    vn: jax.Array  # ||v_p||^2 [..., n]
    on: jax.Array  # ||o_i||^2 [..., w]
    r2: jax.Array  # ||v_p - o_i||^2 [..., w, n]
    vr: jax.Array  # v_p . (v_p - o_i)
    or_: jax.Array  # o_i . (v_p - o_i)
    one_minus: jax.Array  # 1 - a_ip


def _residuals(att: WindowAttention, v: jax.Array) -> _Residuals:
    r"""$r_{ip}=v_p-o_i$ terms in $O(w\,n\,d)$ without catastrophic cancellation: Gram expansions around the
    window's mean output, and, for each row's dominant token $t$ (the only one that can have
    $a_{it}>1/2$, where $o_i\approx v_t$), the exact $r_{it}=(1-a_{it})v_t-\sum_{j\ne t}a_{ij}v_j$."""
    a, o = att.probs, att.out
    vn, on = jnp.sum(v * v, -1), jnp.sum(o * o, -1)
    vo = jnp.einsum("...id,...jd->...ij", o, v)
    c = jnp.mean(o, -2, keepdims=True)
    vc, oc = v - c, o - c
    r2 = jnp.sum(vc * vc, -1)[..., None, :] + jnp.sum(oc * oc, -1)[..., :, None] - 2 * jnp.einsum("...id,...jd->...ij", oc, vc)
    top = jnp.argmax(a, axis=-1)
    is_top = jnp.broadcast_to(jnp.arange(a.shape[-1]), a.shape) == top[..., None]
    a_rest = jnp.where(is_top, 0.0, a)
    rest = jnp.sum(a_rest, -1)
    v_top = jnp.take_along_axis(v, jnp.broadcast_to(top[..., None], top.shape + v.shape[-1:]), axis=-2)
    r_top = rest[..., None] * v_top - jnp.einsum("...ij,...jd->...id", a_rest, v)
    pick = lambda x, gen: jnp.where(is_top, jnp.sum(x * r_top, -1)[..., None], gen)  # noqa: E731
    return _Residuals(
        vn, on, pick(r_top, jnp.maximum(r2, 0.0)), pick(v_top, vn[..., None, :] - vo), pick(o, vo - on[..., :, None]),
        jnp.where(is_top, rest[..., None], 1.0 - a),
    )


@jax.jit
def obcache_scores(att: WindowAttention, v: jax.Array) -> OBCacheScores:
    r"""OBCache value, key, cross and joint scores (spec §2.2) summed over the window rows.

    $S^{VK}_p=\sum_i\|a_iv_p+a_iz_ir_i\|^2\ge0$ up to rounding; $S^\times$ may be negative. Masked
    entries ($a_i=0$) contribute 0 (the logits are finite, so no NaN). Shapes: [..., n].
    """
    r = _residuals(att, v)
    a2 = att.probs**2
    s_v = jnp.sum(a2, -2) * r.vn
    s_k = jnp.sum(a2 * att.logits**2 * r.r2, -2)
    s_x = 2 * jnp.sum(a2 * att.logits * r.vr, -2)
    return OBCacheScores(s_v, s_k, s_x, s_v + s_k + s_x)


@jax.jit
def exact_errors(att: WindowAttention, v: jax.Array) -> ExactErrors:
    r"""Exact output errors $\sum_{i\in\mathcal W}\|\hat o_i-o_i\|^2$ per token, closed forms of spec §2.3.

    Evaluated in log space: $e_i=a_ie^{-z_i}=e^{-\mathrm{lse}_i}$, $\log D_i=\mathrm{logaddexp}(\log(1-a_i),
    -\mathrm{lse}_i)$, $a_i/D_i=e^{z_i-\mathrm{lse}_i-\log D_i}$, and $1-a_i$ of a row's dominant token as the
    sum of the other probabilities, so peaked rows ($a_i\to1$) and very negative logits neither
    overflow nor cancel. Rows where the token is masked contribute 0; removal is $+\infty$ when
    $a_i=1$ exactly. Shapes [..., n].
    """
    r = _residuals(att, v)
    a, m = att.probs, att.mask
    lse = att.lse[..., None]
    log_d = jnp.logaddexp(jnp.log(r.one_minus), -lse)
    e_d = jnp.exp(-lse - log_d)  # e / D
    a_d = jnp.exp(att.logits - lse - log_d)  # a / D
    key = jnp.where(m, (e_d - a_d) ** 2 * r.r2, 0.0)  # zero k_p: (e - a) / D * r_i
    jt = e_d**2 * r.on[..., :, None] + 2 * e_d * a_d * r.or_ + a_d**2 * r.r2  # zero both: -(e/D) o_i - (a/D) r_i
    joint = jnp.where(m, jnp.maximum(jt, 0.0), 0.0)
    safe = jnp.where(r.one_minus > 0, r.one_minus, 1.0)
    rm = jnp.where(r.one_minus > 0, (a / safe) ** 2 * r.r2, jnp.inf)
    value = jnp.sum(a**2, -2) * r.vn
    return ExactErrors(value, jnp.sum(key, -2), jnp.sum(joint, -2), jnp.sum(jnp.where(m & (a > 0), rm, 0.0), -2))


def _perturbed_error(q, k, v, mask, p, kind: str):
    r"""$\sum_i\|\hat o_i-o_i\|^2$ for one head after perturbing token ``p`` (recomputes attention)."""
    base = _attend(q, k, v, mask)
    if kind == "removal":
        m2 = mask.at[:, p].set(False)
        ok = m2.any(-1)
        new = _attend(q, k, v, jnp.where(ok[:, None], m2, mask))
        err = jnp.sum((new.out - base.out) ** 2, -1)
        return jnp.sum(jnp.where(ok, err, jnp.where(mask[:, p], jnp.inf, 0.0)))
    k2 = k.at[p].set(0.0) if kind in ("key", "joint") else k
    v2 = v.at[p].set(0.0) if kind in ("value", "joint") else v
    return jnp.sum((_attend(q, k2, v2, mask).out - base.out) ** 2)


def perturbation_errors_bruteforce(
    q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None, kind: Perturbation, *, batch_size: int = 64
) -> jax.Array:
    r"""Reference: for every token $p$, recompute the window outputs with $p$ perturbed (``kind``:
    ``value``/``key`` zeroing, ``joint`` zeroing of both, ``removal`` from the softmax) and return
    $\sum_i\|\hat o_i-o_i\|^2$ [..., n]. Cost $O(w\,n^2d)$ per head; ``batch_size`` tokens at a time."""
    if kind not in PERTURBATIONS:
        raise ValueError(f"kind must be one of {PERTURBATIONS}, got {kind!r}")
    _validate(q, k, v, mask)
    n = k.shape[-2]
    mask = jnp.broadcast_to(jnp.ones((), bool) if mask is None else mask, q.shape[:-1] + (n,))
    return _bruteforce(q, k, v, mask, kind, int(batch_size))


@functools.partial(jax.jit, static_argnums=(4, 5))
def _bruteforce(q, k, v, mask, kind, batch_size):
    def head(q, k, v, mask):
        return jax.lax.map(lambda p: _perturbed_error(q, k, v, mask, p, kind), jnp.arange(k.shape[0]), batch_size=batch_size)

    f = head
    for _ in range(q.ndim - 2):
        f = jax.vmap(f)
    return f(q, k, v, mask)


def second_order_autodiff(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None, p: int) -> dict[str, jax.Array]:
    r"""Reference for one head: $\tfrac12\delta^\top H_{pp}\delta$ from ``jax.hessian`` of $\mathcal L$ restricted
    to token ``p``'s block $(v_p,k_p)\in\mathbb R^{d_v+d}$, for $\delta=-v_p$ (``value``), $-k_p$ (``key``) and
    $-(v_p,k_p)$ (``joint``); also returns the gradient norm at the unperturbed cache (``grad``, 0 in exact
    arithmetic). Shapes: q [w, d], k [n, d], v [n, dv]; scalars out."""
    mask = jnp.ones(q.shape[:-1] + k.shape[-2:-1], bool) if mask is None else jnp.broadcast_to(mask, q.shape[:-1] + k.shape[-2:-1])
    return _second_order(q, k, v, mask, p)


@jax.jit
def _second_order(q, k, v, mask, p):
    dv = v.shape[-1]
    o = _attend(q, k, v, mask).out

    def loss(theta):
        v2 = v.at[p].set(theta[:dv])
        k2 = k.at[p].set(theta[dv:])
        return jnp.sum((_attend(q, k2, v2, mask).out - o) ** 2)

    theta = jnp.concatenate([v[p], k[p]])
    h = jax.hessian(loss)(theta)
    g = jax.grad(loss)(theta)
    dval = jnp.concatenate([-v[p], jnp.zeros_like(k[p])])
    dkey = jnp.concatenate([jnp.zeros_like(v[p]), -k[p]])
    quad = lambda d: 0.5 * d @ h @ d  # noqa: E731
    return {"value": quad(dval), "key": quad(dkey), "joint": quad(dval + dkey), "grad": jnp.linalg.norm(g)}


# ----------------------------------------------------------------------------------------------
# Claims (spec C1-C5, C8). Instances: batches of heads over a few fixed shapes (one compilation each).

import proofs_numeric as pn  # noqa: E402

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
    energy = np.sum(np.asarray(window_attention(q, k, v, m).out) ** 2, axis=(-2, -1))[..., None]
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
    r"""Zeroing $v_0$, setting $z_0=0$ and removing token 0 give spec §2.3's closed forms (one row, $n=3$)."""
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
    provenance="derived", tolerance=1e-11, error="rel", symbolic=_symbolic_exact_forms,
)
def _value_score_exact(ctx: pn.Context) -> pn.Evidence:
    """The value score is the exact value-zeroing error at any magnitude (not only to second order):
    closed form against brute-force recomputation of the window outputs with $v_p=0$, every token."""
    errs: dict[bool, list] = {False: [], True: []}
    for adv, q, k, v, m in _instances(ctx.rng, ctx.count(256)):
        s = obcache_scores(window_attention(q, k, v, m), v).value
        errs[adv].append(_rel(s, perturbation_errors_bruteforce(q, k, v, m, "value"), q, k, v, m))
    return pn.Evidence.from_errors(np.concatenate(errs[False]), np.concatenate(errs[True]))


@pn.claim(
    "obcache.exact_perturbation_closed_forms", paper="obcache", equation="§2.3, C5",
    statement=r"E^K_p=\sum_i\tfrac{(e_i-a_i)^2}{D_i^2}\|r_i\|^2,\ E^{VK}_p=\sum_i\|\tfrac{o_i-a_iv_p}{D_i}-o_i\|^2,\ E^{\rm rm}_p=\sum_i\tfrac{a_i^2}{(1-a_i)^2}\|r_i\|^2",
    provenance="derived", tolerance=1e-9, error="rel", symbolic=_symbolic_exact_forms,
)
def _exact_closed_forms(ctx: pn.Context) -> pn.Evidence:
    """The exact errors of zeroing the key (logit 0, the key stays in the softmax), zeroing key and
    value, and true removal with renormalisation equal brute-force recomputation, every token."""
    errs: dict[bool, list] = {False: [], True: []}
    for adv, q, k, v, m in _instances(ctx.rng, ctx.count(256)):
        ex = exact_errors(window_attention(q, k, v, m), v)
        for kind in ("key", "joint", "removal"):
            errs[adv].append(_rel(getattr(ex, kind), perturbation_errors_bruteforce(q, k, v, m, kind), q, k, v, m))
    return pn.Evidence.from_errors(np.concatenate(errs[False]), np.concatenate(errs[True]))


_batched_second_order = jax.jit(jax.vmap(jax.vmap(_second_order.__wrapped__, (None, None, None, None, 0)), (0, 0, 0, 0, None)))


def _second_order_check(ctx: pn.Context, kinds: tuple[str, ...]) -> pn.Evidence:
    errs: dict[bool, list] = {False: [], True: []}
    grads, neg = [], 0.0
    for adv, q, k, v, m in _instances(ctx.rng, ctx.count(96)):
        s = obcache_scores(window_attention(q, k, v, m), v)
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
    provenance="derived", tolerance=1e-8, error="rel", symbolic=lambda: _symbolic_second_order(False),
)
def _key_second_order(ctx: pn.Context) -> pn.Evidence:
    r"""The key score is the second-order (OBD) term of the exact key-zeroing error: ``jax.hessian`` of
    $\\mathcal L$ restricted to token $p$'s $(v_p,k_p)$ block, every token; the gradient there is 0."""
    return _second_order_check(ctx, ("key",))


@pn.claim(
    "obcache.joint_score_second_order", paper="obcache", equation="§2.1-2.2, C4",
    statement=r"S^{VK}_p=S^V_p+S^K_p+S^\times_p=\tfrac12\delta^\top\nabla^2_{(v_p,k_p)}\mathcal L\,\delta\ge0,\ \delta=-(v_p,k_p)",
    provenance="derived", tolerance=1e-8, error="rel", symbolic=lambda: _symbolic_second_order(True),
)
def _joint_second_order(ctx: pn.Context) -> pn.Evidence:
    r"""The joint score (with the cross term, which can be negative) is the second-order term of zeroing
    both key and value, from the full Hessian block including $\\partial^2/\\partial v\\partial k$; and the
    value score is the same quadratic form along $\\delta=-v_p$."""
    return _second_order_check(ctx, ("joint", "value"))
