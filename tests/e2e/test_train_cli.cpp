// `emu train tokenizer` end to end: config in, a loadable tokenizer folder out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "emu/io/config.h"
#include "emu/text/tokenizer.h"
#include "emu/train/metrics.h"
#include "fixtures.h"

using namespace emu;
using namespace emu::test;
namespace fs = std::filesystem;

TEST(TrainCli, TokenizerFromYamlConfig) {
    const std::string dir = temp_dir("train_cli_tokenizer");
    const std::string cfg = dir + "/tok.yaml";
    std::ofstream(cfg) << "out: " << dir << "/ignored\nvocab_size: 600\nvisual_tokens: 300\n"
                       << "corpus:\n  seed: 4\n  samples_per_task: 100\n  world: {width: 64, height: 64}\n";
    const std::string out = dir + "/tok";
    CommandResult r = run_emu("train tokenizer --config '" + cfg + "' --out '" + out + "'");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("bytes/token"), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(dir + "/ignored"));  // --out wins over the config
    const text::Tokenizer tok = text::Tokenizer::load(out);
    EXPECT_EQ(tok.roles().n_visual, 300);
    EXPECT_LE(tok.n_ranks(), 600u);
    const std::string s = "A small red circle above a large blue square.";
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
    const auto metrics = train::read_metrics(out + "/metrics.jsonl");
    ASSERT_EQ(metrics.size(), 1u);
    EXPECT_GT(metrics[0]["bytes_per_token"].get<double>(), 2.0);
    EXPECT_TRUE(fs::exists(out + "/train_config.json"));

    // The same config gives the same vocabulary (fixed seeds, deterministic trainer).
    const std::string out2 = dir + "/tok2";
    ASSERT_EQ(run_emu("train tokenizer --quiet --config '" + cfg + "' --out '" + out2 + "'").status, 0);
    std::ifstream a(out + "/emu3.tiktoken"), b(out2 + "/emu3.tiktoken");
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
}

TEST(TrainCli, ListsTrainersAndRejectsMistakes) {
    CommandResult list = run_emu("train --help");
    EXPECT_EQ(list.status, 0);
    EXPECT_NE(list.out.find("train tokenizer"), std::string::npos) << list.out;
    CommandResult unknown = run_emu("train painting --config x.yaml");
    EXPECT_NE(unknown.status, 0);
    EXPECT_NE(unknown.out.find("unknown trainer 'painting'"), std::string::npos) << unknown.out;

    const std::string dir = temp_dir("train_cli_errors");
    std::ofstream(dir + "/typo.yaml") << "out: " << dir << "/o\nvocab_sise: 600\n";
    CommandResult typo = run_emu("train tokenizer --config '" + dir + "/typo.yaml'");
    EXPECT_NE(typo.status, 0);
    EXPECT_NE(typo.out.find("vocab_sise"), std::string::npos) << typo.out;
    CommandResult missing = run_emu("train tokenizer --config '" + dir + "/nope.yaml'");
    EXPECT_NE(missing.status, 0);
    EXPECT_NE(missing.out.find("nope.yaml"), std::string::npos) << missing.out;
    CommandResult resume = run_emu("train tokenizer --config '" + dir + "/typo.yaml' --resume auto");
    EXPECT_NE(resume.status, 0);
}

TEST(TrainCli, ConfigExtendsAnother) {
    const std::string dir = temp_dir("train_cli_extends");
    fs::create_directories(dir + "/base");
    std::ofstream(dir + "/base/tok.yaml") << "out: " << dir << "/from-base\nvocab_size: 700\nvisual_tokens: 300\n"
                                          << "corpus:\n  seed: 4\n  samples_per_task: 100\n"
                                          << "  world: {width: 64, height: 64}\n";
    // The child names its base relative to its own folder and changes one nested key.
    std::ofstream(dir + "/child.yaml") << "extends: base/tok.yaml\nvocab_size: 600\ncorpus: {seed: 5}\n";
    CommandResult r = run_emu("train tokenizer --quiet --config '" + dir + "/child.yaml'");
    ASSERT_EQ(r.status, 0) << r.out;
    const nlohmann::json used = load_json_file(dir + "/from-base/train_config.json");
    EXPECT_EQ(used["vocab_size"], 600);
    EXPECT_EQ(used["visual_tokens"], 300);
    EXPECT_EQ(used["corpus"]["seed"], 5);
    EXPECT_EQ(used["corpus"]["samples_per_task"], 100);
    EXPECT_EQ(used["corpus"]["world"]["width"], 64);
    EXPECT_FALSE(used.contains("extends"));

    std::ofstream(dir + "/a.yaml") << "extends: b.yaml\n";
    std::ofstream(dir + "/b.yaml") << "extends: a.yaml\n";
    CommandResult loop = run_emu("train tokenizer --config '" + dir + "/a.yaml'");
    EXPECT_NE(loop.status, 0);
    EXPECT_NE(loop.out.find("extends itself"), std::string::npos) << loop.out;
    std::ofstream(dir + "/gone.yaml") << "extends: missing.yaml\n";
    CommandResult gone = run_emu("train tokenizer --config '" + dir + "/gone.yaml'");
    EXPECT_NE(gone.status, 0);
    EXPECT_NE(gone.out.find("missing.yaml"), std::string::npos) << gone.out;
    std::ofstream(dir + "/bad.yaml") << "extends: [a.yaml]\n";
    CommandResult bad = run_emu("train tokenizer --config '" + dir + "/bad.yaml'");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.out.find("`extends` must name a config file"), std::string::npos) << bad.out;
}
