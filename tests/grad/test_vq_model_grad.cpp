// The whole trainable IBQ: every parameter's gradient against central finite differences
// of the straight-through surrogate (quantizer state frozen at the point, see QuantFreeze),
// and the training forward against vision::Ibq inference on the same weights.
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <map>
#include <random>

#include "emu/train/vq_model.h"
#include "emu/vision/ibq.h"
#include "grad_check.h"

using namespace emu;

namespace {

vision::IbqConfig tiny_config() {
    vision::IbqConfig c;
    c.ch = 32;
    c.ch_mult = {1, 2};  // nin_shortcut (32 -> 64), one downsample, one upsample
    c.num_res_blocks = 1;
    c.attn_resolutions = {8};  // attention at level 0 besides the mid blocks
    c.resolution = 8;
    c.z_channels = 4;
    c.embed_dim = 4;
    c.n_embed = 8;
    return c;
}

std::vector<Tensor> random_images(int count, int h, int w, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<Tensor> out;
    for (int i = 0; i < count; ++i) out.push_back(Tensor::from_f32({3, h, w}, test::random_vec(3 * h * w, rng)));
    return out;
}

// Random pictures whose first 40 of 64 pixels share one colour (a "background"), so the
// object weighting has both kinds of pixel to weigh.
std::vector<Tensor> images_with_background(int count, unsigned seed) {
    auto out = random_images(count, 8, 8, seed);
    for (auto& t : out) {
        float* v = t.data_mut<float>();
        for (int c = 0; c < 3; ++c)
            for (int i = 0; i < 40; ++i) v[c * 64 + i] = 0.25f * float(c) - 0.3f;
    }
    return out;
}

void check_model_grads(const train::VqLossConfig& lc, unsigned seed, const std::string& only = "",
                       double h = 1e-2, bool background = false) {
    // Thousands of tiny forwards: thread start-up would dominate them.
    omp_set_num_threads(1);
    train::VqModel model(tiny_config());
    model.init_random(seed, 0.5);
    const auto images = background ? images_with_background(2, seed) : random_images(2, 8, 8, seed);
    std::vector<train::VqImageResult> res;
    model.zero_grad();
    model.step(images, lc, true, &res, true);
    std::vector<train::QuantFreeze> freeze;
    for (auto& r : res) freeze.push_back(r.state);
    auto loss = [&] { return model.step(images, lc, false, nullptr, false, &freeze).total; };
    for (const auto& p : model.params()) {
        if (!only.empty() && p.name.rfind(only, 0) != 0) continue;
        std::vector<float> v(p.value, p.value + p.size), g(p.grad, p.grad + p.size);
        // expect_grad_matches perturbs its own copy; mirror it into the model.
        std::function<double()> f = [&] {
            std::copy(v.begin(), v.end(), p.value);
            return loss();
        };
        test::expect_grad_matches(p.name, v, g, f, h, 2e-2, 6, 3e-5);
        std::copy(v.begin(), v.end(), p.value);
    }
}

TEST(VqModelGrad, EveryParameterMatchesFiniteDifferences) {
    // The L1 term's kinks (|d| at d = 0) spoil finite differences through the whole
    // network; it is checked on its own below.
    train::VqLossConfig lc;
    lc.l1 = 0;
    check_model_grads(lc, 1);
}

TEST(VqModelGrad, WithEntropyLoss) {
    train::VqLossConfig lc;
    lc.l1 = 0;
    lc.entropy = 0.1;
    lc.entropy_temperature = 0.5;  // soft enough for finite differences
    check_model_grads(lc, 2);
}

TEST(VqModelGrad, StraightThroughWithObjectWeightAndEntropy) {
    train::VqLossConfig lc;
    lc.l1 = 0;
    lc.straight_through = true;
    lc.object_weight = 4.0;
    lc.edge_weight = 2.0;
    lc.entropy = 0.1;
    lc.entropy_temperature = 0.5;
    check_model_grads(lc, 4, "", 1e-2, true);
}

TEST(VqModelGrad, BackgroundConsistencyGradients) {
    train::VqLossConfig lc;
    lc.l1 = 0;
    lc.straight_through = true;
    lc.background_consistency = 3.0;
    check_model_grads(lc, 5, "", 1e-2, true);
}

TEST(VqModelGrad, BackgroundConsistencyIsTheSpreadOfPlainBackgroundCells) {
    // images_with_background: pixel rows 0-4 of 8 are background; with 2x2 cells only cell
    // row 0 has background in its own and its neighbours' pixels (row 1's neighbours reach
    // pixel row 5). Both pictures share the colour, so the 8 cells share one mean.
    const auto cells = train::plain_background_cells(8, 8, 2, [](int, int y) { return y < 5; });
    ASSERT_EQ(cells, (std::vector<std::size_t>{0, 1, 2, 3}));
    omp_set_num_threads(1);
    train::VqModel model(tiny_config());
    model.init_random(7, 0.5);
    const auto images = images_with_background(2, 7);
    train::VqLossConfig plain;
    train::VqLossConfig weighted = plain;
    weighted.background_consistency = 2.0;
    std::vector<train::VqImageResult> res;
    const train::VqLosses l0 = model.step(images, plain, false, &res, true);
    const train::VqLosses lw = model.step(images, weighted, false);
    const int D = tiny_config().embed_dim;
    const std::size_t n = 16;
    std::vector<double> mean(std::size_t(D), 0.0);
    for (const auto& r : res)
        for (std::size_t c : cells)
            for (int d = 0; d < D; ++d) mean[std::size_t(d)] += r.state.z[std::size_t(d) * n + c] / 8.0;
    double spread = 0;
    for (const auto& r : res)
        for (std::size_t c : cells)
            for (int d = 0; d < D; ++d) {
                const double dev = r.state.z[std::size_t(d) * n + c] - mean[std::size_t(d)];
                spread += dev * dev;
            }
    spread /= 2.0 * double(n) * D;
    EXPECT_GT(spread, 0.0);
    EXPECT_NEAR(lw.background, spread, 1e-9 + 1e-5 * spread);
    EXPECT_NEAR(lw.total, l0.total + 2.0 * spread, 1e-9 + 1e-6 * lw.total);
}

TEST(VqModelGrad, ObjectWeightWeighsOnlyNonBackgroundPixels) {
    // With object_weight w the loss is the plain loss plus w times the loss of the pixels off
    // the background colour; a reconstruction loss only (quant 0) isolates that.
    omp_set_num_threads(1);
    train::VqModel model(tiny_config());
    model.init_random(6, 0.5);
    const auto images = images_with_background(2, 6);
    train::VqLossConfig plain;
    plain.quant = 0;
    train::VqLossConfig weighted = plain;
    weighted.object_weight = 2.0;
    std::vector<train::VqImageResult> res;
    const double l0 = model.step(images, plain, false, &res).total;
    const double lw = model.step(images, weighted, false).total;
    double off_bg = 0;
    for (std::size_t b = 0; b < images.size(); ++b) {
        const float* x = images[b].data<float>();
        const float* r = res[b].recon.data<float>();
        for (int c = 0; c < 3; ++c)
            for (int i = 40; i < 64; ++i) {
                const double d = double(r[c * 64 + i]) - x[c * 64 + i];
                off_bg += std::abs(d) + d * d;
            }
    }
    off_bg /= double(images.size()) * 3 * 64;
    EXPECT_NEAR(lw, l0 + 2.0 * off_bg, 1e-9 + 1e-6 * lw);
}

TEST(VqModelGrad, EdgeWeightWeighsOutlines) {
    // A 4x4 block of one colour on a background: its 12 outline pixels and the 16 background
    // pixels around it are edges; with a reconstruction loss only, the weighted loss is the
    // plain one plus edge_weight times the loss on exactly those 28 pixels.
    omp_set_num_threads(1);
    train::VqModel model(tiny_config());
    model.init_random(8, 0.5);
    std::vector<Tensor> images;
    std::vector<bool> edge(64, false);
    {
        std::vector<float> v(3 * 64, -0.5f);
        auto inside = [](int x, int y) { return x >= 2 && x < 6 && y >= 2 && y < 6; };
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x) {
                if (inside(x, y)) v[y * 8 + x] = 0.7f;
                for (auto [dx, dy] : {std::pair{1, 0}, {-1, 0}, {0, 1}, {0, -1}}) {
                    const int nx = x + dx, ny = y + dy;
                    if (nx >= 0 && nx < 8 && ny >= 0 && ny < 8 && inside(nx, ny) != inside(x, y)) edge[y * 8 + x] = true;
                }
            }
        images.push_back(Tensor::from_f32({3, 8, 8}, v));
    }
    train::VqLossConfig plain;
    plain.quant = 0;
    train::VqLossConfig weighted = plain;
    weighted.edge_weight = 3.0;
    std::vector<train::VqImageResult> res;
    const double l0 = model.step(images, plain, false, &res).total;
    const double lw = model.step(images, weighted, false).total;
    double on_edges = 0;
    int count = 0;
    const float* x = images[0].data<float>();
    const float* r = res[0].recon.data<float>();
    for (int i = 0; i < 64; ++i) {
        if (!edge[i]) continue;
        ++count;
        for (int c = 0; c < 3; ++c) {
            const double d = double(r[c * 64 + i]) - x[c * 64 + i];
            on_edges += std::abs(d) + d * d;
        }
    }
    EXPECT_EQ(count, 28);
    on_edges /= 3.0 * 64;
    EXPECT_NEAR(lw, l0 + 3.0 * on_edges, 1e-9 + 1e-6 * lw);
}

