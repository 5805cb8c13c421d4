#!/usr/bin/env bash
# The benchmark of record of certified Top-k (issue 26) on a machine with an accelerator: certified_topk
# against jax.lax.top_k and the JAX sort pipeline on the same device, plus the one-pass floor (JAX
# exp + sum). Host numpy is no baseline on a device and is left out (--no-numpy). float64 throughout.
#
#   OUT=/some/dir [SIZES="16384 131072"] [ROWS=256] [REPEATS=9] [LIMIT=seconds] benchmarks/run_topk_on_device.sh
#
# Writes $OUT/topk_device.json (the device named in "environment": backend, device kind and count) and
# the log; commit it as benchmarks/results/topk_device.json. Tested on CPU with tiny sizes:
#   OUT=/tmp/topk_dev SIZES="1024 2048" ROWS=16 REPEATS=3 benchmarks/run_topk_on_device.sh
set -uo pipefail
OUT=${OUT:-/tmp/topk_device_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" XLA_PYTHON_CLIENT_PREALLOCATE=false
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
nvidia-smi -L 2>/dev/null || true
"$PY" -c "import attnverify.bounds" 2>/dev/null || "$PY" -m pip install -q --no-deps -e .  # a bare machine
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"
timeout "${LIMIT:-540}" "$PY" benchmarks/bench_topk.py --top-k --no-numpy --sizes ${SIZES:-16384 131072} \
  --rows "${ROWS:-256}" --repeats "${REPEATS:-9}" --out "$OUT/topk_device.json" 2>&1 | tee "$OUT/log.txt" | tail -c 3000
rc=${PIPESTATUS[0]}
ls -la "$OUT"
exit "$rc"
