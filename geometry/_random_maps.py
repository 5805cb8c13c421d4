r"""Seeded random smooth immersions $\mu(\theta)=A\theta+W_2\tanh(W_1\theta+b_1)$, $\mathbb R^m\to\mathbb R^d$.

Parameters are a pytree of arrays (not a closure), so one compiled function serves every
instance of a shape and ``vmap`` runs over instances. Used by claims, tests and benchmarks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["random_mlp_params", "mlp_mean", "random_directions"]


def random_mlp_params(rng: np.random.Generator, m: int, d: int, hidden: int = 8, count: int | None = None, scale: float = 1.0) -> dict:
    """Parameters of a tanh-MLP immersion (float64); a leading ``count`` axis when ``count`` is given."""
    lead = () if count is None else (count,)
    return {
        "a": rng.standard_normal(lead + (d, m)),
        "w1": scale * rng.standard_normal(lead + (hidden, m)),
        "b1": 0.5 * rng.standard_normal(lead + (hidden,)),
        "w2": rng.standard_normal(lead + (d, hidden)) / np.sqrt(hidden),
        "c": np.zeros(lead + (d,)),
    }


def mlp_mean(params: dict, theta: jax.Array) -> jax.Array:
    r"""$\mu(\theta)=A\theta+W_2\tanh(W_1\theta+b_1)+c$, shape ``(d,)``."""
    return params["a"] @ theta + params["w2"] @ jnp.tanh(params["w1"] @ theta + params["b1"]) + params["c"]


def random_directions(rng: np.random.Generator, m: int, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two random tangent vectors (Gaussian; linearly independent almost surely)."""
    lead = () if count is None else (count,)
    return rng.standard_normal(lead + (m,)), rng.standard_normal(lead + (m,))
