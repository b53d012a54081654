// The AR decoding loop with a scripted fake model: images are always well formed,
// guidance follows the official formula, the unconditional stream sees exactly the
// image tokens, CFG pairs share one forward, and a seed fixes the output.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "emu/core/error.h"
#include "emu/gen/ar_decoder.h"
#include "emu/gen/guidance.h"

using namespace emu;
using namespace emu::gen;

namespace {

// A tiny vocabulary with the Emu layout: text 0..9, digits 10..19, '*' 20,
// BOI 30, EOI 31, IMG 32, EOL 33, EOS 34, visual codes 40..63.
ImageTokenIds tiny_ids() {
    ImageTokenIds ids;
    for (int d = 0; d < 10; ++d) ids.digits[d] = 10 + d;
    ids.star = 20;
    ids.boi = 30;
    ids.eoi = 31;
    ids.img = 32;
    ids.eol = 33;
    ids.first_visual = 40;
    ids.n_visual = 24;
    ids.vocab_size = 64;
    return ids;
}
constexpr TokenId kEos = 34;

// Scores come from a script: f(stream, tokens up to and including the row's token).
class FakeModel : public LanguageModel {
public:
    using Script = std::function<std::vector<float>(int stream, const std::vector<TokenId>& seq)>;
    explicit FakeModel(Script script) : script_(std::move(script)) {}
    std::int32_t vocab_size() const override { return 64; }
    int new_stream(std::int64_t) override {
        streams_.emplace_back();
        return int(streams_.size()) - 1;
    }
    void forward(std::span<const StreamFeed> feeds, std::vector<std::vector<float>>& logits) override {
        ++passes_;
        logits.assign(feeds.size(), {});
        for (std::size_t i = 0; i < feeds.size(); ++i) {
            auto& seq = streams_.at(std::size_t(feeds[i].stream));
            const std::size_t before = seq.size();
            seq.insert(seq.end(), feeds[i].tokens.begin(), feeds[i].tokens.end());
            std::vector<std::int64_t> rows = feeds[i].logits_rows;
            if (rows.empty() && feeds[i].want_logits) rows.push_back(std::int64_t(feeds[i].tokens.size()) - 1);
            for (std::int64_t r : rows) {
                std::vector<TokenId> prefix(seq.begin(), seq.begin() + long(before) + r + 1);
                auto s = script_(feeds[i].stream, prefix);
                logits[i].insert(logits[i].end(), s.begin(), s.end());
            }
            if (feeds[i].causal_prefix >= 0) ++bidirectional_feeds_;
        }
    }
    std::int64_t length(int stream) const override { return std::int64_t(streams_.at(std::size_t(stream)).size()); }
    void truncate(int stream, std::int64_t length) override { streams_.at(std::size_t(stream)).resize(std::size_t(length)); }
    std::int64_t passes() const override { return passes_; }
    std::vector<std::vector<TokenId>> streams_;
    int bidirectional_feeds_ = 0;

private:
    Script script_;
    std::int64_t passes_ = 0;
};

// Checks the official layout of every image in `tokens`; returns the number of images.
int check_images(const std::vector<TokenId>& tokens, const ImageTokenIds& ids, std::optional<GridSize> expect_size) {
    int images = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] != ids.boi) {
            // Text may hold stray markers (officially only visual ids are masked there).
            EXPECT_FALSE(ids.is_visual(tokens[i])) << "visual token outside an image at " << i;
            continue;
        }
        std::size_t j = i + 1;
        std::vector<TokenId> header;
        while (j < tokens.size() && tokens[j] != ids.img) header.push_back(tokens[j++]);
        if (j == tokens.size()) return images;  // cut by the token budget
        auto [h, w] = ids.parse_header(header);
        if (expect_size) {
            EXPECT_EQ(h, expect_size->h);
            EXPECT_EQ(w, expect_size->w);
        }
        ++j;
        for (int r = 0; r < h; ++r) {
            for (int c = 0; c < w; ++c, ++j) {
                if (j >= tokens.size()) return images;
                EXPECT_TRUE(ids.is_visual(tokens[j])) << "row " << r << " col " << c;
            }
            if (j >= tokens.size()) return images;
            EXPECT_EQ(tokens[j], r + 1 < h ? ids.eol : ids.eoi) << "after row " << r;
            ++j;
        }
        ++images;
        i = j - 1;
    }
    return images;
}

