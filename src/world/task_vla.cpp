// vla: a black agent on the 3x3 grid moves one cell per action and pushes the object in
// its way one cell further, unless a wall or another object blocks it (Sokoban rules).
#include "emu/core/error.h"
#include "emu/world/edit.h"
#include "emu/world/tasks.h"

namespace emu::world {

Scene vla_step(const Scene& scene, Direction d, std::string* event) {
    const Object* agent = scene.agent();
    check(agent != nullptr, "vla step: the scene has no agent");
    const int dx = direction_dx(d), dy = direction_dy(d);
    const int tc = agent->col + dx, tr = agent->row + dy;
    auto blocked = [&] {
        if (event) *event = "blocked";
        return scene;
    };
    if (!scene.in_grid(tc, tr)) return blocked();
    Scene out = scene;
    if (Object* in_way = out.at(tc, tr)) {
        const int bc = tc + dx, br = tr + dy;
        if (!scene.in_grid(bc, br) || scene.at(bc, br)) return blocked();
        in_way->col = bc;
        in_way->row = br;
        if (event) *event = "push";
    } else if (event) {
        *event = "move";
    }
    for (Object& o : out.objects)
        if (o.agent) {
            o.col = tc;
            o.row = tr;
        }
    out.normalise();
    return out;
}

Sample sample_vla(const WorldConfig& config, Rng& rng) {
    static const std::vector<Colour> backgrounds{Colour::White, Colour::Gray};  // the agent is black
    Scene scene = random_scene(1, std::min(3, config.max_objects), rng, backgrounds);
    auto free = scene.empty_cells();
    Object agent;
    agent.agent = true;
    agent.colour = Colour::Black;
    std::tie(agent.col, agent.row) = free[rng.below(free.size())];
    scene.objects.push_back(agent);
    scene.normalise();

    Sample s;
    s.kind = "push";
    s.prompt = sentence(rng.chance(0.5)
                            ? "control the black agent: each action moves it one cell and pushes a shape in its way"
                            : "you are the black dot; move one cell per action, pushing any shape you walk into");
    s.inputs.push_back(scene);
    const int actions = rng.range(config.min_actions, config.max_actions);
    nlohmann::json acts = nlohmann::json::array(), events = nlohmann::json::array();
    for (int i = 0; i < actions; ++i) {
        const Object* a = scene.agent();
        std::vector<Direction> toward;
        for (Direction d : {Direction::Left, Direction::Right, Direction::Up, Direction::Down})
            if (scene.at(a->col + direction_dx(d), a->row + direction_dy(d))) toward.push_back(d);
        // Aim at a neighbour half the time so pushes are frequent.
        Direction d = (!toward.empty() && rng.chance(0.5)) ? rng.pick(toward) : Direction(rng.below(4));
        std::string event;
        scene = vla_step(scene, d, &event);
        static const std::vector<std::string> verbs{"move", "move", "go", "step"};
        s.outputs.push_back({sentence(rng.pick(verbs) + " " + direction_name(d)), scene});
        acts.push_back(direction_name(d));
        events.push_back(event);
    }
    s.truth = {{"actions", acts}, {"events", events}};
    return s;
}

}  // namespace emu::world
