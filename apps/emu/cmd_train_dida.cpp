// emu train dida --from MODEL --config FILE: discrete diffusion adaptation of a trained
// model, so that `emu generate --decoder dida` can decode its images in a few passes.
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "emu/core/error.h"
#include "emu/train/lm_run.h"
#include "train_cli.h"

namespace emu::cli {
namespace {

int run_train_dida(const std::vector<std::string>& argv) {
    TrainInvocation inv = parse_train_invocation(argv, {"from"});
    nlohmann::json config = inv.config;
    if (inv.args->has("from")) {
        const std::string from = inv.args->get("from", "");
        // Checked before the run loads its data: a wrong --from is the likelier mistake.
        check(std::filesystem::is_directory(from), "--from ", from, ": not a folder (expected a trained model or run)");
        config["init_from"] = from;
    }
    check(config.contains("init_from"), "emu train dida needs --from MODEL (or init_from in the config)");
    if (!config.contains("dida")) config["dida"] = nlohmann::json::object();
    const train::LmRunReport r = train::run_lm_training(config, inv.resume);
    std::printf("%s at step %lld: loss %.4f; adapted model in %s (emu generate --decoder dida --model %s --vq VQDIR)\n",
                r.interrupted ? "stopped" : "done", (long long)r.steps, r.last_loss, r.model_dir.c_str(),
                r.model_dir.c_str());
    return 0;
}

Register reg{"train dida",
             "--from MODEL --config FILE [--resume DIR|auto] [--out DIR]  adapt a trained model to parallel image decoding",
             run_train_dida};

}  // namespace
}  // namespace emu::cli