std::vector<float> random_scores(std::mt19937& rng) {
    std::normal_distribution<float> n(0.0f, 3.0f);
    std::vector<float> s(64);
    for (float& v : s) v = n(rng);
    return s;
}

DecodeSettings settings(int max_tokens, std::optional<GridSize> size) {
    DecodeSettings s;
    s.max_new_tokens = max_tokens;
    s.eos = kEos;
    s.target_size = size;
    s.cfg_scale = 3.0f;
    return s;
}

const std::vector<TokenId> kPrompt = {1, 2, 3};
const std::vector<TokenId> kUncond = {1, 3};

}  // namespace

TEST(ArDecoder, ImagesAreWellFormedWhateverTheModelPrefers) {
    ImageTokenIds ids = tiny_ids();
    // Adversarial: after the prompt it wants BOI, then everything but what the grammar needs.
    for (int seed = 0; seed < 20; ++seed) {
        std::mt19937 rng(seed);
        FakeModel model([&](int, const std::vector<TokenId>&) {
            auto s = random_scores(rng);
            s[ids.boi] += 4.0f;   // keep opening images
            s[ids.eol] += 6.0f;   // and try to end rows early
            s[ids.eoi] += 6.0f;
            s[kEos] = -100.0f;  // never stop, so images keep coming
            return s;
        });
        std::optional<GridSize> size;
        if (seed % 2) size = GridSize{3, 5};
        // Auto sizes reach 99x99 tokens, so give those runs room for a whole image.
        DecodeResult r = decode_autoregressive(model, ids, kPrompt, kUncond, settings(size ? 400 : 11000, size));
        int images = check_images(r.tokens, ids, size);
        EXPECT_GT(images, 0) << "seed " << seed;
    }
}

TEST(ArDecoder, AutoSizeIsTwoDigitsAndLaterImagesKeepIt) {
    ImageTokenIds ids = tiny_ids();
    std::mt19937 rng(5);
    FakeModel model([&](int, const std::vector<TokenId>& seq) {
        auto s = random_scores(rng);
        if (seq.back() == ids.eoi || seq.back() == 3) s[ids.boi] = 50.0f;  // start images eagerly
        return s;
    });
    DecodeSettings st = settings(3000, std::nullopt);
    std::vector<std::pair<int, int>> sizes;
    DecodeCallbacks cb;
    cb.on_image = [&](std::span<const TokenId> image) {
        std::vector<TokenId> header;
        for (std::size_t i = 1; image[i] != ids.img; ++i) header.push_back(image[i]);
        sizes.push_back(ids.parse_header(header));
    };
    DecodeResult r = decode_autoregressive(model, ids, kPrompt, kUncond, st, cb);
    ASSERT_GE(sizes.size(), 2u);
    EXPECT_GE(sizes[0].first, 10);
    EXPECT_LE(sizes[0].first, 99);
    EXPECT_GE(sizes[0].second, 10);
    for (const auto& s : sizes) EXPECT_EQ(s, sizes[0]);
    check_images(r.tokens, ids, GridSize{sizes[0].first, sizes[0].second});
}

TEST(ArDecoder, ReferenceImageInUncondPromptFixesTheSize) {
    ImageTokenIds ids = tiny_ids();
    // Unconditional prompt holding a 2x3 reference image.
    std::vector<TokenId> uncond = {1, ids.boi, 12, 20, 13, ids.img, 40, 41, 42, ids.eol, 43, 44, 45, ids.eoi, 2};
    std::vector<TokenId> prompt = uncond;
    prompt.push_back(5);
    std::mt19937 rng(1);
    FakeModel model([&](int, const std::vector<TokenId>& seq) {
        auto s = random_scores(rng);
        if (seq.back() == 5) s[ids.boi] = 50.0f;
        return s;
    });
    // No preset (as official x2i): the reference image's grid wins.
    DecodeResult r = decode_autoregressive(model, ids, prompt, uncond, settings(60, std::nullopt));
    EXPECT_GE(check_images(r.tokens, ids, GridSize{2, 3}), 1);
}

