#include "emu/world/world_png.h"
#include "emu/train/data.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <unordered_map>
#include <cmath>
#include <optional>

#include "emu/core/error.h"
#include "emu/core/rng.h"
#include "emu/gen/tasks.h"
#include "emu/io/image.h"
#include "emu/io/safetensors.h"
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
    seq.mask.insert(seq.mask.end(), ids.size(), target ? kTarget : kGiven);
}

// Marks the visual tokens of the picture appended at seq.ids[begin..] whose cell holds an
// object: any pixel of the cell's block that is not the background colour (ShapesWorld
// backgrounds are flat). Cells are the code grid's, in the row-major order of the tokens.
void mark_object_cells(TrainingSequence& seq, std::size_t begin, const world::Image& picture,
                       world::Colour background, const text::CodeGrid& grid, const text::Tokenizer& tok) {
    const world::Rgb bg = world::colour_rgb(background);
    std::size_t cell = 0;
    for (std::size_t p = begin; p < seq.ids.size(); ++p) {
        if (!tok.is_visual(seq.ids[p])) continue;
        const int r = int(cell / std::size_t(grid.w)), c = int(cell % std::size_t(grid.w));
        ++cell;
        const int x0 = c * picture.width / grid.w, x1 = (c + 1) * picture.width / grid.w;
        const int y0 = r * picture.height / grid.h, y1 = (r + 1) * picture.height / grid.h;
        bool object = false;
        for (int y = y0; y < y1 && !object; ++y)
            for (int x = x0; x < x1 && !object; ++x) {
                const std::uint8_t* px = picture.px(x, y);
                object = px[0] != bg.r || px[1] != bg.g || px[2] != bg.b;
            }
        if (object) seq.mask[p] = kObjectTarget;
    }
}

struct Key128 {
    std::uint64_t a, b;
    bool operator==(const Key128&) const = default;
    bool operator<(const Key128& o) const { return a != o.a ? a < o.a : b < o.b; }
};
struct Key128Hash {
    std::size_t operator()(const Key128& k) const { return std::size_t(k.a ^ (k.b * 0x9E3779B97F4A7C15ull)); }
};

// Two independent 64-bit hashes of the size and pixels (FNV-1a style mixes with different
// seeds and multipliers), so a collision would need both to collide.
Key128 picture_key(const world::Image& image) {
    std::uint64_t a = 0xCBF29CE484222325ull ^ std::uint64_t(image.width), b = 0x84222325CBF29CE4ull ^ std::uint64_t(image.height);
    const std::size_t n = image.rgb.size();
    const std::uint8_t* p = image.rgb.data();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, p + i, 8);
        a = (a ^ v) * 0x100000001B3ull;
        a ^= a >> 29;
        b = (b ^ v) * 0xFF51AFD7ED558CCDull;
        b ^= b >> 32;
    }
    for (; i < n; ++i) {
        a = (a ^ p[i]) * 0x100000001B3ull;
        b = (b ^ p[i]) * 0xC4CEB9FE1A85EC53ull;
    }
    std::uint64_t sa = a, sb = b ^ n;
    return {splitmix64(sa), splitmix64(sb)};
}

}  // namespace

void loss_weights(const std::vector<std::uint8_t>& mask, float object_weight, std::vector<float>& out) {
    out.resize(mask.size());
    for (std::size_t i = 0; i < mask.size(); ++i)
        out[i] = mask[i] == kGiven ? 0.f : mask[i] == kObjectTarget ? object_weight : 1.f;
}

// --- image coders -----------------------------------------------------------------------

text::CodeGrid IbqImageCoder::encode(const world::Image& image) const {
    const Image rgb = world::to_io_image(image);
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

struct CachingImageCoder::State {
    mutable std::mutex mutex;
    std::unordered_map<Key128, text::CodeGrid, Key128Hash> entries;
    std::int64_t hits = 0, misses = 0;
};

CachingImageCoder::CachingImageCoder(const ImageCoder& inner, std::size_t max_entries)
    : inner_(inner), max_entries_(max_entries), state_(std::make_unique<State>()) {}

CachingImageCoder::~CachingImageCoder() = default;

text::CodeGrid CachingImageCoder::encode(const world::Image& image) const {
    const Key128 key = picture_key(image);
    {
        std::lock_guard<std::mutex> lock(state_->mutex);
        auto it = state_->entries.find(key);
        if (it != state_->entries.end()) {
            ++state_->hits;
            return it->second;
        }
        ++state_->misses;
    }
    // Encode outside the lock: other threads may look up or encode other pictures meanwhile.
    text::CodeGrid grid = inner_.encode(image);
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->entries.size() < max_entries_) state_->entries.emplace(key, grid);
    return grid;
}

