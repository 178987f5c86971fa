#!/usr/bin/env bash
# For a machine with CUDA, one command (≤ 8 min): the GPU- and Triton-marked tests (the Triton
# kernels compiled for the device, every AWS-36 and torchvision op against torch and Pillow, kornia
# and torch on CUDA), the GPU benchmark against the CPU Pillow loop, and the tiny preset's pretrain
# and a 3-loop search on CUDA, a search loop's fine-tunes in turn vs batched, ending in a summary.
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

echo "## GPU tests (-m 'gpu or triton')" | tee -a "$OUT/summary.md"
timeout 180 "$PY" -m pytest -q -m "gpu or triton" -p no:cacheprovider tests >"$OUT/gpu_tests.log" 2>&1
tests_rc=$?
grep -E "^(FAILED|ERROR|SKIPPED)|passed|failed" "$OUT/gpu_tests.log" | tail -n 30 | tee -a "$OUT/summary.md"

echo "## GPU benchmark (median of interleaved rounds)" | tee -a "$OUT/summary.md"
timeout 150 "$PY" benchmarks/augment.py --device cuda --rounds 7 --json "$OUT/bench.json" >"$OUT/bench.md" 2>"$OUT/bench.log"
bench_rc=$?
cat "$OUT/bench.md" | tee -a "$OUT/summary.md"
[ "$bench_rc" -eq 0 ] || tail -n 5 "$OUT/bench.log" | tee -a "$OUT/summary.md"

# The whole pipeline on the device: wall time of each stage, the per-epoch and per-loop lines.
echo "## Tiny preset on CUDA: pretrain on digits, then a 3-loop search" | tee -a "$OUT/summary.md"
export COLUMNS=400
RUN="$(mktemp -d)/run"
stage() {  # name, seconds allowed, awsaug arguments...
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  timeout "$limit" "$PY" -m awsaug_cli "$@" --device cuda --run-dir "$RUN" >"$OUT/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc, $((SECONDS - start)) s wall" | tee -a "$OUT/summary.md"
  return $rc
}
stage pretrain 120 pretrain --preset tiny
pretrain_rc=$?
grep -E "^(epoch (1|2|30|60)/|shared weights)" "$OUT/pretrain.log" | tee -a "$OUT/summary.md"
stage search 120 search --loops 3
search_rc=$?
grep -E "^search loop" "$OUT/search.log" | tee -a "$OUT/summary.md"
grep -oE "elapsed / left [0-9]+ s" "$OUT/search.log" | tee -a "$OUT/summary.md"
[ "$pretrain_rc" -eq 0 ] && [ "$search_rc" -eq 0 ] || tail -n 8 "$OUT/pretrain.log" "$OUT/search.log" | tee -a "$OUT/summary.md"

echo "## Batched trajectories: a loop's fine-tunes in turn vs as one stacked model" | tee -a "$OUT/summary.md"
timeout 120 "$PY" benchmarks/search_speed.py --device cuda --rounds 3 --json "$OUT/search_speed.json" 2>"$OUT/search_speed.log" \
  | tee -a "$OUT/summary.md"
speed_rc=${PIPESTATUS[0]}
[ "$speed_rc" -eq 0 ] || tail -n 5 "$OUT/search_speed.log" | tee -a "$OUT/summary.md"

echo "## Exit codes: tests $tests_rc, benchmark $bench_rc, pretrain $pretrain_rc, search $search_rc, batched $speed_rc" \
  | tee -a "$OUT/summary.md"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$pretrain_rc" -eq 0 ] && [ "$search_rc" -eq 0 ] && [ "$speed_rc" -eq 0 ]
