// story/howto: a goal text, then step text + frame for each step, starting from an
// empty canvas. "howto" speaks in instructions, "story" narrates.
#include "emu/core/error.h"
#include "emu/world/edit.h"
#include "emu/world/tasks.h"

namespace emu::world {
namespace {

std::string howto_lead(int step, int steps, Rng& rng) {
    if (rng.chance(0.5)) return "step " + std::to_string(step + 1) + ": ";
    if (step == 0) return "first, ";
    if (step == steps - 1) return "finally, ";
    return rng.chance(0.5) ? "next, " : "then ";
}

}  // namespace

Sample sample_story(const WorldConfig& config, Rng& rng) {
    const bool howto = rng.chance(0.5);
    const int steps = rng.range(config.min_steps, config.max_steps);
    Scene scene;
    scene.background = rng.pick(background_colours());
    // Building up dominates so pictures fill; the other edits keep the story moving.
    const std::vector<double> weights{0.4, 0.1, 0.15, 0.15, 0.1, 0.1, 0.0};
    Sample s;
    s.kind = howto ? "howto" : "story";
    std::vector<nlohmann::json> edits;
    for (int i = 0; i < steps; ++i) {
        std::optional<Edit> e = i == 0 ? random_edit(scene, config.max_objects, rng, {1, 0, 0, 0, 0, 0, 0})
                                       : random_edit(scene, config.max_objects, rng, weights);
        check(e.has_value(), "story: no edit fits the scene");  // recolour/resize always fit
        std::string text = edit_text(scene, *e, howto ? EditVoice::Instruction : EditVoice::Narration, rng);
        text = howto ? sentence(howto_lead(i, steps, rng) + text)
                     : sentence((i > 0 && rng.chance(0.4) ? std::string(rng.chance(0.5) ? "then " : "next, ") : "") + text);
        scene = apply_edit(scene, *e);
        s.outputs.push_back({text, scene});
        edits.push_back(to_json(*e));
    }
    const std::string bg = colour_word(scene.background, rng);
    if (howto) {
        s.prompt = sentence(std::string(rng.chance(0.5) ? "how to draw " : "goal: draw ") +
                            full_caption(scene, true, rng) + ", in " + std::to_string(steps) + " steps");
    } else {
        const Object& hero = s.outputs[0].scene.objects.at(0);
        s.prompt = sentence("a story about " + noun_phrase(hero.shape, hero.colour, std::nullopt, true, rng) +
                            " on " + article_for(bg) + " " + bg + " background, in " + std::to_string(steps) +
                            " scenes");
    }
    s.truth = {{"edits", edits}};
    return s;
}

}  // namespace emu::world
