// x2i: a picture and an instruction -> the edited picture; or two pictures -> one.
#include "emu/core/error.h"
#include "emu/world/edit.h"
#include "emu/world/tasks.h"

namespace emu::world {

Sample sample_x2i(const WorldConfig& config, Rng& rng) {
    const EditKind kind = EditKind(rng.below(kEditKindCount));
    Sample s;
    s.kind = edit_kind_name(kind);
    if (kind == EditKind::Combine) {
        Scene a = random_scene(1, config.max_objects - 1, rng, background_colours());
        Scene b;
        b.background = rng.pick(background_colours());
        auto free = a.empty_cells();
        rng.shuffle(free);
        const int room = config.max_objects - int(a.objects.size());
        const int n = rng.range(1, std::min(room, int(free.size())));
        for (int i = 0; i < n; ++i) b.objects.push_back(random_object(free[std::size_t(i)].first, free[std::size_t(i)].second, rng));
        b.normalise();
        Edit e;
        e.kind = EditKind::Combine;
        s.inputs = {a, b};
        s.outputs.push_back({"", apply_edit(a, e, &b)});
        s.prompt = sentence(edit_text(a, e, EditVoice::Instruction, rng));
        s.truth = {{"edit", to_json(e)}};
        return s;
    }
    std::vector<double> weights(kEditKindCount, 0.0);
    weights[std::size_t(kind)] = 1.0;
    // A random scene almost always admits the edit; the bound only guards the loop.
    for (int attempt = 0; attempt < 1000; ++attempt) {
        Scene src = random_scene(1, config.max_objects, rng, background_colours());
        std::optional<Edit> e = random_edit(src, config.max_objects, rng, weights);
        if (!e) continue;
        s.inputs = {src};
        s.outputs.push_back({"", apply_edit(src, *e)});
        s.prompt = sentence(edit_text(src, *e, EditVoice::Instruction, rng));
        s.truth = {{"edit", to_json(*e)}};
        return s;
    }
    fail("x2i: no scene admits a ", edit_kind_name(kind), " edit");
}

}  // namespace emu::world