TEST(VqModelGrad, StraightThroughKeepsCodesAndReconstruction) {
    // The estimator changes gradients only: codes and pixels are those of index propagation.
    omp_set_num_threads(1);
    train::VqModel model(tiny_config());
    model.init_random(7, 0.5);
    const auto images = random_images(2, 8, 8, 7);
    train::VqLossConfig ste;
    ste.straight_through = true;
    std::vector<train::VqImageResult> a, b;
    model.step(images, train::VqLossConfig{}, false, &a);
    model.step(images, ste, false, &b);
    for (std::size_t i = 0; i < a.size(); ++i)
        for (std::size_t k = 0; k < a[i].recon.numel(); ++k)
            EXPECT_EQ(a[i].recon.data<float>()[k], b[i].recon.data<float>()[k]);
    for (std::size_t i = 0; i < a.size(); ++i)
        for (int k = 0; k < 16; ++k)
            EXPECT_EQ(a[i].codes.data<std::int64_t>()[k], b[i].codes.data<std::int64_t>()[k]);
}

TEST(VqModelGrad, L1Reconstruction) {
    // Steps small enough that (almost) no pixel difference changes sign.
    train::VqLossConfig lc;
    lc.l2 = 0;
    lc.quant = 0;
    check_model_grads(lc, 5, "decoder.conv_out", 1e-4);
}

