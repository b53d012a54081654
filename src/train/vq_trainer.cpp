#include "emu/world/world_png.h"
#include "emu/train/vq_trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "emu/core/error.h"
#include "emu/core/rng.h"
#include "emu/io/image.h"
#include "emu/train/checkpoint.h"
#include "emu/train/codebook_restart.h"
#include "emu/train/metrics.h"
#include "emu/train/run.h"
#include "emu/vision/ibq.h"
#include "emu/vision/preprocess.h"
#include "emu/world/parse.h"
#include "emu/world/render.h"
#include "emu/world/tasks.h"

namespace fs = std::filesystem;

namespace emu::train {

void VqDataConfig::validate() const {
    check(batch_size >= 1, "vq data: batch_size must be >= 1");
    check(width >= world::kMinCanvas && height >= world::kMinCanvas, "vq data: width and height must be >= ",
          world::kMinCanvas);
    check(max_objects >= 0 && max_objects <= 9, "vq data: max_objects must be 0..9");
    check(agent_prob >= 0 && agent_prob <= 1, "vq data: agent_prob must be in [0, 1]");
    check(eval_images >= 0, "vq data: eval_images must be >= 0");
}

VqDataConfig vq_data_config_from_json(const nlohmann::json& j) {
    VqDataConfig c;
    if (j.is_null()) return c;
    check(j.is_object(), "vq data: expected a mapping");
    static const std::set<std::string> known{"seed",        "batch_size", "width",     "height",
                                             "max_objects", "agent_prob", "eval_seed", "eval_images"};
    for (auto it = j.begin(); it != j.end(); ++it) check(known.count(it.key()), "vq data: unknown key '", it.key(), "'");
    try {
        c.seed = j.value("seed", c.seed);
        c.batch_size = j.value("batch_size", c.batch_size);
        c.width = j.value("width", c.width);
        c.height = j.value("height", c.height);
        c.max_objects = j.value("max_objects", c.max_objects);
        c.agent_prob = j.value("agent_prob", c.agent_prob);
        c.eval_seed = j.value("eval_seed", c.eval_seed);
        c.eval_images = j.value("eval_images", c.eval_images);
    } catch (const nlohmann::json::exception& e) {
        fail("vq data: ", e.what());
    }
    c.validate();
    return c;
}

world::Scene vq_scene(const VqDataConfig& c, std::uint64_t seed, std::uint64_t index) {
    Rng rng(mix_seed({seed, 0x5651ull /* "VQ" */, index}));
    world::Scene s = world::random_scene(0, c.max_objects, rng, world::background_colours());
    if (rng.chance(c.agent_prob)) {
        const auto empty = s.empty_cells();
        if (!empty.empty()) {
            const auto [col, row] = empty[rng.below(empty.size())];
            world::Object a;
            a.agent = true;
            a.col = col;
            a.row = row;
            s.objects.push_back(a);
            s.normalise();
        }
    }
    return s;
}


Tensor vq_image(const VqDataConfig& c, const world::Scene& scene) {
    return vision::image_to_tensor(world::to_io_image(world::render(scene, c.width, c.height)));
}

namespace {
// How the codes of plain-background cells spread: a tokenizer that codes patches locally
// gives plain background one code per colour, wherever it sits and whatever else the
// picture holds.
struct BackgroundCodeStats {
    // (background colour, cell) -> code -> count
    std::map<std::pair<int, std::size_t>, std::map<std::int64_t, std::int64_t>> by_place;
    std::int64_t cells = 0;

