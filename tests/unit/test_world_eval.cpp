// Scoring semantics: what counts as right and wrong for each task, and the report.
#include <gtest/gtest.h>

#include "emu/core/error.h"
#include "emu/world/edit.h"
#include "emu/world/evaluate.h"
#include "emu/world/render.h"
#include "emu/world/tasks.h"

using namespace emu;
using namespace emu::world;

namespace {

Object obj(Shape s, Colour c, Size z, int col, int row) {
    Object o;
    o.shape = s;
    o.colour = c;
    o.size = z;
    o.col = col;
    o.row = row;
    return o;
}

std::map<std::string, bool> as_map(const std::vector<CheckResult>& v) {
    std::map<std::string, bool> m;
    for (const auto& c : v) m[c.category] = c.pass;
    return m;
}

}  // namespace

TEST(WorldEval, T2iCategoriesSeparateTheFailureKinds) {
    // "a red circle to the left of a large blue square"
    T2iSpec spec;
    spec.entities.push_back({Shape::Circle, Colour::Red, std::nullopt, 1, std::nullopt});
    spec.entities.push_back({Shape::Square, Colour::Blue, Size::Large, 1, std::nullopt});
    spec.relations.push_back({0, 1, Relation::LeftOf});
    Scene good;
    good.objects = {obj(Shape::Circle, Colour::Red, Size::Small, 0, 1), obj(Shape::Square, Colour::Blue, Size::Large, 2, 0)};
    auto m = as_map(t2i_checks(spec, good));
    EXPECT_TRUE(m["all"] && m["count"] && m["colour"] && m["shape"] && m["size"] && m["position"] && m["binding"]);
    EXPECT_EQ(m.count("background"), 0u);  // not stated, not scored

    Scene swapped_colours = good;  // blue circle, red square: colours and shapes right, binding wrong
    swapped_colours.objects[0].colour = Colour::Blue;
    swapped_colours.objects[1].colour = Colour::Red;
    m = as_map(t2i_checks(spec, swapped_colours));
    EXPECT_TRUE(m["colour"] && m["shape"] && m["count"]);
    EXPECT_FALSE(m["binding"]);
    EXPECT_FALSE(m["all"]);

    Scene wrong_side = good;
    wrong_side.objects[0].col = 2;
    wrong_side.objects[0].row = 2;
    wrong_side.objects[1].col = 0;
    m = as_map(t2i_checks(spec, wrong_side));
    EXPECT_TRUE(m["binding"]);
    EXPECT_FALSE(m["position"]);
    EXPECT_FALSE(m["all"]);

    Scene small_square = good;
    small_square.objects[1].size = Size::Small;
    m = as_map(t2i_checks(spec, small_square));
    EXPECT_FALSE(m["size"]);
    EXPECT_FALSE(m["binding"]);
    EXPECT_TRUE(m["colour"] && m["position"]);

    Scene extra = good;
    extra.objects.push_back(obj(Shape::Ring, Colour::Green, Size::Small, 1, 2));
    m = as_map(t2i_checks(spec, extra));
    EXPECT_FALSE(m["count"]);
    EXPECT_FALSE(m["all"]);
}

TEST(WorldEval, T2iCountingAndBackground) {
    T2iSpec spec;
    spec.entities.push_back({Shape::Triangle, Colour::Green, std::nullopt, 3, std::nullopt});
    spec.background = Colour::Gray;
    Scene s;
    s.background = Colour::Gray;
    for (int i = 0; i < 3; ++i) s.objects.push_back(obj(Shape::Triangle, Colour::Green, Size(i % 2), i, i));
    EXPECT_TRUE(as_map(t2i_checks(spec, s))["all"]);
    s.background = Colour::White;
    auto m = as_map(t2i_checks(spec, s));
    EXPECT_FALSE(m["background"]);
    EXPECT_FALSE(m["all"]);
    s.background = Colour::Gray;
    s.objects.pop_back();
    m = as_map(t2i_checks(spec, s));
    EXPECT_FALSE(m["count"]);
    EXPECT_TRUE(m["colour"] == false && m["shape"] == false);  // two of three greens/triangles
}

