#!/usr/bin/env bash
# Transformer training step, emu.cpp vs PyTorch eager autograd, same weights, batch and threads:
#   bench/run_lmtrain_bench.sh [build-dir]
# Env: THREADS (2), STEPS (8), ROWS (4), SEQ (512), DIR (/tmp/emu-lmtrain-bench), PRECISION
# (exact: F32 products as PyTorch; bf16: BF16 operands on AMX, F32 accumulation); the model
# is the ~5M-parameter default of bench_lmtrain (5 layers, hidden 256, 4 heads / 2 kv heads,
# head_dim 64, intermediate 768, vocab 2048, untied head).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
THREADS=${THREADS:-2}; STEPS=${STEPS:-8}; ROWS=${ROWS:-4}; SEQ=${SEQ:-512}; DIR=${DIR:-/tmp/emu-lmtrain-bench}; PRECISION=${PRECISION:-exact}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
TORCH_BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
cmake --build "$BUILD" -j2 --target bench_lmtrain >/dev/null
OUT=$(mktemp)
"$BUILD/bench_lmtrain" --threads "$THREADS" --steps "$STEPS" --rows "$ROWS" --seq "$SEQ" --dir "$DIR" --precision "$PRECISION" | tee -a "$OUT"
LD_LIBRARY_PATH=$TORCH_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} /usr/bin/python3 bench/lmtrain_torch.py --dir "$DIR" \
  --threads "$THREADS" --steps "$STEPS" --rows "$ROWS" --seq "$SEQ" | tee -a "$OUT"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
e, t = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"\n{e['params']/1e6:.2f}M parameters, {e['rows']}x{e['seq']} tokens per step, {e['threads']} threads, emu precision {e['precision']}")
print("| | mean step s | best step s | tok/s (mean) | tok/s (best) | forward s | backward s | optimizer s |")
print("|---|---|---|---|---|---|---|---|")
for n, r in (("emu.cpp", e), (f"PyTorch {t['torch']} eager", t)):
    best = e['rows'] * e['seq'] / r['best_step_s']
    print(f"| {n} | {r['step_s']:.3f} | {r['best_step_s']:.3f} | {r['tok_s']:.0f} | {best:.0f} | {r['forward_s']:.3f} | {r['backward_s']:.3f} | {r['optimizer_s']:.3f} |")
print(f"emu / torch throughput: {e['tok_s'] / t['tok_s']:.2f}x (mean step), {t['best_step_s'] / e['best_step_s']:.2f}x (best step)")
d = max(abs(a - b) for a, b in zip(e["losses"], t["losses"]))
print(f"losses of the {len(e['losses'])} steps, max |emu - torch| = {d:.2e}: {e['losses']}")
PY
rm -f "$OUT"
