// emu train lm --config FILE: next-token training of the decoder on ShapesWorld.
#include <cstdio>

#include "command.h"
#include "emu/train/lm_run.h"
#include "train_cli.h"

namespace emu::cli {
namespace {

int run_train_lm(const std::vector<std::string>& argv) {
    const TrainInvocation inv = parse_train_invocation(argv);
    const train::LmRunReport r = train::run_lm_training(inv.config, inv.resume);
    std::printf("%s at step %lld: loss %.4f%s; model in %s (emu generate --model %s --vq VQDIR)\n",
                r.interrupted ? "stopped" : "done", (long long)r.steps, r.last_loss,
                r.last_eval_loss >= 0 ? (", eval loss " + std::to_string(r.last_eval_loss)).c_str() : "",
                r.model_dir.c_str(), r.model_dir.c_str());
    return 0;
}

Register reg{"train lm", "--config FILE [--resume DIR|auto] [--out DIR]  train the transformer", run_train_lm};

}  // namespace
}  // namespace emu::cli
