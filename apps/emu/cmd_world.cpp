// emu world sample / emu world eval: ShapesWorld data sets and scoring.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "command.h"
#include "emu/core/error.h"
#include "emu/world/dataset.h"
#include "emu/world/parse.h"
#include "emu/world/world_png.h"

namespace emu::cli {
namespace {

int run_world_sample(const std::vector<std::string>& argv) {
    Args args(argv, {"task", "n", "seed", "out", "size", "width", "height", "max-objects"}, {});
    check(args.positional().empty(), "usage: emu world sample --task T --n N --seed S --out DIR");
    const world::Task task = world::task_from_name(args.require("task"));
    world::WorldConfig config;
    const long long size = args.get_int("size", 64);
    config.width = int(args.get_int_in("width", size, 1, 1 << 16));
    config.height = int(args.get_int_in("height", size, 1, 1 << 16));
    config.max_objects = int(args.get_int_in("max-objects", config.max_objects, 0, 1 << 16));
    const long long n = args.get_int_in("n", 16, 0, 10000000);
    const long long seed = args.get_int("seed", 0);
    check(seed >= 0, "--seed must be >= 0");
    const std::string out = args.require("out");
    world::write_dataset(out, task, config, std::uint64_t(seed), int(n));
    std::printf("wrote %lld %s samples to %s (samples.jsonl and PNGs)\n", n, world::task_name(task), out.c_str());
    return 0;
}

int run_world_eval(const std::vector<std::string>& argv) {
    Args args(argv, {"task", "pred", "truth"}, {});
    check(args.positional().empty(), "usage: emu world eval --task T --pred DIR [--truth DIR|FILE]");
    const world::Task task = world::task_from_name(args.require("task"));
    const std::string pred = args.require("pred");
    const std::string truth = args.get("truth", pred);
    world::FolderScore score = world::evaluate_folder(task, pred, truth);
    std::printf("%s", score.report.table().c_str());
    if (score.missing) std::printf("  missing or unreadable pictures: %ld (scored as wrong)\n", score.missing);
    std::printf("%s\n", score.report.json().dump().c_str());
    return 0;
}

int run_world_parse(const std::vector<std::string>& argv) {
    Args args(argv, {"cols", "rows"}, {});
    check(!args.positional().empty(), "usage: emu world parse IMAGE.png... [--cols C --rows R]");
    world::ParseOptions opt;
    opt.cols = int(args.get_int_in("cols", 3, 1, 1000));
    opt.rows = int(args.get_int_in("rows", 3, 1, 1000));
    for (const auto& path : args.positional()) {
        const world::ParseResult r = world::parse_image_detailed(world::read_png(path), opt);
        nlohmann::json scores = nlohmann::json::array();
        for (const auto& c : r.cells)
            if (c.occupied) scores.push_back(std::round(c.score * 1000) / 1000);
        std::printf("%s\n", nlohmann::json{{"image", path}, {"scene", world::to_json(r.scene)}, {"fit", scores}}.dump().c_str());
    }
    return 0;
}

Register reg_parse{"world parse", "IMAGE.png... [--cols C --rows R]  print the scene the evaluator reads from pictures",
                   run_world_parse};
Register reg_sample{"world sample",
                    "--task t2i|x2i|story|explore|vla --n N --seed S --out DIR [--size PX | --width W --height H] "
                    "[--max-objects K]  write ShapesWorld samples (PNGs + samples.jsonl)",
                    run_world_sample};
Register reg_eval{"world eval",
                  "--task T --pred DIR [--truth DIR|samples.jsonl]  score predicted NNNNNN_outK.png pictures "
                  "against the truth (default: DIR's own samples.jsonl)",
                  run_world_eval};

}  // namespace
}  // namespace emu::cli
