// Shared by the `emu train <what>` subcommands (cmd_train_*.cpp): each registers itself as
//   static emu::cli::Register reg{"train vq", "--config FILE [--resume DIR] [--out DIR]", run};
// and reads its config with load_train_config, so every trainer takes the same flags.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"

namespace emu::cli {

struct TrainInvocation {
    nlohmann::json config;  // the YAML/JSON config, with --out applied as config["out"]
    std::string config_path;
    std::string resume;     // --resume DIR ("" when absent; "auto" = latest checkpoint in out)
    bool quiet = false;
    std::optional<Args> args;  // all flags, for the trainer's own ones
};

// Parses --config FILE (required), --out DIR, --resume DIR, --quiet, plus the trainer's own
// valued flags and switches (read them from the returned args).
TrainInvocation parse_train_invocation(const std::vector<std::string>& argv, const std::set<std::string>& valued = {},
                                       const std::set<std::string>& switches = {});

}  // namespace emu::cli