std::size_t CachingImageCoder::size() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->entries.size();
}
std::int64_t CachingImageCoder::hits() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->hits;
}
std::int64_t CachingImageCoder::misses() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->misses;
}

void CachingImageCoder::save(const std::string& path) const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    // Sorted by key, so the same cache always gives the same file.
    std::vector<const std::pair<const Key128, text::CodeGrid>*> items;
    for (const auto& e : state_->entries) items.push_back(&e);
    std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
    const std::int64_t n = std::int64_t(items.size());
    std::vector<std::int64_t> keys, offsets = {0};
    std::vector<std::int32_t> dims, codes;
    for (auto* e : items) {
        keys.push_back(std::int64_t(e->first.a));
        keys.push_back(std::int64_t(e->first.b));
        dims.push_back(e->second.h);
        dims.push_back(e->second.w);
        codes.insert(codes.end(), e->second.codes.begin(), e->second.codes.end());
        offsets.push_back(std::int64_t(codes.size()));
    }
    auto make = [](DType dt, Shape shape, const void* data, std::size_t bytes) {
        Tensor t = Tensor::zeros(dt, std::move(shape));
        if (bytes) std::memcpy(t.raw_mut(), data, bytes);
        return t;
    };
    write_safetensors(path,
                      {{"keys", make(DType::I64, {n, 2}, keys.data(), keys.size() * 8)},
                       {"dims", make(DType::I32, {n, 2}, dims.data(), dims.size() * 4)},
                       {"offsets", make(DType::I64, {n + 1}, offsets.data(), offsets.size() * 8)},
                       {"codes", make(DType::I32, {std::int64_t(codes.size())}, codes.data(), codes.size() * 4)}},
                      {{"format", "emu-image-code-cache"}, {"codebook_size", std::to_string(inner_.codebook_size())}});
}

void CachingImageCoder::load(const std::string& path) {
    const SafetensorsFile f = SafetensorsFile::open(path);
    const auto& meta = f.metadata();
    auto fmt = meta.find("format");
    check(fmt != meta.end() && fmt->second == "emu-image-code-cache", path, ": not an image code cache");
    const Tensor& keys = f.get("keys");
    const Tensor& dims = f.get("dims");
    const Tensor& offsets = f.get("offsets");
    const Tensor& codes = f.get("codes");
    check(keys.dtype() == DType::I64 && dims.dtype() == DType::I32 && offsets.dtype() == DType::I64 &&
              codes.dtype() == DType::I32 && keys.ndim() == 2 && keys.dim(1) == 2 && dims.ndim() == 2 &&
              dims.dim(0) == keys.dim(0) && dims.dim(1) == 2 && offsets.ndim() == 1 &&
              offsets.dim(0) == keys.dim(0) + 1 && codes.ndim() == 1,
          path, ": unexpected tensor layout");
    const std::int64_t n = keys.dim(0);
    const auto* k = keys.data<std::int64_t>();
    const auto* d = dims.data<std::int32_t>();
    const auto* o = offsets.data<std::int64_t>();
    const auto* c = codes.data<std::int32_t>();
    const int book = inner_.codebook_size();
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (std::int64_t i = 0; i < n; ++i) {
        text::CodeGrid g;
        g.h = d[2 * i];
        g.w = d[2 * i + 1];
        check(g.h >= 1 && g.w >= 1 && o[i] >= 0 && o[i + 1] >= o[i] && o[i + 1] <= codes.dim(0) &&
                  o[i + 1] - o[i] == std::int64_t(g.h) * g.w,
              path, ": entry ", i, " is inconsistent");
        g.codes.assign(c + o[i], c + o[i + 1]);
        for (std::int32_t code : g.codes) check(code >= 0 && code < book, path, ": code ", code, " outside the codebook of ", book);
        if (state_->entries.size() >= max_entries_) break;
        state_->entries.emplace(Key128{std::uint64_t(k[2 * i]), std::uint64_t(k[2 * i + 1])}, std::move(g));
    }
}

// --- layouts ----------------------------------------------------------------------------

void LayoutOptions::validate() const {
    check(sequential == "episode" || sequential == "step", "sequential must be 'episode' or 'step', got '",
          sequential, "'");
    check(history >= 1 && history <= 3, "history must be 1, 2 or 3 frames (the official limit of reference images), got ",
          history);
    check(uncond_prob >= 0 && uncond_prob <= 1, "uncond_prob must be in [0, 1], got ", uncond_prob);
}

