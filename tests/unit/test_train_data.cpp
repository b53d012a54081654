// The data pipeline: prompt layout equals what inference builds, loss masks cover exactly
// the answer, target images parse, batches are packed deterministically and resumable.
#include <gtest/gtest.h>

#include <set>

#include "emu/core/error.h"
#include "emu/gen/tasks.h"
#include "emu/text/image_tokens.h"
#include "emu/text/prompt.h"
#include "emu/train/bpe_trainer.h"
#include "emu/train/data.h"
#include "emu/world/render.h"
#include "fixtures.h"

using namespace emu;
using namespace emu::train;

namespace {

// One small vocabulary for the whole file (training it takes a moment).
const text::Tokenizer& tokenizer() {
    static const text::Tokenizer tok = [] {
        BpeConfig cfg;
        cfg.vocab_size = 600;
        BpeTrainer t(cfg);
        for (const auto& s : shapesworld_corpus(world::WorldConfig{}, 3, 40)) t.add_text(s);
        const std::string dir = test::temp_dir("train_data_vocab");
        write_tokenizer_folder(dir, t.train(), 512);
        return text::Tokenizer::load(dir);
    }();
    return tok;
}

const StubImageCoder& coder() {
    static const StubImageCoder c(4, 4, 512);
    return c;
}

TrainingSequence encode_sample(const world::Sample& s, const LayoutOptions& opt = {}) {
    return encode_layout(layout_sample(s, opt, 42), world::WorldConfig{}, tokenizer(), coder());
}

}  // namespace

TEST(StubCoder, DependsOnThePicture) {
    world::WorldConfig w;
    const auto s1 = world::sample_task(world::Task::T2I, w, 1, 0), s2 = world::sample_task(world::Task::T2I, w, 1, 1);
    const auto g1 = coder().encode(world::render(s1.outputs[0].scene, 64, 64));
    const auto g2 = coder().encode(world::render(s2.outputs[0].scene, 64, 64));
    EXPECT_EQ(g1.h, 4);
    EXPECT_EQ(g1.codes.size(), 16u);
    EXPECT_NE(g1.codes, g2.codes);
    EXPECT_EQ(g1.codes, coder().encode(world::render(s1.outputs[0].scene, 64, 64)).codes);
}

TEST(Layout, T2iPromptIsTheInferencePromptAndTargetIsImageThenEnd) {
    world::WorldConfig w;
    const text::Tokenizer& tok = tokenizer();
    for (int i = 0; i < 5; ++i) {
        const world::Sample s = world::sample_task(world::Task::T2I, w, 11, i);
        const TrainingSequence seq = encode_sample(s);
        const gen::TaskDefaults& t = gen::task_defaults("t2i");
        const auto prompt = tok.encode(text::build_prompts(t.template_text, t.uncond_template, s.prompt, {}).prompt);
        ASSERT_EQ(seq.prompt_length, prompt.size());
        EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), seq.ids.begin()));
        EXPECT_EQ(seq.ids.front(), tok.roles().bos);
        EXPECT_EQ(seq.ids[seq.prompt_length - 1], tok.roles().bss);
        // Mask: given on the whole prompt, a target on everything after it.
        for (std::size_t k = 0; k < seq.ids.size(); ++k) EXPECT_EQ(seq.mask[k] != kGiven, k >= seq.prompt_length);
        ASSERT_GE(seq.ids.size(), 2u);
        EXPECT_EQ(seq.ids[seq.ids.size() - 2], tok.roles().ess);
        EXPECT_EQ(seq.ids.back(), tok.roles().eos);
        const std::span<const text::TokenId> answer(seq.ids.data() + seq.prompt_length, seq.ids.size() - seq.prompt_length);
        const auto images = text::find_images(answer, tok);
        ASSERT_EQ(images.size(), 1u);
        EXPECT_TRUE(images[0].ok) << images[0].error;
        EXPECT_TRUE(images[0].warnings.empty());
        EXPECT_EQ(images[0].grid.codes, coder().encode(world::render(s.outputs[0].scene, 64, 64)).codes);
        EXPECT_EQ(images[0].begin, 0u);  // the answer starts with the image
    }
}

