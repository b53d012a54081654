#include "emu/train/lm_run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/gen/generator.h"
#include "emu/io/image.h"
#include "emu/lm/transformer.h"
#include "emu/ops/isa.h"
#include "emu/ops/linear.h"
#include "emu/ops/threads.h"
#include "emu/text/tokenizer.h"
#include "emu/train/checkpoint.h"
#include "emu/train/data.h"
#include "emu/train/lm_model.h"
#include "emu/train/metrics.h"
#include "emu/train/optimizer.h"
#include "emu/train/run.h"
#include "emu/train/dida.h"
#include "emu/train/tokenizer_training.h"
#include "emu/vision/ibq.h"

namespace emu::train {

namespace fs = std::filesystem;

LmModelSpec lm_model_spec_from_json(const nlohmann::json& j) {
    check(j.is_object(), "lm config: 'model' must be a mapping");
    LmModelSpec s;
    lm::Config& c = s.config;
    // Small defaults; every size can be set.
    c.hidden_size = 256;
    c.intermediate_size = 768;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 4096;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& k = it.key();
        try {
            if (k == "hidden_size") c.hidden_size = it->get<std::int64_t>();
            else if (k == "intermediate_size") c.intermediate_size = it->get<std::int64_t>();
            else if (k == "num_hidden_layers") c.num_hidden_layers = it->get<std::int64_t>();
            else if (k == "num_attention_heads") c.num_attention_heads = it->get<std::int64_t>();
            else if (k == "num_key_value_heads") c.num_key_value_heads = it->get<std::int64_t>();
            else if (k == "head_dim") c.head_dim = it->get<std::int64_t>();
            else if (k == "rope_theta") c.rope_theta = it->get<double>();
            else if (k == "rms_norm_eps") c.rms_norm_eps = it->get<double>();
            else if (k == "max_position_embeddings") c.max_position_embeddings = it->get<std::int64_t>();
            else if (k == "tie_word_embeddings") c.tie_word_embeddings = it->get<bool>();
            else if (k == "init_std") s.init_std = it->get<float>();
            else fail("lm config: unknown key 'model.", k, "'");
        } catch (const nlohmann::json::exception& e) {
            fail("lm config: model.", k, ": ", e.what());
        }
    }
    return s;
}

namespace {

void copy_tokenizer_files(const std::string& from, const std::string& to) {
    for (const char* f : {"emu3.tiktoken", "emu3_vision_tokens.txt", "tokenizer_config.json"}) {
        const fs::path src = fs::path(from) / f;
        if (fs::exists(src)) fs::copy_file(src, fs::path(to) / f, fs::copy_options::overwrite_existing);
    }
}

struct Coder {
    std::optional<vision::Ibq> ibq;
    std::unique_ptr<ImageCoder> inner;
    std::unique_ptr<CachingImageCoder> cache;
};

// `vq`: a vision tokenizer folder, or "stub:HxW:N" (block-colour codes, for tests/benchmarks).
Coder make_coder(const std::string& vq) {
    Coder c;
    int h = 0, w = 0, n = 0;
    if (vq.rfind("stub:", 0) == 0) {
        check(std::sscanf(vq.c_str(), "stub:%dx%d:%d", &h, &w, &n) == 3 && h > 0 && w > 0 && n > 1,
              "lm config: vq '", vq, "' is not stub:HxW:CODES");
        c.inner = std::make_unique<StubImageCoder>(h, w, n);
    } else {
        c.ibq.emplace(vision::Ibq::load(vq));
        c.inner = std::make_unique<IbqImageCoder>(*c.ibq);
    }
    c.cache = std::make_unique<CachingImageCoder>(*c.inner);
    return c;
}

LmBatchView view_of(const Batch& b, float object_weight, std::vector<float>& mask, std::vector<std::int64_t>& pos) {
    loss_weights(b.mask, object_weight, mask);
    pos.assign(b.positions.begin(), b.positions.end());
    LmBatchView v;
    v.rows = b.rows;
    v.seq_len = b.seq_len;
    v.ids = b.ids.data();
    v.mask = mask.data();
    v.positions = pos.data();
    v.segments = b.segments.data();
    return v;
}

// Sets the products' precision for one run and restores the previous knobs after it.
class PrecisionScope {
public:
    explicit PrecisionScope(const std::string& mode) : splits_(ops::bf16_input_splits()), amx_(ops::amx_for_f32()) {
        try {
            ops::set_prefill_precision(mode);
        } catch (const Error& e) {
            throw Error(std::string("lm config: ") + e.what());
        }
    }
    ~PrecisionScope() {
        ops::set_bf16_input_splits(splits_);
        ops::set_amx_for_f32(amx_);
    }
    PrecisionScope(const PrecisionScope&) = delete;
    PrecisionScope& operator=(const PrecisionScope&) = delete;

private:
    int splits_;
    bool amx_;
};

}  // namespace