SequenceLayout layout_step(const world::Sample& sample, std::size_t step, int history) {
    check(sample.task == world::Task::Explore || sample.task == world::Task::Vla, "layout_step is for explore and vla");
    check(!sample.inputs.empty() && step < sample.outputs.size(), "sample ", sample.index, " has no step ", step);
    SequenceLayout L;
    const gen::TaskDefaults& t = gen::task_defaults(sample.task == world::Task::Explore ? "explore" : "vla");
    L.task = t.name;
    L.template_text = t.template_with_image;
    L.uncond_template = t.uncond_with_image;
    // Frames seen so far: the first one, then the outputs before this step.
    std::vector<world::Scene> seen = {sample.inputs.back()};
    for (std::size_t q = 0; q < step; ++q) seen.push_back(sample.outputs[q].scene);
    const std::size_t keep = std::min(seen.size(), std::size_t(std::max(history, 1)));
    L.question = join_question(sample.prompt, sample.outputs[step].text);
    L.prompt_images.assign(seen.end() - long(keep), seen.end());
    L.answer.push_back(image_part(sample.outputs[step].scene));
    L.answer.push_back(text_part(kAnswerEnd, true));
    return L;
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
                SequenceLayout step = layout_step(sample, j, options.history);
                step.unconditional = L.unconditional;
                return step;
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
        else {
            const world::Image picture = world::render(part.scene, world.width, world.height);
            const text::CodeGrid grid = coder.encode(picture);
            const std::size_t begin = seq.ids.size();
            append(seq, text::image_token_ids(grid, tok), part.target);
            if (part.target) mark_object_cells(seq, begin, picture, part.scene.background, grid, tok);
        }
    }
    return seq;
}

// --- configuration ----------------------------------------------------------------------

void DataConfig::validate() const {
    world.validate();
    layout.validate();
    check(seq_len >= 8 && seq_len <= (1 << 24), "seq_len must be in [8, 16777216], got ", seq_len);
    check(batch_size >= 1 && batch_size <= 65536, "batch_size must be in [1, 65536], got ", batch_size);
    check(pool_size >= 0 && pool_size < INT_MAX, "pool_size must be in [0, 2^31), got ", pool_size);
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
            {"pool_size", c.pool_size},         {"sequential", c.layout.sequential}, {"history", c.layout.history},
            {"uncond_prob", c.layout.uncond_prob}};
}

DataConfig data_config_from_json(const nlohmann::json& j) {
    DataConfig c;
    check(j.is_object(), "data config must be a mapping");
    static const std::set<std::string> known{"world",     "tasks",   "seed",      "seq_len",    "batch_size",
                                             "pack",      "pool_size", "sequential", "history", "uncond_prob"};
    for (auto it = j.begin(); it != j.end(); ++it)
        check(known.count(it.key()), "data config: unknown key '", it.key(), "'");
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
        c.pool_size = j.value("pool_size", c.pool_size);
        c.layout.sequential = j.value("sequential", c.layout.sequential);
        c.layout.history = j.value("history", c.layout.history);
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

std::int64_t BatchStream::sample_index(std::int64_t k) const {
    check(k >= 0, "stream position ", k, " is out of range");
    const std::int64_t s = config_.pool_size > 0 ? k % config_.pool_size : k;
    check(s < INT_MAX, "stream position ", k, " is out of range");
    return s;
}

std::string BatchStream::task_at(std::int64_t k) const {
    Rng rng(mix_seed({config_.seed, std::uint64_t(sample_index(k)), kTaskTag}));
    double u = rng.uniform() * weight_sum_;
    for (const auto& [task, w] : weights_) {
        if (u < w) return world::task_name(task);
        u -= w;
    }
    return world::task_name(weights_.back().first);
}

world::Sample BatchStream::sample_at(std::int64_t k) const {
    const world::Task task = world::task_from_name(task_at(k));
    return world::sample_task(task, config_.world, config_.seed, int(sample_index(k)));
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

const TrainingSequence& BatchStream::fetch(std::int64_t k) {
    ahead_.erase(ahead_.begin(), ahead_.lower_bound(k));  // consumed
    auto it = ahead_.find(k);
    if (it != ahead_.end()) return it->second;
    std::vector<TrainingSequence> built(kPrefetch);
    std::vector<std::exception_ptr> errors(kPrefetch);
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < kPrefetch; ++i) {
        try {
            built[std::size_t(i)] = sequence_at(k + i);
        } catch (...) {
            errors[std::size_t(i)] = std::current_exception();
        }
    }
    // An error in sequence k itself is reported now; one further ahead when it is reached.
    if (errors[0]) std::rethrow_exception(errors[0]);
    for (int i = 0; i < kPrefetch; ++i)
        if (!errors[std::size_t(i)]) ahead_.emplace(k + i, std::move(built[std::size_t(i)]));
    return ahead_.at(k);
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
    int skipped_in_a_row = 0;
    for (int r = 0; r < b.rows; ++r) {
        int pos = 0, segment = 0;
        while (pos < L) {
            const TrainingSequence& s = fetch(cursor_);
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
                b.target_tokens += s.mask[std::size_t(i)] != kGiven;
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