    void add(const world::Image& picture, world::Colour background, const Tensor& codes_hw) {
        const world::Rgb bg = world::colour_rgb(background);
        const int f = picture.height / int(codes_hw.shape()[0]);
        const auto plain = plain_background_cells(picture.height, picture.width, f, [&](int x, int y) {
            const std::uint8_t* p = picture.px(x, y);
            return p[0] == bg.r && p[1] == bg.g && p[2] == bg.b;
        });
        for (std::size_t c : plain) ++by_place[{int(background), c}][codes_hw.data<std::int64_t>()[c]];
        cells += std::int64_t(plain.size());
    }
    std::size_t distinct_codes() const {
        std::set<std::int64_t> codes;
        for (const auto& [place, counts] : by_place)
            for (const auto& [code, k] : counts) codes.insert(code);
        return codes.size();
    }
    // Entropy (nats) of a plain cell's code given its colour and place, averaged over cells.
    double conditional_entropy() const {
        double sum = 0;
        for (const auto& [place, counts] : by_place) {
            std::int64_t n = 0;
            for (const auto& [code, k] : counts) n += k;
            for (const auto& [code, k] : counts) sum -= double(k) * std::log(double(k) / double(n));
        }
        return cells > 0 ? sum / double(cells) : 0.0;
    }
};
}  // namespace

VqEvalResult evaluate_vq(const VqModel& model, const VqDataConfig& data, const std::string& sample_png) {
    return evaluate_ibq(vision::Ibq(model.config(), model.weights()), data, sample_png);
}

VqEvalResult evaluate_ibq(const vision::Ibq& ibq, const VqDataConfig& data, const std::string& sample_png,
                          const std::function<void(int done, int total)>& progress) {
    VqEvalResult r;
    std::set<std::int64_t> used;
    BackgroundCodeStats background;
    const int shown = std::min(data.eval_images, 8);
    // Sample sheet: the first pictures on top, their reconstructions below.
    world::Image grid;
    if (!sample_png.empty() && shown > 0) grid = world::Image(data.width * shown, data.height * 2);
    double psnr_sum = 0;
    int correct = 0;
    for (int i = 0; i < data.eval_images; ++i) {
        const world::Scene truth = vq_scene(data, data.eval_seed, std::uint64_t(i));
        const world::Image orig = world::render(truth, data.width, data.height);
        const Tensor codes = ibq.encode(vision::image_to_tensor(world::to_io_image(orig)));
        for (std::uint64_t k = 0; k < codes.numel(); ++k) used.insert(codes.data<std::int64_t>()[k]);
        background.add(orig, truth.background, codes);
        const world::Image rec = world::from_io_image(vision::tensor_to_image(ibq.decode(codes)));
        double se = 0;
        for (std::size_t k = 0; k < rec.rgb.size(); ++k) {
            const double d = double(rec.rgb[k]) - orig.rgb[k];
            se += d * d;
        }
        const double mse = se / double(rec.rgb.size());
        psnr_sum += mse > 0 ? 10 * std::log10(255.0 * 255.0 / mse) : 99.0;
        world::ParseOptions po;
        po.cols = truth.cols;
        po.rows = truth.rows;
        if (world::same_content(world::parse_image(rec, po), truth)) ++correct;
        else if (r.failures.size() < 20) r.failures.push_back(i);
        if (progress) progress(i + 1, data.eval_images);
        if (i < shown && !grid.rgb.empty()) {
            world::paste(grid, orig, i * data.width, 0);
            world::paste(grid, rec, i * data.width, data.height);
        }
    }
    r.images = data.eval_images;
    if (r.images > 0) {
        r.psnr = psnr_sum / r.images;
        r.parse_accuracy = double(correct) / r.images;
    }
    r.codes_used = double(used.size());
    r.background_cells = background.cells;
    r.background_codes = double(background.distinct_codes());
    r.background_code_entropy = background.conditional_entropy();
    if (!grid.rgb.empty()) {
        fs::create_directories(fs::path(sample_png).parent_path());
        world::write_png(sample_png, grid);
    }
    return r;
}

namespace {

vision::IbqConfig model_config_from_json(const nlohmann::json& j, int width) {
    nlohmann::json m = {{"ch", 32},          {"ch_mult", {1, 2, 2, 4}}, {"num_res_blocks", 1},
                        {"attn_resolutions", nlohmann::json::array()}, {"resolution", width},
                        {"z_channels", 32},  {"n_embed", 512},        {"embed_dim", 32}};
    if (!j.is_null()) {
        check(j.is_object(), "vq model: expected a mapping");
        static const std::set<std::string> known{"ch",         "ch_mult",    "num_res_blocks", "attn_resolutions",
                                                 "resolution", "z_channels", "n_embed",        "embed_dim"};
        for (auto it = j.begin(); it != j.end(); ++it) {
            check(known.count(it.key()), "vq model: unknown key '", it.key(), "'");
            m[it.key()] = it.value();
        }
    }
    return vision::IbqConfig::from_json(m, "vq model config");
}

// The trainer's codebook care (not part of the model):
// `codebook: {norm: R, restart_every: K, restart_from: random|error, restart_duplicates: d}`.
struct CodebookUpkeep {
    double norm = 0;        // > 0: every code rescaled to this L2 norm after each step
    int restart_every = 0;  // > 0: every K steps, codes unused in the last K steps restart
    bool restart_from_error = false;  // restart where the codebook fits worst (else uniformly)
    double restart_duplicates = 0;    // > 0: codes this close to a busier one restart too
};

CodebookUpkeep codebook_upkeep_from_json(const nlohmann::json& j) {
    CodebookUpkeep u;
    if (j.is_null()) return u;
    check(j.is_object(), "train vq: 'codebook' must be a mapping");
    for (auto it = j.begin(); it != j.end(); ++it)
        check(it.key() == "norm" || it.key() == "restart_every" || it.key() == "restart_from" ||
                  it.key() == "restart_duplicates",
              "train vq: unknown key 'codebook.", it.key(),
              "' (norm, restart_every, restart_from, restart_duplicates)");
    u.norm = j.value("norm", 0.0);
    u.restart_every = j.value("restart_every", 0);
    const std::string from = j.value("restart_from", std::string("random"));
    check(from == "random" || from == "error", "train vq: codebook.restart_from must be random or error, got '",
          from, "'");
    u.restart_from_error = from == "error";
    check(u.norm >= 0 && std::isfinite(u.norm), "train vq: codebook.norm must be >= 0");
    check(u.restart_every >= 0, "train vq: codebook.restart_every must be >= 0");
    u.restart_duplicates = j.value("restart_duplicates", 0.0);
    check(u.restart_duplicates >= 0 && std::isfinite(u.restart_duplicates),
          "train vq: codebook.restart_duplicates must be a distance >= 0");
    check(u.restart_duplicates == 0 || u.restart_every > 0,
          "train vq: codebook.restart_duplicates needs restart_every > 0");
    return u;
}

float* codebook_of(VqModel& model) {
    for (const Param& p : model.params())
        if (p.name == "quantize.embedding.weight") return p.value;
    fail("train vq: the model has no quantize.embedding.weight");
}

// With every code at one norm, argmax z.E (what inference computes) is the nearest code in
// direction, so no code wins merely by being long.
void normalise_codebook(VqModel& model, double norm) {
    float* E = codebook_of(model);
    const int D = model.config().embed_dim, N = model.config().n_embed;
    for (int i = 0; i < N; ++i) {
        double s = 0;
        for (int d = 0; d < D; ++d) s += double(E[i * D + d]) * E[i * D + d];
        const double k = s > 0 ? norm / std::sqrt(s) : 0.0;
        for (int d = 0; d < D; ++d) E[i * D + d] = s > 0 ? float(E[i * D + d] * k) : float(norm / std::sqrt(D));
    }
}

// Counts the chosen codes and keeps the encoder outputs ([positions, D]) of the batch.
void collect_codes(const std::vector<VqImageResult>& results, int D, std::vector<std::int64_t>& usage,
                   std::vector<float>& batch_z) {
    for (const VqImageResult& r : results) {
        const std::size_t n = r.state.codes.size();
        for (std::int64_t c : r.state.codes) ++usage[std::size_t(c)];
        for (std::size_t i = 0; i < n; ++i)
            for (int d = 0; d < D; ++d) batch_z.push_back(r.state.z[std::size_t(d) * n + i]);
    }
}

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

}  // namespace

VqTrainOutcome train_vq(const nlohmann::json& config, const std::string& resume, bool quiet, std::int64_t until) {
    const RunOptions run = run_options_from_json(config);
    const VqDataConfig data = vq_data_config_from_json(config.value("data", nlohmann::json()));
    const std::string init_from = config.value("init_from", std::string());
    const std::string trainable = config.value("trainable", std::string("all"));
    check(trainable == "all" || trainable == "decoder", "train vq: trainable must be all or decoder, got '",
          trainable, "'");
    check(init_from.empty() || !config.contains("model"), "train vq: 'model' and 'init_from' exclude each other");
    std::optional<vision::Ibq> start;
    if (!init_from.empty()) start = vision::Ibq::load(init_from);
    const vision::IbqConfig mc =
        start ? start->config() : model_config_from_json(config.value("model", nlohmann::json()), data.width);
    const VqLossConfig lc = vq_loss_config_from_json(config.value("loss", nlohmann::json()));
    const double codebook_std = config.value("codebook_std", 1.0);
    const int sample_every = config.value("sample_every", 0);
    // export_dtype: bf16 halves the shipped folder (checkpoints stay F32 for resuming).
    const DType export_dtype = export_dtype_from_name(config.value("export_dtype", std::string("f32")));
    const CodebookUpkeep upkeep = codebook_upkeep_from_json(config.value("codebook", nlohmann::json()));
    check_config_keys(config,
                      {"model", "loss", "data", "codebook_std", "sample_every", "codebook", "init_from", "trainable",
                       "export_dtype"},
                      "train vq config");
    const int f = mc.downsample_factor();
    check(data.width % f == 0 && data.height % f == 0, "train vq: canvas ", data.width, "x", data.height,
          " is not a multiple of the downsample factor ", f);

    const bool decoder_only = trainable == "decoder";
    check(!decoder_only || start, "train vq: trainable: decoder needs init_from (a trained tokenizer)");
    check(!decoder_only || (upkeep.norm == 0 && upkeep.restart_every == 0),
          "train vq: trainable: decoder keeps the codebook fixed, so the codebook section must be off");

    fs::create_directories(run.out);
    VqModel model(mc);
    if (start) model.set_weights(start->weights());  // every tensor: nothing left to initialise
    else model.init_random(run.seed, codebook_std);
    model.freeze_encoder(decoder_only);
    std::vector<Param> params = model.params();
    if (decoder_only)  // what reads the codes; the encoder and codebook that choose them stay put
        std::erase_if(params, [](const Param& p) { return !VqModel::decoder_side(p.name); });
    AdamW opt(params, run.optimizer);
    TrainState state;
    const auto ckpt = resolve_resume(resume, run.out);
    std::vector<std::int64_t> usage(std::size_t(mc.n_embed), 0);  // codes chosen since the last restart
    if (upkeep.norm > 0) normalise_codebook(model, upkeep.norm);
    if (ckpt) {
        state = load_checkpoint(*ckpt, opt);
        if (state.extra.contains("code_usage")) usage = state.extra["code_usage"].get<std::vector<std::int64_t>>();
        check(usage.size() == std::size_t(mc.n_embed), "train vq: checkpoint code_usage has the wrong size");
        if (!quiet) std::fprintf(stderr, "resuming from %s (step %lld)\n", ckpt->c_str(), (long long)state.step);
    }
    {
        nlohmann::json used = config;
        used["model"] = ibq_config_yaml_json(mc, lc)["ddconfig"];
        used["model"]["n_embed"] = mc.n_embed;
        used["model"]["embed_dim"] = mc.embed_dim;
        used["loss"] = to_json(lc);
        std::ofstream(fs::path(run.out) / "train_config.json") << used.dump(2) << "\n";
    }
    MetricsWriter metrics((fs::path(run.out) / "metrics.jsonl").string(), ckpt ? state.step : -1);
    if (!quiet)
        std::fprintf(stderr, "train vq: %zu parameters, %dx%d canvas -> %dx%d codes of %d, batch %d\n",
                     model.parameter_count(), data.width, data.height, data.width / f, data.height / f, mc.n_embed,
                     data.batch_size * run.grad_accum);

    VqTrainOutcome outcome;
    auto save = [&] {
        state.extra = {{"images_seen", state.data_cursor}, {"code_usage", usage}};
        save_checkpoint(checkpoint_dir(run.out, state.step), opt, state);
        prune_checkpoints(run.out, run.keep_checkpoints);
        export_ibq(run.out, model, lc, export_dtype);
    };
    auto do_eval = [&](bool with_sample) {
        const std::string png =
            with_sample ? (fs::path(run.out) / "samples" / str("step-", state.step, ".png")).string() : "";
        outcome.last_eval = evaluate_vq(model, data, png);
        metrics.write({{"step", state.step},
                       {"split", "eval"},
                       {"psnr", outcome.last_eval.psnr},
                       {"parse_accuracy", outcome.last_eval.parse_accuracy},
                       {"background_codes", outcome.last_eval.background_codes},
                       {"background_code_entropy", outcome.last_eval.background_code_entropy},
                       {"codes_used", outcome.last_eval.codes_used},
                       {"images", outcome.last_eval.images}});
        if (!quiet)
            std::fprintf(stderr, "\neval step %lld: PSNR %.2f dB, ShapesWorld parse accuracy %.1f%% (%d images), %g codes used\n",
                         (long long)state.step, outcome.last_eval.psnr, 100 * outcome.last_eval.parse_accuracy,
                         outcome.last_eval.images, outcome.last_eval.codes_used);
    };

    InterruptGuard guard;
    TrainProgress progress("train vq", state.step, run.steps, "img", quiet ? 1e9 : 10.0);
    GradAccumulation accum(run.grad_accum);
    std::vector<VqImageResult> results;
    std::vector<float> batch_z;  // the last batch's encoder outputs, [positions, D]
    const std::int64_t last_step = until > 0 ? std::min<std::int64_t>(until, run.steps) : run.steps;
    while (state.step < last_step) {
        VqLosses sum;
        batch_z.clear();
        for (int micro = 0; micro < run.grad_accum; ++micro) {
            accum.begin_micro(params);
            std::vector<Tensor> images;
            for (int b = 0; b < data.batch_size; ++b)
                images.push_back(vq_image(data, vq_scene(data, data.seed, std::uint64_t(state.data_cursor++))));
            const bool keep = upkeep.restart_every > 0;
            const VqLosses l = model.step(images, lc, true, keep ? &results : nullptr, keep);
            if (keep) collect_codes(results, mc.embed_dim, usage, batch_z);
            sum.total += l.total / run.grad_accum;
            sum.rec += l.rec / run.grad_accum;
            sum.quant += l.quant / run.grad_accum;
            sum.entropy += l.entropy / run.grad_accum;
            sum.background += l.background / run.grad_accum;
            sum.codes_used = std::max(sum.codes_used, l.codes_used);
            accum.end_micro(params);
        }
        const double norm = clip_grad_norm(params, run.grad_clip);
        const double lr = run.schedule.lr(state.step);
        opt.step(lr);
        ++state.step;
        int restarted = 0, retired = 0;
        if (upkeep.restart_every > 0 && state.step % upkeep.restart_every == 0) {
            const std::span<float> codebook(codebook_of(model), std::size_t(mc.n_embed) * std::size_t(mc.embed_dim));
            retired = retire_duplicate_codes(codebook, mc.embed_dim, usage, upkeep.restart_duplicates);
            restarted = restart_dead_codes(codebook, mc.embed_dim, usage, batch_z, upkeep.restart_from_error,
                                           mix_seed({run.seed, 0xDEADull, std::uint64_t(state.step)}));
            std::fill(usage.begin(), usage.end(), 0);
        }
        if (upkeep.norm > 0) normalise_codebook(model, upkeep.norm);
        check(std::isfinite(sum.total), "train vq: the loss is not finite at step ", state.step,
              " (lower lr or raise grad_clip)");
        if (!quiet)
            progress.update(state.step, double(data.batch_size) * run.grad_accum,
                            {{"loss", fmt("%.4f", sum.total)}, {"rec", fmt("%.4f", sum.rec)},
                             {"quant", fmt("%.4f", sum.quant)}, {"lr", fmt("%.2e", lr)}});
        if (state.step % run.log_every == 0 || state.step == run.steps) {
            nlohmann::json rec = {{"step", state.step},  {"split", "train"},      {"loss", sum.total},
                                  {"rec", sum.rec},      {"quant", sum.quant},    {"lr", lr},
                                  {"grad_norm", norm},   {"codes_used", sum.codes_used},
                                  {"images_per_s", progress.units_per_second()}};
            if (lc.entropy > 0) rec["entropy"] = sum.entropy;
            if (lc.background_consistency > 0) rec["background"] = sum.background;
            if (restarted) rec["restarted_codes"] = restarted;
            if (retired) rec["retired_codes"] = retired;
            metrics.write(rec);
        }
        const bool eval_now = run.eval_every > 0 && (state.step % run.eval_every == 0 || state.step == run.steps);
        const bool sample_now = sample_every > 0 && state.step % sample_every == 0;
        if (eval_now || sample_now) do_eval(true);
        if (run.save_every > 0 && state.step % run.save_every == 0 && state.step != last_step) save();
        if (InterruptGuard::requested()) {
            outcome.interrupted = true;
            break;
        }
    }
    if (!quiet) progress.finish();
    save();
    outcome.step = state.step;
    if (!quiet)
        std::fprintf(stderr, "%s at step %lld: checkpoint %s, model %s (config.yaml + model.safetensors)\n",
                     outcome.interrupted ? "stopped" : "done", (long long)state.step,
                     checkpoint_dir(run.out, state.step).c_str(), run.out.c_str());
    return outcome;
}

}  // namespace emu::train
