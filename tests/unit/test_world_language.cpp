// The English side: articles, positions, and referring expressions that pick out exactly
// one object (checked by a small independent reader of the phrases).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "emu/world/edit.h"
#include "emu/world/language.h"
#include "emu/world/tasks.h"

using namespace emu;
using namespace emu::world;

namespace {

struct Reading {
    std::optional<Shape> shape;
    std::optional<Colour> colour;
    std::optional<Size> size;
    std::optional<int> row, col;
};

bool has_word(const std::string& text, const std::string& w) {
    std::size_t p = 0;
    while ((p = text.find(w, p)) != std::string::npos) {
        bool left = p == 0 || !std::isalpha(static_cast<unsigned char>(text[p - 1]));
        bool right = p + w.size() >= text.size() || !std::isalpha(static_cast<unsigned char>(text[p + w.size()]));
        if (left && right) return true;
        p += w.size();
    }
    return false;
}

Reading read_phrase(const std::string& t) {
    Reading r;
    const std::map<std::string, Shape> shapes{{"circle", Shape::Circle},   {"disc", Shape::Circle},
                                              {"disk", Shape::Circle},     {"square", Shape::Square},
                                              {"box", Shape::Square},      {"block", Shape::Square},
                                              {"triangle", Shape::Triangle}, {"diamond", Shape::Diamond},
                                              {"rhombus", Shape::Diamond}, {"cross", Shape::Cross},
                                              {"plus sign", Shape::Cross}, {"ring", Shape::Ring},
                                              {"donut", Shape::Ring},      {"hoop", Shape::Ring}};
    for (const auto& [w, s] : shapes)
        if (has_word(t, w)) r.shape = s;
    for (int c = 0; c < kObjectColourCount; ++c)
        if (has_word(t, colour_name(Colour(c)))) r.colour = Colour(c);
    if (has_word(t, "violet")) r.colour = Colour::Purple;
    if (has_word(t, "turquoise")) r.colour = Colour::Cyan;
    for (const char* w : {"small", "little", "tiny"})
        if (has_word(t, w)) r.size = Size::Small;
    for (const char* w : {"large", "big"})
        if (has_word(t, w)) r.size = Size::Large;
    // Position words after the noun.
    if (has_word(t, "top") || has_word(t, "upper")) r.row = 0;
    if (has_word(t, "bottom") || has_word(t, "lower")) r.row = 2;
    if (has_word(t, "left")) r.col = 0;
    if (has_word(t, "right")) r.col = 2;
    const bool centre = has_word(t, "centre") || has_word(t, "center") || has_word(t, "middle");
    // A phrase naming one axis means the middle of the other ("at the top", "on the left").
    if (centre && !r.row && !r.col) r.row = 1, r.col = 1;
    if (r.row && !r.col) r.col = 1;
    if (r.col && !r.row) r.row = 1;
    return r;
}

bool fits(const Reading& r, const Object& o) {
    return (!r.shape || *r.shape == o.shape) && (!r.colour || *r.colour == o.colour) && (!r.size || *r.size == o.size) &&
           (!r.row || *r.row == o.row) && (!r.col || *r.col == o.col);
}

}  // namespace

TEST(WorldLanguage, Articles) {
    EXPECT_EQ(article_for("orange circle"), "an");
    EXPECT_EQ(article_for("large red ring"), "a");
    Rng rng(1);
    for (int i = 0; i < 200; ++i) {
        const std::string np = noun_phrase(Shape(rng.below(6)), Colour(rng.below(9)), Size(rng.below(2)), true, rng);
        const bool vowel = std::string("aeiou").find(np[np.find(' ') + 1]) != std::string::npos;
        EXPECT_EQ(np.substr(0, np.find(' ')), vowel ? "an" : "a") << np;
    }
}

TEST(WorldLanguage, CellPhrasesNameTheirCell) {
    Rng rng(2);
    for (int i = 0; i < 500; ++i) {
        const int c = rng.range(0, 2), r = rng.range(0, 2);
        const Reading rd = read_phrase(cell_phrase(c, r, rng));
        ASSERT_TRUE(rd.row && rd.col) << cell_phrase(c, r, rng);
        EXPECT_EQ(*rd.col, c);
        EXPECT_EQ(*rd.row, r);
    }
}

TEST(WorldLanguage, ReferringExpressionsAreUnambiguous) {
    Rng rng(3);
    std::set<int> lengths;
    for (int i = 0; i < 2000; ++i) {
        // Few colours and shapes, so look-alikes are common.
        Scene s;
        auto cells = s.empty_cells();
        rng.shuffle(cells);
        const int n = rng.range(2, 6);
        for (int k = 0; k < n; ++k) {
            Object o = random_object(cells[std::size_t(k)].first, cells[std::size_t(k)].second, rng);
            o.colour = Colour(rng.below(2));
            o.shape = Shape(rng.below(2));
            s.objects.push_back(o);
        }
        const Object& target = s.objects[rng.below(s.objects.size())];
        const std::string phrase = refer(s, target, rng);
        lengths.insert(int(std::count(phrase.begin(), phrase.end(), ' ')));
        const Reading rd = read_phrase(phrase);
        int matches = 0;
        for (const auto& o : s.objects) matches += fits(rd, o);
        ASSERT_EQ(matches, 1) << phrase;
        ASSERT_TRUE(fits(rd, target)) << phrase;
    }
    EXPECT_GE(lengths.size(), 3u);  // short and long forms both occur
}

TEST(WorldLanguage, CaptionsVary) {
    std::set<std::string> prompts, openings;
    for (int i = 0; i < 300; ++i) {
        const Sample s = sample_task(Task::T2I, WorldConfig{}, 9, i);
        prompts.insert(s.prompt);
        openings.insert(s.prompt.substr(0, s.prompt.find(' ')));
        EXPECT_TRUE(std::isupper(static_cast<unsigned char>(s.prompt[0])) || std::isdigit(static_cast<unsigned char>(s.prompt[0])));
        EXPECT_EQ(s.prompt.back(), '.');
    }
    EXPECT_GT(prompts.size(), 290u);
    EXPECT_GE(openings.size(), 6u);
}

TEST(WorldLanguage, EditInstructionsNameTheirObjects) {
    Rng rng(5);
    for (int i = 0; i < 500; ++i) {
        const Sample s = sample_task(Task::X2I, WorldConfig{}, 4, i);
        const Edit e = edit_from_json(s.truth.at("edit"));
        if (e.kind == EditKind::Combine) continue;
        const std::string p = s.prompt;
        auto lower = p;
        for (auto& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (e.kind == EditKind::Add) {
            EXPECT_TRUE(has_word(lower, colour_name(e.object.colour)) || e.object.colour == Colour::Purple ||
                        e.object.colour == Colour::Cyan)
                << p;
        }
        if (e.kind == EditKind::Resize) {
            const bool grow = e.size == Size::Large;
            EXPECT_TRUE(grow ? (has_word(lower, "bigger") || has_word(lower, "larger") || has_word(lower, "enlarge") ||
                                has_word(lower, "grow"))
                             : (has_word(lower, "smaller") || has_word(lower, "shrink")))
                << p;
        }
    }
}
