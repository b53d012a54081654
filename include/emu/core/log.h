// Logging and progress on stderr. Quiet mode silences info and progress.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace emu {

void set_quiet(bool quiet);
bool is_quiet();
void log_info(const std::string& message);
void log_warn(const std::string& message);

// Reports progress of long work: "label  37/100  12.3s  ETA 21.0s".
// Redraws at most a few times a second; finish() ends the line.
class Progress {
public:
    Progress(std::string label, std::int64_t total);
    void update(std::int64_t done);
    void finish();
    ~Progress();

private:
    std::string label_;
    std::int64_t total_;
    std::int64_t done_ = 0;
    std::chrono::steady_clock::time_point start_, last_draw_;
    bool finished_ = false;
};

}  // namespace emu
