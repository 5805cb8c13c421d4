r"""Minimal Top-k $k_\varepsilon$ of many attention rows at once, data-parallel over a 1-D device mesh.

For a row of logits $s\in\mathbb R^n$ sorted as $s_{(1)}\ge\dots\ge s_{(n)}$, with $e_i=e^{s_{(i)}-s_{(1)}}$,
suffix sums $T_k=\sum_{i>k}e_i$ (accumulated from the smallest term, spec ``topk_tv`` §3.2 step 2)
and $Z=T_0$,

$$k_\varepsilon=\min\{k\ge1:\ T_k\le\varepsilon Z\}=1+\#\{1\le k<n:\ T_k>\varepsilon Z\}\qquad(\text{§1, C13})$$

since $T_k$ is non-increasing. This is the sort-based reference of §3.1 evaluated in float64; it
equals :func:`bounds.certified_topk`'s exact $k^*$ except for rows whose $\tau_{k^*}$ lies within
rounding of $\varepsilon$ (``tests/test_topk_real.py`` checks equality on every row that
``certified_topk`` certifies minimal).

:func:`keps_rows` shards the rows over ``devices`` (``jax.sharding.Mesh`` with one axis ``"rows"``,
``PartitionSpec("rows", None)``): each device sorts and sums its own rows, nothing is communicated,
and the result is bit-identical to one device. Under multi-host JAX (after
``jax.distributed.initialize()``), ``jax.devices()`` lists every host's devices and the same mesh
spans them (see ``docs/topk_real.md``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["keps_rows", "row_mesh"]


def _sort_descending(s: jax.Array) -> jax.Array:
    """Sort float64 rows descending through their order-preserving int64 image (XLA's CPU sort
    compares integers about 4x faster than floats, whose comparator also orders NaN)."""
    bits = jax.lax.bitcast_convert_type(s, jnp.int64)
    key = jnp.where(bits < 0, bits ^ jnp.int64(0x7FFFFFFFFFFFFFFF), bits)
    key = jnp.flip(jnp.sort(key, axis=-1), -1)
    return jax.lax.bitcast_convert_type(jnp.where(key < 0, key ^ jnp.int64(0x7FFFFFFFFFFFFFFF), key), jnp.float64)


@jax.jit
def _keps(s: jax.Array, eps: jax.Array) -> jax.Array:
    srt = _sort_descending(s)
    e = jnp.exp(srt - srt[:, :1])
    tail = jnp.flip(jnp.cumsum(jnp.flip(e, -1), axis=-1), -1)  # tail[:, j] = sum_{i >= j} e_(i), 0-based
    z = tail[:, :1]
    above = tail[:, None, 1:] > eps[None, :, None] * z[:, None, :]  # T_k > eps Z for k = 1..n-1
    return 1 + above.sum(-1, dtype=jnp.int32)


@functools.lru_cache(maxsize=8)
def row_mesh(devices: int) -> jax.sharding.Mesh:
    """A 1-D mesh ``("rows",)`` over the first ``devices`` of ``jax.devices()``."""
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ValueError(f"devices must be an integer >= 1, got {devices!r}")
    have = jax.devices()
    if devices > len(have):
        raise ValueError(f"devices={devices} but JAX sees only {len(have)} ({have[0].platform}); on CPU set "
                         f"XLA_FLAGS=--xla_force_host_platform_device_count={devices} before importing JAX")
    return jax.sharding.Mesh(np.array(have[:devices]), ("rows",))


def keps_rows(logits: Any, eps: Any, *, devices: int = 1) -> tuple[np.ndarray, np.ndarray]:
    r"""$k_\varepsilon$ of every row for every budget, and the row's logit spread.

    **Arguments:** ``logits`` ``[R, n]`` (finite; cast to float64), ``eps`` ``[E]`` in $[0,1)$,
    ``devices``: rows are padded to a multiple of it and sharded over :func:`row_mesh`.

    **Returns:** ``k`` ``[R, E]`` int32 and $\hat\sigma$ ``[R]`` (population sd), numpy.
    """
    from attnverify.proofs_numeric import require_x64

    require_x64("keps_rows")
    s = np.asarray(logits, np.float64)
    e = np.asarray(eps, np.float64).reshape(-1)
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"logits must have shape [R, n], got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("logits must be finite (mask by dropping keys, not with -inf)")
    if e.size == 0 or not ((e >= 0) & (e < 1)).all():
        raise ValueError(f"eps must be a non-empty list of budgets in [0, 1), got {e.tolist()}")
    mesh = row_mesh(devices)
    r = s.shape[0]
    pad = -r % devices
    if pad:
        s = np.concatenate([s, np.zeros((pad, s.shape[1]))])
    x = jax.device_put(s, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("rows", None)))
    k = _keps(x, jnp.asarray(e))
    return np.asarray(k)[:r], s[:r].std(-1)  # the spread on the host: XLA's vectorised sd differs by an ulp between shard shapes
