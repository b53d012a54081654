// emu generate: every Emu3.5 task from the command line (one prompt, or a YAML list).
#include <climits>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "default_model.h"
#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/gen/generator.h"
#include "emu/io/config.h"
#include "emu/io/generation_output.h"
#include "emu/io/safetensors.h"

namespace fs = std::filesystem;

namespace emu::cli {
namespace {

const std::set<std::string> kValued = {"model", "vq", "tokenizer", "task", "prompt", "image", "aspect", "area", "cfg",
                                       "seed", "max-new-tokens", "text-temp", "text-top-k", "text-top-p",
                                       "image-temp", "image-top-k", "image-top-p", "out", "config", "threads",
                                       "template", "uncond-template", "decoder", "steps", "precision"};
const std::set<std::string> kSwitches = {"dry-run", "json", "quiet", "greedy"};

// A reference image: a picture file, or a .safetensors holding I64 `codes` [h, w].
gen::ReferenceImage load_reference(const std::string& path) {
    gen::ReferenceImage ref;
    if (fs::path(path).extension() == ".safetensors") {
        SafetensorsFile f = SafetensorsFile::open(path);
        const Tensor& codes = f.get("codes");
        check(codes.ndim() == 2 && codes.dim(0) > 0 && codes.dim(1) > 0, path, ": 'codes' must be a non-empty [h, w] grid");
        text::CodeGrid grid;
        grid.h = int(codes.dim(0));
        grid.w = int(codes.dim(1));
        Tensor c = codes.to(DType::I64);
        for (std::uint64_t i = 0; i < c.numel(); ++i) grid.codes.push_back(std::int32_t(c.data<std::int64_t>()[i]));
        ref.codes = std::move(grid);
    } else {
        ref.pixels = read_image_rgb(path);
    }
    return ref;
}

// Flags (or the same keys in a YAML config) over the defaults.
struct Overrides {
    nlohmann::json values = nlohmann::json::object();
    static Overrides from_args(const Args& a) {
        Overrides o;
        for (const char* k : {"aspect", "template", "uncond-template", "decoder"})
            if (a.has(k)) o.values[k] = a.get(k, "");
        for (const char* k : {"area", "seed", "max-new-tokens", "text-top-k", "image-top-k", "steps"})
            if (a.has(k)) o.values[k] = a.get_int(k, 0);
        for (const char* k : {"cfg", "text-temp", "text-top-p", "image-temp", "image-top-p"})
            if (a.has(k)) o.values[k] = a.get_double(k, 0);
        if (a.has("greedy")) o.values["greedy"] = true;
        return o;
    }
    void apply(gen::GenerationSettings& s) const {
        const nlohmann::json& v = values;
        // Flags and YAML values alike: an integer out of int's range is an error, not a wrap.
        auto int_of = [&](const char* key) {
            const long long n = v[key].get<long long>();
            check(n >= INT_MIN && n <= INT_MAX, "--", key, " is out of range: ", n);
            return int(n);
        };
        try {
            if (v.contains("aspect")) s.aspect = v["aspect"].get<std::string>();
            if (v.contains("template")) s.template_text = v["template"].get<std::string>();
            if (v.contains("uncond-template")) s.uncond_template = v["uncond-template"].get<std::string>();
            if (v.contains("area")) s.image_area = v["area"].get<long long>();
            if (v.contains("decoder")) s.decoder = v["decoder"].get<std::string>();
            if (v.contains("steps")) s.dida_steps = int_of("steps");
            if (v.contains("seed")) s.seed = v["seed"].get<std::uint64_t>();
            if (v.contains("max-new-tokens")) s.max_new_tokens = int_of("max-new-tokens");
            if (v.contains("cfg")) s.cfg_scale = v["cfg"].get<float>();
            if (v.contains("text-temp")) s.text.temperature = v["text-temp"].get<float>();
            if (v.contains("text-top-k")) s.text.top_k = int_of("text-top-k");
            if (v.contains("text-top-p")) s.text.top_p = v["text-top-p"].get<float>();
            if (v.contains("image-temp")) s.image.temperature = v["image-temp"].get<float>();
            if (v.contains("image-top-k")) s.image.top_k = int_of("image-top-k");
            if (v.contains("image-top-p")) s.image.top_p = v["image-top-p"].get<float>();
            if (v.contains("greedy") && v["greedy"].get<bool>()) s.text.greedy = s.image.greedy = true;
        } catch (const nlohmann::json::exception& e) {
            fail("bad setting: ", e.what());
        }
        s.validate();
    }
};

struct Job {
    std::string name, question;
    std::vector<std::string> images;
    Overrides overrides;
};

// One image's progress line: tokens done/total, tokens per second, ETA. The decoders
// report 0 done when an image starts.
struct ImageProgress {
    std::chrono::steady_clock::time_point start;
    void update(std::int64_t done, std::int64_t total) {
        auto now = std::chrono::steady_clock::now();
        if (done == 0) {
            start = now;
            return;
        }
        double elapsed = std::chrono::duration<double>(now - start).count();
        double rate = elapsed > 0 ? double(done) / elapsed : 0;
        double eta = rate > 0 ? double(total - done) / rate : 0;
        if (done % 16 == 0 || done == total)
            std::fprintf(stderr, "\r  image: %lld/%lld tokens  %.1f tok/s  ETA %.1fs%s", (long long)done,
                         (long long)total, rate, eta, done == total ? "\n" : "");
    }
};

int run_job(const gen::Generator& generator, const std::string& task, const Job& job, const std::string& out_dir,
            bool quiet) {
    gen::GenerationSettings settings = generator.defaults(task);
    job.overrides.apply(settings);
    std::vector<gen::ReferenceImage> refs;
    for (const auto& path : job.images) refs.push_back(load_reference(path));
    gen::GenerateCallbacks cb;
    ImageProgress image_progress;
    if (!quiet) {
        cb.on_text = [](const std::string& t) {
            std::fputs(t.c_str(), stderr);
            std::fflush(stderr);
        };
        cb.on_image_progress = [&](std::int64_t d, std::int64_t t) { image_progress.update(d, t); };
    }
    gen::GenerationResult r = generator.generate(settings, job.question, refs, cb);
    std::string dir = (fs::path(out_dir) / job.name).string();
    nlohmann::json j = write_generation_folder(dir, job.question, r);
    int images = 0;
    for (const auto& s : r.segments) images += s.kind == gen::OutputSegment::Kind::Image;
    std::printf("%s: %d image(s), %zu text segment(s), %zu tokens in %.2fs (%.1f tok/s)\n", dir.c_str(), images,
                r.segments.size() - std::size_t(images), r.tokens.size(), r.seconds_generate,
                j["tokens_per_second"].get<double>());
    return 0;
}

int run_generate(const std::vector<std::string>& argv) {
    Args args(argv, kValued, kSwitches);
    set_quiet(args.has("quiet"));
    apply_compute_flags(args);

    nlohmann::json config = nlohmann::json::object();
    if (args.has("config")) config = load_yaml_as_json(args.get("config", ""));
    check(config.is_object(), "the config file must hold a mapping");
    auto setting = [&](const std::string& key, const std::string& fallback) {
        if (args.has(key)) return args.get(key, "");
        if (config.contains(key)) {
            check(config[key].is_string(), "config key '", key, "' must be a string");
            return config[key].get<std::string>();
        }
        return fallback;
    };
    std::string model = setting("model", "");
    std::string vq = setting("vq", "");
    std::string tokenizer = setting("tokenizer", "");
    if (model.empty() && tokenizer.empty()) {
        model = find_default_model();
    }
    if (vq.empty() && !model.empty()) vq = bundled_vq(model);
    const std::string task = setting("task", "t2i");
    gen::task_defaults(task);  // unknown tasks fail before anything loads
    const std::string out_dir = setting("out", "outputs");
    check(!fs::exists(out_dir) || fs::is_directory(out_dir), "--out ", out_dir, ": exists and is not a folder");

    // The jobs: one from the flags, or the config's list.
    std::vector<Job> jobs;
    Overrides flag_overrides = Overrides::from_args(args);
    std::string prompt = args.has("prompt") ? args.get("prompt", "") : "";
    if (prompt.empty() && !args.positional().empty()) prompt = args.positional()[0];
    check(args.positional().size() <= 1, "give the prompt once (quote it)");
    if (config.contains("prompts")) {
        check(config["prompts"].is_array(), "config 'prompts' must be a list");
        Overrides base;
        for (auto it = config.begin(); it != config.end(); ++it)
            if (it.key() != "prompts" && it.key() != "model" && it.key() != "vq" && it.key() != "tokenizer" &&
                it.key() != "task" && it.key() != "out")
                base.values[it.key()] = it.value();
        int i = 0;
        for (const auto& p : config["prompts"]) {
            Job job;
            job.overrides = base;
            if (p.is_string()) {
                job.question = p.get<std::string>();
            } else {
                check(p.is_object() && p.contains("prompt") && p["prompt"].is_string(),
                      "each config prompt must be a string or {prompt: ..., images: [...], name: ...}");
                job.question = p["prompt"].get<std::string>();
                if (p.contains("images")) job.images = p["images"].get<std::vector<std::string>>();
                if (p.contains("name")) job.name = p["name"].get<std::string>();
            }
            for (auto it = flag_overrides.values.begin(); it != flag_overrides.values.end(); ++it)
                job.overrides.values[it.key()] = it.value();
            if (job.name.empty()) job.name = str(task, "_", i < 10 ? "00" : i < 100 ? "0" : "", i);
            ++i;
            jobs.push_back(job);
        }
    } else {
        Job job;
        job.question = prompt;
        job.images = args.get_all("image");
        job.overrides = flag_overrides;
        job.name = task;
        jobs.push_back(job);
    }
    for (const Job& job : jobs) {
        check(!job.question.empty() || !job.images.empty(), "nothing to do: give a prompt (or --config with prompts)");
        for (const auto& img : job.images) check(fs::exists(img), img, ": no such image file");
    }

    if (args.has("dry-run")) {
        bool raw_images = false;
        for (const Job& job : jobs)
            for (const auto& img : job.images) raw_images |= fs::path(img).extension() != ".safetensors";
        gen::Generator g = gen::Generator::load_for_prompts(model, raw_images ? vq : "", tokenizer);
        for (const Job& job : jobs) {
            gen::GenerationSettings s = g.defaults(task);
            job.overrides.apply(s);
            std::vector<gen::ReferenceImage> refs;
            for (const auto& path : job.images) refs.push_back(load_reference(path));
            gen::PreparedPrompt p = g.prepare(s, job.question, refs);
            nlohmann::json j = {{"prompt", p.prompt}, {"ids", p.ids}, {"uncond_prompt", p.uncond_prompt}, {"uncond_ids", p.uncond_ids}};
            if (args.has("json")) {
                std::printf("%s\n", j.dump().c_str());
            } else {
                std::printf("prompt (%zu tokens): %s\nunconditional (%zu tokens): %s\n", p.ids.size(), p.prompt.c_str(),
                            p.uncond_ids.size(), p.uncond_prompt.c_str());
            }
        }
        return 0;
    }

    check(!model.empty(), "--model is required");
    log_info("loading " + model + (vq.empty() ? "" : " and " + vq));
    gen::Generator generator = gen::Generator::load(model, vq, tokenizer);
    for (const Job& job : jobs) run_job(generator, task, job, out_dir, is_quiet());
    return 0;
}

Register reg{"generate",
             "[PROMPT] [--model DIR] [--vq DIR] [--tokenizer DIR] [--task t2i|x2i|howto|story|explore|vla] "
             "[--prompt P] [--image F ...] [--aspect 4:3|1:1|...|auto] [--area N] [--cfg S] [--seed N] "
             "[--max-new-tokens N] [--text-temp/--text-top-k/--text-top-p/--image-temp/--image-top-k/--image-top-p X] "
             "[--greedy] [--decoder ar|dida] [--steps K] [--template T] [--uncond-template T] [--out DIR] [--config FILE.yaml] [--dry-run [--json]] "
             "[--threads N] [--precision exact|fast|bf16] [--quiet]",
             run_generate};

}  // namespace
}  // namespace emu::cli
