#!/usr/bin/env bash
# emu.cpp LM vs PyTorch eager, same random weights, same thread count, one run:
#   bench/run_lm_bench.sh [build-dir]
# Env: THREADS (2), PREFILL (512), DECODE (16), OMP_WAIT_POLICY (unset), REPEAT (3: emu and torch runs alternate, the
#      table shows per-metric medians, since a shared machine's load changes between runs),
#      PRESETS ("small layer"), DTYPES ("f32 bf16"),
#      WORK (/tmp/emu-lm-bench: weights are written there once and reused).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
THREADS=${THREADS:-2}; PREFILL=${PREFILL:-512}; DECODE=${DECODE:-16}; REPEAT=${REPEAT:-3}
PRESETS=${PRESETS:-"small layer"}; DTYPES=${DTYPES:-"f32 bf16"}; WORK=${WORK:-/tmp/emu-lm-bench}
# Both sides use libgomp with its default wait policy (spin a while, then sleep), as a
# user runs them. On a loaded machine spinning threads lose their core to other
# processes: set OMP_WAIT_POLICY=passive for both sides there (decode with its many
# short parallel regions then loses 15-25% on the 0.28 B model, prefill ~10%).
# Debian's torch links libblas.so.3 (BLAS_INFO=generic): put OpenBLAS (openmp) first
# whatever update-alternatives selects, instead of the slow reference BLAS.
TORCH_BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
cmake --build "$BUILD" -j2 --target bench_lm >/dev/null
OUT=$(mktemp)
"$BUILD/bench_lm" --bandwidth --threads "$THREADS" | tee -a "$OUT"
for rep in $(seq "$REPEAT"); do
for p in $PRESETS; do
  for d in $DTYPES; do
    dir="$WORK/$p-$d"
    "$BUILD/bench_lm" --preset "$p" --dtype "$d" --threads "$THREADS" --prefill "$PREFILL" --decode "$DECODE" \
      --dir "$dir" | tee -a "$OUT"
    if [ "$d" = bf16 ]; then  # also the official runtime's precision: inputs rounded to bf16
      "$BUILD/bench_lm" --preset "$p" --dtype "$d" --threads "$THREADS" --prefill "$PREFILL" --decode "$DECODE" \
        --dir "$dir" --precision bf16 | tee -a "$OUT"
    else  # and --precision fast: F32 weights through 2-part AMX products (~1e-5 relative)
      "$BUILD/bench_lm" --preset "$p" --dtype "$d" --threads "$THREADS" --prefill "$PREFILL" --decode "$DECODE" \
        --dir "$dir" --precision fast | tee -a "$OUT"
    fi
    LD_LIBRARY_PATH=$TORCH_BLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} /usr/bin/python3 bench/lm_torch_ref.py --dir "$dir" --dtype "$d" --threads "$THREADS" --prefill "$PREFILL" \
      --decode "$DECODE" | sed "s/^{/{\"preset\": \"$p\", /" | tee -a "$OUT"
  done
done
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
from statistics import median
raw = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
bw = next(r["read_gb_s"] for r in raw if r["what"] == "bandwidth")
# One row per (side, preset, dtype, splits) with the median of every number over the repeats.
groups = {}
for r in raw:
    if r["what"] != "bandwidth":
        groups.setdefault((r["what"], r["preset"], r["dtype"], r.get("bf16_splits"), r.get("f32_amx")), []).append(r)
rows = []
for runs in groups.values():
    m = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("bf16_splits", "threads", "prefill_tokens"):
            m[k] = median(x[k] for x in runs)
    m["runs"] = len(runs)
    rows.append(m)
print(f"\nmemory read bandwidth: {bw:.1f} GB/s; medians over {max(r['runs'] for r in rows)} alternating runs per side")
print(f"| model | dtype (emu precision) | emu prefill tok/s | torch prefill tok/s | x | emu decode tok/s | torch decode tok/s | x | CFG pair step / single step | decode vs roofline |")
print("|---|---|---|---|---|---|---|---|---|---|")
for e in (r for r in rows if r["what"] == "emu"):
    t = next(r for r in rows if r["what"] == "torch" and r["preset"] == e["preset"] and r["dtype"] == e["dtype"])
    roof = bw * 1e9 / e["weight_bytes"]  # tokens/s if every weight byte is read once per token at full bandwidth
    if e["dtype"] == "f32":
        prec = f" (AMX, {e['bf16_splits']}-part products)" if e.get("f32_amx") else ""
    else:
        prec = " (exact)" if e["bf16_splits"] == 3 else f" ({e['bf16_splits']}-part bf16 inputs)"
    print(f"| {e['preset']} | {e['dtype']}{prec} | {e['prefill_tok_s']:.1f} | {t['prefill_tok_s']:.1f} | "
          f"{e['prefill_tok_s'] / t['prefill_tok_s']:.2f} | {e['decode_tok_s']:.2f} | {t['decode_tok_s']:.2f} | "
          f"{e['decode_tok_s'] / t['decode_tok_s']:.2f} | {e['cfg_pair_step_s'] / e['decode_step_s']:.2f} | "
          f"{100 * e['decode_tok_s'] / roof:.0f}% of {roof:.2f} |")
PY
rm -f "$OUT"
