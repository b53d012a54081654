// emu world bench: how well a model does ShapesWorld tasks, measured exactly.
#include <cstdio>
#include <fstream>

#include "args.h"
#include "command.h"
#include "default_model.h"
#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/io/image.h"
#include "emu/world/world_png.h"
#include "emu/train/world_bench.h"

namespace emu::cli {
namespace {

// GALLERY.png (rows: inputs | outputs, green/red bar = right/wrong) and GALLERY.md (the
// prompts, row by row).
void write_gallery(const std::string& png, const std::vector<train::GalleryEntry>& entries) {
    if (entries.empty()) return;
    write_png(png, world::to_io_image(train::gallery_picture(entries)));
    std::string md_path = png;
    if (md_path.size() > 4 && md_path.substr(md_path.size() - 4) == ".png") md_path.resize(md_path.size() - 4);
    std::ofstream md(md_path + ".md");
    check(bool(md), "cannot write ", md_path, ".md");
    md << "| row | prompt | result |\n|---|---|---|\n";
    for (std::size_t i = 0; i < entries.size(); ++i)
        md << "| " << i + 1 << " | " << entries[i].prompt << " | " << (entries[i].correct ? "right" : "wrong") << " |\n";
    log_info("gallery: " + png + " and " + md_path + ".md");
}

int run_world_bench_cmd(const std::vector<std::string>& argv) {
    Args args(argv,
              {"task", "model", "vq", "tokenizer", "n", "seed", "decoder", "size", "cfg", "max-new-tokens", "text-temp",
               "text-top-k", "text-top-p", "image-temp", "image-top-k", "image-top-p", "threads", "history", "steps", "gallery", "gallery-n", "jobs", "precision"},
              {"greedy", "quiet", "list-correct"});
    set_quiet(args.has("quiet"));
    apply_compute_flags(args);
    std::string model = args.get("model", ""), vq = args.get("vq", "");
    if (model.empty()) model = find_default_model();
    if (vq.empty() && !model.empty()) vq = bundled_vq(model);
    check(!vq.empty(), "--vq is required to decode the pictures");
    train::WorldBenchOptions o;
    o.task = world::task_from_name(args.require("task"));
    o.n = int(args.get_int_in("n", 100, 1, 10000000));
    o.seed = std::uint64_t(args.get_int("seed", 1000));
    o.history = int(args.get_int_in("history", 1, 1, 64));
    o.jobs = int(args.get_int_in("jobs", 1, 1, 256));
    const std::string gallery = args.get("gallery", "");
    if (!gallery.empty()) o.gallery = int(args.get_int_in("gallery-n", 12, 1, 1000));
    if (args.has("size")) o.world.width = o.world.height = int(args.get_int_in("size", 64, 1, 1 << 16));
    o.world.validate();

    gen::Generator generator = gen::Generator::load(model, vq, args.get("tokenizer", ""));
    // The task's own defaults, as `emu generate --task T` would use (official per-task CFG and
    // sampling; a model's generation_defaults.json may set them per task).
    gen::GenerationSettings s = generator.defaults(world::task_name(o.task));
    if (args.has("cfg")) s.cfg_scale = float(args.get_double("cfg", s.cfg_scale));
    if (args.has("max-new-tokens")) s.max_new_tokens = int(args.get_int_in("max-new-tokens", 0, 1, 1 << 24));
    s.text.temperature = float(args.get_double("text-temp", s.text.temperature));
    s.text.top_k = int(args.get_int_in("text-top-k", s.text.top_k, 0, 1 << 30));
    s.text.top_p = float(args.get_double("text-top-p", s.text.top_p));
    s.image.temperature = float(args.get_double("image-temp", s.image.temperature));
    s.image.top_k = int(args.get_int_in("image-top-k", s.image.top_k, 0, 1 << 30));
    s.image.top_p = float(args.get_double("image-top-p", s.image.top_p));
    if (args.has("greedy")) s.text.greedy = s.image.greedy = true;
    s.seed = o.seed;
    s.decoder = args.get("decoder", s.decoder);
    s.dida_steps = int(args.get_int_in("steps", s.dida_steps, 1, 1 << 20));

    Progress progress("bench " + std::string(world::task_name(o.task)), o.n);
    train::WorldBenchResult r = train::run_world_bench(generator, s, o, [&](int done, int) { progress.update(done); });
    progress.finish();
    if (!gallery.empty()) write_gallery(gallery, r.gallery);
    std::printf("%s", r.report.table().c_str());
    if (args.has("list-correct")) {
        std::string list;
        for (int i : r.all_correct) {
            if (!list.empty()) list += ',';
            list += std::to_string(i);
        }
        std::printf("all checks passed: samples %s\n", list.empty() ? "(none)" : list.c_str());
    }
    nlohmann::ordered_json j = r.report.json();
    j["decoder"] = s.decoder;
    j["cfg_scale"] = s.cfg_scale;
    if (s.decoder == "dida") j["steps"] = s.dida_steps;
    j["seconds_per_image"] = r.seconds_per_image();
    j["passes_per_image"] = r.passes_per_image();
    std::printf("%s\n", j.dump().c_str());
    return 0;
}

Register reg{"world bench",
             "--task T [--model DIR] [--vq DIR] [--n N] [--seed S] [--decoder ar|dida] [--steps K] [--size PX] [--history K] "
             "[--cfg S] [--greedy] [sampling flags] [--threads N] [--precision exact|fast|bf16] [--jobs J] [--gallery OUT.png [--gallery-n 12]] [--list-correct] [--quiet]  generate held-out ShapesWorld prompts and score them",
             run_world_bench_cmd};

}  // namespace
}  // namespace emu::cli