TEST(Layout, X2iHasInputImagesInPromptOnly) {
    world::WorldConfig w;
    const text::Tokenizer& tok = tokenizer();
    for (int i = 0; i < 6; ++i) {
        const world::Sample s = world::sample_task(world::Task::X2I, w, 4, i);
        const TrainingSequence seq = encode_sample(s);
        const auto all = text::find_images(seq.ids, tok);
        ASSERT_EQ(all.size(), s.inputs.size() + 1);
        for (std::size_t k = 0; k < s.inputs.size(); ++k) {
            EXPECT_LT(all[k].end, seq.prompt_length);
            EXPECT_EQ(all[k].grid.codes, coder().encode(world::render(s.inputs[k], 64, 64)).codes);
        }
        EXPECT_EQ(all.back().begin, seq.prompt_length);
        EXPECT_EQ(all.back().grid.codes, coder().encode(world::render(s.outputs[0].scene, 64, 64)).codes);
        // Same as inference: the x2i template puts the images before the question.
        const gen::TaskDefaults& t = gen::task_defaults("x2i");
        std::vector<std::string> strs;
        for (const auto& sc : s.inputs) strs.push_back(text::image_string(coder().encode(world::render(sc, 64, 64))));
        const auto prompt = tok.encode(text::build_prompts(t.template_with_image, t.uncond_with_image, s.prompt, strs).prompt);
        EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), seq.ids.begin()));
        EXPECT_EQ(prompt.size(), seq.prompt_length);
    }
}

// The target picture's visual tokens are kObjectTarget exactly where the rendered cell holds a
// pixel of another colour than the background (checked here per cell from the picture, in
// the grid's raster order, independently of how the pipeline walks the tokens).
TEST(Layout, ObjectCellsOfTargetPicturesAreMarked) {
    world::WorldConfig w;
    const text::Tokenizer& tok = tokenizer();
    int object_cells = 0, plain_cells = 0;
    for (world::Task task : {world::Task::T2I, world::Task::X2I, world::Task::Vla}) {
        for (int i = 0; i < 4; ++i) {
            const world::Sample s = world::sample_task(task, w, 31, i);
            LayoutOptions opt;  // vla as an episode, so the last picture is the last frame
            if (task == world::Task::Vla) opt.sequential = "episode";
            const TrainingSequence seq = encode_sample(s, opt);
            const auto images = text::find_images(seq.ids, tok);
            ASSERT_FALSE(images.empty());
            const auto& target = images.back();
            ASSERT_GE(target.begin, seq.prompt_length);
            const world::Scene& scene = s.outputs.back().scene;
            const world::Image pic = world::render(scene, 64, 64);
            const world::Rgb bg = world::colour_rgb(scene.background);
            std::vector<std::uint8_t> expected;
            for (int r = 0; r < 4; ++r)
                for (int c = 0; c < 4; ++c) {
                    bool object = false;
                    for (int y = r * 16; y < r * 16 + 16; ++y)
                        for (int x = c * 16; x < c * 16 + 16; ++x) {
                            const std::uint8_t* px = pic.px(x, y);
                            object = object || px[0] != bg.r || px[1] != bg.g || px[2] != bg.b;
                        }
                    expected.push_back(object ? kObjectTarget : kTarget);
                    (object ? object_cells : plain_cells)++;
                }
            std::vector<std::uint8_t> got;
            for (std::size_t p = target.begin; p < target.end; ++p) {
                if (tok.is_visual(seq.ids[p])) got.push_back(seq.mask[p]);
                else EXPECT_EQ(seq.mask[p], kTarget) << "structure tokens are plain targets";
            }
            EXPECT_EQ(got, expected) << world::task_name(task) << " sample " << i;
            // Pictures in the prompt are given, whatever they hold.
            for (std::size_t p = 0; p < seq.prompt_length; ++p) ASSERT_EQ(seq.mask[p], kGiven);
        }
    }
    EXPECT_GT(object_cells, 0);
    EXPECT_GT(plain_cells, 0);
    std::vector<float> weights;
    loss_weights({kGiven, kTarget, kObjectTarget, kTarget}, 3.f, weights);
    EXPECT_EQ(weights, (std::vector<float>{0.f, 1.f, 3.f, 1.f}));
}

