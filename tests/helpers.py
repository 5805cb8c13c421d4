"""The one place where tests compare arrays and draw instances.

``assert_close`` is the only tolerance helper; tests never re-implement it. Instances come from
:mod:`proofs_numeric.instances` (seeded random and adversarial generators).
"""

from __future__ import annotations

import numpy as np

from attnverify.proofs_numeric.instances import adversarial_logit_rows, pad_rows, random_logit_rows, random_spd

__all__ = ["assert_close", "rng", "adversarial_logit_rows", "random_logit_rows", "pad_rows", "random_spd"]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def assert_close(actual, expected, rtol: float = 1e-12, atol: float = 0.0, what: str = "") -> None:
    """Assert ``|actual - expected| <= atol + rtol |expected|`` elementwise, in float64, with a
    message that names the worst entry. Both sides must have the same shape."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what} shape {a.shape} != expected {e.shape}"
    both_inf = np.isinf(a) & np.isinf(e) & (np.sign(a) == np.sign(e))
    err = np.where(both_inf, 0.0, np.abs(a - e))
    bound = atol + rtol * np.abs(e)
    bad = ~(err <= bound)
    if bad.any():
        i = np.unravel_index(int(np.argmax(np.where(bad, err - bound, -np.inf))), a.shape) if a.ndim else ()
        raise AssertionError(
            f"{what} not close: at index {i} got {a[i]!r}, expected {e[i]!r} "
            f"(|err| {err[i]:.3e} > {bound[i]:.3e}; {int(bad.sum())} of {a.size} entries off)"
        )
