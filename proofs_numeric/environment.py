r"""Where a run ran: software versions, JAX backend and devices, precision settings.

Every experiment record carries this (``run.json`` of ``attnverify experiment``, and results such as the
hybrid collapse toy's), so that two runs of one protocol on different hardware can be told apart: an
accelerator's float32 arithmetic (and its default matmul precision) differs from a CPU's, and a verdict
decided on one should name it.

Example::

    from attnverify.proofs_numeric.environment import environment
    environment()["backend"]          # 'cpu', 'gpu' or 'tpu'
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

__all__ = ["environment"]


def environment() -> dict[str, Any]:
    """Python, NumPy, JAX and jaxlib versions; the default backend and its devices (kind and count);
    whether float64 is on; the default matmul precision (``None``: the backend's default, which on
    NVIDIA GPUs may use TF32 for float32 products); the host's processor count and ``XLA_FLAGS``."""
    import jax
    import jaxlib
    import numpy as np

    devices = jax.devices()
    return {"python": platform.python_version(), "numpy": np.__version__, "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "backend": jax.default_backend(),
            "devices": sorted({d.device_kind for d in devices}), "device_count": len(devices),
            "x64": bool(jax.config.jax_enable_x64),
            "matmul_precision": jax.config.jax_default_matmul_precision,
            "cpu_count": os.cpu_count(), "platform": sys.platform, "xla_flags": os.environ.get("XLA_FLAGS", "")}
