// What a model file or folder holds, for `emu inspect`: every weight file found
// (safetensors, sharded safetensors, torch zip checkpoints) and every config.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "emu/tensor/tensor.h"

namespace emu {

struct TensorInfo {
    std::string name;
    DType dtype;
    Shape shape;
};

struct WeightFileInfo {
    std::string path;
    std::string format;  // "safetensors", "safetensors (sharded index)", "torch zip"
    std::vector<TensorInfo> tensors;
    std::uint64_t parameters = 0;
    std::uint64_t bytes = 0;
};

struct ConfigInfo {
    std::string path;
    nlohmann::json value;  // YAML configs are converted to JSON
};

struct ModelFiles {
    std::vector<WeightFileInfo> weights;
    std::vector<ConfigInfo> configs;
};

// Opens and validates everything at `path` (a file or a folder). Throws Error on the
// first bad file, naming it.
ModelFiles inspect_model_path(const std::string& path);
nlohmann::json model_files_json(const ModelFiles& files);
std::string model_files_report(const ModelFiles& files);

}  // namespace emu
