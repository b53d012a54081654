// Dead-code restarts: uniform picks follow the bulk of the encoder outputs, error-weighted
// picks go to the outputs the live codes fit worst.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "emu/core/error.h"
#include "emu/train/codebook_restart.h"

using emu::train::restart_dead_codes;

namespace {

// 2-D outputs: `bulk` copies of (1, 0), which live code 0 fits exactly, and one outlier at
// (0, 5). Codes 1..dead are unused.
struct Batch {
    std::vector<float> codebook, batch_z;
    std::vector<std::int64_t> usage;
    Batch(int bulk, int dead) {
        codebook.assign(std::size_t(2 * (dead + 1)), 0.f);
        codebook[0] = 1.f;
        usage.assign(std::size_t(dead + 1), 0);
        usage[0] = bulk;
        for (int i = 0; i < bulk; ++i) batch_z.insert(batch_z.end(), {1.f, 0.f});
        batch_z.insert(batch_z.end(), {0.f, 5.f});
    }
    bool near(int code, float x, float y) const {
        return std::abs(codebook[std::size_t(2 * code)] - x) < 0.01f && std::abs(codebook[std::size_t(2 * code + 1)] - y) < 0.01f;
    }
};

}  // namespace

TEST(CodebookRestart, ByErrorPutsTheFirstDeadCodeOnTheWorstFitOutput) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        Batch s(99, 2);
        EXPECT_EQ(restart_dead_codes(s.codebook, 2, s.usage, s.batch_z, true, seed), 2);
        // Every other output sits on code 0 (error 0), so the outlier is certain to be chosen.
        EXPECT_TRUE(s.near(1, 0.f, 5.f)) << "seed " << seed;
        EXPECT_TRUE(s.near(0, 1.f, 0.f));  // live codes stay
        // After it, every output is fitted to within the restart noise: the second dead code
        // lands on one of the outputs too, never anywhere else.
        EXPECT_TRUE(s.near(2, 1.f, 0.f) || s.near(2, 0.f, 5.f)) << "seed " << seed;
    }
}

TEST(CodebookRestart, UniformPicksFollowTheBulk) {
    int on_outlier = 0;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        Batch s(99, 1);
        EXPECT_EQ(restart_dead_codes(s.codebook, 2, s.usage, s.batch_z, false, seed), 1);
        EXPECT_TRUE(s.near(1, 1.f, 0.f) || s.near(1, 0.f, 5.f));
        on_outlier += s.near(1, 0.f, 5.f);
    }
    EXPECT_LE(on_outlier, 3);  // 1 in 100 per seed
}

TEST(CodebookRestart, DeterministicLiveCodesUntouchedAndShapesChecked) {
    Batch a(30, 5), b(30, 5);
    restart_dead_codes(a.codebook, 2, a.usage, a.batch_z, true, 7);
    restart_dead_codes(b.codebook, 2, b.usage, b.batch_z, true, 7);
    EXPECT_EQ(a.codebook, b.codebook);
    Batch none(10, 0);  // no dead code: nothing moves
    const auto before = none.codebook;
    EXPECT_EQ(restart_dead_codes(none.codebook, 2, none.usage, none.batch_z, true, 1), 0);
    EXPECT_EQ(none.codebook, before);
    Batch bad(10, 2);
    bad.usage.pop_back();
    EXPECT_THROW(restart_dead_codes(bad.codebook, 2, bad.usage, bad.batch_z, true, 1), std::exception);
}

// Near-duplicates: of two codes closer than the distance the less used one is retired (and
// of equals the later one), a far code stays, a code already unused is not counted.
TEST(CodebookRestart, RetiresTheLessUsedOfNearDuplicates) {
    using emu::train::retire_duplicate_codes;
    // codes: 0 (0,0) used 10; 1 (0.1,0) used 3; 2 (5,0) used 1; 3 (5.05,0) used 1; 4 (0,0.05) unused
    const std::vector<float> codebook = {0.f, 0.f, 0.1f, 0.f, 5.f, 0.f, 5.05f, 0.f, 0.f, 0.05f};
    std::vector<std::int64_t> usage = {10, 3, 1, 1, 0};
    EXPECT_EQ(retire_duplicate_codes(codebook, 2, usage, 0.2), 2);
    EXPECT_EQ(usage, (std::vector<std::int64_t>{10, 0, 1, 0, 0}));
    // Far apart at this distance: nothing moves; 0 switches it off.
    std::vector<std::int64_t> again = {10, 3, 1, 1, 0};
    EXPECT_EQ(retire_duplicate_codes(codebook, 2, again, 0.01), 0);
    EXPECT_EQ(retire_duplicate_codes(codebook, 2, again, 0.0), 0);
    EXPECT_EQ(again, (std::vector<std::int64_t>{10, 3, 1, 1, 0}));
    // A retired code is then restarted by restart_dead_codes like any unused one.
    std::vector<float> book = codebook;
    const std::vector<float> batch_z = {0.f, 0.f, 5.f, 0.f, 0.f, 9.f};
    EXPECT_EQ(emu::train::restart_dead_codes(book, 2, usage, batch_z, true, 3), 3);
    std::vector<std::int64_t> wrong = {1, 2};
    EXPECT_THROW(retire_duplicate_codes(codebook, 2, wrong, 0.2), emu::Error);
}
