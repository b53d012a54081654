// Run plumbing shared by trainers: metrics.jsonl, progress line, common options, resume
// resolution, checkpoint rotation, Ctrl-C.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "emu/core/error.h"
#include "emu/train/checkpoint.h"
#include "emu/train/metrics.h"
#include "emu/train/run.h"
#include "fixtures.h"

using namespace emu;
using namespace emu::train;
namespace fs = std::filesystem;

TEST(Metrics, AppendsAndDropsStepsAfterTheResumePoint) {
    const std::string path = test::temp_dir("train_metrics") + "/run/metrics.jsonl";
    {
        MetricsWriter w(path);
        for (int s = 10; s <= 50; s += 10) w.write({{"step", s}, {"split", "train"}, {"loss", 1.0 / s}});
    }
    {
        std::ofstream torn(path, std::ios::app);
        torn << "{\"step\": 6";  // a line cut by a crash
    }
    {
        MetricsWriter w(path, 30);  // resumed from the step-30 checkpoint
        w.write({{"step", 40}, {"split", "train"}, {"loss", 0.5}});
    }
    const auto lines = read_metrics(path);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0]["step"], 10);
    EXPECT_EQ(lines[2]["step"], 30);
    EXPECT_EQ(lines[3]["step"], 40);
    EXPECT_EQ(lines[3]["loss"], 0.5);
}

TEST(Metrics, Formatting) {
    EXPECT_EQ(format_duration(12.04), "12.0s");
    EXPECT_EQ(format_duration(490), "8m10s");
    EXPECT_EQ(format_duration(3720), "1h02m");
    EXPECT_EQ(format_rate(5123), "5.1k");
    EXPECT_EQ(format_rate(12.3e6), "12.3M");
    TrainProgress p("train lm", 100, 200, "tok");
    p.update(150, 1000, {{"loss", "3.2140"}});
    const std::string line = p.line();
    EXPECT_EQ(line.rfind("train lm  step 150/200  loss 3.2140  ", 0), 0u) << line;
    EXPECT_NE(line.find(" tok/s"), std::string::npos) << line;
    EXPECT_NE(line.find("ETA "), std::string::npos) << line;
}

TEST(Run, OptionsFromJson) {
    const RunOptions o = run_options_from_json({{"out", "x"}, {"steps", 500}, {"lr", 3e-3}, {"warmup_steps", 50},
                                                {"optimizer", {{"weight_decay", 0.1}, {"beta2", 0.95}}},
                                                {"grad_accum", 2}, {"model", {{"layers", 4}}}});
    EXPECT_EQ(o.steps, 500);
    EXPECT_EQ(o.schedule.total_steps, 500);
    EXPECT_DOUBLE_EQ(o.schedule.peak_lr, 3e-3);
    EXPECT_DOUBLE_EQ(o.schedule.min_lr, 3e-4);
    EXPECT_DOUBLE_EQ(o.optimizer.beta2, 0.95);
    EXPECT_DOUBLE_EQ(o.optimizer.weight_decay, 0.1);
    EXPECT_EQ(o.grad_accum, 2);
    EXPECT_EQ(run_options_from_json(to_json(o)).schedule.warmup_steps, 50);
    EXPECT_THROW(run_options_from_json({{"steps", 10}}), Error);  // no out
    EXPECT_THROW(run_options_from_json({{"out", "x"}, {"steps", 0}}), Error);
    EXPECT_THROW(run_options_from_json({{"out", "x"}, {"optimizer", {{"beta1", 2.0}}}}), Error);
}

TEST(Run, ResumeResolutionAndPruning) {
    const std::string out = test::temp_dir("train_run_prune");
    std::vector<float> a = {1}, g = {0};
    AdamW opt({param_of("a", a.data(), g.data(), 1)}, {});
    EXPECT_FALSE(resolve_resume("", out).has_value());
    EXPECT_FALSE(resolve_resume("auto", out).has_value());
    for (int s : {5, 10, 15, 20}) save_checkpoint(checkpoint_dir(out, s), opt, TrainState{s, 0, {}, {}});
    EXPECT_EQ(*resolve_resume("auto", out), checkpoint_dir(out, 20));
    EXPECT_EQ(*resolve_resume(checkpoint_dir(out, 10), out), checkpoint_dir(out, 10));
    EXPECT_THROW(resolve_resume(out + "/missing", out), Error);
    prune_checkpoints(out, 2);
    EXPECT_FALSE(fs::exists(checkpoint_dir(out, 5)));
    EXPECT_FALSE(fs::exists(checkpoint_dir(out, 10)));
    EXPECT_TRUE(fs::exists(checkpoint_dir(out, 15)));
    EXPECT_TRUE(fs::exists(checkpoint_dir(out, 20)));
}

TEST(Run, FirstInterruptOnlySetsTheFlag) {
    {
        InterruptGuard guard;
        EXPECT_FALSE(InterruptGuard::requested());
        std::raise(SIGINT);
        EXPECT_TRUE(InterruptGuard::requested());
        InterruptGuard::clear();
        EXPECT_FALSE(InterruptGuard::requested());
    }
}
