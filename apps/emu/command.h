// The emu CLI's subcommands register themselves here, one file per subcommand:
//   static emu::cli::Register reg{"inspect", "PATH  list tensors and config", run_inspect};
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace emu::cli {

using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
    std::string name;   // may be two words: "vq encode"
    std::string usage;  // one line shown by `emu help`
    CommandFn run;
};

std::vector<Command>& commands();

struct Register {
    Register(std::string name, std::string usage, CommandFn run) {
        commands().push_back({std::move(name), std::move(usage), std::move(run)});
    }
};

}  // namespace emu::cli
