// Every task generator keeps its invariants, and sampling is deterministic.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "emu/core/error.h"
#include "emu/world/edit.h"
#include "emu/world/evaluate.h"
#include "emu/world/render.h"
#include "emu/world/tasks.h"

using namespace emu;
using namespace emu::world;

namespace {

const WorldConfig kConfig;

std::multiset<std::tuple<int, int, int>> contents(const Scene& s) {
    std::multiset<std::tuple<int, int, int>> out;
    for (const auto& o : s.objects)
        if (!o.agent) out.insert({int(o.shape), int(o.colour), int(o.size)});
    return out;
}

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool mentions_colour(const std::string& text, Colour c) {
    const std::string t = lower(text);
    if (c == Colour::Purple) return t.find("purple") != std::string::npos || t.find("violet") != std::string::npos;
    if (c == Colour::Cyan) return t.find("cyan") != std::string::npos || t.find("turquoise") != std::string::npos;
    if (c == Colour::Gray) return t.find("gray") != std::string::npos || t.find("grey") != std::string::npos;
    return t.find(colour_name(c)) != std::string::npos;
}

bool mentions_shape(const std::string& text, Shape s) {
    static const std::map<Shape, std::vector<std::string>> words{
        {Shape::Circle, {"circle", "disc", "disk"}}, {Shape::Square, {"square", "box", "block"}},
        {Shape::Triangle, {"triangle"}},           {Shape::Diamond, {"diamond", "rhombus"}},
        {Shape::Cross, {"cross", "plus"}},         {Shape::Ring, {"ring", "donut", "hoop"}}};
    const std::string t = lower(text);
    for (const auto& w : words.at(s))
        if (t.find(w) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST(WorldTasks, SameSeedSameSamplesOtherSeedOtherSamples) {
    for (Task task : all_tasks()) {
        int differ = 0;
        for (int i = 0; i < 20; ++i) {
            const auto a = to_json(sample_task(task, kConfig, 7, i));
            const auto b = to_json(sample_task(task, kConfig, 7, i));
            EXPECT_EQ(a.dump(), b.dump()) << task_name(task);
            const auto c = to_json(sample_task(task, kConfig, 8, i));
            differ += a["prompt"] != c["prompt"] || a["outputs"] != c["outputs"];
        }
        EXPECT_GE(differ, 15) << task_name(task);
    }
}

TEST(WorldTasks, SamplesSurviveJson) {
    for (Task task : all_tasks())
        for (int i = 0; i < 20; ++i) {
            const Sample s = sample_task(task, kConfig, 3, i);
            const Sample back = sample_from_json(nlohmann::json::parse(to_json(s).dump()));
            EXPECT_EQ(to_json(back).dump(), to_json(s).dump());
        }
}

TEST(WorldTasks, T2iTruthSatisfiesItsCaption) {
    std::set<std::string> kinds;
    for (int i = 0; i < 400; ++i) {
        const Sample s = sample_task(Task::T2I, kConfig, 1, i);
        kinds.insert(s.kind);
        ASSERT_EQ(s.outputs.size(), 1u);
        const T2iSpec spec = t2i_spec_from_json(s.truth.at("spec"));
        for (const auto& c : t2i_checks(spec, s.outputs[0].scene)) EXPECT_TRUE(c.pass) << c.category << ": " << s.prompt;
        int total = 0;
        for (const auto& e : spec.entities) {
            total += e.count;
            EXPECT_TRUE(mentions_colour(s.prompt, e.colour)) << s.prompt;
            EXPECT_TRUE(mentions_shape(s.prompt, e.shape)) << s.prompt;
        }
        if (spec.background) {
            EXPECT_TRUE(mentions_colour(s.prompt, *spec.background)) << s.prompt;
        }
        EXPECT_EQ(int(s.outputs[0].scene.objects.size()), total);
        EXPECT_LE(total, kConfig.max_objects);
    }
    EXPECT_EQ(kinds.size(), 7u);
}

TEST(WorldTasks, T2iChecksNoticeAWrongPicture) {
    // Change any one attribute of the truth and "all" must fail.
    Rng rng(4);
    for (int i = 0; i < 200; ++i) {
        const Sample s = sample_task(Task::T2I, kConfig, 2, i);
        const T2iSpec spec = t2i_spec_from_json(s.truth.at("spec"));
        Scene wrong = s.outputs[0].scene;
        Object& o = wrong.objects[rng.below(wrong.objects.size())];
        o.colour = Colour((int(o.colour) + 1) % kObjectColourCount);
        bool all = true;
        for (const auto& c : t2i_checks(spec, wrong))
            if (c.category == "all") all = c.pass;
        EXPECT_FALSE(all) << s.prompt;
    }
}

TEST(WorldTasks, X2iTargetIsTheEditOfTheSource) {
    std::map<std::string, int> kinds;
    for (int i = 0; i < 400; ++i) {
        const Sample s = sample_task(Task::X2I, kConfig, 1, i);
        ++kinds[s.kind];
        ASSERT_EQ(s.outputs.size(), 1u);
        const Edit e = edit_from_json(s.truth.at("edit"));
        EXPECT_EQ(edit_kind_name(e.kind), s.kind);
        const Scene& src = s.inputs.at(0);
        const Scene& dst = s.outputs[0].scene;
        EXPECT_TRUE(same_content(apply_edit(src, e, s.inputs.size() > 1 ? &s.inputs[1] : nullptr), dst));
        EXPECT_EQ(src.background, dst.background);
        EXPECT_FALSE(s.prompt.empty());
        const auto changed = differing_cells(src, dst);
        switch (e.kind) {
            case EditKind::Add:
            case EditKind::Remove:
            case EditKind::Recolour:
            case EditKind::Resize: EXPECT_EQ(changed.size(), 1u); break;
            case EditKind::Move:
            case EditKind::Swap: EXPECT_EQ(changed.size(), 2u); break;
            case EditKind::Combine:
                ASSERT_EQ(s.inputs.size(), 2u);
                EXPECT_EQ(changed.size(), s.inputs[1].objects.size());
                break;
        }
        if (e.kind == EditKind::Move || e.kind == EditKind::Swap || e.kind == EditKind::Recolour ||
            e.kind == EditKind::Resize) {
            EXPECT_EQ(src.objects.size(), dst.objects.size());
        }
        if (e.kind == EditKind::Move || e.kind == EditKind::Swap) {
            EXPECT_EQ(contents(src), contents(dst));
        }
        EXPECT_LE(int(dst.objects.size()), kConfig.max_objects);
        EXPECT_GE(dst.objects.size(), 1u);
    }
    EXPECT_EQ(kinds.size(), std::size_t(kEditKindCount));
}

TEST(WorldTasks, StoryFramesFollowTheirSteps) {
    std::set<std::string> kinds;
    for (int i = 0; i < 300; ++i) {
        const Sample s = sample_task(Task::Story, kConfig, 1, i);
        kinds.insert(s.kind);
        const int n = int(s.outputs.size());
        EXPECT_GE(n, kConfig.min_steps);
        EXPECT_LE(n, kConfig.max_steps);
        const auto& edits = s.truth.at("edits");
        ASSERT_EQ(int(edits.size()), n);
        Scene state;
        state.background = s.outputs[0].scene.background;
        EXPECT_EQ(edit_from_json(edits[0]).kind, EditKind::Add);
        for (int k = 0; k < n; ++k) {
            state = apply_edit(state, edit_from_json(edits[std::size_t(k)]));
            EXPECT_TRUE(same_content(state, s.outputs[std::size_t(k)].scene)) << "step " << k;
            EXPECT_FALSE(s.outputs[std::size_t(k)].text.empty());
            EXPECT_LE(int(state.objects.size()), kConfig.max_objects);
            EXPECT_GE(state.objects.size(), 1u);
            // Consecutive frames differ: every step does something visible.
            if (k > 0) {
                EXPECT_FALSE(same_content(s.outputs[std::size_t(k - 1)].scene, state));
            }
        }
        EXPECT_TRUE(mentions_colour(s.prompt, state.background)) << s.prompt;
    }
    EXPECT_EQ(kinds, (std::set<std::string>{"howto", "story"}));
}

TEST(WorldTasks, ExploreFramesAreCropsOfOneWorldAndReturnsLookTheSame) {
    int revisits = 0;
    std::set<std::string> kinds;
    for (int i = 0; i < 200; ++i) {
        const Sample s = sample_task(Task::Explore, kConfig, 1, i);
        kinds.insert(s.kind);
        const Scene world = scene_from_json(s.truth.at("world"));
        EXPECT_EQ(world.cols, 3 * kConfig.world_scale);
        const auto& vp = s.truth.at("viewports");
        const auto& actions = s.truth.at("actions");
        ASSERT_EQ(vp.size(), s.outputs.size() + 1);
        EXPECT_GE(int(actions.size()), kConfig.min_actions);
        EXPECT_LE(int(actions.size()), kConfig.max_actions);
        std::vector<Scene> frames{s.inputs.at(0)};
        for (const auto& f : s.outputs) frames.push_back(f.scene);
        std::vector<Image> pictures;
        for (std::size_t k = 0; k < frames.size(); ++k) {
            const int x = vp[k][0], y = vp[k][1];
            EXPECT_TRUE(same_content(frames[k], crop(world, x, y, 3, 3)));
            pictures.push_back(render(frames[k], 64, 64));
            if (k == 0) continue;
            const Direction d = direction_from_name(actions[k - 1]);
            EXPECT_EQ(x - int(vp[k - 1][0]), direction_dx(d));
            EXPECT_EQ(y - int(vp[k - 1][1]), direction_dy(d));
            EXPECT_NE(s.outputs[k - 1].text.find(direction_name(d)), std::string::npos);
            bool seen = false;
            for (std::size_t j = 0; j < k; ++j) {
                if (vp[j] != vp[k]) continue;
                seen = true;
                EXPECT_EQ(pictures[j], pictures[k]) << "the same place looks different on return";
            }
            EXPECT_EQ(s.truth.at("revisit")[k - 1].get<bool>(), seen);
            revisits += seen;
        }
    }
    EXPECT_GT(revisits, 100);
    EXPECT_EQ(kinds, (std::set<std::string>{"walk", "return"}));
}

namespace {
// The vla rules, written independently of vla_step.
Scene expected_vla(const Scene& s, int dx, int dy, std::string& event) {
    const Object* a = s.agent();
    int tc = a->col + dx, tr = a->row + dy;
    event = "blocked";
    if (tc < 0 || tr < 0 || tc > 2 || tr > 2) return s;
    Scene out = s;
    const Object* box = s.at(tc, tr);
    if (box) {
        int bc = tc + dx, br = tr + dy;
        if (bc < 0 || br < 0 || bc > 2 || br > 2 || s.at(bc, br)) return s;
        out.at(tc, tr)->col = bc;
        out.at(bc, tr)->row = br;
        event = "push";
    } else {
        event = "move";
    }
    for (auto& o : out.objects)
        if (o.agent) o.col = tc, o.row = tr;
    out.normalise();
    return out;
}
}  // namespace

TEST(WorldTasks, VlaFramesFollowGridPhysics) {
    std::map<std::string, int> events;
    for (int i = 0; i < 300; ++i) {
        const Sample s = sample_task(Task::Vla, kConfig, 1, i);
        Scene state = s.inputs.at(0);
        ASSERT_NE(state.agent(), nullptr);
        EXPECT_NE(state.background, Colour::Black);
        const auto& actions = s.truth.at("actions");
        ASSERT_EQ(actions.size(), s.outputs.size());
        for (std::size_t k = 0; k < actions.size(); ++k) {
            const Direction d = direction_from_name(actions[k]);
            std::string event;
            const Scene want = expected_vla(state, direction_dx(d), direction_dy(d), event);
            const Scene& got = s.outputs[k].scene;
            EXPECT_TRUE(same_content(want, got)) << "sample " << i << " step " << k;
            EXPECT_EQ(s.truth.at("events")[k].get<std::string>(), event);
            EXPECT_EQ(contents(got), contents(state));  // nothing appears or vanishes
            ++events[event];
            state = got;
        }
    }
    EXPECT_GT(events["push"], 50);
    EXPECT_GT(events["move"], 50);
    EXPECT_GT(events["blocked"], 10);
}

TEST(WorldTasks, CanvasSizeIsConfigurable) {
    WorldConfig big;
    big.width = big.height = 128;
    for (Task task : all_tasks()) {
        const Sample s = sample_task(task, big, 5, 0);
        // The scenes do not depend on the canvas; only pictures do.
        EXPECT_EQ(to_json(s).dump(), to_json(sample_task(task, kConfig, 5, 0)).dump());
    }
    WorldConfig bad;
    bad.width = 8;
    EXPECT_THROW(sample_task(Task::T2I, bad, 0, 0), Error);
}
