// emu inspect PATH: what a model file or folder holds.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "emu/core/error.h"
#include "emu/core/mapped_file.h"
#include "emu/io/model_files.h"

namespace fs = std::filesystem;

namespace emu::cli {
namespace {

int run_inspect(const std::vector<std::string>& argv) {
    Args args(argv, {}, {"json"});
    check(args.positional().size() == 1, "usage: emu inspect PATH [--json]");
    ModelFiles files = inspect_model_path(args.positional()[0]);
    if (args.has("json")) {
        std::printf("%s\n", model_files_json(files).dump(2).c_str());
        return 0;
    }
    std::printf("%s", model_files_report(files).c_str());
    return 0;
}

Register reg{"inspect", "PATH [--json]  list the tensors, totals and config of a model file or folder", run_inspect};

}  // namespace
}  // namespace emu::cli
