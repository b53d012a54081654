// DiDA rows: which tokens are masked, which attend bidirectionally, where the loss is,
// and that the trainer scores masked tokens against their clean codes one position back.
#include <gtest/gtest.h>

#include <cmath>

#include "emu/core/error.h"
#include "emu/lm/config.h"
#include "emu/train/dida.h"
#include "emu/train/lm_model.h"

using namespace emu;
using namespace emu::train;

namespace {

// A tiny layout: ids below 20 are text, digits 10..19, '*' 9, EOL 3, IMG 4, BOI 5, EOI 6,
// MASK 7, ESS 1, EOS 2, visual codes 20..35.
text::SpecialRoles roles() {
    text::SpecialRoles r;
    r.eol = 3;
    r.img = 4;
    r.boi = 5;
    r.eoi = 6;
    r.ess = 1;
    r.eos = 2;
    r.bov = 20;
    r.n_visual = 16;
    return r;
}
constexpr text::TokenId kMask = 7;

// prompt (no loss) | BOI 2 * 3 IMG v v v EOL v v v EOI ESS EOS (loss), then padding.
Batch one_row(int pad) {
    Batch b;
    b.rows = 1;
    std::vector<text::TokenId> ids = {8, 8, 8, 5, 12, 9, 13, 4, 21, 22, 23, 3, 24, 25, 26, 6, 1, 2};
    b.seq_len = int(ids.size()) + pad;
    b.ids = ids;
    b.mask.assign(ids.size(), 0);
    for (std::size_t i = 3; i < ids.size(); ++i) b.mask[i] = kTarget;
    b.mask[9] = b.mask[13] = kObjectTarget;  // two visual tokens in object cells: DiDA weighs them 1 too
    b.segments.assign(ids.size(), 1);
    for (std::size_t i = 0; i < ids.size(); ++i) b.positions.push_back(std::int32_t(i));
    for (int i = 0; i < pad; ++i) {
        b.ids.push_back(0);
        b.mask.push_back(0);
        b.segments.push_back(0);
        b.positions.push_back(0);
    }
    b.first_index = 0;
    return b;
}

}  // namespace

TEST(Dida, RowsMaskTheImageAndMoveTheLoss) {
    DidaConfig cfg;
    cfg.ar_fraction = 0.0;
    const Batch b = one_row(3);
    int saw_partial = 0;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        DidaRows rows;
        make_dida_rows(b, roles(), kMask, cfg, seed, rows);
        ASSERT_GT(rows.masked, 0);
        int masked = 0;
        for (std::size_t p = 0; p < b.ids.size(); ++p) {
            const bool in_block = p >= 7 && p < 15;  // IMG .. last body token
            EXPECT_EQ(rows.blocks[p] != 0, in_block) << p;
            EXPECT_EQ(rows.targets[p], b.ids[p]) << "targets stay clean";
            if (rows.ids[p] == kMask) {
                ++masked;
                EXPECT_TRUE(b.ids[p] >= 20) << "only visual tokens are masked";
                EXPECT_EQ(rows.mask[p], 1.f);
            } else if (p > 7 && p < 15) {
                EXPECT_EQ(rows.mask[p], 0.f) << "given tokens of the block carry no loss";
            }
            if (p >= 15) {
                EXPECT_EQ(rows.mask[p], 0.f) << "tokens after a noisy image carry no loss";
            }
            if (p <= 7) {
                EXPECT_EQ(rows.mask[p], b.mask[p] == kGiven ? 0.f : 1.f) << "the AR loss before the image stays";
            }
        }
        EXPECT_EQ(masked, rows.masked);
        saw_partial += masked > 0 && masked < 6;
        // Deterministic.
        DidaRows again;
        make_dida_rows(b, roles(), kMask, cfg, seed, again);
        EXPECT_EQ(again.ids, rows.ids);
    }
    EXPECT_GT(saw_partial, 10);  // ratios vary
    // ar_fraction close to 1 leaves most rows untouched.
    cfg.ar_fraction = 0.99;
    int untouched = 0;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        DidaRows rows;
        make_dida_rows(b, roles(), kMask, cfg, seed, rows);
        untouched += rows.masked == 0;
        if (rows.masked == 0) {  // a plain AR row: object cells weigh 1 like every target
            EXPECT_EQ(rows.mask[9], 1.f);
            EXPECT_EQ(rows.mask[13], 1.f);
        }
    }
    EXPECT_GT(untouched, 40);
    EXPECT_THROW(dida_config_from_json({{"ratio", 1}}), Error);
}

TEST(Dida, TrainerScoresMaskedTokensAgainstCleanCodesOneBack) {
    lm::Config c;
    c.vocab_size = 40;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_hidden_layers = 1;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 1;
    c.head_dim = 8;
    c.rope_theta = 1e4;
    c.validate();
    LmModel model = LmModel::random(c, 5, 0.3f);
    LmTrainer trainer(model);
    DidaConfig cfg;
    cfg.ar_fraction = 0.0;
    const Batch b = one_row(0);
    DidaRows rows;
    make_dida_rows(b, roles(), kMask, cfg, 3, rows);
    const LmStepResult r = trainer.forward(rows.view(b));
    // Independent sum: -log softmax(logits[p-1])[clean token p] over weighted positions.
    const std::vector<float>& logits = trainer.logits();
    double expect = 0, weight = 0;
    for (std::size_t p = 1; p < b.ids.size(); ++p) {
        if (rows.mask[p] == 0.f) continue;
        const float* row = logits.data() + (p - 1) * 40;
        double mx = row[0], z = 0;
        for (int v = 0; v < 40; ++v) mx = std::max(mx, double(row[v]));
        for (int v = 0; v < 40; ++v) z += std::exp(double(row[v]) - mx);
        expect += -(double(row[b.ids[p]]) - mx - std::log(z)) * rows.mask[p];
        weight += rows.mask[p];
    }
    EXPECT_NEAR(r.loss_sum, expect, 1e-4 * std::max(1.0, expect));
    EXPECT_DOUBLE_EQ(r.tokens, weight);
}