TEST(ArDecoder, GuidanceFollowsTheOfficialFormulaAndUncondSeesOnlyImages) {
    ImageTokenIds ids = tiny_ids();
    // Conditional prefers code 40 slightly; the unconditional prefers it strongly, so guidance
    // (scale 3) must move the choice to code 41. Text steps: emit 7 then BOI, then EOS after the image.
    FakeModel model([&](int stream, const std::vector<TokenId>& seq) {
        std::vector<float> s(64, 0.0f);
        if (seq.back() == 3) s[7] = 10.0f;
        else if (seq.back() == 7) s[ids.boi] = 10.0f;
        else if (seq.back() == ids.eoi) s[kEos] = 10.0f;
        s[40] = stream == 0 ? 2.0f : 4.0f;
        s[41] = stream == 0 ? 1.5f : 0.0f;
        return s;
    });
    DecodeSettings st = settings(100, GridSize{2, 2});
    st.image.greedy = st.text.greedy = true;
    DecodeResult r = decode_autoregressive(model, ids, kPrompt, kUncond, st);
    std::vector<TokenId> expect = {7, ids.boi, 12, 20, 12, ids.img, 41, 41, ids.eol, 41, 41, ids.eoi, kEos};
    EXPECT_EQ(r.tokens, expect);
    EXPECT_TRUE(r.stopped_at_eos);
    // Independent check of the combine on these numbers.
    std::vector<float> c(64, 0.0f), u(64, 0.0f);
    c[40] = 2.0f, c[41] = 1.5f, u[40] = 4.0f;
    apply_cfg(c, u, 3.0f);
    EXPECT_GT(c[41], c[40]);
    // The unconditional stream: its prompt, then the image's tokens (fed lazily, so up to
    // what the last guided step needed), never the text token 7.
    std::vector<TokenId> uncond_seen = kUncond;
    uncond_seen.insert(uncond_seen.end(), expect.begin() + 1, expect.begin() + 10);
    EXPECT_EQ(model.streams_.at(1), uncond_seen);
    // The conditional stream holds the prompt and everything generated before the EOS.
    std::vector<TokenId> cond_seen = kPrompt;
    cond_seen.insert(cond_seen.end(), expect.begin(), expect.end() - 1);
    EXPECT_EQ(model.streams_.at(0), cond_seen);
    // One batched pass per sampled token (cond + uncond together); forced header, EOL and
    // EOI tokens ride along with the next pass: 13 tokens, 6 of them forced.
    EXPECT_EQ(r.passes, 7);
}

TEST(ArDecoder, SameSeedSameTokens) {
    ImageTokenIds ids = tiny_ids();
    auto run = [&](std::uint64_t seed) {
        FakeModel model([&](int, const std::vector<TokenId>& seq) {
            std::mt19937 rng(std::uint32_t(seq.size() * 31 + seq.back()));  // scores depend only on the sequence
            auto s = random_scores(rng);
            s[ids.boi] += 3.0f;
            return s;
        });
        DecodeSettings st = settings(200, GridSize{3, 3});
        st.seed = seed;
        return decode_autoregressive(model, ids, kPrompt, kUncond, st).tokens;
    };
    EXPECT_EQ(run(42), run(42));
    EXPECT_NE(run(42), run(43));
}

TEST(ArDecoder, BadSettingsGiveClearErrors) {
    ImageTokenIds ids = tiny_ids();
    FakeModel model([](int, const std::vector<TokenId>&) { return std::vector<float>(64, 0.0f); });
    EXPECT_THROW(decode_autoregressive(model, ids, kPrompt, kUncond, settings(0, std::nullopt)), Error);
    EXPECT_THROW(decode_autoregressive(model, ids, {}, kUncond, settings(5, std::nullopt)), Error);
    std::vector<TokenId> bad_prompt = {1, 99};
    EXPECT_THROW(decode_autoregressive(model, ids, bad_prompt, kUncond, settings(5, std::nullopt)), Error);
    ImageTokenIds no_visual = ids;
    no_visual.n_visual = 0;
    EXPECT_THROW(decode_autoregressive(model, no_visual, kPrompt, kUncond, settings(5, std::nullopt)), Error);
}

// ---- Parallel (DiDA) image decoding with the same fake model ----

