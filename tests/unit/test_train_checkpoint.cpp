// Checkpoints resume bit for bit: a toy model trained N steps straight equals one trained k
// steps, saved, reloaded into fresh objects and trained N-k more (losses and parameters).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "emu/core/error.h"
#include "emu/core/rng.h"
#include "emu/train/checkpoint.h"
#include "emu/train/optimizer.h"
#include "emu/train/schedule.h"
#include "fixtures.h"

using namespace emu;
using namespace emu::train;

namespace {

// A toy least-squares model: loss = mean_j (a . x_j + b - y_j)^2 over a minibatch drawn
// from the trainer's Rng (so the RNG state matters), data index from a cursor.
struct Toy {
    std::vector<float> a = std::vector<float>(6, 0.0f), b = {0.0f}, ga = std::vector<float>(6), gb = {0.0f};
    Rng rng{1234};
    std::int64_t cursor = 0;

    std::vector<Param> params() {
        return {param_of("a", a.data(), ga.data(), a.size(), true, {2, 3}), param_of("b", b.data(), gb.data(), 1, false, {1})};
    }
    // One training step; returns the loss (computed in float, as a trainer would).
    float step(AdamW& opt, const LrSchedule& sched) {
        std::fill(ga.begin(), ga.end(), 0.0f);
        gb[0] = 0.0f;
        float loss = 0.0f;
        const int batch = 4;
        for (int j = 0; j < batch; ++j) {
            Rng data(mix_seed({99, std::uint64_t(cursor++)}));
            float x[6], y = 0.5f;
            for (int i = 0; i < 6; ++i) {
                x[i] = float(data.uniform() * 2 - 1);
                y += float(i + 1) * 0.1f * x[i];
            }
            const float noise = float(rng.uniform() - 0.5) * 0.01f;  // the trainer RNG's part
            float pred = b[0];
            for (int i = 0; i < 6; ++i) pred += a[std::size_t(i)] * x[i];
            const float err = pred - (y + noise);
            loss += err * err / batch;
            for (int i = 0; i < 6; ++i) ga[std::size_t(i)] += 2 * err * x[i] / batch;
            gb[0] += 2 * err / batch;
        }
        clip_grad_norm(opt.params(), 1.0);
        opt.step(sched.lr(opt.steps()));
        return loss;
    }
};

}  // namespace

TEST(Checkpoint, ResumeIsBitIdentical) {
    const int N = 40, K = 17;
    const LrSchedule sched{0.05, 0.001, 5, N};
    AdamWConfig cfg;
    cfg.weight_decay = 0.01;

    Toy straight;
    AdamW opt_s(straight.params(), cfg);
    std::vector<float> losses_s;
    for (int s = 0; s < N; ++s) losses_s.push_back(straight.step(opt_s, sched));

    const std::string root = test::temp_dir("train_checkpoint");
    std::vector<float> losses_r;
    {
        Toy first;
        AdamW opt(first.params(), cfg);
        for (int s = 0; s < K; ++s) losses_r.push_back(first.step(opt, sched));
        TrainState st;
        st.step = opt.steps();
        st.data_cursor = first.cursor;
        st.rng = first.rng.state();
        st.extra = {{"note", "toy"}};
        save_checkpoint(checkpoint_dir(root, K), opt, st, {{"ema", Tensor::from_f32({2}, {1.5f, -2.0f})}});
        // Keep training the old objects: the saved folder must not change with them.
        first.step(opt, sched);
    }
    ASSERT_TRUE(latest_checkpoint(root).has_value());
    EXPECT_EQ(*latest_checkpoint(root), checkpoint_dir(root, K));
    {
        Toy resumed;  // fresh: zero parameters, default rng, cursor 0
        AdamW opt(resumed.params(), cfg);
        std::map<std::string, Tensor> buffers;
        const TrainState st = load_checkpoint(*latest_checkpoint(root), opt, &buffers);
        EXPECT_EQ(st.step, K);
        EXPECT_EQ(opt.steps(), K);
        EXPECT_EQ(st.extra.value("note", ""), "toy");
        ASSERT_EQ(buffers.count("ema"), 1u);
        EXPECT_EQ(buffers["ema"].f32_values(), (std::vector<float>{1.5f, -2.0f}));
        resumed.cursor = st.data_cursor;
        resumed.rng = Rng::from_state(st.rng);
        for (int s = K; s < N; ++s) losses_r.push_back(resumed.step(opt, sched));
        ASSERT_EQ(losses_r.size(), losses_s.size());
        for (int s = 0; s < N; ++s) EXPECT_EQ(losses_r[std::size_t(s)], losses_s[std::size_t(s)]) << "step " << s;
        EXPECT_EQ(std::memcmp(resumed.a.data(), straight.a.data(), 6 * sizeof(float)), 0);
        EXPECT_EQ(resumed.b[0], straight.b[0]);
        for (std::size_t i = 0; i < 2; ++i) {
            const auto m1 = opt.exp_avg(i), m2 = opt_s.exp_avg(i);
            EXPECT_TRUE(std::equal(m1.begin(), m1.end(), m2.begin()));
            const auto v1 = opt.exp_avg_sq(i), v2 = opt_s.exp_avg_sq(i);
            EXPECT_TRUE(std::equal(v1.begin(), v1.end(), v2.begin()));
        }
    }
    // The loss actually went down (the toy trains), so equality is not trivially of constants.
    EXPECT_LT(losses_s.back(), losses_s.front() * 0.5f);
}

TEST(Checkpoint, OverwriteAndErrors) {
    const std::string root = test::temp_dir("train_checkpoint_errors");
    std::vector<float> a = {1, 2, 3}, g(3);
    AdamW opt({param_of("a", a.data(), g.data(), 3)}, {});
    TrainState st;
    st.step = 3;
    const std::string dir = checkpoint_dir(root, 3);
    save_checkpoint(dir, opt, st);
    a[0] = 9;
    save_checkpoint(dir + "/", opt, st);  // replaces the folder (a trailing slash is the same folder)
    a[0] = 0;
    load_checkpoint(dir, opt);
    EXPECT_EQ(a[0], 9.0f);
    EXPECT_FALSE(std::filesystem::exists(dir + ".tmp"));

    // A model whose parameter differs in size or name is refused, naming the tensor.
    std::vector<float> b(4), gb(4);
    AdamW other({param_of("a", b.data(), gb.data(), 4)}, {});
    try {
        load_checkpoint(dir, other);
        FAIL() << "size mismatch accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("a"), std::string::npos);
    }
    AdamW renamed({param_of("c", b.data(), gb.data(), 3)}, {});
    EXPECT_THROW(load_checkpoint(dir, renamed), Error);
    EXPECT_THROW(load_checkpoint(root + "/nothing", opt), Error);
    EXPECT_FALSE(latest_checkpoint(root + "/nothing").has_value());
}