TEST(WorldEval, X2iSeparatesChangeFromPreservation) {
    Scene src;
    src.objects = {obj(Shape::Circle, Colour::Red, Size::Small, 0, 0), obj(Shape::Cross, Colour::Blue, Size::Large, 1, 1)};
    Edit e;
    e.kind = EditKind::Recolour;
    e.col = 0;
    e.row = 0;
    e.colour = Colour::Yellow;
    Sample s;
    s.task = Task::X2I;
    s.kind = "recolour";
    s.inputs = {src};
    s.outputs = {{"", apply_edit(src, e)}};
    s.truth = {{"edit", to_json(e)}};

    auto m = as_map(score_sample(s, {s.outputs[0].scene}));
    EXPECT_TRUE(m["edit"] && m["change"] && m["preserve"] && m["edit/recolour"]);
    m = as_map(score_sample(s, {src}));  // nothing done
    EXPECT_FALSE(m["change"]);
    EXPECT_TRUE(m["preserve"]);
    EXPECT_FALSE(m["edit"]);
    Scene overdone = s.outputs[0].scene;
    overdone.at(1, 1)->size = Size::Small;  // also touched the blue cross
    m = as_map(score_sample(s, {overdone}));
    EXPECT_TRUE(m["change"]);
    EXPECT_FALSE(m["preserve"]);
    Scene other_bg = s.outputs[0].scene;
    other_bg.background = Colour::Gray;
    EXPECT_FALSE(as_map(score_sample(s, {other_bg}))["preserve"]);
    m = as_map(score_sample(s, {std::nullopt}));
    EXPECT_FALSE(m["edit"] || m["change"] || m["preserve"]);
    EXPECT_THROW(score_sample(s, {}), Error);
}

TEST(WorldEval, SequencesScoreEveryFrame) {
    const Sample s = sample_task(Task::Vla, WorldConfig{}, 1, 0);
    std::vector<std::optional<Scene>> preds;
    for (const auto& f : s.outputs) preds.emplace_back(f.scene);
    Report all_right(Task::Vla);
    all_right.add(score_sample(s, preds));
    EXPECT_DOUBLE_EQ(all_right.accuracy(), 1.0);
    preds.back() = s.inputs[0];  // last frame shows the start again
    if (same_content(s.inputs[0], s.outputs.back().scene)) preds.back().reset();
    Report one_wrong(Task::Vla);
    one_wrong.add(score_sample(s, preds));
    const double n = double(s.outputs.size());
    EXPECT_DOUBLE_EQ(one_wrong.accuracy(), (n - 1) / n);
    EXPECT_DOUBLE_EQ(one_wrong.categories().at("sequence").rate(), 0.0);
}

