// emu vq eval: how well an IBQ tokenizer keeps ShapesWorld scenes. Encodes and decodes N
// held-out pictures and counts the reconstructions the world's evaluator reads as the
// true scene (emu-mini's target: all of 1,000).
#include <cstdio>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/train/vq_trainer.h"
#include "emu/vision/ibq.h"

namespace emu::cli {
namespace {

int run_eval(const std::vector<std::string>& argv) {
    Args args(argv, {"vq", "n", "seed", "size", "max-objects", "agent-prob", "sample"}, {});
    check(args.positional().empty(), "usage: emu vq eval --vq DIR [--n N] [--seed S] [--size PX] [--sample OUT.png]");
    const vision::Ibq ibq = vision::Ibq::load(args.require("vq"));
    train::VqDataConfig data;
    data.eval_images = int(args.get_int_in("n", 1000, 1, 1000000));
    data.eval_seed = std::uint64_t(args.get_int("seed", 7000001));
    data.width = data.height = int(args.get_int_in("size", 64, 1, 1 << 16));
    data.max_objects = int(args.get_int_in("max-objects", data.max_objects, 0, 1 << 16));
    data.agent_prob = args.get_double("agent-prob", data.agent_prob);
    data.validate();
    Progress progress("vq eval", data.eval_images);
    const train::VqEvalResult r = train::evaluate_ibq(ibq, data, args.get("sample", ""),
                                                      [&](int done, int) { progress.update(done); });
    progress.finish();
    for (int i : r.failures) std::printf("misread: picture %d (vq_scene seed %llu index %d)\n", i,
                                         (unsigned long long)data.eval_seed, i);
    const nlohmann::json j = {{"images", r.images},
                              {"parse_accuracy", r.parse_accuracy},
                              {"psnr", r.psnr},
                              {"codes_used", r.codes_used},
                              {"background_cells", r.background_cells},
                              {"background_codes", r.background_codes},
                              {"background_code_entropy", r.background_code_entropy},
                              {"seed", data.eval_seed},
                              {"size", data.width}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
}

Register reg{"vq eval", "--vq DIR [--n 1000] [--seed 7000001] [--size 64] [--sample OUT.png]  reconstruct held-out ShapesWorld pictures, count those the evaluator reads correctly",
             run_eval};

}  // namespace
}  // namespace emu::cli
