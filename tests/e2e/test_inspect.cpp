// `emu inspect` lists every model file under the fixtures and fails cleanly on bad ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "fixtures.h"

using namespace emu::test;
namespace fs = std::filesystem;

TEST(Inspect, ListsEveryFixtureModelFile) {
    int seen = 0;
    for (const auto& entry : fs::directory_iterator(fixtures_root())) {
        if (!entry.is_directory()) continue;
        for (const auto& file : fs::directory_iterator(entry.path())) {
            std::string ext = file.path().extension().string();
            bool model_file = ext == ".safetensors" || ext == ".ckpt" || ext == ".yaml" ||
                              file.path().filename() == "config.json" ||
                              file.path().filename() == "model.safetensors.index.json";
            if (!model_file) continue;
            CommandResult r = run_emu("inspect '" + file.path().string() + "'");
            EXPECT_EQ(r.status, 0) << file.path() << "\n" << r.out;
            EXPECT_NE(r.out.find(file.path().string()), std::string::npos);
            ++seen;
        }
    }
    EXPECT_GT(seen, 0) << "no model files under " << fixtures_root();
}

TEST(Inspect, ReportsTensorsTotalsAndConfig) {
    auto cases = cases_of_kind("llm");
    ASSERT_FALSE(cases.empty());
    for (const auto& c : cases) {
        CommandResult r = run_emu("inspect '" + c.dir + "'");
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("model.embed_tokens.weight"), std::string::npos);
        EXPECT_NE(r.out.find("parameters"), std::string::npos);
        EXPECT_NE(r.out.find("num_hidden_layers"), std::string::npos);
        CommandResult j = run_emu("inspect '" + c.dir + "' --json");
        ASSERT_EQ(j.status, 0) << j.out;
        EXPECT_NE(j.out.find("\"weights\""), std::string::npos);
    }
}

TEST(Inspect, BadFilesGiveOneErrorLine) {
    std::string dir = temp_dir("inspect_bad");
    std::ofstream(dir + "/bad.safetensors") << std::string("\x10\0\0\0\0\0\0\0", 8) << "{not json at all";
    std::ofstream(dir + "/bad.ckpt") << "not a zip";
    std::ofstream(dir + "/bad.yaml") << "a: [1, 2";
    for (std::string f : {"bad.safetensors", "bad.ckpt", "bad.yaml", "missing.safetensors"}) {
        CommandResult r = run_emu("inspect '" + dir + "/" + f + "'");
        EXPECT_NE(r.status, 0) << f;
        EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
        EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    }
}
