// explore: a world world_scale times the viewport per side; each action pans the 3x3-cell
// viewport by one cell. Frames are crops of one fixed world, so a place looks the same
// every time it is seen.
#include <algorithm>

#include "emu/core/error.h"
#include "emu/world/edit.h"
#include "emu/world/tasks.h"

namespace emu::world {
namespace {

std::string look_text(Direction d, Rng& rng) {
    const std::string name = direction_name(d);
    switch (rng.below(4)) {
        case 0: return "pan " + name;
        case 1: return "turn " + name;
        default: return "look " + name;
    }
}

}  // namespace

Sample sample_explore(const WorldConfig& config, Rng& rng) {
    const int side = 3 * config.world_scale;
    Scene world;
    world.cols = world.rows = side;
    world.background = rng.pick(background_colours());
    while (world.objects.size() < 3) {
        world.objects.clear();
        for (int r = 0; r < side; ++r)
            for (int c = 0; c < side; ++c)
                if (rng.chance(config.world_density)) world.objects.push_back(random_object(c, r, rng));
    }
    world.normalise();

    const int max_v = side - 3;
    int vx = rng.range(0, max_v), vy = rng.range(0, max_v);
    const int start_x = vx, start_y = vy;
    const int actions = rng.range(config.min_actions, config.max_actions);
    // Half the walks retrace their steps, so returning to a place is common in the data.
    const bool retrace = rng.chance(0.5);
    const int out_steps = retrace ? (actions + 1) / 2 : actions;
    std::vector<Direction> path;
    for (int i = 0; i < out_steps; ++i) {
        std::vector<Direction> ok;
        for (Direction d : {Direction::Left, Direction::Right, Direction::Up, Direction::Down}) {
            int nx = vx + direction_dx(d), ny = vy + direction_dy(d);
            if (nx >= 0 && ny >= 0 && nx <= max_v && ny <= max_v) ok.push_back(d);
        }
        Direction d = rng.pick(ok);
        path.push_back(d);
        vx += direction_dx(d);
        vy += direction_dy(d);
    }
    vx = start_x;
    vy = start_y;
    std::vector<Direction> all = path;
    for (int i = out_steps - 1; int(all.size()) < actions && retrace; --i) {
        Direction d = path[std::size_t(i)];
        all.push_back(d == Direction::Left ? Direction::Right
                      : d == Direction::Right ? Direction::Left
                      : d == Direction::Up ? Direction::Down
                                           : Direction::Up);
    }

    Sample s;
    s.kind = retrace ? "return" : "walk";
    const std::string bg = colour_word(world.background, rng);
    s.prompt = sentence(std::string(rng.chance(0.5) ? "explore " : "look around ") + article_for(bg) + " " + bg +
                        " world of shapes; each action moves the view by one cell");
    s.inputs.push_back(crop(world, vx, vy, 3, 3));
    nlohmann::json viewports = nlohmann::json::array({{vx, vy}}), acts = nlohmann::json::array(),
                   revisit = nlohmann::json::array();
    std::vector<std::pair<int, int>> seen{{vx, vy}};
    for (Direction d : all) {
        vx += direction_dx(d);
        vy += direction_dy(d);
        check(vx >= 0 && vy >= 0 && vx <= max_v && vy <= max_v, "explore walk left the world");
        bool again = std::find(seen.begin(), seen.end(), std::make_pair(vx, vy)) != seen.end();
        seen.emplace_back(vx, vy);
        s.outputs.push_back({sentence(look_text(d, rng)), crop(world, vx, vy, 3, 3)});
        viewports.push_back({vx, vy});
        acts.push_back(direction_name(d));
        revisit.push_back(again);
    }
    s.truth = {{"world", to_json(world)}, {"viewports", viewports}, {"actions", acts}, {"revisit", revisit}};
    return s;
}

}  // namespace emu::world
