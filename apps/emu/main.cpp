// emu: one binary for every emu.cpp task. Subcommands live in cmd_*.cpp.
#include <algorithm>
#include <cstdio>
#include <exception>

#include "command.h"
#include "emu/core/error.h"

namespace emu::cli {
std::vector<Command>& commands() {
    static std::vector<Command> all;
    return all;
}
}  // namespace emu::cli

static void print_help() {
    std::printf("emu.cpp: Emu3.5 native multimodal models in C++\n\nusage: emu <command> [options]\n\n");
    auto cmds = emu::cli::commands();
    std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const auto& c : cmds) std::printf("  emu %s %s\n", c.name.c_str(), c.usage.c_str());
}

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
        print_help();
        return args.empty() ? 1 : 0;
    }
    // Longest match first, so "vq encode" wins over a plain "vq".
    const emu::cli::Command* best = nullptr;
    std::size_t best_words = 0;
    for (const auto& c : emu::cli::commands()) {
        std::vector<std::string> words;
        std::size_t start = 0, sp;
        while ((sp = c.name.find(' ', start)) != std::string::npos) {
            words.push_back(c.name.substr(start, sp - start));
            start = sp + 1;
        }
        words.push_back(c.name.substr(start));
        if (words.size() > args.size() || words.size() <= best_words) continue;
        if (std::equal(words.begin(), words.end(), args.begin())) {
            best = &c;
            best_words = words.size();
        }
    }
    if (!best) {
        std::fprintf(stderr, "error: unknown command '%s' (see `emu help`)\n", args[0].c_str());
        return 2;
    }
    try {
        return best->run(std::vector<std::string>(args.begin() + long(best_words), args.end()));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
