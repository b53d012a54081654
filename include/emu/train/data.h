// The training data pipeline: ShapesWorld samples -> the official prompt templates and
// interleaved layout -> token ids with a loss mask -> fixed-size batches.
//
// Layout per task (docs/training.md has the details and the reasons):
//   t2i            prompt(t2i template, caption)                       -> IMAGE ESS EOS
//   x2i            prompt(x2i template, input images + instruction)    -> IMAGE ESS EOS
//   story/howto    prompt(story|howto template, goal)                  -> (TEXT IMAGE)* ESS EOS
//   explore/vla    step (default): prompt(template, goal + action, last `history` frames)
//                                                                        -> IMAGE ESS EOS
//                  episode: prompt(template, goal + first frame)       -> (ACTION IMAGE)* ESS EOS
//                  with the action texts given (mask 0) and the frames learned (mask 1)
// where prompt() is text::build_prompts exactly as inference builds it (and, with
// probability uncond_prob, the unconditional prompt instead, so classifier-free guidance
// has a trained unconditional branch).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/text/image_tokens.h"
#include "emu/text/tokenizer.h"
#include "emu/world/image.h"
#include "emu/world/tasks.h"

namespace emu::vision {
class Ibq;
}

namespace emu::train {

// Turns a picture into a grid of visual codes. Implementations must be deterministic.
class ImageCoder {
public:
    virtual ~ImageCoder() = default;
    virtual text::CodeGrid encode(const world::Image& image) const = 0;
    virtual int codebook_size() const = 0;
};

// The real thing: IBQ encode of the picture mapped to [-1, 1] (vision::image_to_tensor).
// The picture must already have the size the IBQ expects (multiples of its downsample factor).
class IbqImageCoder : public ImageCoder {
public:
    explicit IbqImageCoder(const vision::Ibq& ibq) : ibq_(ibq) {}
    text::CodeGrid encode(const world::Image& image) const override;
    int codebook_size() const override;

private:
    const vision::Ibq& ibq_;
};

// A stand-in for tests and tooling without a trained VQ: the picture is cut into
// grid_h x grid_w blocks and each block's mean colour is hashed into [0, codebook_size).
// Different pictures give different codes (almost always); no decoder exists.
class StubImageCoder : public ImageCoder {
public:
    StubImageCoder(int grid_h, int grid_w, int codebook_size);
    text::CodeGrid encode(const world::Image& image) const override;
    int codebook_size() const override { return codebook_size_; }

private:
    int grid_h_, grid_w_, codebook_size_;
};

// Remembers the codes of every picture it has encoded (keyed by a 128-bit hash of size and
// pixels), so a finite sample pool (DataConfig::pool_size) pays for each IBQ encode once.
// Thread-safe. save()/load() keep the codes across runs and resumes (safetensors).
class CachingImageCoder : public ImageCoder {
public:
    // max_entries bounds memory; when full, new pictures are encoded but not remembered.
    explicit CachingImageCoder(const ImageCoder& inner, std::size_t max_entries = 1u << 20);
    ~CachingImageCoder() override;
    text::CodeGrid encode(const world::Image& image) const override;
    int codebook_size() const override { return inner_.codebook_size(); }

