#include "emu/train/data.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <optional>

#include "emu/core/error.h"
#include "emu/core/rng.h"
#include "emu/gen/tasks.h"
#include "emu/io/image.h"
#include "emu/text/prompt.h"
#include "emu/text/special_tokens.h"
#include "emu/vision/ibq.h"
#include "emu/vision/preprocess.h"
#include "emu/world/render.h"

namespace emu::train {
namespace {

// Stream tags so the task choice and the layout choices draw independent numbers.
constexpr std::uint64_t kTaskTag = 0x7461736B;    // "task"
constexpr std::uint64_t kLayoutTag = 0x6C61796F;  // "layo"

const std::string kAnswerEnd = std::string(text::kEssToken) + std::string(text::kEosToken);

Part text_part(std::string t, bool target) {
    Part p;
    p.kind = Part::Kind::Text;
    p.text = std::move(t);
    p.target = target;
    return p;
}

Part image_part(const world::Scene& scene) {
    Part p;
    p.kind = Part::Kind::Image;
    p.scene = scene;
    p.target = true;
    return p;
}

std::string join_question(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    return a + " " + b;
}

void append(TrainingSequence& seq, const std::vector<text::TokenId>& ids, bool target) {
    seq.ids.insert(seq.ids.end(), ids.begin(), ids.end());
    seq.mask.insert(seq.mask.end(), ids.size(), target ? 1 : 0);
}

}  // namespace

// --- image coders -----------------------------------------------------------------------

text::CodeGrid IbqImageCoder::encode(const world::Image& image) const {
    Image rgb;
    rgb.width = image.width;
    rgb.height = image.height;
    rgb.channels = 3;
    rgb.pixels = image.rgb;
    const int f = ibq_.config().downsample_factor();
    check(image.width % f == 0 && image.height % f == 0, "picture of ", image.width, "x", image.height,
          " is not a multiple of the vision tokenizer's downsample factor ", f);
    const Tensor codes = ibq_.encode(vision::image_to_tensor(rgb));
    text::CodeGrid grid;
    grid.h = int(codes.dim(0));
    grid.w = int(codes.dim(1));
    grid.codes.resize(codes.numel());
    for (std::size_t i = 0; i < grid.codes.size(); ++i) grid.codes[i] = std::int32_t(codes.item(i));
    return grid;
}

int IbqImageCoder::codebook_size() const { return ibq_.config().n_embed; }

StubImageCoder::StubImageCoder(int grid_h, int grid_w, int codebook_size)
    : grid_h_(grid_h), grid_w_(grid_w), codebook_size_(codebook_size) {
    check(grid_h >= 1 && grid_w >= 1 && grid_h <= 99 && grid_w <= 99, "stub image grid must be 1..99 per side, got ",
          grid_h, "x", grid_w);
    check(codebook_size >= 1, "stub codebook size must be >= 1, got ", codebook_size);
}

text::CodeGrid StubImageCoder::encode(const world::Image& image) const {
    check(image.width >= grid_w_ && image.height >= grid_h_, "picture of ", image.width, "x", image.height,
          " is smaller than the stub grid ", grid_w_, "x", grid_h_);
    text::CodeGrid grid;
    grid.h = grid_h_;
    grid.w = grid_w_;
    for (int r = 0; r < grid_h_; ++r) {
        for (int c = 0; c < grid_w_; ++c) {
            const int x0 = c * image.width / grid_w_, x1 = (c + 1) * image.width / grid_w_;
            const int y0 = r * image.height / grid_h_, y1 = (r + 1) * image.height / grid_h_;
            std::uint64_t sum[3] = {0, 0, 0};
            for (int y = y0; y < y1; ++y)
                for (int x = x0; x < x1; ++x)
                    for (int k = 0; k < 3; ++k) sum[k] += image.px(x, y)[k];
            std::uint64_t h = mix_seed({sum[0], sum[1], sum[2], std::uint64_t(r * 131 + c)});
            grid.codes.push_back(std::int32_t(h % std::uint64_t(codebook_size_)));
        }
    }
    return grid;
}

// --- layouts ----------------------------------------------------------------------------

void LayoutOptions::validate() const {
    check(sequential == "episode" || sequential == "step", "sequential must be 'episode' or 'step', got '",
          sequential, "'");
    check(uncond_prob >= 0 && uncond_prob <= 1, "uncond_prob must be in [0, 1], got ", uncond_prob);
}

SequenceLayout layout_sample(const world::Sample& sample, const LayoutOptions& options, std::uint64_t rng_seed) {
    options.validate();
    Rng rng(rng_seed);
    SequenceLayout L;
    L.unconditional = options.uncond_prob > 0 && rng.chance(options.uncond_prob);
    auto use_template = [&](const std::string& name, bool with_images) {
        const gen::TaskDefaults& t = gen::task_defaults(name);
        L.task = name;
        L.template_text = with_images ? t.template_with_image : t.template_text;
        L.uncond_template = with_images ? t.uncond_with_image : t.uncond_template;
    };
    check(!sample.outputs.empty(), "sample ", sample.index, " of task ", world::task_name(sample.task),
          " has no output picture");
    switch (sample.task) {
        case world::Task::T2I:
        case world::Task::X2I: {
            const bool x2i = sample.task == world::Task::X2I;
            use_template(x2i ? "x2i" : "t2i", x2i);
            L.question = sample.prompt;
            if (x2i) L.prompt_images = sample.inputs;
            L.answer.push_back(image_part(sample.outputs.front().scene));
            L.answer.push_back(text_part(kAnswerEnd, true));
            break;
        }
        case world::Task::Story: {
            use_template(sample.kind == "howto" ? "howto" : "story", !sample.inputs.empty());
            L.question = sample.prompt;
            L.prompt_images = sample.inputs;
            for (const world::Frame& f : sample.outputs) {
                if (!f.text.empty()) L.answer.push_back(text_part(f.text, true));
                L.answer.push_back(image_part(f.scene));
            }
            L.answer.push_back(text_part(kAnswerEnd, true));
            break;
        }
        case world::Task::Explore:
        case world::Task::Vla: {
            check(!sample.inputs.empty(), "sample ", sample.index, " of task ", world::task_name(sample.task),
                  " has no first frame");
            use_template(sample.task == world::Task::Explore ? "explore" : "vla", true);
            if (options.sequential == "step") {
                const std::size_t j = std::size_t(rng.below(sample.outputs.size()));
                const world::Scene& before = j == 0 ? sample.inputs.back() : sample.outputs[j - 1].scene;
                L.question = join_question(sample.prompt, sample.outputs[j].text);
                L.prompt_images = {before};
                L.answer.push_back(image_part(sample.outputs[j].scene));
            } else {
                L.question = sample.prompt;
                L.prompt_images = {sample.inputs.back()};
                for (const world::Frame& f : sample.outputs) {
                    // The action is given, not predicted: at inference the user supplies it.
                    if (!f.text.empty()) L.answer.push_back(text_part(f.text, false));
                    L.answer.push_back(image_part(f.scene));
                }
            }
            L.answer.push_back(text_part(kAnswerEnd, true));
            break;
        }
    }
    return L;
}

std::vector<std::string> layout_texts(const SequenceLayout& layout) {
    // Images become a bare BOI/EOI pair: the text around them splits exactly where it does
    // with real image strings, which consist of special tokens and header digits only.
    const std::string img = std::string(text::kBoiToken) + std::string(text::kEoiToken);
    std::vector<std::string> images(layout.prompt_images.size(), img);
    text::Prompts p = text::build_prompts(layout.template_text, layout.uncond_template, layout.question, images);
    std::vector<std::string> out = {layout.unconditional ? p.unc_prompt : p.prompt};
    for (const Part& part : layout.answer)
        if (part.kind == Part::Kind::Text) out.push_back(part.text);
    return out;
}

TrainingSequence encode_layout(const SequenceLayout& layout, const world::WorldConfig& world, const text::Tokenizer& tok,
                               const ImageCoder& coder) {
    auto image_ids = [&](const world::Scene& scene) {
        const text::CodeGrid grid = coder.encode(world::render(scene, world.width, world.height));
        return text::image_token_ids(grid, tok);
    };
    TrainingSequence seq;
    seq.task = layout.task;
    std::vector<std::string> image_strings;
    for (const world::Scene& s : layout.prompt_images)
        image_strings.push_back(text::image_string(coder.encode(world::render(s, world.width, world.height))));
    const text::Prompts p = text::build_prompts(layout.template_text, layout.uncond_template, layout.question, image_strings);
    append(seq, tok.encode(layout.unconditional ? p.unc_prompt : p.prompt), false);
    seq.prompt_length = seq.ids.size();
    for (const Part& part : layout.answer) {
        if (part.kind == Part::Kind::Text)
            append(seq, tok.encode(part.text), part.target);
        else
            append(seq, image_ids(part.scene), part.target);
    }
    return seq;
}

// --- configuration ----------------------------------------------------------------------

void DataConfig::validate() const {
    world.validate();
    layout.validate();
    check(seq_len >= 8 && seq_len <= (1 << 24), "seq_len must be in [8, 16777216], got ", seq_len);
    check(batch_size >= 1 && batch_size <= 65536, "batch_size must be in [1, 65536], got ", batch_size);
    double sum = 0;
    for (const auto& [name, w] : task_weights) {
        world::task_from_name(name);
        check(w >= 0 && std::isfinite(w), "task weight of ", name, " must be >= 0, got ", w);
        sum += w;
    }
    check(sum > 0, "at least one task needs a positive weight");
}

nlohmann::json to_json(const DataConfig& c) {
    nlohmann::json tasks = nlohmann::json::object();
    for (const auto& [n, w] : c.task_weights) tasks[n] = w;
    return {{"world", world::to_json(c.world)}, {"tasks", tasks},         {"seed", c.seed},
            {"seq_len", c.seq_len},             {"batch_size", c.batch_size}, {"pack", c.pack},
            {"sequential", c.layout.sequential}, {"uncond_prob", c.layout.uncond_prob}};
}

DataConfig data_config_from_json(const nlohmann::json& j) {
    DataConfig c;
    check(j.is_object(), "data config must be a mapping");
    try {
        if (j.contains("world")) c.world = world::world_config_from_json(j["world"]);
        if (j.contains("tasks")) {
            check(j["tasks"].is_object(), "data.tasks must map task names to weights");
            c.task_weights.clear();
            for (auto it = j["tasks"].begin(); it != j["tasks"].end(); ++it) {
                world::task_from_name(it.key());
                c.task_weights[it.key()] = it.value().get<double>();
            }
        }
        c.seed = j.value("seed", c.seed);
        c.seq_len = j.value("seq_len", c.seq_len);
        c.batch_size = j.value("batch_size", c.batch_size);
        c.pack = j.value("pack", c.pack);
        c.layout.sequential = j.value("sequential", c.layout.sequential);
        c.layout.uncond_prob = j.value("uncond_prob", c.layout.uncond_prob);
    } catch (const nlohmann::json::exception& e) {
        fail("data config: ", e.what());
    }
    c.validate();
    return c;
}

// --- the stream -------------------------------------------------------------------------

BatchStream::BatchStream(DataConfig config, const text::Tokenizer& tok, const ImageCoder& coder)
    : config_(std::move(config)), tok_(tok), coder_(coder) {
    config_.validate();
    for (const auto& [name, w] : config_.task_weights) {
        if (w <= 0) continue;
        weights_.emplace_back(world::task_from_name(name), w);
        weight_sum_ += w;
    }
    check(coder.codebook_size() <= tok.roles().n_visual, "the image coder has ", coder.codebook_size(),
          " codes but the tokenizer only ", tok.roles().n_visual, " visual tokens");
    check(tok.roles().pad != text::kNoToken, "the tokenizer has no ", text::kPadToken, " for padding");
}

std::string BatchStream::task_at(std::int64_t k) const {
    check(k >= 0 && k < INT_MAX, "stream position ", k, " is out of range");
    Rng rng(mix_seed({config_.seed, std::uint64_t(k), kTaskTag}));
    double u = rng.uniform() * weight_sum_;
    for (const auto& [task, w] : weights_) {
        if (u < w) return world::task_name(task);
        u -= w;
    }
    return world::task_name(weights_.back().first);
}

world::Sample BatchStream::sample_at(std::int64_t k) const {
    const world::Task task = world::task_from_name(task_at(k));
    return world::sample_task(task, config_.world, config_.seed, int(k));
}

TrainingSequence BatchStream::sequence_at(std::int64_t k) const {
    const world::Sample sample = sample_at(k);
    const SequenceLayout layout =
        layout_sample(sample, config_.layout, mix_seed({config_.seed, std::uint64_t(k), kLayoutTag}));
    TrainingSequence seq = encode_layout(layout, config_.world, tok_, coder_);
    seq.index = k;
    return seq;
}

void BatchStream::seek(std::int64_t cursor) {
    check(cursor >= 0, "stream cursor must be >= 0, got ", cursor);
    cursor_ = cursor;
}

Batch BatchStream::next() {
    const int L = config_.seq_len;
    Batch b;
    b.rows = config_.batch_size;
    b.seq_len = L;
    const std::size_t n = std::size_t(b.rows) * std::size_t(L);
    b.ids.assign(n, tok_.roles().pad);
    b.mask.assign(n, 0);
    b.positions.assign(n, 0);
    b.segments.assign(n, 0);
    b.first_index = cursor_;
    // The sequence that did not fit stays pending for the next row (it is costly to rebuild).
    std::optional<TrainingSequence> pending;
    int skipped_in_a_row = 0;
    for (int r = 0; r < b.rows; ++r) {
        int pos = 0, segment = 0;
        while (pos < L) {
            if (!pending || pending->index != cursor_) pending = sequence_at(cursor_);
            const TrainingSequence& s = *pending;
            const int len = int(s.ids.size());
            if (len > L) {
                ++skipped_;
                ++cursor_;
                // A seq_len too short for the data would otherwise skip forever.
                check(++skipped_in_a_row < 1000, "1000 sequences in a row are longer than seq_len ", L,
                      " (the last had ", len, " tokens); raise seq_len");
                continue;
            }
            skipped_in_a_row = 0;
            if (pos + len > L) break;
            ++segment;
            const std::size_t base = std::size_t(r) * std::size_t(L) + std::size_t(pos);
            for (int i = 0; i < len; ++i) {
                b.ids[base + i] = s.ids[std::size_t(i)];
                b.mask[base + i] = s.mask[std::size_t(i)];
                b.positions[base + i] = i;
                b.segments[base + i] = segment;
                b.target_tokens += s.mask[std::size_t(i)];
            }
            b.tokens += len;
            ++b.sequences;
            pos += len;
            ++cursor_;
            if (!config_.pack) break;
        }
    }
    b.end_index = cursor_;
    return b;
}

std::vector<std::string> shapesworld_corpus(const world::WorldConfig& world, std::uint64_t seed, int n_per_task) {
    check(n_per_task >= 0, "corpus samples per task must be >= 0, got ", n_per_task);
    std::vector<std::string> out;
    for (world::Task task : world::all_tasks()) {
        for (int i = 0; i < n_per_task; ++i) {
            const world::Sample s = world::sample_task(task, world, seed, i);
            for (const char* mode : {"episode", "step"}) {
                LayoutOptions opt;
                opt.sequential = mode;
                SequenceLayout L = layout_sample(s, opt, mix_seed({seed, std::uint64_t(i), kLayoutTag}));
                for (auto& t : layout_texts(L)) out.push_back(std::move(t));
                if (i == 0) {  // the unconditional prompts once per task
                    L.unconditional = true;
                    out.push_back(layout_texts(L).front());
                }
                if (task != world::Task::Explore && task != world::Task::Vla) break;
            }
        }
    }
    return out;
}

}  // namespace emu::train
