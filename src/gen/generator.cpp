#include "emu/gen/generator.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "emu/core/error.h"
#include "emu/core/mapped_file.h"
#include "emu/gen/transformer_model.h"
#include "emu/io/config.h"
#include "emu/text/prompt.h"
#include "emu/vision/preprocess.h"

namespace fs = std::filesystem;

namespace emu::gen {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

nlohmann::json sampling_json(const SamplingParams& p) {
    return {{"temperature", p.temperature}, {"top_k", p.top_k}, {"top_p", p.top_p}, {"greedy", p.greedy}};
}

void read_sampling(const nlohmann::json& j, SamplingParams& p, const std::string& where) {
    check(j.is_object(), where, " must be an object");
    if (j.contains("temperature")) p.temperature = j["temperature"].get<float>();
    if (j.contains("top_k")) p.top_k = j["top_k"].get<int>();
    if (j.contains("top_p")) p.top_p = j["top_p"].get<float>();
    if (j.contains("greedy")) p.greedy = j["greedy"].get<bool>();
}

nlohmann::json load_model_defaults(const std::string& model_dir) {
    fs::path p = fs::path(model_dir) / "generation_defaults.json";
    return fs::exists(p) ? load_json_file(p.string()) : nlohmann::json::object();
}

// The length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence.
std::size_t complete_utf8_prefix(const std::string& bytes) {
    std::size_t n = bytes.size();
    for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
        unsigned char c = static_cast<unsigned char>(bytes[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        std::size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

}  // namespace

nlohmann::json GenerationSettings::to_json() const {
    return {{"task", task},
            {"template", template_text},
            {"uncond_template", uncond_template},
            {"aspect", aspect},
            {"image_area", image_area},
            {"cfg_scale", cfg_scale},
            {"max_new_tokens", max_new_tokens},
            {"text_sampling", sampling_json(text)},
            {"image_sampling", sampling_json(image)},
            {"seed", seed},
            {"decoder", decoder},
            {"dida_steps", dida_steps},
            {"mask_token", mask_token}};
}

void GenerationSettings::validate() const {
    check(max_new_tokens > 0, "max_new_tokens (--max-new-tokens) must be positive, got ", max_new_tokens);
    check(cfg_scale >= 0 && std::isfinite(cfg_scale), "cfg_scale (--cfg) must be a non-negative number, got ",
          cfg_scale);
    check(image_area >= 256, "image_area (--area) must be at least 256 pixels (one 16x16 token), got ", image_area);
    for (const auto& [name, p] : {std::pair<const char*, const SamplingParams&>{"text", text}, {"image", image}}) {
        check(p.temperature > 0 && std::isfinite(p.temperature), name, " temperature (--", name,
              "-temp) must be positive, got ", p.temperature);
        check(p.top_p > 0 && p.top_p <= 1, name, " top-p (--", name, "-top-p) must be in (0, 1], got ", p.top_p);
        check(p.top_k >= 0, name, " top-k (--", name, "-top-k) must not be negative, got ", p.top_k);
    }
    check(decoder == "ar" || decoder == "dida", "decoder (--decoder) must be ar or dida, got '", decoder, "'");
    check(dida_steps >= 1, "DiDA steps (--steps) must be at least 1, got ", dida_steps);
    aspect_preset(aspect.empty() ? "auto" : aspect, image_area);  // rejects unknown names
}

Generator::Generator(text::Tokenizer tokenizer, std::optional<lm::Transformer> transformer,
                     std::optional<vision::Ibq> vq, nlohmann::json model_defaults)
    : tokenizer_(std::move(tokenizer)),
      transformer_(std::move(transformer)),
      vq_(std::move(vq)),
      model_defaults_(std::move(model_defaults)) {
    check(model_defaults_.is_object(), "generation_defaults.json must hold an object");
    if (transformer_) check_vocab(*transformer_);
    if (vq_ && tokenizer_.roles().n_visual > 0) {
        check(vq_->config().n_embed <= tokenizer_.roles().n_visual, "the vision tokenizer has ", vq_->config().n_embed,
              " codes but the text tokenizer only ", tokenizer_.roles().n_visual, " visual tokens");
    }
}

void Generator::check_vocab(const lm::Transformer& t) const {
    const auto vocab = t.config().vocab_size;
    check(vocab >= std::int64_t(tokenizer_.n_vocab()), "the model has ", vocab, " token ids but the tokenizer has ",
          tokenizer_.n_vocab(), ": they do not belong together");
}

Generator Generator::load(const std::string& model_dir, const std::string& vq_dir, const std::string& tokenizer_dir) {
    text::Tokenizer tok = text::Tokenizer::load(tokenizer_dir.empty() ? model_dir : tokenizer_dir);
    lm::Transformer transformer = lm::Transformer::load(model_dir);
    std::optional<vision::Ibq> vq;
    if (!vq_dir.empty()) vq = vision::Ibq::load(vq_dir);
    nlohmann::json defaults = load_model_defaults(model_dir);
    Generator g(std::move(tok), std::move(transformer), std::move(vq), defaults);
    if (defaults.contains("dida") && defaults["dida"].is_object() && defaults["dida"].contains("model")) {
        const nlohmann::json& name = defaults["dida"]["model"];
        check(name.is_string() && !name.get<std::string>().empty(),
              "generation_defaults.json: dida.model must name a folder");
        const fs::path dir = fs::path(model_dir) / name.get<std::string>();
        check(fs::exists(dir / "config.json"), "generation_defaults.json: dida.model '", name.get<std::string>(),
              "' is not a model folder (no ", (dir / "config.json").string(), ")");
        g.set_dida_transformer(lm::Transformer::load(dir.string()));
    }
    return g;
}

void Generator::set_dida_transformer(lm::Transformer weights) {
    check_vocab(weights);
    dida_transformer_ = std::move(weights);
}

const lm::Transformer& Generator::transformer_for(const std::string& decoder) const {
    check(transformer_.has_value(), "generation needs the transformer (--model)");
    return decoder == "dida" && dida_transformer_ ? *dida_transformer_ : *transformer_;
}

Generator Generator::load_for_prompts(const std::string& model_dir, const std::string& vq_dir,
                                      const std::string& tokenizer_dir) {
    check(!model_dir.empty() || !tokenizer_dir.empty(), "a dry run needs --model or --tokenizer");
    text::Tokenizer tok = text::Tokenizer::load(tokenizer_dir.empty() ? model_dir : tokenizer_dir);
    std::optional<vision::Ibq> vq;
    if (!vq_dir.empty()) vq = vision::Ibq::load(vq_dir);
    return Generator(std::move(tok), std::nullopt, std::move(vq),
                     model_dir.empty() ? nlohmann::json::object() : load_model_defaults(model_dir));
}

GenerationSettings Generator::defaults(const std::string& task) const {
    const TaskDefaults& t = task_defaults(task);
    GenerationSettings s;
    s.task = t.name;
    s.aspect = t.default_aspect;
    s.image_area = t.image_area;
    s.cfg_scale = t.cfg_scale;
    s.max_new_tokens = t.max_new_tokens;
    s.text = t.text;
    s.image = t.image;
    // The model's own defaults (a small model trained on small images says so here).
    const nlohmann::json& d = model_defaults_;
    try {
        if (d.contains("image_area")) s.image_area = d["image_area"].get<long long>();
        if (d.contains("aspect")) s.aspect = d["aspect"].get<std::string>();
        if (d.contains("cfg_scale")) s.cfg_scale = d["cfg_scale"].get<float>();
        if (d.contains("max_new_tokens")) s.max_new_tokens = d["max_new_tokens"].get<int>();
        if (d.contains("text_sampling")) read_sampling(d["text_sampling"], s.text, "text_sampling");
        if (d.contains("image_sampling")) read_sampling(d["image_sampling"], s.image, "image_sampling");
        if (d.contains("dida")) {
            const nlohmann::json& dd = d["dida"];
            if (dd.contains("steps")) s.dida_steps = dd["steps"].get<int>();
            if (dd.contains("mask_token")) s.mask_token = dd["mask_token"].get<std::string>();
            if (dd.contains("default") && dd["default"].get<bool>()) s.decoder = "dida";
        }
        if (d.contains("tasks") && d["tasks"].contains(task)) {
            const nlohmann::json& td = d["tasks"][task];
            if (td.contains("max_new_tokens")) s.max_new_tokens = td["max_new_tokens"].get<int>();
            if (td.contains("cfg_scale")) s.cfg_scale = td["cfg_scale"].get<float>();
        }
    } catch (const nlohmann::json::exception& e) {
        fail("generation_defaults.json: ", e.what());
    }
    return s;
}

ImageTokenIds Generator::image_token_ids() const {
    const text::SpecialRoles& r = tokenizer_.roles();
    ImageTokenIds ids;
    ids.boi = r.boi;
    ids.eoi = r.eoi;
    ids.img = r.img;
    ids.eol = r.eol;
    ids.first_visual = r.bov;
    ids.n_visual = r.n_visual;
    for (int d = 0; d < 10; ++d) {
        auto id = tokenizer_.rank_of(std::string(1, char('0' + d)));
        ids.digits[std::size_t(d)] = id ? *id : -1;
    }
    auto star = tokenizer_.rank_of("*");
    ids.star = star ? *star : -1;
    ids.vocab_size = transformer_ ? std::int32_t(transformer_->config().vocab_size) : std::int32_t(tokenizer_.n_vocab());
    ids.validate();
    return ids;
}

text::CodeGrid Generator::encode_image(const Image& rgb, long long area) const {
    check(vq_.has_value(), "a raw reference image needs the vision tokenizer (--vq)");
    const int factor = vq_->config().downsample_factor();
    Image resized = vision::smart_resize(to_rgb(rgb), double(area), factor);
    Tensor codes = vq_->encode(vision::image_to_tensor(resized));
    text::CodeGrid grid;
    grid.h = int(codes.dim(0));
    grid.w = int(codes.dim(1));
    for (std::uint64_t i = 0; i < codes.numel(); ++i) grid.codes.push_back(std::int32_t(codes.data<std::int64_t>()[i]));
    return grid;
}

Image Generator::decode_grid(const text::CodeGrid& grid) const {
    check(vq_.has_value(), "decoding an image needs the vision tokenizer (--vq)");
    Tensor codes = Tensor::zeros(DType::I64, {grid.h, grid.w});
    for (std::size_t i = 0; i < grid.codes.size(); ++i) {
        check(grid.codes[i] >= 0 && grid.codes[i] < vq_->config().n_embed, "image code ", grid.codes[i],
              " is outside the vision codebook (", vq_->config().n_embed, " codes)");
        codes.data_mut<std::int64_t>()[i] = grid.codes[i];
    }
    return vision::tensor_to_image(vq_->decode(codes));
}

PreparedPrompt Generator::prepare(const GenerationSettings& settings, const std::string& question,
                                  const std::vector<ReferenceImage>& images) const {
    const TaskDefaults& task = task_defaults(settings.task);
    check(int(images.size()) <= task.max_reference_images, "task ", task.name, " takes at most ",
          task.max_reference_images, " reference images, got ", images.size());
    PreparedPrompt p;
    std::vector<std::string> image_strings;
    for (const ReferenceImage& ref : images) {
        text::CodeGrid grid = ref.codes ? *ref.codes : encode_image(*ref.pixels, settings.image_area);
        for (std::int32_t c : grid.codes) tokenizer_.visual_id(c);  // throws when out of range
        image_strings.push_back(text::image_string(grid));
        p.reference_grids.push_back(std::move(grid));
    }
    const bool with_image = !images.empty();
    std::string tmpl = settings.template_text.empty() ? (with_image ? task.template_with_image : task.template_text)
                                                      : settings.template_text;
    std::string unc = settings.uncond_template.empty() ? (with_image ? task.uncond_with_image : task.uncond_template)
                                                       : settings.uncond_template;
    check(!with_image || tmpl.find(text::kImagePlaceholder) != std::string::npos, "the template has no ",
          text::kImagePlaceholder, " placeholder for the reference images");
    text::Prompts prompts = text::build_prompts(tmpl, unc, question, image_strings);
    p.prompt = prompts.prompt;
    p.uncond_prompt = prompts.unc_prompt;
    p.ids = tokenizer_.encode(p.prompt);
    p.uncond_ids = tokenizer_.encode(p.uncond_prompt);
    // As inference.py: BOS first (the templates already start with it).
    const text::TokenId bos = tokenizer_.roles().bos;
    if (bos != text::kNoToken && (p.ids.empty() || p.ids.front() != bos)) p.ids.insert(p.ids.begin(), bos);
    return p;
}

GenerationResult Generator::generate(const GenerationSettings& settings, const std::string& question,
                                     const std::vector<ReferenceImage>& images, const GenerateCallbacks& callbacks) const {
    check(transformer_.has_value(), "generation needs the transformer (--model)");
    settings.validate();
    GenerationResult result;
    result.settings = settings;
    auto t0 = Clock::now();
    result.prompt = prepare(settings, question, images);
    for (const auto& grid : result.prompt.reference_grids)
        if (vq_) result.reference_images.push_back(decode_grid(grid));
    result.seconds_prompt = seconds_since(t0);

    DecodeSettings ds;
    ds.cfg_scale = settings.cfg_scale;
    ds.text = settings.text;
    ds.image = settings.image;
    ds.max_new_tokens = settings.max_new_tokens;
    ds.seed = settings.seed;
    ds.eos = tokenizer_.roles().eos;
    ds.target_size = aspect_preset(settings.aspect.empty() ? "auto" : settings.aspect, settings.image_area,
                                   vq_ ? vq_->config().downsample_factor() : 16);
    ds.force_same_size = images.size() <= 1;  // as inference.py
    if (settings.decoder == "dida") {
        ds.parallel = ParallelImageSettings{settings.dida_steps, tokenizer_.require_special(settings.mask_token)};
    }

    // Images are decoded the moment their EOI arrives; text is streamed as it forms.
    std::vector<std::pair<text::CodeGrid, Image>> decoded;
    std::string pending_text;
    DecodeCallbacks dc;
    dc.on_token = [&](text::TokenId id, bool image_mode) {
        if (!callbacks.on_text || image_mode || tokenizer_.is_special(id) || !tokenizer_.is_valid(id)) return;
        pending_text += tokenizer_.token_bytes(id);
        std::size_t n = complete_utf8_prefix(pending_text);
        if (n == 0) return;
        callbacks.on_text(pending_text.substr(0, n));
        pending_text.erase(0, n);
    };
    dc.on_image_progress = callbacks.on_image_progress;
    dc.on_image = [&](std::span<const text::TokenId> image_ids) {
        if (!vq_) return;
        auto found = text::find_images(image_ids, tokenizer_);
        if (found.empty() || !found[0].ok) return;
        auto t = Clock::now();
        decoded.emplace_back(found[0].grid, decode_grid(found[0].grid));
        result.seconds_image_decode += seconds_since(t);
        if (callbacks.on_image) callbacks.on_image(int(decoded.size()) - 1, decoded.back().second);
    };

    TransformerModel model(transformer_for(settings.decoder));
    ImageTokenIds ids = image_token_ids();
    auto t1 = Clock::now();
    DecodeResult dr = decode_autoregressive(model, ids, result.prompt.ids, result.prompt.uncond_ids, ds, dc);
    result.seconds_generate = seconds_since(t1) - result.seconds_image_decode;
    if (callbacks.on_text && !pending_text.empty()) callbacks.on_text(pending_text);

    result.tokens = std::move(dr.tokens);
    result.stopped_at_eos = dr.stopped_at_eos;
    result.passes = dr.passes;
    result.image_tokens = dr.image_tokens;
    result.segments = parse_output(result.tokens, tokenizer_);
    std::size_t next_decoded = 0;
    for (const OutputSegment& seg : result.segments) {
        if (seg.kind != OutputSegment::Kind::Image || !vq_) continue;
        // Reuse the early decode of the same grid; decode now what the stream never closed cleanly.
        if (next_decoded < decoded.size() && decoded[next_decoded].first.codes == seg.grid.codes &&
            decoded[next_decoded].first.w == seg.grid.w) {
            result.images.push_back(decoded[next_decoded++].second);
        } else {
            result.images.push_back(decode_grid(seg.grid));
        }
    }
    return result;
}

}  // namespace emu::gen
