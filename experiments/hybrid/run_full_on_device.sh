#!/usr/bin/env bash
# The spec-scale collapse toy (hybrid_linear.md C9/C10, protocol ``full``: T=128, K=8, d=64, 4 heads,
# 300 + 300 student steps, 3 seeds) on a machine with an accelerator: about 20x the reduced toy's compute,
# 64 min on 2 CPU cores (131.5 s on one H200). Toy only (the Gemma part needs the cached weights; it runs on the CPU).
#
#   OUT=/some/dir [SEEDS="0 1 2"] [LIMIT=seconds per seed] experiments/hybrid/run_full_on_device.sh
#
# More teachers (stated before the runs): teacher seeds 1 and 2 stay at 17 % on the long set after 30 000
# steps, so the schedule changes to a curriculum over the number of pairs, K = 2 -> 4 -> 8 (same T, vocabulary
# and model; each stage in cosine cycles of 500 steps until 99.5 % on its own short and long sets, at most
# 12 000 steps per stage), for teacher seeds 1, 2, 3 and 0 (0 checks that the curriculum does not change the
# committed teacher's verdicts):
#   ATTNVERIFY_HYBRID_TEACHER_CURRICULUM=2,4,8 SEEDS="1 2 3 0" LIMIT=600 OUT=... experiments/hybrid/run_full_on_device.sh
# Worst case 3 x 12 000 teacher steps per seed (about 4x the committed seed-0 run's 132 s on an H200).
#
# float32 products at full precision (JAX_DEFAULT_MATMUL_PRECISION=highest: no TF32), recorded with the
# software and device in the result's "environment". Copies collapse.{json,md}, run.json, the two figures
# and the log to $OUT (names end in _seed<N>); promote collapse_seed0.json with
# `attnverify promote OUT/collapse_seed0.json experiments/hybrid/results/collapse_full.json` and commit both.
set -uo pipefail
OUT=${OUT:-/tmp/hybrid_full_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" ATTNVERIFY_HYBRID_PROTOCOL=full ATTNVERIFY_HYBRID_REAL=0 \
       JAX_DEFAULT_MATMUL_PRECISION=highest XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi -L || true
python3 -c "import jax, optax; print('jax', jax.__version__, 'optax', optax.__version__, jax.devices())"
rc=0
for seed in ${SEEDS:-0}; do  # one teacher per seed (the students' seeds are 0..2 under each teacher)
  dir=/tmp/hybrid_full_seed$seed
  timeout "${LIMIT:-500}" python -m attnverify.proofs_numeric experiment hybrid --seed "$seed" --out "$dir" 2>&1 | tee "$OUT/log_seed$seed.txt" | tail -c 2000
  status=${PIPESTATUS[0]}; [ "$status" -ne 0 ] && rc=$status  # the last failing run's exit status
  for f in collapse.json collapse.md run.json; do cp "$dir/$f" "$OUT/${f%.*}_seed$seed.${f##*.}" 2>/dev/null; done
  [ "$seed" = 0 ] && cp "$dir"/*.png "$OUT"/ 2>/dev/null
done
ls -la "$OUT"
exit "$rc"
