// Scenes, palette, RNG and PNG I/O of the world module.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "emu/core/error.h"
#include "emu/core/rng.h"
#include "emu/world/edit.h"
#include "emu/world/render.h"
#include "emu/world/tasks.h"
#include "emu/world/world_png.h"
#include "fixtures.h"

using namespace emu;
using namespace emu::world;

TEST(WorldRng, SameSeedSameStreamDifferentSeedDifferentStream) {
    Rng a(42), b(42), c(43);
    std::vector<std::uint64_t> va, vb, vc;
    for (int i = 0; i < 100; ++i) {
        va.push_back(a.next_u64());
        vb.push_back(b.next_u64());
        vc.push_back(c.next_u64());
    }
    EXPECT_EQ(va, vb);
    EXPECT_NE(va, vc);
    EXPECT_NE(mix_seed({1, 2, 3}), mix_seed({1, 3, 2}));
}

TEST(WorldRng, BelowIsInRangeAndRoughlyUniform) {
    Rng rng(5);
    std::vector<int> hist(7, 0);
    const int n = 70000;
    for (int i = 0; i < n; ++i) {
        std::uint64_t v = rng.below(7);
        ASSERT_LT(v, 7u);
        ++hist[v];
    }
    // Chi-square with 6 degrees of freedom; 22.5 is the 0.1% tail.
    double chi2 = 0;
    for (int h : hist) chi2 += (h - n / 7.0) * (h - n / 7.0) / (n / 7.0);
    EXPECT_LT(chi2, 22.5);
    for (int i = 0; i < 1000; ++i) {
        int r = rng.range(-2, 2);
        ASSERT_TRUE(r >= -2 && r <= 2);
        double u = rng.uniform();
        ASSERT_TRUE(u >= 0 && u < 1);
    }
}

TEST(WorldPalette, ColoursAreWellSeparated) {
    double min_d = 1e9;
    for (int i = 0; i < kColourCount; ++i)
        for (int k = i + 1; k < kColourCount; ++k) {
            Rgb a = colour_rgb(Colour(i)), b = colour_rgb(Colour(k));
            double d = std::sqrt(double((a.r - b.r) * (a.r - b.r) + (a.g - b.g) * (a.g - b.g) + (a.b - b.b) * (a.b - b.b)));
            min_d = std::min(min_d, d);
        }
    EXPECT_GE(min_d, 95.0);
    EXPECT_GE(kObjectColourCount, 8);
    for (Colour bg : background_colours()) EXPECT_FALSE(is_object_colour(bg));
}

TEST(WorldPalette, NamesRoundTrip) {
    for (int i = 0; i < kShapeCount; ++i) EXPECT_EQ(shape_from_name(shape_name(Shape(i))), Shape(i));
    for (int i = 0; i < kColourCount; ++i) EXPECT_EQ(colour_from_name(colour_name(Colour(i))), Colour(i));
    EXPECT_EQ(size_from_name("small"), Size::Small);
    EXPECT_THROW(shape_from_name("hexagon"), Error);
    EXPECT_THROW(colour_from_name("teal"), Error);
}

TEST(WorldScene, JsonRoundTripAndValidation) {
    Rng rng(9);
    for (int i = 0; i < 100; ++i) {
        Scene s = random_scene(1, 9, rng, background_colours());
        Scene back = scene_from_json(to_json(s));
        EXPECT_EQ(to_json(back), to_json(s));
        EXPECT_TRUE(same_content(back, s));
    }
    nlohmann::json bad = to_json(random_scene(2, 2, rng, background_colours()));
    bad["objects"][1]["col"] = bad["objects"][0]["col"];
    bad["objects"][1]["row"] = bad["objects"][0]["row"];
    EXPECT_THROW(scene_from_json(bad), Error);
    bad["objects"][1]["col"] = 7;
    EXPECT_THROW(scene_from_json(bad), Error);
}

TEST(WorldRender, FlatColoursOnlyAndObjectsStayInTheirCells) {
    Rng rng(10);
    for (int i = 0; i < 200; ++i) {
        Scene s = random_scene(1, 9, rng, background_colours());
        world::Image im = render(s, 64, 64);
        std::set<std::tuple<int, int, int>> allowed;
        auto add = [&](Colour c) {
            Rgb v = colour_rgb(c);
            allowed.insert({v.r, v.g, v.b});
        };
        add(s.background);
        for (const auto& o : s.objects) add(o.colour);
        for (int y = 0; y < 64; ++y)
            for (int x = 0; x < 64; ++x) {
                const std::uint8_t* p = im.px(x, y);
                ASSERT_TRUE(allowed.count({p[0], p[1], p[2]})) << "pixel blends colours at " << x << "," << y;
                Rgb bg = colour_rgb(s.background);
                if (p[0] == bg.r && p[1] == bg.g && p[2] == bg.b) continue;
                // A non-background pixel belongs to the object of the cell holding it.
                const Object* o = s.at(int((x + 0.5) * 3 / 64), int((y + 0.5) * 3 / 64));
                ASSERT_NE(o, nullptr);
                Rgb c = colour_rgb(o->colour);
                ASSERT_TRUE(p[0] == c.r && p[1] == c.g && p[2] == c.b);
            }
    }
}

TEST(WorldRender, LargeIsLargerThanSmallForEveryShape) {
    for (int sh = 0; sh < kShapeCount; ++sh) {
        long area[2] = {0, 0};
        for (Size sz : {Size::Small, Size::Large}) {
            Scene s;
            Object o;
            o.shape = Shape(sh);
            o.size = sz;
            o.col = o.row = 1;
            s.objects.push_back(o);
            world::Image im = render(s, 96, 96);
            Rgb c = colour_rgb(o.colour);
            for (int y = 0; y < 96; ++y)
                for (int x = 0; x < 96; ++x) area[int(sz)] += im.px(x, y)[0] == c.r && im.px(x, y)[1] == c.g;
        }
        EXPECT_GT(area[1], 2 * area[0]) << shape_name(Shape(sh));
        EXPECT_GT(area[0], 40) << shape_name(Shape(sh));
    }
}

TEST(WorldPng, RoundTripAndErrors) {
    Rng rng(11);
    Scene s = random_scene(3, 3, rng, background_colours());
    world::Image im = render(s, 80, 48);
    std::string dir = test::temp_dir("world_png");
    std::string path = dir + "/a.png";
    write_png(path, im);
    world::Image back = read_png(path);
    EXPECT_EQ(back, im);
    EXPECT_THROW(read_png(dir + "/missing.png"), Error);
    {
        FILE* f = std::fopen((dir + "/bad.png").c_str(), "wb");
        std::fputs("not a png at all", f);
        std::fclose(f);
    }
    EXPECT_THROW(read_png(dir + "/bad.png"), Error);
}
