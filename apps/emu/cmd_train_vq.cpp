// emu train vq --config FILE [--resume DIR|auto] [--out DIR]: the IBQ vision tokenizer on
// ShapesWorld pictures (see include/emu/train/vq_trainer.h and docs/training.md).
#include <cstdio>

#include "command.h"
#include "emu/core/error.h"
#include "emu/train/vq_trainer.h"
#include "train_cli.h"

namespace emu::cli {
namespace {

int run_train_vq(const std::vector<std::string>& argv) {
    const TrainInvocation inv = parse_train_invocation(argv, {"until"});
    const long long until = inv.args->get_int("until", 0);
    check(until >= 0, "--until must be a step number >= 0");
    const train::VqTrainOutcome r = train::train_vq(inv.config, inv.resume, inv.quiet, until);
    nlohmann::json j = {{"step", r.step}, {"interrupted", r.interrupted}};
    if (r.last_eval.images > 0)
        j["eval"] = {{"psnr", r.last_eval.psnr},
                     {"parse_accuracy", r.last_eval.parse_accuracy},
                     {"codes_used", r.last_eval.codes_used},
                     {"images", r.last_eval.images}};
    std::printf("%s\n", j.dump().c_str());
    return r.interrupted ? 130 : 0;
}

Register reg{"train vq", "--config FILE [--resume DIR|auto] [--out DIR] [--until STEP] [--quiet]  train the IBQ vision tokenizer",
             run_train_vq};

}  // namespace
}  // namespace emu::cli
