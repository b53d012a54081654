#!/usr/bin/env bash
# Prefill matrix products, emu.cpp (ops::linear) vs PyTorch F.linear, same shapes (the
# real Emu3.5 layer's), same threads, alternating runs, plus the AMX probe of bench_gemm:
#   bench/run_gemm_bench.sh [build-dir]
# Env: THREADS (2), ROWS (512), DTYPE (bf16), PRECISION (bf16: PyTorch's own precision,
#      inputs rounded to bf16), REPEAT (2 alternating rounds; each reports its best of 5).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
THREADS=${THREADS:-2}; ROWS=${ROWS:-512}; DTYPE=${DTYPE:-bf16}; PRECISION=${PRECISION:-bf16}; REPEAT=${REPEAT:-2}
# OpenMP wait policy: libgomp's default unless set, as in run_lm_bench.sh.
TORCH_BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp  # as in run_lm_bench.sh: not the reference BLAS
cmake --build "$BUILD" -j2 --target bench_gemm >/dev/null
OUT=$(mktemp)
for rep in $(seq "$REPEAT"); do
    "$BUILD/bench_gemm" --threads "$THREADS" --rows "$ROWS" --dtype "$DTYPE" --precision "$PRECISION" | tee -a "$OUT"
    LD_LIBRARY_PATH=$TORCH_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} /usr/bin/python3 bench/gemm_torch_ref.py \
        --threads "$THREADS" --rows "$ROWS" --dtype "$DTYPE" | tee -a "$OUT"
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
best = {}
for r in rows:
    if r["what"] in ("emu", "torch"):
        k = (r["in"], r["out"])
        best.setdefault(k, {}).setdefault(r["what"], 0)
        best[k][r["what"]] = max(best[k][r["what"]], r["gflop_s"])
print("\n| in x out | emu GFLOP/s | torch GFLOP/s | x |")
print("|---|---|---|---|")
for (i, o), v in best.items():
    print(f"| {i} x {o} | {v.get('emu', 0):.0f} | {v.get('torch', 0):.0f} | {v.get('emu', 0) / max(v.get('torch', 1e-9), 1e-9):.2f} |")
for r in rows:
    if r["what"] == "amx_probe":
        print(f"AMX probe, one core: {r['tile_loads_per_4_products']} tile loads per 4 products "
              f"({r['operands_in']}): {r['gflop_s_one_core']:.0f} GFLOP/s")
PY
rm -f "$OUT"
