#!/usr/bin/env bash
# Side-by-side IBQ encode/decode timings: emu (bench_vq) vs PyTorch eager (vq_torch.py),
# same mid-size model, same weights, same input, same thread count.
#   bench/vq_compare.sh [BUILD_DIR] [MODEL_DIR] [THREADS] [SIZES...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; model=${2:-/tmp/emu-bench-vq-mid}; threads=${3:-$(nproc)}
shift $(( $# < 3 ? $# : 3 )) || true
sizes=${*:-256 512}
[ -f "$model/model.safetensors" ] || /usr/bin/python3 bench/vq_torch.py make "$model"
for s in $sizes; do
  OMP_NUM_THREADS=$threads /usr/bin/python3 bench/vq_torch.py time "$model" "$s" "$threads" 2
  OMP_NUM_THREADS=$threads "$build/bench/bench_vq" "$model" "$s" 2
done
