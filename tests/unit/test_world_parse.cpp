// The evaluator's picture parser: exact on clean renders, and robust within the bounds
// stated in include/emu/world/parse.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "emu/core/error.h"
#include "emu/core/rng.h"
#include "emu/world/edit.h"
#include "emu/world/parse.h"
#include "emu/world/render.h"
#include "emu/world/tasks.h"

using namespace emu;
using namespace emu::world;

namespace {

Scene random_test_scene(Rng& rng, bool with_agent) {
    static const std::vector<Colour> vla_bgs{Colour::White, Colour::Gray};
    Scene s = random_scene(with_agent ? 0 : 1, with_agent ? 4 : 9, rng, with_agent ? vla_bgs : background_colours());
    if (with_agent) {
        auto free = s.empty_cells();
        Object a;
        a.agent = true;
        a.colour = Colour::Black;
        std::tie(a.col, a.row) = free[rng.below(free.size())];
        s.objects.push_back(a);
        s.normalise();
    }
    return s;
}

std::string diff(const Scene& want, const Scene& got) {
    std::string out = str("bg ", colour_name(want.background), "/", colour_name(got.background), ";");
    for (auto [c, r] : differing_cells(want, got)) {
        const Object* a = want.at(c, r);
        const Object* b = got.at(c, r);
        out += str(" (", c, ",", r, ") want ", a ? describe(*a) : "empty", " got ", b ? describe(*b) : "empty", ";");
    }
    return out;
}

std::uint8_t clamp8(double v) { return std::uint8_t(std::clamp(std::lround(v), 0L, 255L)); }

double gaussian(Rng& rng) {
    double u1 = std::max(rng.uniform(), 1e-12), u2 = rng.uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

Image add_noise(const Image& im, double sigma, Rng& rng) {
    Image out = im;
    for (auto& v : out.rgb) v = clamp8(v + sigma * gaussian(rng));
    return out;
}

Image box_blur(const Image& im) {
    Image out = im;
    for (int y = 0; y < im.height; ++y)
        for (int x = 0; x < im.width; ++x)
            for (int ch = 0; ch < 3; ++ch) {
                int sum = 0, n = 0;
                for (int dy = -1; dy <= 1; ++dy)
                    for (int dx = -1; dx <= 1; ++dx) {
                        int xx = x + dx, yy = y + dy;
                        if (xx < 0 || yy < 0 || xx >= im.width || yy >= im.height) continue;
                        sum += im.px(xx, yy)[ch];
                        ++n;
                    }
                out.px(x, y)[ch] = std::uint8_t((sum + n / 2) / n);
            }
    return out;
}

Image shift_colours(const Image& im, int dr, int dg, int db) {
    Image out = im;
    for (std::size_t i = 0; i < out.rgb.size(); i += 3) {
        out.rgb[i] = clamp8(out.rgb[i] + dr);
        out.rgb[i + 1] = clamp8(out.rgb[i + 1] + dg);
        out.rgb[i + 2] = clamp8(out.rgb[i + 2] + db);
    }
    return out;
}

Image speckle(const Image& im, double fraction, Rng& rng) {
    Image out = im;
    const std::size_t pixels = std::size_t(im.width) * std::size_t(im.height);
    const std::size_t n = std::size_t(fraction * double(pixels));
    for (std::size_t i = 0; i < n; ++i) {
        std::uint8_t* p = out.rgb.data() + rng.below(pixels) * 3;
        for (int ch = 0; ch < 3; ++ch) p[ch] = std::uint8_t(rng.below(256));
    }
    return out;
}

// Runs `count` random scenes through render -> corrupt -> parse; returns failures.
template <typename Corrupt>
int failures(int width, int height, int count, std::uint64_t seed, Corrupt corrupt, std::string* first = nullptr) {
    Rng rng(seed);
    int bad = 0;
    for (int i = 0; i < count; ++i) {
        const Scene truth = random_test_scene(rng, i % 5 == 4);
        const Image im = corrupt(render(truth, width, height), rng);
        const Scene got = parse_image(im);
        if (!same_content(truth, got)) {
            if (!bad && first) *first = diff(truth, got);
            ++bad;
        }
    }
    return bad;
}

const auto kClean = [](const Image& im, Rng&) { return im; };

}  // namespace

TEST(WorldParse, CleanRendersParseExactlyAt64) {
    std::string first;
    EXPECT_EQ(failures(64, 64, 3000, 1, kClean, &first), 0) << first;
}

TEST(WorldParse, CleanRendersParseExactlyAtOtherSizes) {
    std::string first;
    for (auto [w, h] : std::vector<std::pair<int, int>>{{128, 128}, {48, 48}, {96, 96}, {80, 64}, {64, 100}}) {
        EXPECT_EQ(failures(w, h, 200, std::uint64_t(w * 1000 + h), kClean, &first), 0) << w << "x" << h << ": " << first;
    }
}

TEST(WorldParse, EveryShapeColourSizeInEveryCell) {
    // Exhaustive over the attribute space, on every background, at both canvas sizes.
    for (int size_px : {64, 128})
        for (Colour bg : background_colours())
            for (int s = 0; s < kShapeCount; ++s)
                for (int c = 0; c < kObjectColourCount; ++c)
                    for (Size sz : {Size::Small, Size::Large}) {
                        Scene scene;
                        scene.background = bg;
                        for (int cell = 0; cell < 9; cell += 4) {  // corners and centre
                            Object o;
                            o.shape = Shape(s);
                            o.colour = Colour(c);
                            o.size = sz;
                            o.col = cell % 3;
                            o.row = cell / 3;
                            o.jx = (cell % 2) ? kMaxJitter : -kMaxJitter;
                            o.jy = kMaxJitter - cell % 3;
                            scene.objects.push_back(o);
                        }
                        const Scene got = parse_image(render(scene, size_px, size_px));
                        ASSERT_TRUE(same_content(scene, got)) << size_px << ": " << diff(scene, got);
                    }
}

TEST(WorldParse, NoisyRenders) {
    for (int px : {64, 128}) {
        std::string first;
        EXPECT_EQ(failures(px, px, px == 64 ? 300 : 100, 11, [](const Image& im, Rng& rng) { return add_noise(im, 16.0, rng); }, &first), 0)
            << px << ": " << first;
    }
}

TEST(WorldParse, BlurredRenders) {
    for (int px : {64, 128}) {
        std::string first;
        EXPECT_EQ(failures(px, px, px == 64 ? 300 : 100, 12, [](const Image& im, Rng&) { return box_blur(im); }, &first), 0)
            << px << ": " << first;
    }
}

TEST(WorldParse, ColourShiftedRenders) {
    for (int px : {64, 128}) {
        std::string first;
        auto shift = [](const Image& im, Rng& rng) {
            return shift_colours(im, rng.range(-24, 24), rng.range(-24, 24), rng.range(-24, 24));
        };
        EXPECT_EQ(failures(px, px, px == 64 ? 300 : 100, 13, shift, &first), 0) << px << ": " << first;
    }
}

TEST(WorldParse, SpeckledRenders) {
    for (int px : {64, 128}) {
        std::string first;
        EXPECT_EQ(failures(px, px, px == 64 ? 300 : 100, 14, [](const Image& im, Rng& rng) { return speckle(im, 0.02, rng); }, &first), 0)
            << px << ": " << first;
    }
}

TEST(WorldParse, CombinedArtefacts) {
    for (int px : {64, 128}) {
        std::string first;
        auto all = [](const Image& im, Rng& rng) {
            Image b = box_blur(im);
            b = shift_colours(b, rng.range(-12, 12), rng.range(-12, 12), rng.range(-12, 12));
            return add_noise(b, 8.0, rng);
        };
        EXPECT_EQ(failures(px, px, px == 64 ? 300 : 100, 15, all, &first), 0) << px << ": " << first;
    }
}

TEST(WorldParse, SeesEveryKindOfDifference) {
    // The parse reads the picture, not the truth: change one attribute and it must differ.
    Rng rng(7);
    for (int i = 0; i < 200; ++i) {
        Scene a = random_scene(1, 4, rng, background_colours());
        std::optional<Edit> e = random_edit(a, 5, rng);
        ASSERT_TRUE(e.has_value());
        Scene b = apply_edit(a, *e);
        const Scene pa = parse_image(render(a, 64, 64)), pb = parse_image(render(b, 64, 64));
        EXPECT_TRUE(same_content(pa, a));
        EXPECT_FALSE(same_content(pa, pb)) << edit_kind_name(e->kind);
    }
}

TEST(WorldParse, GarbageGivesASceneNotACrash) {
    Rng rng(3);
    Image im(64, 64);
    for (auto& v : im.rgb) v = std::uint8_t(rng.below(256));
    const ParseResult r = parse_image_detailed(im);
    EXPECT_EQ(r.cells.size(), 9u);
    EXPECT_LE(r.scene.objects.size(), 9u);
    EXPECT_THROW(parse_image(Image{}), Error);
}
