#include "args.h"

#include <cerrno>
#include <cstdlib>

#include "emu/core/error.h"
#include "emu/ops/linear.h"
#include "emu/ops/threads.h"

namespace emu::cli {

Args::Args(const std::vector<std::string>& argv, std::set<std::string> valued, std::set<std::string> switches) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.size() > 2 && a.rfind("--", 0) == 0) {
            const std::size_t eq = a.find('=');
            const bool inline_value = eq != std::string::npos;
            std::string name(a, 2, inline_value ? eq - 2 : std::string::npos);
            std::string value = inline_value ? std::string(a, eq + 1) : std::string();
            if (valued.count(name)) {
                if (!inline_value) {
                    check(i + 1 < argv.size(), "--", name, " needs a value");
                    value = argv[++i];
                }
                values_[name] = value;
                all_values_[name].push_back(value);
            } else if (switches.count(name)) {
                check(!inline_value, "--", name, " takes no value");
                values_.insert_or_assign(name, std::string(1, '1'));  // not = "1": GCC 12 -Wrestrict false positive
            } else {
                fail("unknown option --", name);
            }
        } else {
            positional_.push_back(a);
        }
    }
}

bool Args::has(const std::string& flag) const { return values_.count(flag) != 0; }

std::vector<std::string> Args::get_all(const std::string& flag) const {
    auto it = all_values_.find(flag);
    return it == all_values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::get(const std::string& flag, const std::string& fallback) const {
    auto it = values_.find(flag);
    return it == values_.end() ? fallback : it->second;
}

std::string Args::require(const std::string& flag) const {
    auto it = values_.find(flag);
    check(it != values_.end(), "missing required option --", flag);
    return it->second;
}

long long Args::get_int(const std::string& flag, long long fallback) const {
    if (!has(flag)) return fallback;
    std::string v = get(flag, "");
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(v.c_str(), &end, 10);
    check(!v.empty() && *end == '\0' && errno == 0, "--", flag, " expects an integer, got '", v, "'");
    return n;
}

long long Args::get_int_in(const std::string& flag, long long fallback, long long lo, long long hi) const {
    const long long n = get_int(flag, fallback);
    check(n >= lo && n <= hi, "--", flag, " must be between ", lo, " and ", hi, ", got ", n);
    return n;
}

void apply_compute_flags(const Args& args) {
    ops::set_num_threads(int(args.get_int_in("threads", 0, 0, 4096)));
    ops::set_prefill_precision(args.get("precision", "exact"));
}

double Args::get_double(const std::string& flag, double fallback) const {
    if (!has(flag)) return fallback;
    std::string v = get(flag, "");
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    check(!v.empty() && *end == '\0', "--", flag, " expects a number, got '", v, "'");
    return d;
}

std::vector<long long> parse_int_list(const std::string& text) {
    std::vector<long long> out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t comma = text.find(',', pos);
        std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char* end = nullptr;
        errno = 0;
        long long n = std::strtoll(item.c_str(), &end, 10);
        check(!item.empty() && *end == '\0' && errno == 0, "'", item, "' is not an integer");
        out.push_back(n);
        if (comma == std::string::npos) break;
        pos = comma + 1;
    }
    return out;
}

}  // namespace emu::cli
