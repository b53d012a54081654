#include "emu/world/tasks.h"

#include <array>

#include "emu/core/error.h"
#include "emu/world/edit.h"

namespace emu::world {
namespace {
constexpr std::array<const char*, 5> kTaskNames{"t2i", "x2i", "story", "explore", "vla"};
}

const char* task_name(Task t) { return kTaskNames.at(std::size_t(t)); }

Task task_from_name(const std::string& name) {
    for (std::size_t i = 0; i < kTaskNames.size(); ++i)
        if (name == kTaskNames[i]) return Task(i);
    fail("unknown task '", name, "' (expected t2i, x2i, story, explore or vla)");
}

const std::vector<Task>& all_tasks() {
    static const std::vector<Task> all{Task::T2I, Task::X2I, Task::Story, Task::Explore, Task::Vla};
    return all;
}

void WorldConfig::validate() const {
    check(width >= 16 && height >= 16 && width <= 4096 && height <= 4096, "canvas ", width, "x", height,
          " is out of range (16..4096)");
    check(max_objects >= 2 && max_objects <= 9, "max_objects ", max_objects, " must be in 2..9");
    check(min_steps >= 1 && min_steps <= max_steps && max_steps <= 16, "story steps ", min_steps, "..", max_steps,
          " are out of range");
    check(min_actions >= 1 && min_actions <= max_actions && max_actions <= 32, "actions ", min_actions, "..",
          max_actions, " are out of range");
    check(world_scale >= 2 && world_scale <= 8, "world_scale ", world_scale, " must be in 2..8");
    check(world_density > 0 && world_density <= 1, "world_density must be in (0,1]");
}

nlohmann::json to_json(const WorldConfig& c) {
    return {{"width", c.width},         {"height", c.height},           {"max_objects", c.max_objects},
            {"min_steps", c.min_steps}, {"max_steps", c.max_steps},     {"min_actions", c.min_actions},
            {"max_actions", c.max_actions}, {"world_scale", c.world_scale}, {"world_density", c.world_density}};
}

WorldConfig world_config_from_json(const nlohmann::json& j) {
    WorldConfig c;
    c.width = j.value("width", c.width);
    c.height = j.value("height", c.height);
    c.max_objects = j.value("max_objects", c.max_objects);
    c.min_steps = j.value("min_steps", c.min_steps);
    c.max_steps = j.value("max_steps", c.max_steps);
    c.min_actions = j.value("min_actions", c.min_actions);
    c.max_actions = j.value("max_actions", c.max_actions);
    c.world_scale = j.value("world_scale", c.world_scale);
    c.world_density = j.value("world_density", c.world_density);
    c.validate();
    return c;
}

Sample sample_task(Task task, const WorldConfig& config, std::uint64_t seed, int index) {
    config.validate();
    check(index >= 0, "sample index must be >= 0");
    Rng rng(mix_seed({seed, std::uint64_t(task) + 1, std::uint64_t(index)}));
    Sample s;
    switch (task) {
        case Task::T2I: s = sample_t2i(config, rng); break;
        case Task::X2I: s = sample_x2i(config, rng); break;
        case Task::Story: s = sample_story(config, rng); break;
        case Task::Explore: s = sample_explore(config, rng); break;
        case Task::Vla: s = sample_vla(config, rng); break;
    }
    s.task = task;
    s.index = index;
    s.seed = seed;
    return s;
}

nlohmann::json to_json(const Sample& s) {
    nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
    for (const auto& sc : s.inputs) inputs.push_back({{"scene", to_json(sc)}});
    for (const auto& f : s.outputs) outputs.push_back({{"text", f.text}, {"scene", to_json(f.scene)}});
    return {{"task", task_name(s.task)}, {"index", s.index},   {"seed", s.seed},       {"kind", s.kind},
            {"prompt", s.prompt},        {"inputs", inputs}, {"outputs", outputs}, {"truth", s.truth}};
}

Sample sample_from_json(const nlohmann::json& j) {
    check(j.is_object(), "sample is not a JSON object");
    Sample s;
    s.task = task_from_name(j.at("task").get<std::string>());
    s.index = j.at("index").get<int>();
    s.seed = j.value("seed", std::uint64_t(0));
    s.kind = j.value("kind", "");
    s.prompt = j.value("prompt", "");
    for (const auto& in : j.at("inputs")) s.inputs.push_back(scene_from_json(in.at("scene")));
    for (const auto& out : j.at("outputs"))
        s.outputs.push_back({out.value("text", ""), scene_from_json(out.at("scene"))});
    s.truth = j.value("truth", nlohmann::json::object());
    return s;
}

Scene random_scene(int min_objects, int max_objects, Rng& rng, const std::vector<Colour>& backgrounds) {
    Scene s;
    s.background = rng.pick(backgrounds);
    std::vector<std::pair<int, int>> cells = s.empty_cells();
    rng.shuffle(cells);
    const int n = rng.range(min_objects, max_objects);
    for (int i = 0; i < n; ++i) s.objects.push_back(random_object(cells[std::size_t(i)].first, cells[std::size_t(i)].second, rng));
    s.normalise();
    return s;
}

Scene crop(const Scene& world, int col0, int row0, int cols, int rows) {
    check(col0 >= 0 && row0 >= 0 && col0 + cols <= world.cols && row0 + rows <= world.rows, "viewport (", col0, ",",
          row0, ") ", cols, "x", rows, " leaves the ", world.cols, "x", world.rows, " world");
    Scene view;
    view.cols = cols;
    view.rows = rows;
    view.background = world.background;
    for (const Object& o : world.objects) {
        if (o.col < col0 || o.row < row0 || o.col >= col0 + cols || o.row >= row0 + rows) continue;
        Object v = o;
        v.col -= col0;
        v.row -= row0;
        view.objects.push_back(v);
    }
    view.normalise();
    return view;
}

std::string full_caption(const Scene& scene, bool with_background, Rng& rng) {
    std::vector<std::string> parts;
    for (const Object& o : scene.objects) {
        if (o.agent) continue;
        parts.push_back(noun_phrase(o.shape, o.colour, o.size, true, rng) + " " + cell_phrase(o.col, o.row, rng));
    }
    std::string list = parts.empty() ? "nothing" : join_list(parts, rng);
    if (!with_background) return list;
    const std::string bg = colour_word(scene.background, rng);
    switch (rng.below(3)) {
        case 0: return list + " on " + article_for(bg) + " " + bg + " background";
        case 1: return article_for(bg) + " " + bg + " background with " + list;
        default: return list + ", on " + bg;
    }
}

}  // namespace emu::world
