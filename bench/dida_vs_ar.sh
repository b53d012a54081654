#!/usr/bin/env bash
# AR vs DiDA on the same held-out ShapesWorld prompts and seeds, side by side:
# forward passes per image, wall-clock seconds per image and accuracy, per task.
# Usage: bench/dida_vs_ar.sh MODEL_DIR VQ_DIR [N] [SEED] [STEPS] [TASKS...]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?model folder}; vq=${2:?vision tokenizer folder}
n=${3:-100}; seed=${4:-1000}; steps=${5:-8}; shift $(( $# < 5 ? $# : 5 ))
tasks=("$@"); [ ${#tasks[@]} -gt 0 ] || tasks=(t2i x2i)
emu=${EMU:-build/emu}
extra=(${MAX_NEW_TOKENS:+--max-new-tokens "$MAX_NEW_TOKENS"})  # e.g. MAX_NEW_TOKENS=100 for untrained models
# One thread per generation (THREADS), JOBS generations side by side: seconds/image is the
# time of one generation on one core, the same way for both decoders.
extra+=(--threads "${THREADS:-1}" --jobs "${JOBS:-1}")

row() {  # task decoder json
    /usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[3])
print("| %s | %s | %.1f | %.4f | %.1f%% |" % (sys.argv[1], sys.argv[2], j["passes_per_image"], j["seconds_per_image"], 100 * j["accuracy"]))
' "$1" "$2" "$3"
}

echo "| task | decoder | passes/image | seconds/image | accuracy |"
echo "|---|---|---|---|---|"
for task in "${tasks[@]}"; do
    ar=$($emu world bench --quiet --task "$task" --model "$model" --vq "$vq" --n "$n" --seed "$seed" "${extra[@]}" --decoder ar | tail -1)
    dida=$($emu world bench --quiet --task "$task" --model "$model" --vq "$vq" --n "$n" --seed "$seed" "${extra[@]}" --decoder dida --steps "$steps" | tail -1)
    row "$task" ar "$ar"
    row "$task" "dida ($steps steps)" "$dida"
done
