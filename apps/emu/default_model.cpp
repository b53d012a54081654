#include "default_model.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

#include "emu/core/error.h"

namespace fs = std::filesystem;

namespace emu::cli {

std::string find_default_model() {
    std::vector<fs::path> candidates = {fs::current_path() / "models" / "emu-mini"};
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        candidates.push_back(fs::path(exe).parent_path().parent_path() / "models" / "emu-mini");
    }
    std::string searched;
    for (const fs::path& dir : candidates) {
        if (fs::exists(dir / "config.json")) {
            return dir.string();
        }
        searched += (searched.empty() ? "" : ", ") + dir.string();
    }
    fail("no --model given and no default model found (looked in ", searched, ")");
}

std::string bundled_vq(const std::string& model_dir) {
    const fs::path vq = fs::path(model_dir) / "vq";
    return fs::exists(vq / "config.yaml") ? vq.string() : "";
}

}  // namespace emu::cli
