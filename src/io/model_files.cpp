#include "emu/io/model_files.h"

#include <filesystem>
#include <sstream>

#include "emu/core/error.h"
#include "emu/core/mapped_file.h"
#include "emu/io/config.h"
#include "emu/io/safetensors.h"
#include "emu/io/torch_checkpoint.h"

namespace fs = std::filesystem;

namespace emu {

namespace {

void add_tensor(WeightFileInfo& info, const std::string& name, const Tensor& t) {
    info.tensors.push_back({name, t.dtype(), t.shape()});
    info.parameters += t.numel();
    info.bytes += t.nbytes();
}

WeightFileInfo inspect_safetensors(const std::string& path, bool index) {
    TensorStore store = TensorStore::open(path);
    WeightFileInfo info{path, index ? "safetensors (sharded index)" : "safetensors", {}, 0, 0};
    for (const std::string& name : store.names()) add_tensor(info, name, store.get(name));
    return info;
}

WeightFileInfo inspect_torch(const std::string& path) {
    WeightFileInfo info{path, "torch zip", {}, 0, 0};
    for (const auto& [name, t] : load_torch_checkpoint(path)) add_tensor(info, name, t);
    return info;
}

bool is_torch_file(const fs::path& p) {
    std::string ext = p.extension().string();
    return ext == ".ckpt" || ext == ".pt" || ext == ".pth" || ext == ".bin";
}

void inspect_file(const fs::path& p, ModelFiles& out, bool in_sharded_folder) {
    std::string ext = p.extension().string(), name = p.filename().string();
    if (ext == ".safetensors") {
        if (!in_sharded_folder) out.weights.push_back(inspect_safetensors(p.string(), false));
    } else if (name.size() > 25 && name.substr(name.size() - 25) == ".safetensors.index.json") {
        out.weights.push_back(inspect_safetensors(p.string(), true));
    } else if (is_torch_file(p)) {
        out.weights.push_back(inspect_torch(p.string()));
    } else if (ext == ".json" || ext == ".yaml" || ext == ".yml") {
        out.configs.push_back({p.string(), ext == ".json" ? load_json_file(p.string()) : load_yaml_as_json(p.string())});
    } else {
        fail(p.string(), ": unrecognised model file (expected .safetensors, .ckpt/.pt/.bin, .json or .yaml)");
    }
}

}  // namespace

ModelFiles inspect_model_path(const std::string& path) {
    ModelFiles out;
    fs::path p(path);
    check(fs::exists(p), path, ": no such file or folder");
    if (!fs::is_directory(p)) {
        inspect_file(p, out, false);
        return out;
    }
    std::vector<fs::path> entries;
    for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) entries.push_back(e.path());
    std::sort(entries.begin(), entries.end());
    bool sharded = fs::exists(p / "model.safetensors.index.json");
    for (const fs::path& e : entries) {
        std::string ext = e.extension().string();
        bool known = ext == ".safetensors" || is_torch_file(e) || ext == ".yaml" || ext == ".yml" ||
                     e.filename() == "config.json" || e.filename().string().find(".safetensors.index.json") != std::string::npos;
        if (known) inspect_file(e, out, sharded);
    }
    check(!out.weights.empty() || !out.configs.empty(), path, ": no model files found");
    return out;
}

nlohmann::json model_files_json(const ModelFiles& files) {
    nlohmann::json j;
    j["weights"] = nlohmann::json::array();
    for (const auto& w : files.weights) {
        nlohmann::json tensors = nlohmann::json::array();
        for (const auto& t : w.tensors) tensors.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}});
        j["weights"].push_back({{"path", w.path}, {"format", w.format}, {"parameters", w.parameters}, {"bytes", w.bytes}, {"tensors", tensors}});
    }
    j["configs"] = nlohmann::json::array();
    for (const auto& c : files.configs) j["configs"].push_back({{"path", c.path}, {"value", c.value}});
    return j;
}

std::string model_files_report(const ModelFiles& files) {
    std::ostringstream out;
    for (const auto& w : files.weights) {
        out << w.path << ": " << w.format << ", " << w.tensors.size() << " tensors\n";
        for (const auto& t : w.tensors) out << "  " << t.name << "  " << dtype_name(t.dtype) << " " << shape_str(t.shape) << "\n";
        out << "  total: " << w.parameters << " parameters, " << w.bytes << " bytes\n";
    }
    for (const auto& c : files.configs) out << c.path << ":\n" << c.value.dump(2) << "\n";
    return out.str();
}

}  // namespace emu
