// One generation request end to end, for every official task: prompts from the task
// templates and reference images, the AR decoding loop with guidance, the output split
// into segments, and each image decoded by the vision tokenizer as soon as it is complete.
// The library face of `emu generate`; it reads no files besides the models it loads.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "emu/gen/ar_decoder.h"
#include "emu/gen/output_parse.h"
#include "emu/gen/tasks.h"
#include "emu/io/image.h"
#include "emu/lm/transformer.h"
#include "emu/text/tokenizer.h"
#include "emu/vision/ibq.h"

namespace emu::gen {

// Everything that decides what is generated. Start from Generator::defaults(task).
struct GenerationSettings {
    std::string task = "t2i";
    std::string template_text;    // empty: the task's template (with or without image)
    std::string uncond_template;  // empty: the task's unconditional template
    std::string aspect;           // preset name or "auto"
    long long image_area = 0;     // pixels: reference images are resized to it; presets scale with it
    float cfg_scale = 3.0f;
    int max_new_tokens = 0;
    SamplingParams text, image;
    std::uint64_t seed = 6666;
    // Image decoding: "ar" (token by token, official) or "dida" (parallel denoising in
    // `dida_steps` passes, for models adapted with `mask_token` as their [MASK]).
    std::string decoder = "ar";
    int dida_steps = 8;
    std::string mask_token = "<|extra_0|>";

    nlohmann::json to_json() const;
    // Throws Error naming the first setting out of range (with its CLI flag). Generator::generate
    // calls it, so settings from flags, configs and a model's generation_defaults.json are
    // checked alike; the CLIs call it first to fail before any work.
    void validate() const;
};

// A reference image: pixels (resized and encoded here) or already a code grid.
struct ReferenceImage {
    std::optional<Image> pixels;
    std::optional<text::CodeGrid> codes;
};

struct PreparedPrompt {
    std::string prompt, uncond_prompt;
    std::vector<text::TokenId> ids, uncond_ids;
    std::vector<text::CodeGrid> reference_grids;
};

struct GenerationResult {
    GenerationSettings settings;
    PreparedPrompt prompt;
    std::vector<text::TokenId> tokens;      // generated ids
    std::vector<OutputSegment> segments;    // in order
    std::vector<Image> images;              // one per Image segment, in order
    std::vector<Image> reference_images;    // what the model saw (decoded from the codes)
    bool stopped_at_eos = false;
    std::int64_t passes = 0, image_tokens = 0;
    double seconds_prompt = 0, seconds_generate = 0, seconds_image_decode = 0;
};

struct GenerateCallbacks {
    std::function<void(const std::string& text)> on_text;  // streamed text (valid UTF-8 pieces)
    std::function<void(std::int64_t done, std::int64_t total)> on_image_progress;
    std::function<void(int index, const Image& image)> on_image;  // an image is ready
};

class Generator {
public:
    // `model_dir` holds config.json + safetensors; the tokenizer comes from `tokenizer_dir`
    // or, when empty, from the model folder. `vq_dir` may be empty when only pre-tokenized
    // images are used and nothing is decoded. An optional `generation_defaults.json` in the
    // model folder sets the model's own defaults (image_area, aspect, cfg_scale, ...); its
    // `dida.model` names a folder (relative to the model folder) holding separately adapted
    // weights that `--decoder dida` uses instead of the model's own.
    static Generator load(const std::string& model_dir, const std::string& vq_dir, const std::string& tokenizer_dir);
    // Only what a dry run needs: the tokenizer and, for raw images, the vision tokenizer.
    static Generator load_for_prompts(const std::string& model_dir, const std::string& vq_dir,
                                      const std::string& tokenizer_dir);

    Generator(text::Tokenizer tokenizer, std::optional<lm::Transformer> transformer, std::optional<vision::Ibq> vq,
              nlohmann::json model_defaults = nlohmann::json::object());

    // Task defaults from the official config, then the model folder's defaults.
    GenerationSettings defaults(const std::string& task) const;
    PreparedPrompt prepare(const GenerationSettings& settings, const std::string& question,
                           const std::vector<ReferenceImage>& images) const;
    GenerationResult generate(const GenerationSettings& settings, const std::string& question,
                              const std::vector<ReferenceImage>& images, const GenerateCallbacks& callbacks = {}) const;

    const text::Tokenizer& tokenizer() const { return tokenizer_; }
    const lm::Transformer* transformer() const { return transformer_ ? &*transformer_ : nullptr; }
    // The transformer a decoder runs on: the DiDA weights when a model ships them apart.
    const lm::Transformer& transformer_for(const std::string& decoder) const;
    // Separately adapted weights for `--decoder dida` (checked against the tokenizer).
    void set_dida_transformer(lm::Transformer weights);
    const vision::Ibq* vq() const { return vq_ ? &*vq_ : nullptr; }
    // The grammar's view of the vocabulary; throws Error when it cannot make images.
    ImageTokenIds image_token_ids() const;
    Image decode_grid(const text::CodeGrid& grid) const;
    text::CodeGrid encode_image(const Image& rgb, long long area) const;

private:
    void check_vocab(const lm::Transformer& t) const;

    text::Tokenizer tokenizer_;
    std::optional<lm::Transformer> transformer_;
    std::optional<lm::Transformer> dida_transformer_;
    std::optional<vision::Ibq> vq_;
    nlohmann::json model_defaults_;
};

}  // namespace emu::gen
