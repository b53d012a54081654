#include "emu/core/log.h"

#include <cstdio>
#include <unistd.h>

namespace emu {

namespace {
bool g_quiet = false;
}

void set_quiet(bool quiet) { g_quiet = quiet; }
bool is_quiet() { return g_quiet; }

void log_info(const std::string& message) {
    if (!g_quiet) std::fprintf(stderr, "%s\n", message.c_str());
}

void log_warn(const std::string& message) { std::fprintf(stderr, "warning: %s\n", message.c_str()); }

Progress::Progress(std::string label, std::int64_t total)
    : label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void Progress::update(std::int64_t done) {
    done_ = done;
    auto now = std::chrono::steady_clock::now();
    if (g_quiet || (now - last_draw_ < std::chrono::milliseconds(250) && done < total_)) return;
    last_draw_ = now;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    double eta = done > 0 ? elapsed * double(total_ - done) / double(done) : 0.0;
    // On a terminal redraw in place; in a log write one line per update.
    const char* end = isatty(fileno(stderr)) ? "\r" : "\n";
    std::fprintf(stderr, "%s  %lld/%lld  %.1fs  ETA %.1fs%s", label_.c_str(), (long long)done,
                 (long long)total_, elapsed, eta, end);
}

void Progress::finish() {
    if (finished_) return;
    finished_ = true;
    if (g_quiet) return;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "%s  %lld/%lld  done in %.1fs\n", label_.c_str(), (long long)done_,
                 (long long)total_, elapsed);
}

Progress::~Progress() = default;

}  // namespace emu
