// Randomly corrupted model files (flipped bytes anywhere, headers included) either load
// or fail with emu::Error: never a crash, a hang or a runaway allocation.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "emu/core/error.h"
#include "emu/core/mapped_file.h"
#include "emu/io/config.h"
#include "emu/io/model_files.h"
#include "emu/io/safetensors.h"
#include "emu/io/torch_checkpoint.h"
#include "fixtures.h"

using namespace emu;

namespace {

// Writes `bytes` with `flips` random bytes replaced, for each of `rounds` seeds, and calls
// `load` on the result.
template <typename Load>
void corrupt_and_load(const std::string& bytes, const std::string& path, int rounds, int flips, Load load) {
    std::mt19937 rng(2024);
    int loaded = 0, rejected = 0;
    for (int r = 0; r < rounds; ++r) {
        std::string copy = bytes;
        // Bias half the flips towards the start, where headers and directories live.
        for (int f = 0; f < flips; ++f) {
            std::size_t limit = (f % 2 == 0) ? std::min<std::size_t>(copy.size(), 512) : copy.size();
            copy[rng() % limit] = char(rng() & 0xff);
        }
        std::ofstream(path, std::ios::binary) << copy;
        try {
            load(path);
            ++loaded;
        } catch (const Error&) {
            ++rejected;
        }
    }
    EXPECT_EQ(loaded + rejected, rounds);
    EXPECT_GT(rejected, 0);  // the corruption does reach the parts that are checked
}

}  // namespace

TEST(Corruption, TextFilesAreBoundedAndNeverFolders) {
    const std::string dir = test::temp_dir("text_files");
    EXPECT_THROW(read_text_file(dir), Error);           // a folder is not an empty file
    EXPECT_THROW(read_text_file(dir + "/none"), Error);
    EXPECT_THROW(read_text_file("/dev/zero"), Error);   // endless: stops at the bound
    std::ofstream(dir + "/small.txt") << "abc\n";
    EXPECT_EQ(read_text_file(dir + "/small.txt"), "abc\n");
}

TEST(Corruption, SafetensorsNeverCrash) {
    std::string dir = test::temp_dir("corrupt_st");
    Tensor a = Tensor::zeros(DType::F32, {16, 8}), b = Tensor::zeros(DType::BF16, {33});
    write_safetensors(dir + "/good.safetensors", {{"a", a}, {"b", b}}, {{"format", "pt"}});
    std::string bytes = read_text_file(dir + "/good.safetensors");
    corrupt_and_load(bytes, dir + "/bad.safetensors", 400, 3, [](const std::string& p) {
        SafetensorsFile f = SafetensorsFile::open(p);
        for (const auto& n : f.names()) (void)f.get(n).nbytes();
    });
}

TEST(Corruption, TorchCheckpointsNeverCrash) {
    std::string dir = test::temp_dir("corrupt_pt");
    std::string bytes = read_text_file(std::string(EMU_SOURCE_DIR) + "/tests/data/torch_ckpt/wrapped.ckpt");
    corrupt_and_load(bytes, dir + "/bad.ckpt", 400, 3, [](const std::string& p) { load_torch_checkpoint(p); });
}

TEST(Corruption, InspectOnCorruptConfigsNeverCrashes) {
    std::string dir = test::temp_dir("corrupt_cfg");
    auto cases = test::cases_of_kind("vq");
    ASSERT_FALSE(cases.empty());
    std::string yaml = read_text_file(cases[0].dir + "/config.yaml");
    corrupt_and_load(yaml, dir + "/config.yaml", 200, 2, [](const std::string& p) { inspect_model_path(p); });
}

// Forged files that are valid but hostile: JSON nested deeper than copying and printing can
// recurse (a safetensors header, a config.json), a safetensors shape of a million dimensions,
// and YAML whose aliases expand a few lines into billions of values. Each is refused quickly.
TEST(Corruption, DeepNestingAndExpansionAreRefused) {
    const std::string dir = test::temp_dir("forged_nesting");
    auto nested = [](int depth) { return std::string(std::size_t(depth), '[') + std::string(std::size_t(depth), ']'); };
    EXPECT_NO_THROW(parse_json_text("{\"a\": " + nested(kMaxJsonDepth - 1) + "}", "ok"));
    EXPECT_THROW(parse_json_text("{\"a\": " + nested(kMaxJsonDepth) + "}", "deep"), Error);

    auto write_safetensors_header = [&](const std::string& path, const std::string& header) {
        std::string bytes(8, '\0');
        for (int i = 0; i < 8; ++i) bytes[std::size_t(i)] = char((std::uint64_t(header.size()) >> (8 * i)) & 0xff);
        std::ofstream(path, std::ios::binary) << bytes << header;
    };
    write_safetensors_header(dir + "/deep.safetensors", "{\"__metadata__\": {\"x\": " + nested(1000000) + "}}");
    try {
        SafetensorsFile::open(dir + "/deep.safetensors");
        ADD_FAILURE() << "a header nested a million deep loaded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("nested more than"), std::string::npos) << e.what();
    }
    std::string ones;
    for (int i = 0; i < 1000000; ++i) ones += i ? ",1" : "1";
    write_safetensors_header(dir + "/dims.safetensors",
                             "{\"t\": {\"dtype\": \"U8\", \"shape\": [" + ones + "], \"data_offsets\": [0, 0]}}");
    try {
        SafetensorsFile::open(dir + "/dims.safetensors");
        ADD_FAILURE() << "a shape of a million dimensions loaded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("dimensions, more than 64"), std::string::npos) << e.what();
    }

    std::ofstream(dir + "/config.json") << "{\"hidden_size\": 8, \"x\": " << nested(100000) << "}";
    EXPECT_THROW(inspect_model_path(dir + "/config.json"), Error);

    // Ten aliases of ten aliases, nine levels: 10^9 values from 400 bytes.
    std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int level = 1; level < 9; ++level) {
        const std::string prev = "*a" + std::to_string(level - 1);
        yaml += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
        for (int k = 0; k < 10; ++k) yaml += (k ? ", " : "") + prev;
        yaml += "]\n";
    }
    try {
        parse_yaml_as_json(yaml, "bomb.yaml");
        ADD_FAILURE() << "an alias bomb expanded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("bomb.yaml: YAML expands to more than"), std::string::npos) << e.what();
    }
    // Aliases themselves stay usable.
    const nlohmann::json j = parse_yaml_as_json("base: &b {lr: 1}\nrun: *b\n", "ok.yaml");
    EXPECT_EQ(j["run"]["lr"], 1);
}
