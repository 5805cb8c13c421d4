r"""FAL / FAL+ / baseline pre-LN transformer block stacks, unsharded or Megatron tensor-parallel.

Kim et al., *First Attentions Last: Better Exploiting First Attentions for Efficient Transformer
Training*, arXiv 2510.14614 (spec ``fal.md`` §2). With $A_i=\mathrm{MHA}_i(\mathrm{LN}^{(1)}_i(X_i))$
and $\bar A_1=\mathrm{LN}_A(A_1)$ computed once:

* baseline: $X_i'=X_i+A_i$, $X_{i+1}=X_i'+\mathrm{MLP}_i(\mathrm{LN}^{(2)}_i(X_i'))$;
* FAL ($i\ge2$): $X_{i+1}=X_i+\big(\mathrm{MHA}_i(\mathrm{LN}^{(1)}_i X_i)+\mathrm{MLP}_i(\mathrm{LN}^{(2)}_i X_i+\bar A_1)\big)$;
* parallel (GPT-J) block: the same with no $\bar A_1$;
* FAL+ reading A (``mlp_input``): baseline with $\mathrm{MLP}_i(\mathrm{LN}^{(2)}_i(X_i')+\bar A_1)$;
  reading B (``residual``): baseline with $\tilde A_i=A_i+\bar A_1$.

Block 1 is a baseline block. Output: $\mathrm{LN}_f(X_{N+1})$, ``[B, T, d]`` in the input dtype.

**Tensor parallelism** (Megatron, arXiv 1909.08053): inside ``jax.shard_map`` over axis
``axis_name``, heads of $W_{qkv}$/$W_O$ and hidden units of $W_1$/$W_2$ are split; each row-parallel
output is summed by ``psum`` (operator $g$). A FAL block needs one ``psum`` of
$\mathrm{MHA}^{(r)}+\mathrm{MLP}^{(r)}$. Operator $f$ (identity forward, all-reduce backward) is
JAX's varying cast: ``f_placement="auto"`` lets JAX insert one per use, ``"block_input"`` casts
$X_i$ once per FAL block, ``"ln_output"`` (needs ``shared_ln``) casts the shared LN output once;
both explicit modes also cast $\bar A_1$ once. ``"ln_output_folded"`` is ``"ln_output"`` with block 1
from :func:`~attention.fal.folded.first_block_folded`: the cotangent of $\bar A_1$ rides on block 1's
two backward all-reduces ($N+1$ instead of $N+2$). With ``axis_name=None`` the same code runs unsharded.

Example::

    cfg = FALConfig(n_blocks=4, d_model=32, n_heads=4, d_mlp=128, variant="fal")
    params = fal_init(jax.random.PRNGKey(0), cfg)
    y = fal_forward(params, x, cfg)          # x: [B, T, 32]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from attnverify.attention._finite import check_finite
from attnverify.proofs_numeric.precision import check_bool, check_int

from .blocks import _mha, _mlp, _vec, layer_norm

__all__ = ["FALConfig", "fal_init", "fal_forward", "fal_param_specs", "layer_norm"]

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class FALConfig:
    """Block-stack configuration (hashable: usable as a static ``jit`` argument).

    ``variant``: ``baseline`` | ``fal`` | ``falplus`` | ``parallel``; ``falplus``: ``mlp_input``
    (reading A, default) | ``residual`` (reading B); ``shared_ln``: one LN per FAL block;
    ``f_placement``: ``auto`` | ``block_input`` | ``ln_output``; ``zero_first_attention``:
    $\\bar A_1\\equiv0$ (the degenerate reductions and the "no connection" control).
    """

    n_blocks: int
    d_model: int
    n_heads: int
    d_mlp: int
    variant: Literal["baseline", "fal", "falplus", "parallel"] = "fal"
    falplus: Literal["mlp_input", "residual"] = "mlp_input"
    shared_ln: bool = False
    f_placement: Literal["auto", "block_input", "ln_output", "ln_output_folded"] = "auto"
    zero_first_attention: bool = False

    def __post_init__(self) -> None:
        for name in ("n_blocks", "d_model", "n_heads", "d_mlp"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("shared_ln", "zero_first_attention"):
            check_bool(getattr(self, name), name)
        if min(self.n_blocks, self.d_model, self.n_heads, self.d_mlp) < 1 or self.d_model % self.n_heads:
            raise ValueError(f"need positive sizes and n_heads dividing d_model, got {self}")
        if self.variant not in ("baseline", "fal", "falplus", "parallel") or self.falplus not in ("mlp_input", "residual"):
            raise ValueError(f"unknown variant {self.variant!r} / falplus reading {self.falplus!r}")
        if self.f_placement not in ("auto", "block_input", "ln_output", "ln_output_folded"):
            raise ValueError(f"unknown f_placement {self.f_placement!r}")
        if self.shared_ln and self.variant not in ("fal", "parallel"):
            raise ValueError("shared_ln applies to FAL/parallel blocks only")
        if self.f_placement in ("ln_output", "ln_output_folded") and not self.shared_ln:
            raise ValueError(f"f_placement={self.f_placement!r} needs shared_ln=True (one LN output feeds both branches)")
        if self.f_placement == "ln_output_folded" and self.zero_first_attention:
            raise ValueError("f_placement='ln_output_folded' folds the cotangent of A-bar_1: it needs zero_first_attention=False")
        if self.f_placement != "auto" and self.variant != "fal":
            raise ValueError("explicit f placement is defined for FAL blocks only")

    def independent(self, i: int) -> bool:
        """Whether block ``i`` (0-based) has independent MHA and MLP branches."""
        return i >= 1 and self.variant in ("fal", "parallel")


def fal_init(key: jax.Array, cfg: FALConfig, dtype=jnp.float32) -> Params:
    r"""GPT-2 initialisation: weights $\mathcal N(0,0.02^2)$, residual projections $W_O,W_2$ scaled
    by $1/\sqrt{2N}$, biases 0, LN $(\gamma,\beta)=(1,0)$. Blocks with ``shared_ln`` have no LN2;
    $\mathrm{LN}_A$ exists for FAL and FAL+ only."""
    check_config(cfg, FALConfig, "cfg")
    if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {jnp.dtype(dtype)}")
    d, H, F, N = cfg.d_model, cfg.n_heads, cfg.d_mlp, cfg.n_blocks
    ln = lambda: (jnp.ones(d, dtype), jnp.zeros(d, dtype))
    blocks = []
    for i, k in enumerate(jax.random.split(key, N)):
        k1, k2, k3, k4 = jax.random.split(k, 4)
        b = dict(wqkv=0.02 * jax.random.normal(k1, (d, 3, H, d // H), dtype),
                 wo=0.02 / math.sqrt(2 * N) * jax.random.normal(k2, (H, d // H, d), dtype),
                 w1=0.02 * jax.random.normal(k3, (d, F), dtype), b1=jnp.zeros(F, dtype),
                 w2=0.02 / math.sqrt(2 * N) * jax.random.normal(k4, (F, d), dtype), b2=jnp.zeros(d, dtype))
        b["ln1_g"], b["ln1_b"] = ln()
        if not (cfg.shared_ln and cfg.independent(i)):
            b["ln2_g"], b["ln2_b"] = ln()
        blocks.append(b)
    out: Params = {"blocks": blocks}
    out["lnf_g"], out["lnf_b"] = ln()
    if cfg.variant in ("fal", "falplus"):
        out["lnA_g"], out["lnA_b"] = ln()
    return out


_SHARDED = {"wqkv": P(None, None, "tp", None), "wo": P("tp", None, None), "w1": P(None, "tp"), "b1": P("tp"), "w2": P("tp", None)}


def fal_param_specs(params: Params, axis_name: str = "tp") -> Params:
    """``PartitionSpec`` pytree for ``shard_map``: column-parallel $W_{qkv},W_1,b_1$, row-parallel
    $W_O,W_2$, everything else replicated."""
    check_params(params, "params", "blocks")
    rename = lambda s: P(*(axis_name if a == "tp" else a for a in s))
    spec = lambda name: rename(_SHARDED[name]) if name in _SHARDED else P()
    return {k: ([{n: spec(n) for n in b} for b in v] if k == "blocks" else P()) for k, v in params.items()}


def check_config(cfg: Any, kind: type, name: str) -> None:
    """``TypeError`` naming ``name`` unless ``cfg`` is a ``kind`` (a :class:`FALConfig` or ``GPTConfig``)."""
    if not isinstance(cfg, kind):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(cfg).__name__}")


def check_params(params: Any, name: str, *keys: str) -> None:
    """``TypeError`` naming ``name`` unless ``params`` is a mapping holding ``keys`` (from the matching init)."""
    if not isinstance(params, Mapping) or any(k not in params for k in keys):
        raise TypeError(f"{name} must be the parameter dict of the matching init (keys {', '.join(keys)}), "
                        f"got {type(params).__name__}")


def check_stack_inputs(params: Any, x: Any, cfg: Any, attn_shift: Any) -> None:
    """The block stack's arguments: ``params`` with ``cfg.n_blocks`` blocks, ``x`` ``[B, T >= 1, d]`` floating and
    (when concrete) finite, ``attn_shift`` one array per block. ``ValueError``/``TypeError`` naming the argument."""
    check_config(cfg, FALConfig, "cfg")
    check_params(params, "params", "blocks", "lnf_g")
    if len(params["blocks"]) != cfg.n_blocks:
        raise ValueError(f"params has {len(params['blocks'])} blocks but cfg.n_blocks = {cfg.n_blocks}")
    shape, dtype = jnp.shape(x), jnp.result_type(x)
    if len(shape) != 3 or shape[1] < 1 or shape[2] != cfg.d_model:
        raise ValueError(f"x must be [B, T, d_model={cfg.d_model}] with T >= 1, got shape {tuple(shape)}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"x must be floating point, got dtype {dtype}")
    check_finite("x", x)
    if attn_shift is not None and len(attn_shift) != cfg.n_blocks:
        raise ValueError(f"attn_shift must hold one array per block ({cfg.n_blocks}), got {len(attn_shift)}")


def fal_forward(params: Params, x: jax.Array, cfg: FALConfig, *, axis_name: str | None = None,
                attn_shift: list | None = None, capture: bool = False):
    r"""Run the block stack on ``x`` ``[B, T, d]``; returns $\mathrm{LN}_f(X_{N+1})$, and with
    ``capture=True`` also ``{"mlp_inputs": [...], "attn": [...]}`` per block (unsharded only).

    ``axis_name``: the ``shard_map`` axis when called inside a tensor-parallel ``shard_map``
    (``params`` sharded by :func:`fal_param_specs`), else ``None``. ``attn_shift``: optional
    per-block arrays added to $A_i$ (unsharded; for Jacobians with respect to $A_i$).
    """
    check_stack_inputs(params, x, cfg, attn_shift)
    capture = check_bool(capture, "capture")
    red = (lambda z: jax.lax.psum(z, axis_name)) if axis_name else (lambda z: z)
    cast = (lambda z: jax.lax.pcast(z, axis_name, to="varying")) if axis_name else (lambda z: z)
    shift = (lambda i, a: a + attn_shift[i]) if attn_shift is not None else (lambda i, a: a)
    mlp_inputs, attn = [], []
    abar = abar_f = None
    folded = cfg.variant == "fal" and cfg.f_placement == "ln_output_folded"
    if folded and (attn_shift is not None or capture):
        raise ValueError("f_placement='ln_output_folded' supports neither attn_shift nor capture")
    for i, p in enumerate(params["blocks"]):
        b2 = lambda z: z + _vec(p["b2"], z)
        if folded and i == 0:  # block 1 and A-bar_1 with the folded backward (N + 1 all-reduces)
            from .folded import first_block_folded

            x, abar_f = first_block_folded(p, (params["lnA_g"], params["lnA_b"]), x, axis_name)
            continue
        if cfg.independent(i):  # FAL / parallel block: one reduction of MHA + MLP partials
            xin = cast(x) if cfg.f_placement == "block_input" else x
            u1 = layer_norm(xin, p["ln1_g"], p["ln1_b"])
            u1 = cast(u1) if cfg.f_placement in ("ln_output", "ln_output_folded") else u1
            u2 = u1 if cfg.shared_ln else layer_norm(xin, p["ln2_g"], p["ln2_b"])
            if cfg.variant == "fal":
                u2 = u2 + (abar_f if cfg.f_placement != "auto" else abar)
            a = shift(i, _mha(p, u1))
            x = x + b2(red(a + _mlp(p, u2)))
        else:  # baseline block (also block 1 and FAL+)
            a = shift(i, red(_mha(p, layer_norm(x, p["ln1_g"], p["ln1_b"]))))
            xp = x + (a + abar if cfg.variant == "falplus" and cfg.falplus == "residual" and i >= 1 else a)
            u2 = layer_norm(xp, p["ln2_g"], p["ln2_b"])
            u2 = u2 + abar if cfg.variant == "falplus" and cfg.falplus == "mlp_input" and i >= 1 else u2
            x = xp + b2(red(_mlp(p, u2)))
        if i == 0 and cfg.variant in ("fal", "falplus"):  # \bar A_1, computed once
            abar = jnp.zeros_like(a) if cfg.zero_first_attention else layer_norm(a, params["lnA_g"], params["lnA_b"])
            abar_f = cast(abar) if cfg.f_placement != "auto" and cfg.n_blocks > 1 else abar
        mlp_inputs.append(u2)
        attn.append(a)
    out = layer_norm(x, params["lnf_g"], params["lnf_b"])
    return (out, {"mlp_inputs": mlp_inputs, "attn": attn}) if capture else out