TEST(VqModelGrad, QuantizerGradientReachesEveryCode) {
    // Index back-propagation: the whole codebook gets gradients, not only chosen codes.
    train::VqModel model(tiny_config());
    model.init_random(3, 0.5);
    model.zero_grad();
    std::vector<train::VqImageResult> res;
    model.step(random_images(1, 8, 8, 3), train::VqLossConfig{}, true, &res);
    const float* g = model.grad("quantize.embedding.weight");
    for (int code = 0; code < 8; ++code) {
        double s = 0;
        for (int d = 0; d < 4; ++d) s += std::abs(g[code * 4 + d]);
        EXPECT_GT(s, 0.0) << "code " << code;
    }
}

TEST(VqModel, TrainingForwardEqualsInference) {
    vision::IbqConfig c;
    c.ch = 32;
    c.ch_mult = {1, 2, 2};
    c.num_res_blocks = 2;
    c.attn_resolutions = {16};
    c.resolution = 32;
    c.z_channels = 8;
    c.embed_dim = 6;
    c.n_embed = 32;
    train::VqModel model(c);
    model.init_random(9, 1.0);
    const vision::Ibq ibq(c, model.weights());
    for (auto [h, w] : {std::pair{16, 16}, std::pair{24, 16}, std::pair{32, 32}}) {
        const auto images = random_images(2, h, w, unsigned(h * 100 + w));
        std::vector<train::VqImageResult> res;
        model.step(images, train::VqLossConfig{}, false, &res);
        for (std::size_t i = 0; i < images.size(); ++i) {
            const Tensor codes = ibq.encode(images[i]);
            ASSERT_EQ(codes.numel(), res[i].codes.numel());
            for (std::uint64_t k = 0; k < codes.numel(); ++k)
                EXPECT_EQ(codes.data<std::int64_t>()[k], res[i].codes.data<std::int64_t>()[k]) << "code " << k;
            const Tensor dec = ibq.decode(codes);
            ASSERT_EQ(dec.shape(), res[i].recon.shape());
            for (std::uint64_t k = 0; k < dec.numel(); ++k)
                ASSERT_NEAR(dec.data<float>()[k], res[i].recon.data<float>()[k], 1e-5) << "pixel " << k;
        }
    }
}

