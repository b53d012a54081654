#include "emu/train/metrics.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <unistd.h>

#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/core/mapped_file.h"
#include "emu/io/config.h"

namespace fs = std::filesystem;

namespace emu::train {

MetricsWriter::MetricsWriter(const std::string& path, std::int64_t resume_step) : path_(path) {
    const fs::path p(path);
    if (p.has_parent_path()) {
        std::error_code ec;
        fs::create_directories(p.parent_path(), ec);
        check(!ec, "cannot create folder for ", path, ": ", ec.message());
    }
    if (resume_step >= 0 && fs::is_regular_file(p)) {
        std::string kept;
        std::istringstream in(read_text_file(path));
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty()) continue;
            nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
            // A torn last line (killed mid-write) is dropped like a later step.
            if (j.is_discarded()) continue;
            if (j.is_object() && j.contains("step") && j["step"].is_number() && j["step"].get<double>() > double(resume_step))
                continue;
            kept += line + "\n";
        }
        std::ofstream rewrite(path, std::ios::trunc);
        rewrite << kept;
        check(bool(rewrite), "cannot rewrite ", path);
    }
    out_.open(path, std::ios::app);
    check(bool(out_), "cannot open ", path, " for writing");
}

void MetricsWriter::write(const nlohmann::json& record) {
    out_ << record.dump() << "\n";
    out_.flush();
    check(bool(out_), "write failed: ", path_);
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
    std::vector<nlohmann::json> out;
    std::istringstream in(read_text_file(path));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty()) continue;
        out.push_back(parse_json_text(line, str(path, ":", n)));
    }
    return out;
}

std::string format_duration(double s) {
    char buf[48];
    if (!std::isfinite(s) || s < 0) return "?";
    if (s < 60) {
        std::snprintf(buf, sizeof buf, "%.1fs", s);
    } else if (s < 3600) {
        long long t = (long long)std::llround(s);
        std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
    } else {
        long long m = (long long)std::llround(s / 60);
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", m / 60, m % 60);
    }
    return buf;
}

std::string format_rate(double r) {
    char buf[32];
    if (!std::isfinite(r)) return "?";
    if (r >= 1e6)
        std::snprintf(buf, sizeof buf, "%.1fM", r / 1e6);
    else if (r >= 1e3)
        std::snprintf(buf, sizeof buf, "%.1fk", r / 1e3);
    else if (r >= 10)
        std::snprintf(buf, sizeof buf, "%.0f", r);
    else
        std::snprintf(buf, sizeof buf, "%.2f", r);
    return buf;
}

TrainProgress::TrainProgress(std::string label, std::int64_t first_step, std::int64_t total_steps, std::string unit,
                             double log_interval_s)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      first_step_(first_step),
      total_steps_(total_steps),
      step_(first_step),
      interval_(log_interval_s),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      tty_(isatty(fileno(stderr)) != 0) {}

double TrainProgress::elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double TrainProgress::units_per_second() const {
    const double e = elapsed_s();
    return e > 0 ? units_ / e : 0.0;
}

double TrainProgress::eta_s() const {
    const std::int64_t done = step_ - first_step_;
    if (done <= 0) return NAN;
    return elapsed_s() * double(total_steps_ - step_) / double(done);
}

std::string TrainProgress::line() const {
    std::string s = label_ + "  step " + std::to_string(step_) + "/" + std::to_string(total_steps_);
    for (const auto& [k, v] : fields_) s += "  " + k + " " + v;
    if (!unit_.empty()) s += "  " + format_rate(units_per_second()) + " " + unit_ + "/s";
    s += "  " + format_duration(elapsed_s());
    if (step_ < total_steps_) s += "  ETA " + format_duration(eta_s());
    return s;
}

void TrainProgress::update(std::int64_t step, double units, const std::vector<std::pair<std::string, std::string>>& fields) {
    step_ = step;
    units_ += units;
    fields_ = fields;
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_draw_).count();
    if (is_quiet() || (drawn_ && since < (tty_ ? 0.25 : interval_))) return;
    last_draw_ = now;
    draw(false);
}

void TrainProgress::draw(bool final_line) {
    drawn_ = true;
    const std::string s = line();
    // On a terminal redraw in place (padding over a longer previous line); in a log, one line each.
    if (tty_)
        std::fprintf(stderr, "\r%-100s%s", s.c_str(), final_line ? "\n" : "");
    else
        std::fprintf(stderr, "%s\n", s.c_str());
    std::fflush(stderr);
}

void TrainProgress::finish() {
    if (finished_) return;
    finished_ = true;
    if (!is_quiet()) draw(true);
}

}  // namespace emu::train
