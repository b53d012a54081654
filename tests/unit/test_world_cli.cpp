// emu world sample / eval / parse through the real binary: the truth scores 100%,
// damaged predictions score what they should, and bad input fails cleanly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "emu/world/world_png.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using emu::test::run_emu;
using emu::test::temp_dir;

namespace {

nlohmann::json last_json_line(const std::string& out) {
    std::istringstream in(out);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty() && line[0] == '{') last = line;
    return nlohmann::json::parse(last);
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(WorldCli, TruthScoresPerfectlyOnEveryTask) {
    for (const char* task : {"t2i", "x2i", "story", "explore", "vla"}) {
        const std::string dir = temp_dir(std::string("cli_") + task);
        auto r = run_emu(std::string("world sample --task ") + task + " --n 12 --seed 3 --out " + dir);
        ASSERT_EQ(r.status, 0) << r.out;
        ASSERT_TRUE(fs::exists(fs::path(dir) / "samples.jsonl"));
        ASSERT_TRUE(fs::exists(fs::path(dir) / "000000_out0.png"));
        r = run_emu(std::string("world eval --task ") + task + " --pred " + dir);
        ASSERT_EQ(r.status, 0) << r.out;
        const auto j = last_json_line(r.out);
        EXPECT_EQ(j["task"], task);
        EXPECT_EQ(j["n"], 12);
        EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 1.0) << r.out;
        EXPECT_TRUE(j["categories"].is_object());
        EXPECT_NE(r.out.find("category"), std::string::npos);  // the readable table comes first
    }
}

TEST(WorldCli, SamplingIsDeterministic) {
    const std::string a = temp_dir("cli_det_a"), b = temp_dir("cli_det_b");
    ASSERT_EQ(run_emu("world sample --task story --n 6 --seed 11 --out " + a).status, 0);
    ASSERT_EQ(run_emu("world sample --task story --n 6 --seed 11 --out " + b).status, 0);
    EXPECT_EQ(slurp(fs::path(a) / "samples.jsonl"), slurp(fs::path(b) / "samples.jsonl"));
    EXPECT_EQ(slurp(fs::path(a) / "000005_out1.png"), slurp(fs::path(b) / "000005_out1.png"));
}

TEST(WorldCli, DamagedPredictionsScoreAccordingly) {
    const std::string truth = temp_dir("cli_truth"), pred = temp_dir("cli_pred");
    ASSERT_EQ(run_emu("world sample --task x2i --n 10 --seed 5 --out " + truth).status, 0);
    for (int i = 0; i < 10; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "%06d_out0.png", i);
        char input[32];
        std::snprintf(input, sizeof input, "%06d_in0.png", i);
        if (i == 0) continue;  // missing prediction
        // Samples 1-3 "predict" the unedited input; the rest the truth.
        fs::copy_file(fs::path(truth) / (i <= 3 ? input : name), fs::path(pred) / name);
    }
    auto r = run_emu("world eval --task x2i --pred " + pred + " --truth " + truth);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_DOUBLE_EQ(last_json_line(r.out)["accuracy"].get<double>(), 0.6) << r.out;
    EXPECT_NE(r.out.find("missing"), std::string::npos);
    // Samples 1-3 changed nothing, so everything they kept is preserved.
    EXPECT_DOUBLE_EQ(last_json_line(r.out)["categories"]["preserve"].get<double>(), 0.9);
}

TEST(WorldCli, CanvasSizeOption) {
    const std::string dir = temp_dir("cli_128");
    ASSERT_EQ(run_emu("world sample --task t2i --n 5 --seed 2 --size 128 --out " + dir).status, 0);
    const auto im = emu::world::read_png((fs::path(dir) / "000003_out0.png").string());
    EXPECT_EQ(im.width, 128);
    EXPECT_EQ(im.height, 128);
    auto r = run_emu("world eval --task t2i --pred " + dir);
    EXPECT_DOUBLE_EQ(last_json_line(r.out)["accuracy"].get<double>(), 1.0) << r.out;
    r = run_emu("world parse " + (fs::path(dir) / "000003_out0.png").string());
    ASSERT_EQ(r.status, 0) << r.out;
    // The parsed scene equals sample 3's truth (jitter aside).
    const auto parsed = last_json_line(r.out)["scene"];
    std::istringstream lines(slurp(fs::path(dir) / "samples.jsonl"));
    std::string line;
    for (int i = 0; i <= 3; ++i) std::getline(lines, line);
    auto truth = nlohmann::json::parse(line)["outputs"][0]["scene"];
    EXPECT_EQ(parsed["background"], truth["background"]);
    ASSERT_EQ(parsed["objects"].size(), truth["objects"].size());
    for (std::size_t k = 0; k < truth["objects"].size(); ++k)
        for (const char* key : {"shape", "colour", "size", "col", "row"})
            EXPECT_EQ(parsed["objects"][k][key], truth["objects"][k][key]) << key;
}

TEST(WorldCli, BadInputFailsWithOneLine) {
    const std::string dir = temp_dir("cli_bad");
    auto r = run_emu("world sample --task painting --n 2 --out " + dir);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("error: unknown task 'painting'"), std::string::npos) << r.out;
    r = run_emu("world sample --task t2i --n 2 --size 4 --out " + dir);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
    ASSERT_EQ(run_emu("world sample --task vla --n 2 --seed 1 --out " + dir).status, 0);
    r = run_emu("world eval --task t2i --pred " + dir);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("not t2i"), std::string::npos) << r.out;
    r = run_emu("world eval --task vla --pred " + dir + "/nowhere");
    EXPECT_NE(r.status, 0);
    std::ofstream(fs::path(dir) / "broken.jsonl") << "{\"task\":\"vla\"\n";
    r = run_emu("world eval --task vla --pred " + dir + " --truth " + dir + "/broken.jsonl");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("line 1"), std::string::npos) << r.out;
}
