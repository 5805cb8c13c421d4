"""Test-suite set-up: float64, strict dtype promotion, 8 emulated CPU devices, quiet progress bars.

``XLA_FLAGS`` must be set before JAX initialises its backend, so it is set here, at import time
of the test session, unless the caller already chose a device count.
"""

import os

os.environ.setdefault("ATTNVERIFY_NO_PROGRESS", "1")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