TEST(Layout, StoryInterleavesTargetTextsAndImages) {
    world::WorldConfig w;
    const text::Tokenizer& tok = tokenizer();
    for (int i = 0; i < 6; ++i) {
        const world::Sample s = world::sample_task(world::Task::Story, w, 8, i);
        const TrainingSequence seq = encode_sample(s);
        EXPECT_EQ(seq.task, s.kind);  // howto or story template
        // Everything after the prompt is target; the decoded answer is text, image, text, image ...
        for (std::size_t k = 0; k < seq.ids.size(); ++k) ASSERT_EQ(seq.mask[k] != kGiven, k >= seq.prompt_length);
        const std::span<const text::TokenId> answer(seq.ids.data() + seq.prompt_length, seq.ids.size() - seq.prompt_length);
        const auto images = text::find_images(answer, tok);
        ASSERT_EQ(images.size(), s.outputs.size());
        std::size_t prev_end = 0;
        for (std::size_t k = 0; k < images.size(); ++k) {
            EXPECT_TRUE(images[k].ok);
            EXPECT_EQ(images[k].grid.codes, coder().encode(world::render(s.outputs[k].scene, 64, 64)).codes);
            const std::string between =
                tok.decode(std::span<const text::TokenId>(answer.data() + prev_end, images[k].begin - prev_end));
            EXPECT_EQ(between, s.outputs[k].text);
            prev_end = images[k].end;
        }
        EXPECT_EQ(tok.decode(std::span<const text::TokenId>(answer.data() + prev_end, answer.size() - prev_end)),
                  "<|extra_101|><|extra_204|>");
    }
}

TEST(Layout, ExploreAndVlaEpisodeMasksActionsAndLearnsFrames) {
    world::WorldConfig w;
    const text::Tokenizer& tok = tokenizer();
    LayoutOptions episode;
    episode.sequential = "episode";
    for (world::Task task : {world::Task::Explore, world::Task::Vla}) {
        for (int i = 0; i < 4; ++i) {
            const world::Sample s = world::sample_task(task, w, 21, i);
            const TrainingSequence seq = encode_sample(s, episode);
            const auto images = text::find_images(seq.ids, tok);
            ASSERT_EQ(images.size(), s.outputs.size() + 1);  // first frame in the prompt
            EXPECT_LT(images[0].end, seq.prompt_length);
            for (std::size_t k = 0; k < s.outputs.size(); ++k) {
                const auto& im = images[k + 1];
                EXPECT_EQ(im.grid.codes, coder().encode(world::render(s.outputs[k].scene, 64, 64)).codes);
                for (std::size_t p = im.begin; p < im.end; ++p) ASSERT_NE(seq.mask[p], kGiven) << p;
                // The action text right before the frame is given, not learned.
                const std::size_t text_begin = k == 0 ? seq.prompt_length : images[k].end;
                for (std::size_t p = text_begin; p < im.begin; ++p) ASSERT_EQ(seq.mask[p], kGiven) << p;
                EXPECT_EQ(tok.decode(std::span<const text::TokenId>(seq.ids.data() + text_begin, im.begin - text_begin)),
                          s.outputs[k].text);
            }
            EXPECT_EQ(seq.mask.back(), kTarget);
            EXPECT_EQ(seq.ids.back(), tok.roles().eos);
        }
    }
}

