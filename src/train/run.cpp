#include "emu/train/run.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <filesystem>
#include <vector>

#include "emu/core/error.h"
#include "emu/train/checkpoint.h"

namespace fs = std::filesystem;

namespace emu::train {

void RunOptions::validate() const {
    check(!out.empty(), "the training config needs an output folder ('out' or --out)");
    check(steps >= 1, "steps must be >= 1, got ", steps);
    optimizer.validate();
    schedule.validate();
    check(grad_clip >= 0, "grad_clip must be >= 0, got ", grad_clip);
    check(grad_accum >= 1, "grad_accum must be >= 1, got ", grad_accum);
    check(log_every >= 1, "log_every must be >= 1, got ", log_every);
    check(eval_every >= 0 && eval_batches >= 0, "eval_every and eval_batches must be >= 0");
    check(save_every >= 0, "save_every must be >= 0, got ", save_every);
    check(keep_checkpoints >= 1, "keep_checkpoints must be >= 1, got ", keep_checkpoints);
}

RunOptions run_options_from_json(const nlohmann::json& j) {
    check(j.is_object(), "training config must be a mapping");
    RunOptions o;
    try {
        o.out = j.value("out", o.out);
        o.seed = j.value("seed", o.seed);
        o.steps = j.value("steps", o.steps);
        if (j.contains("optimizer")) o.optimizer = adamw_config_from_json(j["optimizer"]);
        o.schedule.peak_lr = j.value("lr", o.optimizer.lr);
        o.optimizer.lr = o.schedule.peak_lr;
        o.schedule.min_lr = j.value("min_lr", o.schedule.peak_lr * 0.1);
        o.schedule.warmup_steps = j.value("warmup_steps", std::int64_t(0));
        o.schedule.total_steps = o.steps;
        o.grad_clip = j.value("grad_clip", o.grad_clip);
        o.grad_accum = j.value("grad_accum", o.grad_accum);
        o.log_every = j.value("log_every", o.log_every);
        o.eval_every = j.value("eval_every", o.eval_every);
        o.eval_batches = j.value("eval_batches", o.eval_batches);
        o.save_every = j.value("save_every", o.save_every);
        o.keep_checkpoints = j.value("keep_checkpoints", o.keep_checkpoints);
    } catch (const nlohmann::json::exception& e) {
        fail("training config: ", e.what());
    }
    o.validate();
    return o;
}

void check_config_keys(const nlohmann::json& j, const std::set<std::string>& own, const std::string& what) {
    static const std::set<std::string> common{"out",          "seed",      "steps",      "lr",
                                              "min_lr",       "warmup_steps", "optimizer", "grad_clip",
                                              "grad_accum",   "log_every", "eval_every", "eval_batches",
                                              "save_every",   "keep_checkpoints"};
    for (auto it = j.begin(); it != j.end(); ++it)
        check(common.count(it.key()) || own.count(it.key()), what, ": unknown key '", it.key(), "'");
}

nlohmann::json to_json(const RunOptions& o) {
    nlohmann::json opt = to_json(o.optimizer);
    opt.erase("lr");  // the schedule's lr is the one that counts
    return {{"out", o.out},
            {"seed", o.seed},
            {"steps", o.steps},
            {"lr", o.schedule.peak_lr},
            {"min_lr", o.schedule.min_lr},
            {"warmup_steps", o.schedule.warmup_steps},
            {"optimizer", opt},
            {"grad_clip", o.grad_clip},
            {"grad_accum", o.grad_accum},
            {"log_every", o.log_every},
            {"eval_every", o.eval_every},
            {"eval_batches", o.eval_batches},
            {"save_every", o.save_every},
            {"keep_checkpoints", o.keep_checkpoints}};
}

std::optional<std::string> resolve_resume(const std::string& resume, const std::string& out) {
    if (resume.empty()) return std::nullopt;
    if (resume == "auto") return latest_checkpoint(out);
    check(fs::is_regular_file(fs::path(resume) / "train_state.json"), "--resume ", resume,
          " is not a checkpoint folder (no train_state.json)");
    return resume;
}

void prune_checkpoints(const std::string& out, int keep) {
    check(keep >= 1, "keep_checkpoints must be >= 1, got ", keep);
    std::error_code ec;
    if (!fs::is_directory(out, ec)) return;
    std::vector<std::pair<long long, fs::path>> found;
    for (const auto& e : fs::directory_iterator(out, ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("checkpoint-", 0) != 0 || !e.is_directory()) continue;
        const std::string digits = name.substr(11);
        if (digits.empty() || digits.size() > 15 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        found.emplace_back(std::stoll(digits), e.path());
    }
    std::sort(found.begin(), found.end());
    for (std::size_t i = 0; i + std::size_t(keep) < found.size(); ++i) fs::remove_all(found[i].second, ec);
}

namespace {

std::atomic<bool> g_interrupted{false};
using Handler = void (*)(int);
Handler g_prev_int = SIG_DFL, g_prev_term = SIG_DFL;

extern "C" void on_interrupt(int sig) {
    if (g_interrupted.exchange(true)) {
        // Second signal: the user really wants out.
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
}

}  // namespace

InterruptGuard::InterruptGuard() {
    g_interrupted = false;
    g_prev_int = std::signal(SIGINT, on_interrupt);
    g_prev_term = std::signal(SIGTERM, on_interrupt);
}

InterruptGuard::~InterruptGuard() {
    std::signal(SIGINT, g_prev_int == SIG_ERR ? SIG_DFL : g_prev_int);
    std::signal(SIGTERM, g_prev_term == SIG_ERR ? SIG_DFL : g_prev_term);
}

bool InterruptGuard::requested() { return g_interrupted.load(); }
void InterruptGuard::clear() { g_interrupted = false; }

namespace {
bool exportable(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }
}  // namespace

void check_exportable(DType t, const std::string& what) {
    check(exportable(t), what, ": cannot export as ", dtype_name(t), " (F32, BF16 or F16)");
}

DType export_dtype_from_name(const std::string& name) {
    std::string upper = name;
    for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    DType t = DType::F32;
    check(parse_dtype(upper, &t) && exportable(t), "export_dtype must be f32, bf16 or f16, got '", name, "'");
    return t;
}

}  // namespace emu::train
