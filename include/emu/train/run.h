// What every trainer shares: the common config keys, the output folder, resuming,
// checkpoint rotation and Ctrl-C handling. A trainer (tokenizer, VQ, LM) reads its own keys
// from the same config and uses these for the rest, so all runs look and behave alike:
//
//   out/train_config.json       the full config as used (written at start)
//   out/metrics.jsonl           MetricsWriter lines {"step", "split": "train"|"eval", ...}
//   out/checkpoint-NNNNNN/      save_checkpoint folders, the newest keep_checkpoints kept
//   out/<exported model files>  written by the trainer in the format inference reads
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "emu/tensor/dtype.h"
#include "emu/train/optimizer.h"
#include "emu/train/schedule.h"

namespace emu::train {

struct RunOptions {
    std::string out;                // output folder (required)
    std::uint64_t seed = 1;         // model init and trainer randomness
    std::int64_t steps = 1000;      // optimizer steps
    AdamWConfig optimizer;          // optimizer: {beta1, beta2, eps, weight_decay}
    LrSchedule schedule;            // lr, min_lr, warmup_steps (+ steps)
    double grad_clip = 1.0;         // global-norm clipping, 0 = off
    int grad_accum = 1;             // micro-batches per optimizer step
    int log_every = 10;             // steps between "train" metrics lines
    int eval_every = 0;             // steps between evaluations, 0 = never
    int eval_batches = 4;           // batches per evaluation
    int save_every = 0;             // steps between checkpoints, 0 = only at the end / on Ctrl-C
    int keep_checkpoints = 2;       // newest checkpoint folders kept (>= 1)
    void validate() const;
};

// Reads the common keys (out, seed, steps, lr, min_lr, warmup_steps, optimizer {...},
// grad_clip, grad_accum, log_every, eval_every, eval_batches, save_every, keep_checkpoints)
// and ignores the rest, which belongs to the trainer.
RunOptions run_options_from_json(const nlohmann::json& j);
// Every top-level key of a trainer's config must be one of the common keys above or one of
// the trainer's own; otherwise Error "<what>: unknown key 'K'" (typos never pass silently).
void check_config_keys(const nlohmann::json& j, const std::set<std::string>& own, const std::string& what);
nlohmann::json to_json(const RunOptions& o);

// --resume value -> checkpoint folder: "" -> none; "auto" -> the latest checkpoint in out
// (none when there is none); anything else must be a checkpoint folder (Error otherwise).
std::optional<std::string> resolve_resume(const std::string& resume, const std::string& out);

// The dtypes a trainer may export its weights in (`export_dtype`) are F32, BF16 and F16;
// anything else is Error "<what>: cannot export as T (F32, BF16 or F16)".
void check_exportable(DType t, const std::string& what);
// "f32", "bf16" or "f16" (any case) -> that dtype; Error otherwise.
DType export_dtype_from_name(const std::string& name);

// Removes all but the newest `keep` checkpoint-NNNNNN folders of out.
void prune_checkpoints(const std::string& out, int keep);

// While alive, the first SIGINT/SIGTERM only sets a flag the training loop polls (it then
// saves a checkpoint and exits); a second one terminates as usual.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
    static bool requested();
    static void clear();
};

}  // namespace emu::train
