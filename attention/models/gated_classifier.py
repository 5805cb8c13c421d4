r"""Small attention classifiers of 2-D points, ungated and with a sigmoid output gate.

For the experiments of ``docs/papers/gating_curvature.md`` (the architecture is our choice). The models are the
subjects of the empirical study :mod:`experiments.gating.study`.

**Tokenisation** (the spec leaves it [open]; our choice, exposed through :class:`ClassifierConfig`).
A point $x\in\mathbb R^2$ becomes $L$ tokens (default $L=8$) of width $d$ (default $64$), each its own
learned affine view of the point,

$$h^{(0)}_i = A_i x + c_i,\qquad A_i\in\mathbb R^{d\times 2},\ c_i\in\mathbb R^d,\ i=1..L .$$

The embedding is affine, the layers have no MLP and no normalisation, so *every* nonlinearity of
$x\mapsto$ representation comes from the softmax of attention and, when present, the gate.

**Layer** $\ell$ (pre-residual, $H$ heads of width $d_h=d/H$), with $X=h^{(\ell-1)}\in\mathbb R^{L\times d}$:

$$Y=\big[\mathrm{softmax}(Q_hK_h^\top/\sqrt{d_h})V_h\big]_{h=1..H},\quad
  \tilde Y = Y\odot\sigma(XW_g+b_g),\quad h^{(\ell)} = X+\tilde YW_o .$$

The gate (Qiu et al. 2025, https://arxiv.org/abs/2505.06708: a sigmoid on the SDPA output) is

* ``"none"``: $\tilde Y=Y$ (ungated);
* ``"elementwise"``: $W_g\in\mathbb R^{d\times d}$, one gate per channel (spec $g=\sigma(W_gx+b_g)$);
* ``"headwise"``: $W_g\in\mathbb R^{d\times H}$, one scalar gate per head and token, broadcast over
  the head's $d_h$ channels (spec $g=\sigma(w_g^\top x+b_g)\mathbf 1$);
* ``"switch"``: the three above in one parameter tree, $\tilde Y=Y\odot(s_0+s_1g_{\rm elem}+s_2g_{\rm head})$
  with a fixed one-hot ``params["gate_select"]`` $=s$ (never trained: ``stop_gradient``). With $s=e_0$
  the model *is* the ungated one, exactly. A fixed 0/1 vector ``params["layer_on"]`` (length $D$)
  switches whole layers off ($h^{(\ell)}=X$), so a depth-$D$ switch model also holds every shallower
  model. This lets one compiled program train all variants and depths side by side under ``vmap``
  (the study's speed trick); unused weights get zero gradients.

**Representation and readout.** $r(x)=\frac1L\sum_ih^{(D)}_i\in\mathbb R^d$ (mean pooling after
depth $D$) is the *output representation* whose pullback metric the study measures; the logits are
$r(x)W_{\rm out}+b_{\rm out}$.

Dtype: computations follow the parameters' dtype (the study trains in float32 and measures
curvature in float64 after :func:`cast_params`).

Example::

    cfg = ClassifierConfig(gate="elementwise", depth=2)
    params = init_classifier(0, cfg)
    logits = classifier_logits(params, jnp.zeros((5, 2)), cfg)   # [5, 2]
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from attnverify.proofs_numeric.precision import check_int

__all__ = [
    "GATES", "ClassifierConfig", "init_classifier", "classifier_representation",
    "classifier_logits", "cast_params",
]

GATES = ("none", "elementwise", "headwise")
_MODES = GATES + ("switch",)
Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    r"""Architecture of the classifier (hashable: used as a static ``jit`` argument).

    ``gate`` in :data:`GATES`; ``depth`` attention layers; ``width`` $d$; ``seq_len`` $L$ tokens
    per point; ``n_heads`` $H$ (must divide ``width``); ``n_classes`` outputs;
    ``gate_bias_init`` initial $b_g$ ($\sigma(0)=\tfrac12$).
    """

    gate: Literal["none", "elementwise", "headwise", "switch"] = "none"
    depth: int = 1
    width: int = 64
    seq_len: int = 8
    n_heads: int = 1
    n_classes: int = 2
    gate_bias_init: float = 0.0

    def __post_init__(self) -> None:
        if self.gate not in _MODES:
            raise ValueError(f"gate must be one of {_MODES}, got {self.gate!r}")
        for name in ("depth", "width", "seq_len", "n_heads", "n_classes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.width % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide width={self.width}")


def init_classifier(
    seed: int, config: ClassifierConfig, dtype: Any = jnp.float32, gate_select: Any = None, active_depth: int | None = None
) -> Params:
    r"""Initial parameters from an integer ``seed`` (numpy, so no compilation is involved).

    Weights $\mathcal N(0,1/\text{fan-in})$ ($W_o$ also scaled by $1/\sqrt D$), token offsets
    $c_i\sim\mathcal N(0,\tfrac14)$, biases 0, gate biases ``config.gate_bias_init``. The gate weights
    come from their own random stream, so models that differ only in the gate share every other
    initial weight for the same ``seed`` (the study's paired design). ``gate_select``
    (``"switch"`` only): index into :data:`GATES` or a one-hot ``(3,)`` array; ``active_depth``
    (``"switch"`` only, default ``config.depth``): how many leading layers are on.
    """
    if not isinstance(config, ClassifierConfig):
        raise TypeError(f"config must be a ClassifierConfig, got {type(config).__name__}")
    seed = check_int(seed, "seed", minimum=0)
    d, L, D = config.width, config.seq_len, config.depth
    active = D if active_depth is None else check_int(active_depth, "active_depth", minimum=1, maximum=D)
    if not 1 <= active <= D or (active != D and config.gate != "switch"):
        raise ValueError(f"active_depth={active_depth} needs gate='switch' and 1 <= active_depth <= depth={D}")
    main, gate_rng, head_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(3))

    def dense(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> jax.Array:
        return jnp.asarray(rng.standard_normal(shape) / math.sqrt(fan_in), dtype)

    params: Params = {
        "embed_A": dense(main, 2, (L, 2, d)),
        "embed_c": jnp.asarray(0.5 * main.standard_normal((L, d)), dtype),
        "out_W": dense(main, d, (d, config.n_classes)),
        "out_b": jnp.zeros((config.n_classes,), dtype),
        "layers": [],
    }
    n_gate = {"none": 0, "elementwise": d, "headwise": config.n_heads, "switch": d}[config.gate]
    if config.gate == "switch":
        sel = np.asarray(0 if gate_select is None else gate_select)
        params["gate_select"] = jnp.asarray(np.eye(3)[int(sel)] if sel.ndim == 0 else sel, dtype)
        params["layer_on"] = jnp.asarray(np.arange(D) < active, dtype)
    for _ in range(D):
        layer = {"Wq": dense(main, d, (d, d)), "Wk": dense(main, d, (d, d)), "Wv": dense(main, d, (d, d)),
                 "Wo": dense(main, d * active, (d, d))}
        if n_gate:
            layer["Wg"] = dense(gate_rng, d, (d, n_gate))
            layer["bg"] = jnp.full((n_gate,), config.gate_bias_init, dtype)
        if config.gate == "switch":
            layer["Wh"] = dense(head_rng, d, (d, config.n_heads))
            layer["bh"] = jnp.full((config.n_heads,), config.gate_bias_init, dtype)
        params["layers"].append(layer)
    return params


def cast_params(params: Params, dtype: Any) -> Params:
    """All leaves of ``params`` cast to ``dtype`` (e.g. float64 for curvature measurement)."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)


def _gate(layer: Params, X: jax.Array, config: ClassifierConfig, select: Any) -> jax.Array:
    """Multiplicative gate ``[L, H, dh]`` (broadcastable) applied to the SDPA output."""
    L, H = config.seq_len, config.n_heads
    elem = lambda: jax.nn.sigmoid(X @ layer["Wg"] + layer["bg"][None, :]).reshape(L, H, -1)
    if config.gate == "elementwise":
        return elem()
    if config.gate == "headwise":
        return jax.nn.sigmoid(X @ layer["Wg"] + layer["bg"][None, :])[:, :, None]
    s = jax.lax.stop_gradient(select)
    head = jax.nn.sigmoid(X @ layer["Wh"] + layer["bh"][None, :])[:, :, None]
    return s[0] + s[1] * elem() + s[2] * head


def _layer(layer: Params, X: jax.Array, config: ClassifierConfig, select: Any = None, on: Any = 1.0) -> jax.Array:
    L, d, H = config.seq_len, config.width, config.n_heads
    dh = d // H
    q = (X @ layer["Wq"]).reshape(L, H, dh)
    k = (X @ layer["Wk"]).reshape(L, H, dh)
    v = (X @ layer["Wv"]).reshape(L, H, dh)
    att = jax.nn.softmax(jnp.einsum("ihc,jhc->hij", q, k) / math.sqrt(dh), axis=-1)
    Y = jnp.einsum("hij,jhc->ihc", att, v)  # [L, H, dh]
    if config.gate != "none":
        Y = Y * _gate(layer, X, config, select)
    return X + on * (Y.reshape(L, d) @ layer["Wo"])


def _representation(params: Params, x: jax.Array, config: ClassifierConfig) -> jax.Array:
    h = jnp.einsum("k,lkd->ld", x, params["embed_A"]) + params["embed_c"]
    on = jax.lax.stop_gradient(params["layer_on"]) if config.gate == "switch" else jnp.ones(config.depth)
    for i, layer in enumerate(params["layers"]):
        h = _layer(layer, h, config, params.get("gate_select"), on[i] if config.gate == "switch" else 1.0)
    return jnp.mean(h, axis=0)


def _logits(params: Params, x: jax.Array, config: ClassifierConfig) -> jax.Array:
    r = jax.vmap(lambda p: _representation(params, p, config))(x)
    return r @ params["out_W"] + params["out_b"][None, :]


def _check_points(x: Any, what: str, single: bool) -> None:
    if isinstance(x, jax.core.Tracer):
        return
    a = np.asarray(x)
    want = "(2,)" if single else "[N, 2]"
    if (single and a.shape != (2,)) or (not single and (a.ndim != 2 or a.shape[-1] != 2)):
        raise ValueError(f"{what}: points must have shape {want}, got {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{what}: non-finite input at index {tuple(int(i) for i in np.argwhere(bad)[0])}")


def classifier_representation(params: Params, x: jax.Array, config: ClassifierConfig) -> jax.Array:
    r"""Output representation $r(x)\in\mathbb R^d$ of one point ``x`` of shape ``(2,)``.

    This is the map $\mathbb R^2\to\mathbb R^d$ whose pullback metric $g=J^\top J$ the study
    measures ($\Sigma=I$). Pure and differentiable (nested ``jacfwd`` works).
    """
    _check_points(x, "classifier_representation", single=True)
    return _representation(params, jnp.asarray(x), config)


def classifier_logits(params: Params, x: jax.Array, config: ClassifierConfig) -> jax.Array:
    """Class logits ``[N, n_classes]`` of points ``x`` of shape ``[N, 2]``."""
    _check_points(x, "classifier_logits", single=False)
    return _logits(params, jnp.asarray(x), config)
