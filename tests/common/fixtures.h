// Helpers shared by tests: where the fixtures are, which cases exist, running the CLI.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace emu::test {

// $EMU_FIXTURES if set, else ../shared/fixtures beside the checkout.
std::string fixtures_root();

struct FixtureCase {
    std::string dir;        // absolute folder path
    std::string name;       // folder name
    nlohmann::json info;    // case.json
};

// Every case folder under the fixtures root whose case.json has this kind, sorted by name.
std::vector<FixtureCase> cases_of_kind(const std::string& kind);

// A fresh empty temporary folder for one test; removed when the process exits is not
// guaranteed, so it lives under the build tree's tmp/.
std::string temp_dir(const std::string& name);

struct CommandResult {
    int status;
    std::string out;  // stdout and stderr together
};
// Runs build/emu with the given argument string (shell-quoted by the caller).
CommandResult run_emu(const std::string& args);

}  // namespace emu::test
