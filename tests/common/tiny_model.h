// Builds a complete small Emu-layout model folder for end-to-end tests: a byte-level
// tokenizer with the Emu special-token layout, a small random transformer, and the
// vision tokenizer of the first `vq` fixture case (its codebook sets the visual tokens).
#pragma once
#include <cstdint>
#include <string>

namespace emu::test {

struct TinyModel {
    std::string dir;     // model folder: config.json, model.safetensors, tokenizer files
    std::string vq_dir;  // vision tokenizer folder
    int n_visual = 0;
};

// The transformer's weights are random but nudged so that it likes to open images
// (an untrained model would almost never emit <|image start|> by itself).
TinyModel make_tiny_model(const std::string& dir, std::uint64_t weight_seed = 1234);

}  // namespace emu::test