LmRunReport run_lm_training(const nlohmann::json& config, const std::string& resume) {
    check_config_keys(config,
                      {"threads", "precision", "model", "data", "vq", "tokenizer", "init_from", "grow_layers",
                       "export_dtype", "dida", "eval_seed", "generation", "sample_every", "sample_prompts",
                       "object_weight"},
                      "lm config");
    const RunOptions run = run_options_from_json(config);
    // Every section is read before any expensive work, so a typo fails at once.
    LmModelSpec spec = lm_model_spec_from_json(config.value("model", nlohmann::json::object()));
    const DataConfig data = data_config_from_json(config.value("data", nlohmann::json::object()));
    // precision: the transformer's matrix products, forward and backward (ops::set_prefill_precision):
    // exact (F32, default), fast (2-part BF16 on AMX, ~1e-5) or bf16 (mixed precision: BF16
    // operands, F32 accumulation and F32 weights). Restored when the run ends.
    const PrecisionScope precision(config.value("precision", std::string("exact")));
    const std::string out = run.out;
    fs::create_directories(out);
    if (config.contains("threads")) ops::set_num_threads(config["threads"].get<int>());
    check(config.contains("vq"), "lm config: 'vq' (vision tokenizer folder, or stub:HxW:N) is required");
    Coder coder = make_coder(config["vq"].get<std::string>());
    const std::string cache_path = (fs::path(out) / "image_codes.safetensors").string();
    if (fs::exists(cache_path)) coder.cache->load(cache_path);

    // Adaptation (emu train dida) starts from a trained model folder: its weights, its
    // shape and, unless the config names another, its tokenizer.
    const std::string init_from = config.value("init_from", std::string());
    // grow_layers: a deeper model that starts out computing what init_from computes
    // (train::grow_depth), so a trained model gains capacity without starting over.
    const std::int64_t grow_layers = config.value("grow_layers", std::int64_t(0));
    check(grow_layers == 0 || !init_from.empty(), "lm config: 'grow_layers' needs 'init_from'");
    lm::Config source_config;
    if (!init_from.empty()) {
        check(!config.contains("model"), "lm config: 'model' and 'init_from' exclude each other");
        source_config = spec.config = lm::Config::load(init_from);
        if (grow_layers != 0) spec.config.num_hidden_layers = grow_layers;
    }
    const DType export_dtype = export_dtype_from_name(config.value("export_dtype", std::string("f32")));
    const bool dida = config.contains("dida");
    // object_weight: the training loss of visual tokens whose cell holds an object counts this
    // many times a plain-background token's (1 = the plain mean; held-out loss always uses 1).
    check(!config.contains("object_weight") || config["object_weight"].is_number(),
          "lm config: object_weight must be a number, got ", config.value("object_weight", nlohmann::json()).dump());
    const float object_weight = config.value("object_weight", 1.f);
    check(std::isfinite(object_weight) && object_weight > 0 && object_weight <= 100,
          "lm config: object_weight must be in (0, 100], got ", object_weight);
    check(!dida || !config.contains("object_weight"), "lm config: object_weight is for AR training, not with 'dida'");
    const DidaConfig dida_config = dida ? dida_config_from_json(config["dida"]) : DidaConfig{};

    // Tokenizer: a folder, or a tokenizer-training section trained into OUT/tokenizer.
    std::string tok_dir;
    check(config.contains("tokenizer") || !init_from.empty(),
          "lm config: 'tokenizer' (folder or training section) is required");
    if (!config.contains("tokenizer")) {
        tok_dir = init_from;
    } else if (config["tokenizer"].is_string()) {
        tok_dir = config["tokenizer"].get<std::string>();
    } else {
        tok_dir = (fs::path(out) / "tokenizer").string();
        if (!fs::exists(fs::path(tok_dir) / "emu3.tiktoken")) {
            nlohmann::json tj = config["tokenizer"];
            tj["out"] = tok_dir;
            tj["visual_tokens"] = coder.cache->codebook_size();
            const TokenizerTrainingReport r = train_tokenizer(tokenizer_training_config_from_json(tj));
            log_info(str("trained tokenizer: ", r.n_vocab, " ids -> ", tok_dir));
        }
    }
    const text::Tokenizer tok = text::Tokenizer::load(tok_dir);
    check(tok.roles().n_visual == coder.cache->codebook_size(), "lm config: tokenizer ", tok_dir, " has ",
          tok.roles().n_visual, " visual tokens but the vision tokenizer has ", coder.cache->codebook_size(),
          " codes");

    lm::Config& mc = spec.config;
    const text::SpecialRoles& ro = tok.roles();
    mc.vocab_size = std::int64_t(tok.n_vocab());
    mc.pad_token_id = ro.pad;
    mc.bos_token_id = ro.bos;
    mc.eos_token_id = ro.eos;
    mc.img_token_id = ro.img;
    mc.boi_token_id = ro.boi;
    mc.eoi_token_id = ro.eoi;
    mc.eol_token_id = ro.eol;
    mc.eof_token_id = ro.eof;
    mc.validate("lm config model");

    DataConfig eval_data = data;
    eval_data.seed = config.value("eval_seed", data.seed + 1000003);
    check(eval_data.seed != data.seed, "lm config: eval_seed must differ from data.seed");

    LmModel model = LmModel::random(mc, run.seed, spec.init_std);
    if (!init_from.empty()) {
        const TensorStore store = TensorStore::open(init_from);
        std::map<std::string, Tensor> tensors;
        for (const std::string& name : store.names()) tensors.emplace(name, store.get(name));
        if (grow_layers != 0) {
            tensors = grow_depth(source_config, tensors, mc, run.seed, spec.init_std);
        }
        model = LmModel::from_tensors(mc, tensors);
        const bool grew = mc.num_hidden_layers > source_config.num_hidden_layers;
        log_info(str("initialised from ", init_from,
                     grew ? str(", grown from ", source_config.num_hidden_layers, " to ", mc.num_hidden_layers, " layers")
                          : ""));
    }
    std::vector<float> mask;
    std::vector<std::int64_t> pos;
    const text::TokenId mask_token = dida ? tok.require_special(dida_config.mask_token) : text::kNoToken;
    DidaRows dida_rows;
    // The trainer's view of a batch: as is, or turned into DiDA rows (noise keyed by the
    // stream position, so resuming repeats it exactly).
    auto batch_view = [&](const Batch& b, std::uint64_t noise_seed, float object_w) {
        if (!dida) return view_of(b, object_w, mask, pos);
        make_dida_rows(b, tok.roles(), mask_token, dida_config, noise_seed, dida_rows);
        return dida_rows.view(b);
    };
    std::vector<Param> params = model.params();
    AdamW opt(params, run.optimizer);
    BatchStream stream(data, tok, *coder.cache), eval_stream(eval_data, tok, *coder.cache);
    LmTrainer trainer(model);

    std::int64_t step = 0;
    const std::optional<std::string> from = resolve_resume(resume, out);
    if (from) {
        const TrainState st = load_checkpoint(*from, opt);
        step = st.step;
        stream.seek(st.data_cursor);
        log_info(str("resumed from ", *from, " at step ", step));
    }
    log_info(str("train lm: ", model.parameter_count(), " parameters, vocab ", mc.vocab_size, ", ",
                 data.batch_size, "x", data.seq_len, " tokens per batch, ", run.grad_accum, " micro-batches per step, ",
                 ops::num_threads(), " threads, ", ops::isa_name(ops::active_isa())));
    {
        nlohmann::json used = config;
        used["model_config"] = mc.to_json();
        std::ofstream(fs::path(out) / "train_config.json") << used.dump(2) << "\n";
    }

    MetricsWriter metrics((fs::path(out) / "metrics.jsonl").string(), from ? step : -1);
    TrainProgress progress("train lm", step, run.steps, "tok");
    InterruptGuard guard;
    GradAccumulation accum(run.grad_accum);
    LmRunReport report;

    auto save = [&]() {
        TrainState st;
        st.step = step;
        st.data_cursor = stream.cursor();
        st.extra = {{"model_config", mc.to_json()}};
        save_checkpoint(checkpoint_dir(out, step), opt, st);
        prune_checkpoints(out, run.keep_checkpoints);
        coder.cache->save(cache_path);
    };
    auto evaluate = [&]() {
        eval_stream.seek(0);
        double loss = 0, tokens = 0;
        for (int i = 0; i < run.eval_batches; ++i) {
            const Batch b = eval_stream.next();
            const LmStepResult r = trainer.forward(batch_view(b, eval_data.seed, 1.f));
            loss += r.loss_sum;
            tokens += r.tokens;
        }
        return tokens > 0 ? loss / tokens : 0.0;
    };

    // Sample generations from the current weights (sample_every > 0): the text and every
    // image of each prompt, as `emu generate` would make them.
    const int sample_every = config.value("sample_every", 0);
    const std::vector<std::string> sample_prompts =
        config.value("sample_prompts", std::vector<std::string>{"a red circle above a blue square"});
    auto write_samples = [&]() {
        if (!coder.ibq) return;  // a stub coder cannot draw
        const fs::path dir = fs::path(out) / "samples";
        fs::create_directories(dir);
        nlohmann::json defaults = {{"image_area", data.world.width * data.world.height}, {"aspect", "1:1"}};
        const gen::Generator g(tok, lm::Transformer(mc, model.weights()), *coder.ibq, defaults);
        for (std::size_t i = 0; i < sample_prompts.size(); ++i) {
            gen::GenerationSettings st = g.defaults("t2i");
            st.max_new_tokens = std::min(st.max_new_tokens, data.seq_len);
            st.seed = run.seed + i;
            const gen::GenerationResult r = g.generate(st, sample_prompts[i], {});
            const std::string stem = str("step-", step, "-", i);
            std::ofstream(dir / (stem + ".txt")) << sample_prompts[i] << "\n" << tok.decode(r.tokens) << "\n";
            for (std::size_t k = 0; k < r.images.size(); ++k)
                write_png((dir / str(stem, "-", k, ".png")).string(), r.images[k]);
        }
    };

    bool saved_now = from.has_value();  // a resumed run that has nothing left to do saves nothing new
    while (step < run.steps) {
        const auto t0 = std::chrono::steady_clock::now();
        double loss_sum = 0, targets = 0, batch_tokens = 0;
        for (int m = 0; m < run.grad_accum; ++m) {
            accum.begin_micro(params);
            const Batch b = stream.next();
            const LmStepResult r = trainer.forward(batch_view(b, data.seed, object_weight));
            trainer.backward(r.tokens > 0 ? float(1.0 / r.tokens) : 0.f);
            accum.end_micro(params);
            loss_sum += r.loss();
            targets += double(b.target_tokens);  // a count (r.tokens is the sum of loss weights)
            batch_tokens += double(b.tokens);
        }
        const double loss = loss_sum / run.grad_accum;
        check(std::isfinite(loss), "train lm: loss is not finite at step ", step + 1);
        const double norm = clip_grad_norm(params, run.grad_clip);
        const double lr = run.schedule.lr(step);
        opt.step(lr);
        ++step;
        saved_now = false;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        report.last_loss = loss;
        progress.update(step, batch_tokens,
                        {{"loss", str(std::round(loss * 1e4) / 1e4)}, {"lr", str(lr)}});
        if (step % run.log_every == 0 || step == run.steps)
            metrics.write({{"step", step}, {"split", "train"}, {"loss", loss}, {"lr", lr}, {"grad_norm", norm},
                           {"tokens_per_s", batch_tokens / secs}, {"target_tokens", targets}});
        if (run.eval_every > 0 && (step % run.eval_every == 0 || step == run.steps)) {
            report.last_eval_loss = evaluate();
            metrics.write({{"step", step}, {"split", "eval"}, {"loss", report.last_eval_loss}});
            log_info(str("step ", step, ": eval loss ", report.last_eval_loss));
        }
        if (sample_every > 0 && step % sample_every == 0) write_samples();
        if (InterruptGuard::requested()) {
            save();
            report.interrupted = true;
            log_info(str("interrupted: saved ", checkpoint_dir(out, step)));
            break;
        }
        if (run.save_every > 0 && step % run.save_every == 0) {
            save();
            saved_now = true;
        }
    }
    progress.finish();
    if (!report.interrupted && !saved_now) save();

    // The inference layout, in the output folder itself (export_dtype: bf16 halves a shipped
    // model's size; checkpoints keep the F32 master weights).
    model.save_pretrained(out, export_dtype);
    copy_tokenizer_files(tok_dir, out);
    nlohmann::json gen = {{"image_area", data.world.width * data.world.height}, {"aspect", "1:1"}};
    if (dida) gen["dida"] = {{"mask_token", dida_config.mask_token}, {"steps", dida_config.steps}};
    if (config.contains("generation")) gen.update(config["generation"]);
    std::ofstream(fs::path(out) / "generation_defaults.json") << gen.dump(2) << "\n";
    report.steps = step;
    report.model_dir = out;
    return report;
}

}  // namespace emu::train