TEST(Layout, ExploreAndVlaStepShowsPreviousFramesAndTheAction) {
    world::WorldConfig w;
    const text::Tokenizer& tok = tokenizer();
    const StubImageCoder& c = coder();
    for (int history : {1, 3}) {
        LayoutOptions step;
        step.history = history;
        for (world::Task task : {world::Task::Explore, world::Task::Vla}) {
            for (int i = 0; i < 6; ++i) {
                const world::Sample s = world::sample_task(task, w, 21, i);
                const SequenceLayout L = layout_sample(s, step, std::uint64_t(100 + i));
                const TrainingSequence seq = encode_layout(L, w, tok, c);
                const auto images = text::find_images(seq.ids, tok);
                ASSERT_GE(images.size(), 2u);
                EXPECT_EQ(images.back().begin, seq.prompt_length);
                for (std::size_t q = 0; q + 1 < images.size(); ++q) EXPECT_LT(images[q].end, seq.prompt_length);
                // Some transition j explains the sequence: its action in the question, its frame
                // as the target, and the last min(history, j + 1) frames before it in the prompt.
                bool explained = false;
                for (std::size_t j = 0; j < s.outputs.size() && !explained; ++j) {
                    if (L.question != s.prompt + " " + s.outputs[j].text) continue;
                    if (c.encode(world::render(s.outputs[j].scene, 64, 64)).codes != images.back().grid.codes) continue;
                    const std::size_t shown = std::min<std::size_t>(std::size_t(history), j + 1);
                    if (images.size() != shown + 1) continue;
                    bool same = true;
                    for (std::size_t q = 0; q < shown; ++q) {
                        const std::size_t frame = j + 1 - shown + q;  // index into [first, out0, out1, ...]
                        const world::Scene& sc = frame == 0 ? s.inputs.back() : s.outputs[frame - 1].scene;
                        same = same && images[q].grid.codes == c.encode(world::render(sc, 64, 64)).codes;
                    }
                    explained = same;
                }
                EXPECT_TRUE(explained) << world::task_name(task) << " sample " << i << " history " << history;
                for (std::size_t k = 0; k < seq.ids.size(); ++k) ASSERT_EQ(seq.mask[k] != kGiven, k >= seq.prompt_length);
            }
        }
    }
}

TEST(Layout, UnconditionalPromptWhenDrawn) {
    world::WorldConfig w;
    const text::Tokenizer& tok = tokenizer();
    LayoutOptions always;
    always.uncond_prob = 1.0;
    const world::Sample s = world::sample_task(world::Task::T2I, w, 2, 3);
    const TrainingSequence seq = encode_sample(s, always);
    const auto unc = tok.encode(gen::task_defaults("t2i").uncond_template);
    ASSERT_EQ(seq.prompt_length, unc.size());
    EXPECT_TRUE(std::equal(unc.begin(), unc.end(), seq.ids.begin()));
    // The answer is unchanged.
    const TrainingSequence cond = encode_sample(s);
    EXPECT_TRUE(std::equal(seq.ids.begin() + long(seq.prompt_length), seq.ids.end(), cond.ids.begin() + long(cond.prompt_length),
                           cond.ids.end()));
}

