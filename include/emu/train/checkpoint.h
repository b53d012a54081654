// Training checkpoints: everything needed to continue a run bit for bit.
//
//   DIR/train_state.json        {"format": "emu-train-state", "version": 1, "step", "data_cursor",
//                                "rng": [4 hex words], "optimizer": {AdamW config},
//                                "params": [names in order], "extra": {trainer-defined}}
//   DIR/params.safetensors      parameter values, F32, named as the Params
//   DIR/optimizer.safetensors   "<name>.exp_avg", "<name>.exp_avg_sq", F32
//   DIR/buffers.safetensors     optional non-trained state (EMA codebooks, ...), any dtype
//
// A checkpoint is written into DIR.tmp and renamed into place, so an interrupted save never
// leaves a half-written DIR behind.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/train/optimizer.h"

namespace emu::train {

struct TrainState {
    std::int64_t step = 0;                  // optimizer steps completed
    std::int64_t data_cursor = 0;           // position of the data stream (BatchStream::cursor)
    std::array<std::uint64_t, 4> rng{};     // the trainer's Rng::state()
    nlohmann::json extra = nlohmann::json::object();  // trainer-defined (config, best loss, ...)
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

void save_checkpoint(const std::string& dir, const AdamW& optimizer, const TrainState& state,
                     const NamedTensors& buffers = {});

// Restores parameter values (into the Params' memory) and the optimizer's moments and step
// count; returns the saved state. Every parameter of `optimizer` must be in the checkpoint
// with the same size (errors name the tensor). `buffers`, when given, receives owning copies
// of the saved buffers.
TrainState load_checkpoint(const std::string& dir, AdamW& optimizer,
                           std::map<std::string, Tensor>* buffers = nullptr);

// "<out_dir>/checkpoint-000123" for step 123.
std::string checkpoint_dir(const std::string& out_dir, std::int64_t step);
// The checkpoint-NNNNNN folder with the highest step holding a train_state.json, if any.
std::optional<std::string> latest_checkpoint(const std::string& out_dir);

}  // namespace emu::train
