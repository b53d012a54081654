// vla: a black agent on the 3x3 grid moves one cell per action and pushes the object in
// its way one cell further, unless a wall or another object blocks it (Sokoban rules).
#include <map>

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
        // Choose by outcome so pushes are common and bumping into walls is not.
        std::map<std::string, std::vector<Direction>> by_event;
        for (Direction d : {Direction::Left, Direction::Right, Direction::Up, Direction::Down}) {
            std::string ev;
            vla_step(scene, d, &ev);
            by_event[ev].push_back(d);
        }
        const double w_push = by_event.count("push") ? 0.7 : 0, w_move = by_event.count("move") ? 0.4 : 0,
                     w_block = by_event.count("blocked") ? 0.1 : 0;
        const double roll = rng.uniform() * (w_push + w_move + w_block);
        const std::string pick = roll < w_push ? "push" : roll < w_push + w_move ? "move" : "blocked";
        std::vector<Direction> options = by_event.at(pick);
        if (pick == "move") {
            // Prefer walking up to a shape that can then be pushed.
            std::vector<Direction> setup;
            for (Direction m : options) {
                const Scene next = vla_step(scene, m);
                for (Direction d2 : {Direction::Left, Direction::Right, Direction::Up, Direction::Down}) {
                    std::string ev;
                    vla_step(next, d2, &ev);
                    if (ev == "push") {
                        setup.push_back(m);
                        break;
                    }
                }
            }
            if (!setup.empty() && rng.chance(0.85)) options = setup;
        }
        const Direction d = rng.pick(options);
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
