// What trainers report: a metrics.jsonl file (one JSON object per line) and a progress line
// on stderr ("step 120/5000  loss 3.2140  lr 1.20e-04  5.1k tok/s  12.0s  ETA 8m10s").
#pragma once
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace emu::train {

class MetricsWriter {
public:
    // Appends to `path` (created with its folder when absent). With resume_step >= 0, lines
    // whose "step" is greater are dropped first: they came from the part of an interrupted
    // run after the checkpoint being resumed, which the resumed run writes again.
    explicit MetricsWriter(const std::string& path, std::int64_t resume_step = -1);
    // Writes one line (the object as given; callers put "step" and "split" in it) and flushes.
    void write(const nlohmann::json& record);
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::ofstream out_;
};

// Reads every line of a metrics.jsonl (errors name the file and line).
std::vector<nlohmann::json> read_metrics(const std::string& path);

// "1h02m", "8m10s", "12.0s".
std::string format_duration(double seconds);
// "5.1k", "12.3M", "950".
std::string format_rate(double per_second);

class TrainProgress {
public:
    // `first_step` is where this session starts (non-zero after a resume), so rates and the
    // ETA count only work done now. `unit` names what the rate counts ("tok", "img").
    TrainProgress(std::string label, std::int64_t first_step, std::int64_t total_steps, std::string unit,
                  double log_interval_s = 10.0);

    // Records that `step` steps are done and `units` more were processed since the last
    // call; redraws the line on a terminal (at most 4 times a second) or, in a log, writes a
    // line every log_interval_s. `fields` are printed in order, e.g. {"loss", "3.2140"}.
    void update(std::int64_t step, double units, const std::vector<std::pair<std::string, std::string>>& fields);
    // Ends the line; prints the final values unconditionally.
    void finish();
    // The line update() would print now.
    std::string line() const;
    double elapsed_s() const;
    double units_per_second() const;
    double eta_s() const;

private:
    void draw(bool final_line);
    std::string label_, unit_;
    std::int64_t first_step_, total_steps_, step_;
    double units_ = 0, interval_;
    std::vector<std::pair<std::string, std::string>> fields_;
    std::chrono::steady_clock::time_point start_, last_draw_;
    bool tty_, drawn_ = false, finished_ = false;
};

}  // namespace emu::train