    std::size_t size() const;
    std::int64_t hits() const;
    std::int64_t misses() const;
    // Writes every entry; load() adds the entries of a file written by save() (codes must
    // fit the inner coder's codebook; errors name the file).
    void save(const std::string& path) const;
    void load(const std::string& path);

private:
    struct State;
    const ImageCoder& inner_;
    std::size_t max_entries_;
    std::unique_ptr<State> state_;
};

// One piece of a training sequence before tokenization.
struct Part {
    enum class Kind { Text, Image };
    Kind kind = Kind::Text;
    std::string text;        // Text: may contain special tokens ("<|extra_101|>"), encoded with encode()
    world::Scene scene;      // Image: rendered at the world's canvas size, then encoded
    bool target = false;     // loss on these tokens
};

struct LayoutOptions {
    std::string sequential = "step";     // explore/vla: "step" or "episode"
    int history = 1;                     // step: frames shown in the prompt (1..3, newest last)
    double uncond_prob = 0.0;            // chance of the unconditional prompt instead
    void validate() const;
};

// The parts of one training sequence for a sample: the prompt (built at encode time by
// text::build_prompts from the templates, the question and the prompt images) and the answer.
struct SequenceLayout {
    std::string task;              // template set used: t2i, x2i, howto, story, explore, vla
    std::string template_text;     // conditional template (with or without "<|IMAGE|>")
    std::string uncond_template;   // unconditional template
    std::string question;
    bool unconditional = false;    // use the unconditional prompt
    std::vector<world::Scene> prompt_images;  // replace "<|IMAGE|>" (concatenated, official)
    std::vector<Part> answer;      // after the prompt's trailing BSS
};

// The "step" layout of an explore/vla sample at a given step: the last `history` true
// frames and the step's action in the prompt, that step's frame as the answer.
SequenceLayout layout_step(const world::Sample& sample, std::size_t step, int history);

// Deterministic in (sample, options, rng_seed).
SequenceLayout layout_sample(const world::Sample& sample, const LayoutOptions& options, std::uint64_t rng_seed);

// Every text the tokenizer will see for this layout (prompt text without images, answer
// texts): the corpus the BPE trainer learns from.
std::vector<std::string> layout_texts(const SequenceLayout& layout);

// Values of TrainingSequence::mask and Batch::mask.
inline constexpr std::uint8_t kGiven = 0;         // prompt and given texts: no loss
inline constexpr std::uint8_t kTarget = 1;        // the loss term counts
inline constexpr std::uint8_t kObjectTarget = 2;  // a target visual token whose cell holds an object
                                                  // (a pixel that is not the background colour)

// The loss weights of mask values: 0, 1, or object_weight for kObjectTarget (out is resized
// to mask.size()). Trainers may weight the cells the evaluator reads (objects) above plain
// background, whose exact codes it never reads.
void loss_weights(const std::vector<std::uint8_t>& mask, float object_weight, std::vector<float>& out);

struct TrainingSequence {
    std::vector<text::TokenId> ids;
    // mask[i] != kGiven: ids[i] is a target, the loss term -log p(ids[i] | ids[<i]) counts
    // (computed from the logits at position i - 1); kGiven on the prompt and given texts.
    std::vector<std::uint8_t> mask;
    std::string task;
    std::int64_t index = -1;  // stream position (or sample index) it came from
    std::size_t prompt_length = 0;  // ids[0 .. prompt_length) is the prompt
};

// Tokenizes a layout: the prompt through text::build_prompts + encode (as inference does),
// images through the coder and text::image_token_ids, answer texts through encode().
TrainingSequence encode_layout(const SequenceLayout& layout, const world::WorldConfig& world,
                               const text::Tokenizer& tok, const ImageCoder& coder);

struct DataConfig {
    world::WorldConfig world;
    std::map<std::string, double> task_weights = {{"t2i", 1}, {"x2i", 1}, {"story", 1}, {"explore", 1}, {"vla", 1}};
    std::uint64_t seed = 1;  // training stream; use a different seed for held-out data
    int seq_len = 512;       // tokens per row
    int batch_size = 8;      // rows per batch
    bool pack = true;        // several sequences per row (else one per row, padded)
    // 0: every stream position is a new sample. N > 0: position k shows sample k mod N (task
    // and scenes repeat every N positions, prompt choices such as uncond_prob do not), so a
    // CachingImageCoder encodes each picture once and later epochs cost no vision encoding.
    std::int64_t pool_size = 0;
    LayoutOptions layout;
    void validate() const;
};
nlohmann::json to_json(const DataConfig& c);
// Keys: world {...}, tasks {name: weight}, seed, seq_len, batch_size, pack, pool_size,
// sequential, history, uncond_prob. Missing keys keep defaults; unknown task names are errors.
DataConfig data_config_from_json(const nlohmann::json& j);

struct Batch {
    int rows = 0, seq_len = 0;
    std::vector<text::TokenId> ids;      // rows * seq_len; PAD (<|endoftext|>) where unused
    std::vector<std::uint8_t> mask;      // rows * seq_len; kTarget / kObjectTarget on target tokens
    std::vector<std::int32_t> positions; // position inside its own sequence (RoPE), 0 on padding
    std::vector<std::int32_t> segments;  // 1, 2, ... per sequence in the row; 0 on padding
    std::int64_t tokens = 0;             // non-padding tokens
    std::int64_t target_tokens = 0;      // tokens with a target mask
    std::int64_t sequences = 0;
    std::int64_t first_index = 0, end_index = 0;  // stream positions [first, end) it holds
};

// An endless deterministic stream of sequences and batches. Sequence k of the stream is a
// pure function of (config, k): with s = k (or k mod pool_size), the task is drawn by weight
// from mix_seed(seed, s), the sample is world::sample_task(task, world, seed, s), and the
// layout choices are drawn from mix_seed(seed, k). The cursor (next k) is the only state, so a
// checkpoint storing it resumes the exact stream.
class BatchStream {
public:
    BatchStream(DataConfig config, const text::Tokenizer& tok, const ImageCoder& coder);

    TrainingSequence sequence_at(std::int64_t k) const;
    // The sample behind sequence k.
    world::Sample sample_at(std::int64_t k) const;
    std::string task_at(std::int64_t k) const;
    // The ShapesWorld sample index behind position k (k, or k mod pool_size).
    std::int64_t sample_index(std::int64_t k) const;

    // Fills batch_size rows of seq_len tokens. Packing is greedy: whole sequences are
    // appended while they fit; one that does not fit closes the row (and starts the next
    // batch when it was the last row). Sequences longer than seq_len are skipped and counted.
    Batch next();
    std::int64_t cursor() const { return cursor_; }
    void seek(std::int64_t cursor);
    std::int64_t skipped_too_long() const { return skipped_; }
    const DataConfig& config() const { return config_; }

private:
    DataConfig config_;
    const text::Tokenizer& tok_;
    const ImageCoder& coder_;
    std::vector<std::pair<world::Task, double>> weights_;
    double weight_sum_ = 0;
    std::int64_t cursor_ = 0;
    std::int64_t skipped_ = 0;
    // Sequences built ahead, by index (valid across seek(): sequence k never changes).
    // They are built kPrefetch at a time side by side, one thread each, so the pictures'
    // vision encoding (most of the data cost) uses every core; each picture is encoded on
    // one thread, so the codes do not depend on the thread count.
    std::map<std::int64_t, TrainingSequence> ahead_;
    static constexpr int kPrefetch = 16;
    const TrainingSequence& fetch(std::int64_t k);
};

// The ShapesWorld corpus for tokenizer training: layout_texts of `n_per_task` samples of
// every task (seed, indices 0..n-1), both conditional and unconditional prompts.
std::vector<std::string> shapesworld_corpus(const world::WorldConfig& world, std::uint64_t seed, int n_per_task);

}  // namespace emu::train