TEST(Stream, PackedBatchesAreConsistentDeterministicAndResumable) {
    DataConfig cfg;
    cfg.seed = 5;
    cfg.seq_len = 384;
    cfg.batch_size = 3;
    cfg.layout.uncond_prob = 0.2;
    const text::Tokenizer& tok = tokenizer();
    BatchStream stream(cfg, tok, coder());
    std::vector<Batch> batches;
    for (int i = 0; i < 4; ++i) batches.push_back(stream.next());
    for (const Batch& b : batches) {
        ASSERT_EQ(b.ids.size(), std::size_t(b.rows * b.seq_len));
        EXPECT_GT(b.sequences, b.rows - 1);  // packing puts several sequences per batch
        std::int64_t tokens = 0, targets = 0;
        std::int64_t k = b.first_index;
        for (int r = 0; r < b.rows; ++r) {
            int pos = 0;
            while (pos < b.seq_len && b.segments[std::size_t(r * b.seq_len + pos)] != 0) {
                // Skip sequences the stream dropped as too long.
                TrainingSequence s = stream.sequence_at(k);
                while (int(s.ids.size()) > b.seq_len) s = stream.sequence_at(++k);
                for (std::size_t i = 0; i < s.ids.size(); ++i) {
                    const std::size_t at = std::size_t(r * b.seq_len + pos) + i;
                    ASSERT_EQ(b.ids[at], s.ids[i]);
                    ASSERT_EQ(b.mask[at], s.mask[i]);
                    ASSERT_EQ(b.positions[at], int(i));
                }
                pos += int(s.ids.size());
                tokens += std::int64_t(s.ids.size());
                for (auto m : s.mask) targets += m != kGiven;
                ++k;
            }
            for (; pos < b.seq_len; ++pos) {  // padding
                const std::size_t at = std::size_t(r * b.seq_len + pos);
                ASSERT_EQ(b.ids[at], tok.roles().pad);
                ASSERT_EQ(b.mask[at], 0);
                ASSERT_EQ(b.segments[at], 0);
            }
        }
        EXPECT_EQ(k, b.end_index);
        EXPECT_EQ(tokens, b.tokens);
        EXPECT_EQ(targets, b.target_tokens);
    }
    for (std::size_t i = 1; i < batches.size(); ++i) EXPECT_EQ(batches[i].first_index, batches[i - 1].end_index);
    // Every task shows up.
    std::set<std::string> tasks;
    for (std::int64_t k = 0; k < batches.back().end_index; ++k) tasks.insert(world::task_name(world::task_from_name(stream.task_at(k))));
    EXPECT_EQ(tasks.size(), 5u);

    // A fresh stream seeked to a batch's start reproduces it exactly (what resume relies on).
    BatchStream again(cfg, tok, coder());
    again.seek(batches[2].first_index);
    const Batch b2 = again.next();
    EXPECT_EQ(b2.ids, batches[2].ids);
    EXPECT_EQ(b2.mask, batches[2].mask);
    EXPECT_EQ(b2.segments, batches[2].segments);
    EXPECT_EQ(again.cursor(), batches[2].end_index);
}

TEST(Stream, UnpackedRowsAndTaskWeights) {
    DataConfig cfg;
    cfg.seed = 9;
    cfg.seq_len = 512;
    cfg.batch_size = 4;
    cfg.pack = false;
    cfg.task_weights = {{"t2i", 1.0}, {"x2i", 0.0}};
    BatchStream stream(cfg, tokenizer(), coder());
    const Batch b = stream.next();
    EXPECT_EQ(b.sequences, 4);
    for (int r = 0; r < 4; ++r) {
        EXPECT_EQ(b.ids[std::size_t(r * 512)], tokenizer().roles().bos);
        EXPECT_EQ(b.segments[std::size_t(r * 512)], 1);
    }
    for (std::int64_t k = 0; k < 20; ++k) EXPECT_EQ(stream.task_at(k), "t2i");
    // Too short rows skip every sequence: the stream counts them instead of failing.
    DataConfig tiny = cfg;
    tiny.seq_len = 8;
    tiny.batch_size = 1;
    BatchStream short_stream(tiny, tokenizer(), coder());
    EXPECT_THROW(short_stream.next(), Error);
    DataConfig bad = cfg;
    bad.task_weights = {{"nope", 1.0}};
    EXPECT_THROW(bad.validate(), Error);
    // A coder with more codes than the vocabulary has visual tokens is refused.
    StubImageCoder big(4, 4, 4096);
    EXPECT_THROW(BatchStream(cfg, tokenizer(), big), Error);
}

TEST(Stream, ConfigFromJson) {
    const DataConfig c = data_config_from_json(
        {{"seed", 3}, {"seq_len", 256}, {"batch_size", 2}, {"tasks", {{"vla", 2.0}}}, {"sequential", "step"},
         {"world", {{"width", 64}, {"height", 64}}}});
    EXPECT_EQ(c.seq_len, 256);
    EXPECT_EQ(c.task_weights.size(), 1u);
    EXPECT_EQ(c.layout.sequential, "step");
    EXPECT_EQ(data_config_from_json(to_json(c)).seq_len, 256);
    EXPECT_EQ(data_config_from_json({{"history", 2}}).layout.history, 2);
    EXPECT_THROW(data_config_from_json({{"history", 4}}), Error);
    EXPECT_THROW(data_config_from_json({{"tasks", {{"painting", 1.0}}}}), Error);
    EXPECT_THROW(data_config_from_json({{"sequential", "sometimes"}}), Error);
}

