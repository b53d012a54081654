// One error type for the whole project: what failed and where, in one line.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace emu {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Concatenates anything streamable: str("tensor ", name, " has ", n, " dims").
template <typename... Args>
std::string str(const Args&... args) {
    std::ostringstream out;
    (out << ... << args);
    return out.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
    throw Error(str(args...));
}

// Checks an invariant of untrusted input; throws Error with the message otherwise.
template <typename... Args>
void check(bool ok, const Args&... args) {
    if (!ok) fail(args...);
}

}  // namespace emu