TEST(ParallelImage, ScheduleCommitsEverythingByTheLastStep) {
    for (int steps : {1, 2, 4, 8, 20}) {
        std::int64_t masked = 64;
        for (int k = 0; k < steps; ++k) {
            std::int64_t after = masked_after_step(64, k, steps, masked);
            EXPECT_LT(after, masked) << "no progress at step " << k;
            EXPECT_GE(after, 0);
            masked = after;
            if (masked == 0) break;
        }
        EXPECT_EQ(masked, 0) << steps << " steps";
    }
    EXPECT_EQ(masked_after_step(64, 0, 8, 64), 62);  // floor(64 cos(pi/16))
}

TEST(ParallelImage, ImagesAreWellFormedAndCostStepsNotTokens) {
    ImageTokenIds ids = tiny_ids();
    const TokenId mask = 5;
    for (int seed = 0; seed < 6; ++seed) {
        std::mt19937 rng(seed);
        FakeModel model([&](int, const std::vector<TokenId>& seq) {
            auto s = random_scores(rng);
            if (seq.back() == 3 || seq.back() == ids.eoi) s[ids.boi] = 40.0f;  // open images after the prompt
            s[kEos] = -100.0f;
            return s;
        });
        // Two whole images: BOI, "5*7", IMG, then 5 rows of 7 codes + EOLs + EOI (45 tokens each).
        DecodeSettings st = settings(2 * 45, GridSize{5, 7});
        st.parallel = ParallelImageSettings{4, mask};
        st.seed = std::uint64_t(seed);
        DecodeResult r = decode_autoregressive(model, ids, kPrompt, kUncond, st);
        int images = check_images(r.tokens, ids, GridSize{5, 7});
        EXPECT_EQ(images, 2);
        for (TokenId t : r.tokens) EXPECT_NE(t, mask) << "a mask token leaked into the output";
        EXPECT_GT(model.bidirectional_feeds_, 0);
        // Per image: one pass to sample BOI, then 4 denoising passes (cond + uncond batched)
        // instead of one per visual token (35).
        EXPECT_EQ(r.passes, images * 5);
        // The caches end up holding the clean tokens, as if decoded token by token.
        std::vector<TokenId> cond_seen = kPrompt;
        cond_seen.insert(cond_seen.end(), r.tokens.begin(), r.tokens.end());
        auto& stream = model.streams_.at(0);
        ASSERT_LE(stream.size(), cond_seen.size());
        EXPECT_TRUE(std::equal(stream.begin(), stream.end(), cond_seen.begin()));
    }
}

TEST(ParallelImage, GuidanceAndDeterminism) {
    ImageTokenIds ids = tiny_ids();
    // Same preference trick as the AR guidance test: CFG must turn every code into 41.
    auto script = [&](int stream, const std::vector<TokenId>& seq) {
        std::vector<float> s(64, 0.0f);
        if (seq.back() == 3) s[ids.boi] = 10.0f;
        else if (seq.back() == ids.eoi) s[kEos] = 10.0f;
        s[40] = stream == 0 ? 2.0f : 4.0f;
        s[41] = stream == 0 ? 1.5f : 0.0f;
        return s;
    };
    FakeModel model(script);
    DecodeSettings st = settings(100, GridSize{3, 3});
    st.image.greedy = st.text.greedy = true;
    st.parallel = ParallelImageSettings{3, 5};
    DecodeResult r = decode_autoregressive(model, ids, kPrompt, kUncond, st);
    std::vector<TokenId> expect = {ids.boi, 13, 20, 13, ids.img, 41, 41, 41, ids.eol, 41, 41, 41, ids.eol,
                                   41, 41, 41, ids.eoi, kEos};
    EXPECT_EQ(r.tokens, expect);
    // Sampled (not greedy) runs repeat exactly with the same seed.
    auto run = [&](std::uint64_t seed) {
        std::mt19937 gen(1);
        FakeModel m([&](int, const std::vector<TokenId>& seq) {
            std::mt19937 local(std::uint32_t(seq.size() * 7 + seq.back()));
            auto s = random_scores(local);
            if (seq.back() == 3) s[ids.boi] = 40.0f;
            return s;
        });
        DecodeSettings p = settings(60, GridSize{4, 4});
        p.parallel = ParallelImageSettings{4, 5};
        p.seed = seed;
        return decode_autoregressive(m, ids, kPrompt, kUncond, p).tokens;
    };
    EXPECT_EQ(run(3), run(3));
    EXPECT_NE(run(3), run(4));
}
