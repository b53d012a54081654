#include "emu/train/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "emu/core/error.h"
#include "emu/core/mapped_file.h"
#include "emu/io/config.h"
#include "emu/io/safetensors.h"

namespace fs = std::filesystem;

namespace emu::train {
namespace {

constexpr const char* kFormat = "emu-train-state";
constexpr int kVersion = 1;

std::string hex64(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::uint64_t parse_hex64(const std::string& s, const std::string& where) {
    check(!s.empty() && s.size() <= 16, where, ": bad rng word '", s, "'");
    std::uint64_t v = 0;
    for (char c : s) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        check(d >= 0, where, ": bad rng word '", s, "'");
        v = (v << 4) | std::uint64_t(d);
    }
    return v;
}

Shape shape_of(const Param& p) { return p.shape.empty() ? Shape{std::int64_t(p.size)} : p.shape; }

}  // namespace

void save_checkpoint(const std::string& dir, const AdamW& optimizer, const TrainState& state,
                     const NamedTensors& buffers) {
    check(!dir.empty(), "checkpoint folder name is empty");
    fs::path final_dir = fs::path(dir).lexically_normal();
    if (final_dir.filename().empty()) final_dir = final_dir.parent_path();  // "dir/" -> "dir"
    fs::path tmp = final_dir;
    tmp += ".tmp";
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    check(!ec, "cannot create checkpoint folder ", tmp.string(), ": ", ec.message());

    NamedTensors values;
    nlohmann::json names = nlohmann::json::array();
    for (const Param& p : optimizer.params()) {
        // A borrowed view: the parameters are written straight from the model's memory.
        values.emplace_back(p.name, Tensor::view(DType::F32, shape_of(p), p.value, nullptr));
        names.push_back(p.name);
    }
    write_safetensors((tmp / "params.safetensors").string(), values);
    write_safetensors((tmp / "optimizer.safetensors").string(), optimizer.state_tensors());
    if (!buffers.empty()) write_safetensors((tmp / "buffers.safetensors").string(), buffers);

    nlohmann::json j = {{"format", kFormat},
                        {"version", kVersion},
                        {"step", state.step},
                        {"data_cursor", state.data_cursor},
                        {"rng", {hex64(state.rng[0]), hex64(state.rng[1]), hex64(state.rng[2]), hex64(state.rng[3])}},
                        {"optimizer", to_json(optimizer.config())},
                        {"optimizer_steps", optimizer.steps()},
                        {"params", names},
                        {"extra", state.extra}};
    {
        std::ofstream out(tmp / "train_state.json", std::ios::trunc);
        check(bool(out), "cannot write ", (tmp / "train_state.json").string());
        out << j.dump(2) << "\n";
        check(bool(out), "write failed: ", (tmp / "train_state.json").string());
    }
    // Replace an older save of the same folder only once the new one is complete.
    fs::path old = final_dir;
    old += ".old";
    fs::remove_all(old, ec);
    if (fs::exists(final_dir)) fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fs::remove_all(old, ec);
}

TrainState load_checkpoint(const std::string& dir, AdamW& optimizer, std::map<std::string, Tensor>* buffers) {
    const std::string state_path = (fs::path(dir) / "train_state.json").string();
    check(fs::is_regular_file(state_path), "not a training checkpoint (no train_state.json): ", dir);
    nlohmann::json j = load_json_file(state_path);
    TrainState st;
    try {
        check(j.value("format", "") == kFormat, state_path, ": format is not ", kFormat);
        check(j.value("version", 0) == kVersion, state_path, ": unsupported version ", j.value("version", 0));
        st.step = j.at("step").get<std::int64_t>();
        st.data_cursor = j.at("data_cursor").get<std::int64_t>();
        const auto& rng = j.at("rng");
        check(rng.is_array() && rng.size() == 4, state_path, ": rng must hold 4 words");
        for (int i = 0; i < 4; ++i) st.rng[i] = parse_hex64(rng[i].get<std::string>(), state_path);
        st.extra = j.value("extra", nlohmann::json::object());
    } catch (const nlohmann::json::exception& e) {
        fail(state_path, ": ", e.what());
    }
    const std::int64_t opt_steps = j.value("optimizer_steps", st.step);

    SafetensorsFile values = SafetensorsFile::open((fs::path(dir) / "params.safetensors").string());
    for (const Param& p : optimizer.params()) {
        check(values.has(p.name), values.path(), ": parameter ", p.name, " is missing");
        const Tensor& t = values.get(p.name);
        check(t.dtype() == DType::F32 && t.numel() == p.size, values.path(), ": parameter ", p.name, " has shape ",
              shape_str(t.shape()), " ", dtype_name(t.dtype()), ", the model expects ", shape_str(shape_of(p)), " F32");
        std::memcpy(p.value, t.raw(), p.size * sizeof(float));
    }
    SafetensorsFile moments = SafetensorsFile::open((fs::path(dir) / "optimizer.safetensors").string());
    optimizer.load_state(opt_steps, [&](const std::string& name) -> const Tensor& { return moments.get(name); });

    if (buffers) {
        buffers->clear();
        const fs::path bpath = fs::path(dir) / "buffers.safetensors";
        if (fs::is_regular_file(bpath)) {
            SafetensorsFile b = SafetensorsFile::open(bpath.string());
            for (const auto& name : b.names()) {
                const Tensor& t = b.get(name);
                Tensor copy = Tensor::zeros(t.dtype(), t.shape());
                std::memcpy(copy.raw_mut(), t.raw(), t.nbytes());
                buffers->emplace(name, std::move(copy));
            }
        }
    }
    return st;
}

std::string checkpoint_dir(const std::string& out_dir, std::int64_t step) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "checkpoint-%06lld", static_cast<long long>(step));
    return (fs::path(out_dir) / buf).string();
}

std::optional<std::string> latest_checkpoint(const std::string& out_dir) {
    std::error_code ec;
    if (!fs::is_directory(out_dir, ec)) return std::nullopt;
    std::optional<std::string> best;
    long long best_step = -1;
    for (const auto& e : fs::directory_iterator(out_dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("checkpoint-", 0) != 0 || !e.is_directory()) continue;
        const std::string digits = name.substr(11);
        if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 15) continue;
        if (!fs::is_regular_file(e.path() / "train_state.json")) continue;
        long long s = std::stoll(digits);
        if (s > best_step) {
            best_step = s;
            best = e.path().string();
        }
    }
    return best;
}

}  // namespace emu::train