TEST(VqModel, BatchParallelEqualsSerial) {
    // Images of a batch run on separate threads with their own gradient buffers.
    train::VqModel model(tiny_config());
    model.init_random(6, 0.5);
    const auto images = random_images(3, 8, 8, 6);
    std::vector<std::vector<float>> g[2];
    double loss[2];
    for (int threads : {1, 2}) {
        omp_set_num_threads(threads);
        model.zero_grad();
        loss[threads - 1] = model.step(images, train::VqLossConfig{}, true).total;
        for (const auto& p : model.params()) g[threads - 1].emplace_back(p.grad, p.grad + p.size);
    }
    omp_set_num_threads(1);
    EXPECT_NEAR(loss[0], loss[1], 1e-6 * std::abs(loss[0]));  // kernels may pick other paths
    for (std::size_t i = 0; i < g[0].size(); ++i)
        for (std::size_t k = 0; k < g[0][i].size(); ++k)
            ASSERT_NEAR(g[0][i][k], g[1][i][k], 1e-6 + 1e-5 * std::abs(g[0][i][k])) << "param " << i << " entry " << k;
}

TEST(VqModel, GradientsAccumulateOverABatch) {
    // The batch loss is the mean over images: its gradient is the mean of the single-image ones.
    train::VqModel model(tiny_config());
    model.init_random(4, 0.5);
    const auto images = random_images(2, 8, 8, 4);
    train::VqLossConfig lc;
    model.zero_grad();
    model.step(images, lc, true);
    std::vector<float> both(model.grad("decoder.conv_out.weight"),
                            model.grad("decoder.conv_out.weight") + 3 * 32 * 9);
    std::vector<float> sum(both.size(), 0.f);
    for (int i = 0; i < 2; ++i) {
        model.zero_grad();
        model.step({images[i]}, lc, true);
        for (std::size_t k = 0; k < sum.size(); ++k) sum[k] += model.grad("decoder.conv_out.weight")[k] / 2;
    }
    for (std::size_t k = 0; k < sum.size(); ++k) EXPECT_NEAR(both[k], sum[k], 1e-6) << k;
}

TEST(VqModel, FrozenEncoderStopsTheBackwardAtTheQuantizer) {
    // The decoder's gradients are those of the full backward; the encoder side gets none.
    train::VqModel model(tiny_config());
    model.init_random(6, 0.5);
    const auto images = random_images(2, 8, 8, 6);
    train::VqLossConfig lc;
    lc.straight_through = true;
    model.zero_grad();
    model.step(images, lc, true);
    std::map<std::string, std::vector<float>> full;
    for (const auto& p : model.params()) full[p.name].assign(p.grad, p.grad + p.size);
    model.freeze_encoder(true);
    model.zero_grad();
    model.step(images, lc, true);
    int decoder = 0, frozen = 0;
    for (const auto& p : model.params()) {
        const bool reads_codes = train::VqModel::decoder_side(p.name);
        for (std::size_t k = 0; k < p.size; ++k) {
            if (reads_codes) {
                ASSERT_EQ(p.grad[k], full[p.name][k]) << p.name << " entry " << k;
            } else {
                ASSERT_EQ(p.grad[k], 0.f) << p.name << " must get no gradient";
            }
        }
        ++(reads_codes ? decoder : frozen);
        if (!reads_codes) {
            const auto& g = full[p.name];
            const bool any = std::any_of(g.begin(), g.end(), [](float x) { return x != 0.f; });
            EXPECT_TRUE(any) << p.name << " has a gradient in the full backward";
        }
    }
    EXPECT_GT(decoder, 5);
    EXPECT_GT(frozen, 5);
}

}  // namespace
