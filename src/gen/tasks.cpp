#include "emu/gen/tasks.h"

#include <cmath>
#include <map>

#include "emu/core/error.h"
#include "emu/vision/preprocess.h"

namespace emu::gen {

namespace {

const std::string kBos = "<|extra_203|>";
const std::string kBss = "<|extra_100|>";

std::string generic_template(const std::string& task, const std::string& system_extra, bool image_first,
                             bool with_image) {
    std::string user = with_image ? (image_first ? "<|IMAGE|>{question}" : "{question}<|IMAGE|>") : "{question}";
    return kBos + "You are a helpful assistant for " + task + " task." + system_extra + " USER: " + user +
           " ASSISTANT: " + kBss;
}

TaskDefaults make_task(const std::string& name, const std::string& source, const std::string& system_extra,
                       bool image_first, float cfg, SamplingParams text, SamplingParams image, int max_new_tokens,
                       long long area) {
    TaskDefaults t;
    t.name = name;
    t.source = source;
    t.template_text = generic_template(name, system_extra, image_first, false);
    t.template_with_image = generic_template(name, system_extra, image_first, true);
    t.uncond_template = kBos + "You are a helpful assistant. USER:  ASSISTANT: " + kBss;
    t.uncond_with_image = kBos + "You are a helpful assistant. USER: <|IMAGE|> ASSISTANT: " + kBss;
    t.cfg_scale = cfg;
    t.text = text;
    t.image = image;
    t.max_new_tokens = max_new_tokens;
    t.default_aspect = name == "t2i" ? "default" : "auto";
    t.image_area = area;
    return t;
}

const std::map<std::string, TaskDefaults>& all_tasks() {
    static const std::map<std::string, TaskDefaults> tasks = [] {
        const SamplingParams text{1.0f, 1024, 0.9f, false};
        const SamplingParams image_interleaved{1.0f, 10240, 1.0f, false};
        const SamplingParams image_t2i{1.0f, 5120, 1.0f, false};
        std::map<std::string, TaskDefaults> m;
        m["t2i"] = make_task("t2i", "configs/example_config_t2i.py", "", false, 5.0f, text, image_t2i, 5120, 1048576);
        m["x2i"] = make_task("x2i", "configs/example_config_x2i.py", "", true, 3.0f, text, image_t2i, 5120, 1048576);
        m["howto"] = make_task("howto", "configs/example_config_visual_guidance.py",
                               " Please generate a response with interleaved text and images.", false, 3.0f,
                               SamplingParams{0.7f, 200, 0.8f, false}, image_interleaved, 32768, 518400);
        m["story"] = make_task("story", "configs/example_config_visual_narrative.py", "", false, 3.0f, text,
                               image_interleaved, 32768, 518400);
        m["explore"] = make_task("explore", "configs/config.py", "", false, 3.0f, text, image_interleaved, 32768, 518400);
        m["vla"] = make_task("vla", "configs/config.py", "", false, 3.0f, text, image_interleaved, 32768, 518400);
        return m;
    }();
    return tasks;
}

struct Preset {
    const char* name;
    int h, w;  // tokens at the official area
    int ar_w, ar_h;
};
const Preset kPresets[] = {
    {"4:3", 55, 73, 4, 3},  {"default", 55, 73, 4, 3}, {"21:9", 41, 97, 21, 9}, {"16:9", 47, 85, 16, 9},
    {"3:2", 52, 78, 3, 2},  {"1:1", 64, 64, 1, 1},     {"3:4", 73, 55, 3, 4},    {"9:16", 85, 47, 9, 16},
    {"2:3", 78, 52, 2, 3},
};
constexpr long long kOfficialArea = 1048576;

}  // namespace

const TaskDefaults& task_defaults(const std::string& name) {
    auto it = all_tasks().find(name);
    if (it == all_tasks().end()) {
        std::string known;
        for (const auto& n : task_names()) known += (known.empty() ? "" : ", ") + n;
        fail("unknown task '", name, "' (known: ", known, ")");
    }
    return it->second;
}

std::vector<std::string> task_names() {
    std::vector<std::string> out;
    for (const auto& [n, t] : all_tasks()) out.push_back(n);
    return out;
}

std::optional<GridSize> aspect_preset(const std::string& aspect, long long image_area) {
    if (aspect == "auto") return std::nullopt;
    for (const Preset& p : kPresets) {
        if (aspect != p.name) continue;
        if (image_area == kOfficialArea) return GridSize{p.h, p.w};
        auto [h, w] = vision::smart_resize_size(p.ar_h, p.ar_w, double(image_area));
        check(h > 0 && w > 0, "aspect ratio ", aspect, " gives an empty image at area ", image_area);
        return GridSize{h / 16, w / 16};
    }
    std::string known = "auto";
    for (const auto& n : aspect_names()) known += ", " + n;
    fail("unknown aspect ratio '", aspect, "' (known: ", known, ")");
}

std::vector<std::string> aspect_names() {
    std::vector<std::string> out;
    for (const Preset& p : kPresets) out.push_back(p.name);
    return out;
}

}  // namespace emu::gen
