#!/usr/bin/env bash
# For a machine with CUDA, one command (≤ 5 min): the GPU-marked tests (Triton vs torch vs Pillow
# on the GPU) and the GPU benchmark against the CPU Pillow loop, ending in a summary table.
#
#   bash benchmarks/device_check.sh            # results and logs under $OUT (default benchmarks/out)
#
# Packages the machine lacks (kornia, kornia_rs) can travel as wheels in .whl/; see BENCHMARKS.md.
# The DALI loader's GPU test needs nvidia-dali (too large to carry to the lent machine): without
# it that test is skipped, and the loader's GPU rows stay "not measured".
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/out}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/awsaug-site .whl/*.whl \
    && export PYTHONPATH="/tmp/awsaug-site${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -m pip install -q --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 \
  || { echo "install failed; see $OUT/install.log"; exit 1; }

{
  echo "## Machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import torch, triton; print('torch', torch.__version__, '| triton', triton.__version__, '| cuda', torch.cuda.is_available())"
} | tee "$OUT/summary.md"

echo "## GPU tests" | tee -a "$OUT/summary.md"
timeout 150 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests >"$OUT/gpu_tests.log" 2>&1
tests_rc=$?
tail -n 3 "$OUT/gpu_tests.log" | tee -a "$OUT/summary.md"

echo "## GPU benchmark (median of interleaved rounds)" | tee -a "$OUT/summary.md"
timeout 150 "$PY" benchmarks/augment.py --device cuda --rounds 9 --json "$OUT/bench.json" >"$OUT/bench.md" 2>"$OUT/bench.log"
bench_rc=$?
cat "$OUT/bench.md" | tee -a "$OUT/summary.md"

echo "## Exit codes: tests $tests_rc, benchmark $bench_rc" | tee -a "$OUT/summary.md"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
