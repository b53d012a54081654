// Where the CLI finds the shipped model (models/emu-mini) when no --model is given.
#pragma once
#include <string>

namespace emu::cli {

// The shipped model's folder: looks in ./models/emu-mini and beside the executable
// (../models/emu-mini); throws Error naming the places searched when there is none.
std::string find_default_model();

// The vision tokenizer that ships inside a model folder (MODEL/vq, as in models/emu-mini),
// or "" when there is none.
std::string bundled_vq(const std::string& model_dir);

}  // namespace emu::cli
