#include "fixtures.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sys/wait.h>

#include "emu/core/mapped_file.h"

namespace fs = std::filesystem;

namespace emu::test {

std::string fixtures_root() {
    const char* env = std::getenv("EMU_FIXTURES");
    return env && *env ? std::string(env) : std::string(EMU_DEFAULT_FIXTURES);
}

std::vector<FixtureCase> cases_of_kind(const std::string& kind) {
    std::vector<FixtureCase> out;
    fs::path root(fixtures_root());
    if (!fs::is_directory(root)) return out;
    for (const auto& entry : fs::directory_iterator(root)) {
        fs::path info = entry.path() / "case.json";
        if (!entry.is_directory() || !fs::exists(info)) continue;
        nlohmann::json j = nlohmann::json::parse(read_text_file(info.string()));
        if (j.value("kind", "") != kind) continue;
        out.push_back({fs::absolute(entry.path()).string(), entry.path().filename().string(), j});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

std::string temp_dir(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("emu-test-" + std::to_string(::getpid())) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir.string();
}

CommandResult run_emu(const std::string& args) {
    std::string cmd = std::string(EMU_BINARY) + " " + args + " 2>&1";
    CommandResult r{-1, ""};
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
    int status = pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace emu::test
