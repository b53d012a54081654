// Task samples mirroring Emu3.5's tasks, drawn deterministically from (seed, index):
//   t2i      caption -> image
//   x2i      image + instruction -> edited image; or two images -> combined image
//   story    goal text, then step text + frame for 2-5 steps (kind "howto" or "story")
//   explore  a larger world seen through a moving 3x3-cell viewport ("look left" ...)
//   vla      an agent that moves one cell per action and pushes objects (grid physics)
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/world/language.h"
#include "emu/world/scene.h"

namespace emu::world {

enum class Task { T2I, X2I, Story, Explore, Vla };
const char* task_name(Task t);
Task task_from_name(const std::string& name);  // throws Error listing the valid names
const std::vector<Task>& all_tasks();

struct WorldConfig {
    int width = 64, height = 64;  // canvas in pixels (frames of every task)
    int max_objects = 4;          // per 3x3 scene
    int min_steps = 2, max_steps = 5;  // story/howto steps
    int min_actions = 3, max_actions = 6;  // explore and vla actions
    int world_scale = 2;          // explore: the world is world_scale x the viewport per side
    double world_density = 0.3;   // explore: chance a world cell holds an object
    void validate() const;
};
nlohmann::json to_json(const WorldConfig& c);
WorldConfig world_config_from_json(const nlohmann::json& j);

// What a t2i caption states; the evaluator checks a picture against exactly this.
struct T2iEntity {
    Shape shape;
    Colour colour;
    std::optional<Size> size;                  // stated or not
    int count = 1;                             // identical objects ("three green triangles")
    std::optional<std::pair<int, int>> cell;   // absolute position stated (count 1 only)
};
struct T2iRelation {
    int a, b;  // entity indices
    Relation relation;
};
struct T2iSpec {
    std::vector<T2iEntity> entities;
    std::vector<T2iRelation> relations;
    std::optional<Colour> background;
};
nlohmann::json to_json(const T2iSpec& s);
T2iSpec t2i_spec_from_json(const nlohmann::json& j);

struct Frame {
    std::string text;  // step text / action ("" for t2i and x2i)
    Scene scene;       // the true state shown by this frame
};

struct Sample {
    Task task = Task::T2I;
    int index = 0;
    std::uint64_t seed = 0;
    std::string kind;    // t2i: prompt type; x2i: edit kind; story: howto|story; explore/vla: "walk"/"push"...
    std::string prompt;  // caption, instruction or goal
    std::vector<Scene> inputs;   // pictures given to the model
    std::vector<Frame> outputs;  // pictures the model must produce, in order
    // Task truth beyond the frames: t2i "spec"; x2i "edit"; explore "world", "viewports",
    // "actions", "revisit"; vla "actions", "events".
    nlohmann::json truth;
};

// The index-th sample of a task for a seed; independent of how many are drawn.
Sample sample_task(Task task, const WorldConfig& config, std::uint64_t seed, int index);

nlohmann::json to_json(const Sample& s);
Sample sample_from_json(const nlohmann::json& j);

// Per-task generators (called by sample_task with an Rng seeded from (seed, task, index)).
Sample sample_t2i(const WorldConfig& config, Rng& rng);
Sample sample_x2i(const WorldConfig& config, Rng& rng);
Sample sample_story(const WorldConfig& config, Rng& rng);
Sample sample_explore(const WorldConfig& config, Rng& rng);
Sample sample_vla(const WorldConfig& config, Rng& rng);

// Helpers shared by the generators and tests.
Scene random_scene(int min_objects, int max_objects, Rng& rng, const std::vector<Colour>& backgrounds);
Scene crop(const Scene& world, int col0, int row0, int cols, int rows);
// vla physics: the scene after the agent tries to move one cell; `event` gets
// "move", "push" or "blocked".
Scene vla_step(const Scene& scene, Direction d, std::string* event = nullptr);
// A t2i caption for a spec (several templates); used by sample_t2i.
std::string t2i_caption(const T2iSpec& spec, const std::string& kind, Rng& rng);
// A caption stating every object with size and absolute cell (story/howto goals).
std::string full_caption(const Scene& scene, bool with_background, Rng& rng);

}  // namespace emu::world
