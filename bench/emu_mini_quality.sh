#!/usr/bin/env bash
# emu-mini's quality table: `emu world bench` on the fixed held-out sets (seeds below), AR
# decoding with the model's default sampling, every category, plus the vision tokenizer's
# reconstruction accuracy on 1,000 held-out pictures and the t2i gallery.
#
#   bench/emu_mini_quality.sh [MODEL_DIR] [N] [OUT_DIR] [extra world-bench flags...]
#
# Defaults: models/emu-mini, 500 prompts per task, bench-results/emu-mini. JOBS (default
# nproc) samples are generated side by side, one thread each. Prints markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/emu-mini}
n=${2:-500}
out=${3:-bench-results/emu-mini}
shift $(( $# < 3 ? $# : 3 ))
extra=("$@")
jobs=${JOBS:-$(nproc)}
emu=${EMU:-build/emu}
mkdir -p "$out"

# The held-out seeds: training streams use seeds 1 and 2 (data) and 1000004 (LM eval),
# the tokenizer's eval 1000001, so these never meet a training sample by construction.
declare -A seed=([t2i]=9000001 [x2i]=9000002 [story]=9000003 [explore]=9000004 [vla]=9000005)

for task in t2i x2i story explore vla; do
    echo "== $task: $n prompts, seed ${seed[$task]}" >&2
    gallery=()
    [ "$task" = t2i ] && gallery=(--gallery "$out/gallery-t2i.png" --gallery-n 16)
    [ "$task" = x2i ] && gallery=(--gallery "$out/gallery-x2i.png" --gallery-n 8)
    "$emu" world bench --task "$task" --model "$model" --n "$n" --seed "${seed[$task]}" \
        --jobs "$jobs" --threads 1 "${gallery[@]}" "${extra[@]}" > "$out/$task.txt"
    tail -n 1 "$out/$task.txt" > "$out/$task.json"
done
echo "== vision tokenizer: 1000 held-out pictures" >&2
"$emu" vq eval --vq "$model/vq" --n 1000 --seed 7000001 2>/dev/null | tail -n 1 > "$out/vq.json"

/usr/bin/python3 - "$out" <<'EOF'
import json, sys, os
out = sys.argv[1]
for task in ["t2i", "x2i", "story", "explore", "vla"]:
    j = json.load(open(os.path.join(out, task + ".json")))
    print(f"\n{task}: accuracy {100*j['accuracy']:.1f}% over {j['n']} prompts, "
          f"{j['seconds_per_image']:.3f} s and {j['passes_per_image']:.1f} passes per image\n")
    print("| category | accuracy |\n|---|---|")
    for k, v in j["categories"].items():
        print(f"| {k} | {100*v:.1f}% |")
v = json.load(open(os.path.join(out, "vq.json")))
print(f"\nvision tokenizer: {100*v['parse_accuracy']:.1f}% of {v['images']} held-out pictures "
      f"parsed correctly after encode + decode, PSNR {v['psnr']:.1f} dB, {int(v['codes_used'])} codes used")
EOF