namespace {
// Counts how often the real coder runs.
class CountingCoder : public ImageCoder {
public:
    text::CodeGrid encode(const world::Image& image) const override {
        ++calls;
        return coder().encode(image);
    }
    int codebook_size() const override { return 512; }
    mutable int calls = 0;
};
}  // namespace

TEST(CachingCoder, EncodesEachPictureOnceAndPersists) {
    CountingCoder inner;
    CachingImageCoder cache(inner);
    world::WorldConfig w;
    std::vector<world::Image> pics;
    for (int i = 0; i < 6; ++i) pics.push_back(world::render(world::sample_task(world::Task::T2I, w, 3, i).outputs[0].scene, 64, 64));
    for (int round = 0; round < 3; ++round)
        for (const auto& p : pics) EXPECT_EQ(cache.encode(p).codes, coder().encode(p).codes);
    EXPECT_EQ(inner.calls, 6);
    EXPECT_EQ(cache.misses(), 6);
    EXPECT_EQ(cache.hits(), 12);
    // One changed pixel is a different picture.
    world::Image changed = pics[0];
    changed.px(10, 10)[0] ^= 1;
    cache.encode(changed);
    EXPECT_EQ(inner.calls, 7);

    const std::string path = test::temp_dir("train_code_cache") + "/codes.safetensors";
    cache.save(path);
    CountingCoder inner2;
    CachingImageCoder restored(inner2);
    restored.load(path);
    EXPECT_EQ(restored.size(), 7u);
    for (const auto& p : pics) EXPECT_EQ(restored.encode(p).codes, coder().encode(p).codes);
    EXPECT_EQ(inner2.calls, 0);
    // A cache for a smaller codebook is refused.
    StubImageCoder small(4, 4, 8);
    CachingImageCoder wrong(small);
    EXPECT_THROW(wrong.load(path), Error);
    EXPECT_THROW(restored.load(test::temp_dir("train_code_cache") + "/missing.safetensors"), Error);
}

TEST(Stream, FinitePoolRepeatsSamplesButNotPromptChoices) {
    DataConfig cfg;
    cfg.seed = 12;
    cfg.pool_size = 10;
    cfg.layout.uncond_prob = 0.5;
    cfg.layout.sequential = "episode";  // (the step layout also draws which transition per position)
    CountingCoder inner;
    CachingImageCoder cache(inner);
    BatchStream stream(cfg, tokenizer(), cache);
    int differing_prompts = 0;
    for (std::int64_t k = 0; k < 10; ++k) {
        EXPECT_EQ(stream.sample_index(k + 10), k);
        EXPECT_EQ(stream.task_at(k), stream.task_at(k + 30));
        EXPECT_EQ(world::to_json(stream.sample_at(k)), world::to_json(stream.sample_at(k + 10)));
        const TrainingSequence a = stream.sequence_at(k), b = stream.sequence_at(k + 10);
        // The answer (the pictures and texts to produce) is the same sample's.
        EXPECT_TRUE(std::equal(a.ids.begin() + long(a.prompt_length), a.ids.end(), b.ids.begin() + long(b.prompt_length),
                               b.ids.end()));
        differing_prompts += a.prompt_length != b.prompt_length;
    }
    EXPECT_GT(differing_prompts, 0);  // uncond_prob is drawn per position
    const int calls_first_epoch = inner.calls;
    for (std::int64_t k = 20; k < 30; ++k) stream.sequence_at(k);
    EXPECT_EQ(inner.calls, calls_first_epoch);  // later epochs need no encoding
    EXPECT_EQ(data_config_from_json(to_json(cfg)).pool_size, 10);
}
