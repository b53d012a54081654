// Minimal flag parsing for subcommands: --name value, --flag, and positionals.
// Unknown flags are errors, so typos never pass silently.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

namespace emu::cli {

class Args {
public:
    // `valued` flags take a value, `switches` take none. Throws Error on unknown flags.
    Args(const std::vector<std::string>& argv, std::set<std::string> valued, std::set<std::string> switches);

    bool has(const std::string& flag) const;
    // Every value given for a flag that may repeat (--image a.png --image b.png).
    std::vector<std::string> get_all(const std::string& flag) const;
    std::string get(const std::string& flag, const std::string& fallback) const;
    std::string require(const std::string& flag) const;
    long long get_int(const std::string& flag, long long fallback) const;
    // An integer that must lie in [lo, hi] (fallback when absent): values meant for an
    // int never wrap around silently.
    long long get_int_in(const std::string& flag, long long fallback, long long lo, long long hi) const;
    double get_double(const std::string& flag, double fallback) const;
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::map<std::string, std::string> values_;  // the last value of each flag
    std::map<std::string, std::vector<std::string>> all_values_;
    std::vector<std::string> positional_;
};

// The flags of every command that runs the model: --threads N (0, the default: all
// cores) and --precision exact|fast|bf16 (default exact; ops::set_prefill_precision).
void apply_compute_flags(const Args& args);

// Parses "1,2,3" into integers; throws Error naming the bad item.
std::vector<long long> parse_int_list(const std::string& text);

}  // namespace emu::cli