TEST(WorldEval, ExploreScoresTheCarriedOverViewApart) {
    // A pan uncovers a strip of cells the last frame never showed: "carried" judges only the
    // rest, "frame" the whole view.
    for (int i = 0; i < 20; ++i) {
        const Sample s = sample_task(Task::Explore, WorldConfig{}, 11, i);
        const auto& vp = s.truth.at("viewports");
        const Scene& t = s.outputs[0].scene;
        const int dx = vp[1][0].get<int>() - vp[0][0].get<int>(), dy = vp[1][1].get<int>() - vp[0][1].get<int>();
        ASSERT_EQ(std::abs(dx) + std::abs(dy), 1);
        // A cell of the new strip and one of the overlap, in the new frame's coordinates.
        const int strip_c = dx > 0 ? t.cols - 1 : 0, strip_r = dy > 0 ? t.rows - 1 : 0;
        const std::pair<int, int> strip = dx != 0 ? std::make_pair(strip_c, 1) : std::make_pair(1, strip_r);
        const std::pair<int, int> kept = dx != 0 ? std::make_pair(dx > 0 ? 0 : t.cols - 1, 1)
                                                 : std::make_pair(1, dy > 0 ? 0 : t.rows - 1);
        auto with_changed_cell = [&](std::pair<int, int> cell) {
            Scene p = t;
            if (Object* o = p.at(cell.first, cell.second)) {
                p.objects.erase(p.objects.begin() + (o - p.objects.data()));
            } else {
                p.objects.push_back(obj(Shape::Cross, Colour::Red, Size::Large, cell.first, cell.second));
            }
            p.normalise();
            return p;
        };
        auto score_first = [&](const Scene& first) {
            std::vector<std::optional<Scene>> preds;
            for (const auto& f : s.outputs) preds.emplace_back(f.scene);
            preds[0] = first;
            const auto checks = score_sample(s, preds);
            std::vector<bool> frame, carried;
            for (const auto& c : checks) {
                if (c.category == "frame") frame.push_back(c.pass);
                if (c.category == "carried") carried.push_back(c.pass);
            }
            EXPECT_EQ(carried.size(), s.outputs.size());
            return std::pair<bool, bool>(frame.at(0), carried.at(0));
        };
        EXPECT_EQ(score_first(t), std::make_pair(true, true)) << i;
        EXPECT_EQ(score_first(with_changed_cell(strip)), std::make_pair(false, true)) << i;
        EXPECT_EQ(score_first(with_changed_cell(kept)), std::make_pair(false, false)) << i;
        Scene other_bg = t;
        other_bg.background = t.background == Colour::White ? Colour::Gray : Colour::White;
        EXPECT_EQ(score_first(other_bg).second, false) << i;
    }
    Sample broken = sample_task(Task::Explore, WorldConfig{}, 11, 0);
    broken.truth["viewports"] = nlohmann::json::array({{0, 0}});
    std::vector<std::optional<Scene>> preds;
    for (const auto& f : broken.outputs) preds.emplace_back(f.scene);
    EXPECT_THROW(score_sample(broken, preds), Error);
}

TEST(WorldEval, ScoringPicturesMatchesScoringScenes) {
    for (Task task : all_tasks())
        for (int i = 0; i < 10; ++i) {
            const Sample s = sample_task(task, WorldConfig{}, 6, i);
            std::vector<std::optional<Image>> pics;
            for (const auto& f : s.outputs) pics.emplace_back(render(f.scene, 64, 64));
            Report r(task);
            r.add(score_images(s, pics));
            EXPECT_DOUBLE_EQ(r.accuracy(), 1.0) << task_name(task) << " " << i;
        }
}

TEST(WorldEval, UnreadablePicturesScoreAsWrong) {
    const Sample s = sample_task(Task::T2I, WorldConfig{}, 6, 0);
    Report r(Task::T2I);
    r.add(score_images(s, {Image(8, 8)}));  // too small for a 3x3 grid
    EXPECT_DOUBLE_EQ(r.accuracy(), 0.0);
    EXPECT_EQ(r.samples(), 1);
}

TEST(WorldEval, ReportTableAndJson) {
    Report r(Task::X2I);
    r.add({{"edit", true}, {"change", true}, {"preserve", true}, {"edit/add", true}});
    r.add({{"edit", false}, {"change", false}, {"preserve", true}, {"edit/move", false}});
    const auto j = r.json();
    EXPECT_EQ(j.begin().key(), "task");
    EXPECT_EQ(j["task"], "x2i");
    EXPECT_EQ(j["n"], 2);
    EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(j["categories"]["preserve"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(j["categories"]["edit/move"].get<double>(), 0.0);
    const std::string t = r.table();
    EXPECT_NE(t.find("edit/add"), std::string::npos);
    EXPECT_NE(t.find("50.00%"), std::string::npos);
}
