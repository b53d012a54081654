// emu train: lists the trainers. Each trainer is its own two-word command in its own file
// (cmd_train_tokenizer.cpp registers "train tokenizer"); the CLI's longest-match dispatch
// sends `emu train vq ...` there, and only a bare or unknown `emu train X` lands here.
#include <algorithm>
#include <cstdio>

#include "command.h"
#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/io/config.h"
#include "train_cli.h"

namespace emu::cli {

TrainInvocation parse_train_invocation(const std::vector<std::string>& argv, const std::set<std::string>& valued,
                                       const std::set<std::string>& switches) {
    std::set<std::string> v = valued, s = switches;
    v.insert({"config", "out", "resume"});
    s.insert("quiet");
    Args args(argv, v, s);
    check(args.positional().empty(), "unexpected argument '", args.positional().empty() ? "" : args.positional()[0],
          "' (trainers take --config FILE)");
    TrainInvocation inv;
    inv.config_path = args.require("config");
    inv.config = load_config_with_extends(inv.config_path);
    if (args.has("out")) inv.config["out"] = args.get("out", "");
    inv.resume = args.get("resume", "");
    inv.quiet = args.has("quiet");
    if (inv.quiet) set_quiet(true);
    inv.args.emplace(std::move(args));
    return inv;
}

namespace {

int run_train(const std::vector<std::string>& argv) {
    std::vector<const Command*> trainers;
    for (const auto& c : commands())
        if (c.name.rfind("train ", 0) == 0) trainers.push_back(&c);
    std::sort(trainers.begin(), trainers.end(), [](auto* a, auto* b) { return a->name < b->name; });
    std::string names;
    for (auto* c : trainers) names += (names.empty() ? "" : ", ") + c->name.substr(6);
    if (!argv.empty() && argv[0] != "--help" && argv[0] != "-h")
        fail("unknown trainer '", argv[0], "' (available: ", names, ")");
    std::printf("usage: emu train <what> --config FILE [--out DIR] [--resume DIR|auto] [--quiet]\n\n");
    for (auto* c : trainers) std::printf("  emu %s %s\n", c->name.c_str(), c->usage.c_str());
    std::printf("\nSee docs/training.md for the config keys.\n");
    return argv.empty() ? 1 : 0;
}

Register reg{"train", "<what> --config FILE ...  train a tokenizer or model (see `emu train`)", run_train};

}  // namespace
}  // namespace emu::cli
