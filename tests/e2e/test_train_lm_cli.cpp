// `emu train lm` end to end: a tiny model trained for a few steps with the vq fixture,
// exact resume from a checkpoint in a fresh process, and `emu generate` on the export.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "emu/io/safetensors.h"
#include "emu/lm/transformer.h"
#include "emu/train/metrics.h"
#include "fixtures.h"

using namespace emu;
using namespace emu::test;
namespace fs = std::filesystem;

namespace {

std::string vq_dir() {
    const auto cases = cases_of_kind("vq");
    return cases.empty() ? std::string() : cases.front().dir;
}

std::string read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

std::vector<double> train_losses(const std::string& metrics) {
    std::vector<double> out;
    for (const auto& j : train::read_metrics(metrics))
        if (j["split"] == "train") out.push_back(j["loss"].get<double>());
    return out;
}

// The one-layer model and the t2i-only data most of these tests train.
constexpr const char* kOneLayer =
    "hidden_size: 32, intermediate_size: 48, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, "
    "head_dim: 16";
constexpr const char* kT2iData = "seq_len: 256, batch_size: 2, pool_size: 4, tasks: {t2i: 1}";

// A fresh model's `emu train lm` config at DIR/NAME.yaml, training into DIR/NAME: the given
// vision tokenizer, a small BPE vocabulary trained on the spot, the given model and data
// sections (inside the braces) and further lines. Returns the config's path.
std::string lm_config(const std::string& dir, const std::string& name, const std::string& vq, const std::string& model,
                      const std::string& data, const std::string& rest) {
    const std::string cfg = dir + "/" + name + ".yaml";
    std::ofstream(cfg) << "out: " << dir << "/" << name << "\nvq: " << vq << "\n"
                       << "tokenizer: {vocab_size: 300, corpus: {seed: 3, samples_per_task: 20}}\n"
                       << "model: {" << model << "}\ndata: {" << data << "}\n" << rest;
    return cfg;
}

}  // namespace

TEST(TrainLmCli, TrainsResumesExactlyAndExportsForGenerate) {
    const std::string vq = vq_dir();
    if (vq.empty()) GTEST_FAIL() << "no vq fixture case found";
    const std::string dir = temp_dir("train_lm_cli");
    const std::string cfg = dir + "/lm.yaml";
    std::ofstream(cfg) << "out: " << dir << "/a\nvq: " << vq << "\n"
                       << "tokenizer: {vocab_size: 400, corpus: {seed: 3, samples_per_task: 40, world: {width: 64, "
                          "height: 64}}}\n"
                       << "model: {hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: "
                          "4, num_key_value_heads: 2, head_dim: 8}\n"
                       << "data: {seq_len: 384, batch_size: 2, pool_size: 4, world: {width: 64, height: 64}}\n"
                       << "steps: 6\nlr: 3.0e-3\nwarmup_steps: 2\nlog_every: 1\neval_every: 3\neval_batches: 1\n"
                       << "save_every: 3\nkeep_checkpoints: 3\nthreads: 2\ngrad_accum: 2\nsample_every: 6\n";
    const std::string a = dir + "/a", b = dir + "/b";
    CommandResult r = run_emu("train lm --quiet --config '" + cfg + "'");
    ASSERT_EQ(r.status, 0) << r.out;
    const std::vector<double> straight = train_losses(a + "/metrics.jsonl");
    ASSERT_EQ(straight.size(), 6u);
    EXPECT_LT(straight.back(), straight.front());  // it learns something
    for (const char* f : {"config.json", "model.safetensors", "emu3.tiktoken", "emu3_vision_tokens.txt",
                          "tokenizer_config.json", "generation_defaults.json", "checkpoint-000003/train_state.json"})
        EXPECT_TRUE(fs::exists(fs::path(a) / f)) << f;
    // A sample generation from the final weights (text, and images if it drew any).
    EXPECT_TRUE(fs::exists(a + "/samples/step-6-0.txt"));
    // The export loads as an inference model under the official names.
    const lm::Transformer model = lm::Transformer::load(a);
    EXPECT_EQ(model.config().hidden_size, 32);

    // Resume from step 3 in another folder (fresh process, no image-code cache): steps 4-6
    // must give the very same losses and the very same final weights.
    fs::create_directories(b);
    fs::copy(fs::path(a) / "checkpoint-000003", fs::path(b) / "checkpoint-000003", fs::copy_options::recursive);
    fs::copy(fs::path(a) / "tokenizer", fs::path(b) / "tokenizer", fs::copy_options::recursive);
    r = run_emu("train lm --quiet --config '" + cfg + "' --out '" + b + "' --resume auto");
    ASSERT_EQ(r.status, 0) << r.out;
    const std::vector<double> resumed = train_losses(b + "/metrics.jsonl");
    ASSERT_EQ(resumed.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(resumed[std::size_t(i)], straight[std::size_t(i + 3)]) << "step " << i + 4;
    EXPECT_EQ(read_all(a + "/model.safetensors"), read_all(b + "/model.safetensors"));

    CommandResult g = run_emu("generate --model '" + a + "' --vq '" + vq + "' --seed 1 --out '" + dir +
                              "/gen.png' 'a red circle'");
    ASSERT_EQ(g.status, 0) << g.out;
    EXPECT_NE(g.out.find("tokens in"), std::string::npos) << g.out;

    CommandResult bad = run_emu("train lm --quiet --config '" + cfg + "' --out '" + dir + "/c' --resume '" + dir +
                                "/nope'");
    EXPECT_NE(bad.status, 0);
    std::ofstream(dir + "/typo.yaml") << "out: " << dir << "/d\nvq: stub:4x4:64\ntokenizer: " << a
                                      << "/tokenizer\nmodel: {hiden_size: 8}\n";
    CommandResult typo = run_emu("train lm --quiet --config '" + dir + "/typo.yaml'");
    EXPECT_NE(typo.status, 0);
    EXPECT_NE(typo.out.find("hiden_size"), std::string::npos) << typo.out;
    // Misspelt keys at the top level and in data are errors too, naming the key.
    const std::vector<std::pair<std::string, std::string>> typos = {{"warmup: 3", "warmup"},
                                                                     {"data: {task_weights: {t2i: 1}}", "task_weights"}};
    for (const auto& [line, key] : typos) {
        std::ofstream(dir + "/typo2.yaml") << "out: " << dir << "/d\nvq: stub:4x4:64\ntokenizer: " << a
                                           << "/tokenizer\n" << line << "\n";
        CommandResult t = run_emu("train lm --quiet --config '" + dir + "/typo2.yaml'");
        EXPECT_NE(t.status, 0) << line;
        EXPECT_NE(t.out.find("unknown key '" + key + "'"), std::string::npos) << t.out;
    }
}

// precision: bf16 runs the products as BF16 (AMX where the CPU has it) and must train the
// same model as F32 up to rounding: the same first loss to 1%, and a falling loss.
TEST(TrainLmCli, Bf16PrecisionTrainsLikeF32) {
    const std::string dir = temp_dir("train_lm_cli_precision");
    auto config = [&](const std::string& name, const std::string& precision) {
        return lm_config(dir, name, "stub:4x4:64",
                         "hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, "
                         "num_key_value_heads: 2, head_dim: 16",
                         "seq_len: 256, batch_size: 2",
                         "steps: 8\nlr: 3.0e-3\nwarmup_steps: 2\nlog_every: 1\nthreads: 1\nprecision: " + precision + "\n");
    };
    CommandResult exact = run_emu("train lm --quiet --config '" + config("exact", "exact") + "'");
    ASSERT_EQ(exact.status, 0) << exact.out;
    CommandResult bf16 = run_emu("train lm --quiet --config '" + config("bf16", "bf16") + "'");
    ASSERT_EQ(bf16.status, 0) << bf16.out;
    const std::vector<double> a = train_losses(dir + "/exact/metrics.jsonl"), b = train_losses(dir + "/bf16/metrics.jsonl");
    ASSERT_EQ(a.size(), 8u);
    ASSERT_EQ(b.size(), 8u);
    EXPECT_NEAR(b.front(), a.front(), 0.01 * a.front());
    EXPECT_LT(b.back(), b.front() - 0.5);
    EXPECT_NEAR(b.back(), a.back(), 0.05 * a.back());

    CommandResult bad = run_emu("train lm --quiet --config '" + config("bad", "half") + "'");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.out.find("precision must be exact, fast or bf16"), std::string::npos) << bad.out;
}

// object_weight reweights the training loss (object cells count w times) and nothing else:
// with an lr too small to move the weights, two runs differing only in object_weight see
// different training losses on the same batch but the same (plain) held-out loss.
TEST(TrainLmCli, ObjectWeightChangesTheTrainingLossOnly) {
    const std::string dir = temp_dir("train_lm_object_weight");
    auto run = [&](const std::string& name, const std::string& extra) {
        const std::string cfg = lm_config(dir, name, "stub:4x4:64", kOneLayer, "seq_len: 256, batch_size: 2, tasks: {t2i: 1}",
                                          "steps: 1\nlr: 1.0e-12\nwarmup_steps: 0\nlog_every: 1\neval_every: 1\n"
                                          "eval_batches: 1\nthreads: 1\n" + extra);
        return run_emu("train lm --quiet --config '" + cfg + "'");
    };
    auto losses = [&](const std::string& name, const char* split) {
        std::vector<double> out;
        for (const auto& j : train::read_metrics(dir + "/" + name + "/metrics.jsonl"))
            if (j["split"] == split) out.push_back(j["loss"].get<double>());
        return out;
    };
    CommandResult plain = run("plain", "");
    ASSERT_EQ(plain.status, 0) << plain.out;
    CommandResult weighted = run("weighted", "object_weight: 4\n");
    ASSERT_EQ(weighted.status, 0) << weighted.out;
    const auto train_a = losses("plain", "train"), train_b = losses("weighted", "train");
    const auto eval_a = losses("plain", "eval"), eval_b = losses("weighted", "eval");
    ASSERT_EQ(train_a.size(), 1u);
    ASSERT_EQ(train_b.size(), 1u);
    ASSERT_EQ(eval_a.size(), 1u);
    ASSERT_EQ(eval_b.size(), 1u);
    EXPECT_GT(std::abs(train_a[0] - train_b[0]), 1e-6) << train_a[0];
    EXPECT_NEAR(eval_a[0], eval_b[0], 1e-7 * eval_a[0]);

    for (const char* bad : {"object_weight: 0\n", "object_weight: -2\n", "object_weight: 1.0e+9\n"}) {
        CommandResult r = run("bad", bad);
        EXPECT_NE(r.status, 0) << bad;
        EXPECT_NE(r.out.find("object_weight must be in (0, 100]"), std::string::npos) << r.out;
    }
    CommandResult word = run("bad", "object_weight: heavy\n");
    EXPECT_NE(word.status, 0);
    EXPECT_NE(word.out.find("object_weight must be a number"), std::string::npos) << word.out;
}

// Ctrl-C (SIGINT) during training saves a checkpoint and exits cleanly; --resume auto
// then finishes the run.
TEST(TrainLmCli, InterruptSavesACheckpoint) {
    const std::string dir = temp_dir("train_lm_cli_interrupt");
    const std::string out = dir + "/run";
    const std::string cfg = lm_config(dir, "run", "stub:4x4:64",
                                      "hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, "
                                      "num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8",
                                      "seq_len: 256, batch_size: 1", "steps: 100000\nlog_every: 1\nthreads: 1\n");
    // Wait for the first metrics line (the interrupt guard is installed by then), then SIGINT.
    const std::string script = std::string("'") + EMU_BINARY + "' train lm --quiet --config '" + cfg + "' > '" + dir +
                               "/log.txt' 2>&1 & pid=$!; for i in $(seq 600); do grep -q step '" + out +
                               "/metrics.jsonl' 2>/dev/null && break; sleep 0.05; done; kill -INT $pid; wait $pid";
    std::ofstream(dir + "/interrupt.sh") << script << "\n";
    const int status = std::system(("bash '" + dir + "/interrupt.sh'").c_str());
    EXPECT_EQ(status, 0);
    std::ifstream log(dir + "/log.txt");
    const std::string text((std::istreambuf_iterator<char>(log)), {});
    EXPECT_NE(text.find("stopped at step"), std::string::npos) << text;
    const auto metrics = train::read_metrics(out + "/metrics.jsonl");
    ASSERT_FALSE(metrics.empty());
    bool found = false;
    for (const auto& e : fs::directory_iterator(out))
        found |= e.path().filename().string().rfind("checkpoint-", 0) == 0;
    EXPECT_TRUE(found);
    EXPECT_TRUE(fs::exists(out + "/model.safetensors"));  // the export is written on interrupt too
}

// grow_layers deepens a trained model (train::grow_depth) and export_dtype: bf16 writes the
// export in half the bytes; the result loads and generates. Misuse is a clear error.
TEST(TrainLmCli, GrowsATrainedModelAndExportsBf16) {
    const std::string vq = vq_dir();
    if (vq.empty()) GTEST_FAIL() << "no vq fixture case found";
    const std::string dir = temp_dir("train_lm_grow");
    const std::string data = "data: {" + std::string(kT2iData) + "}\n";
    const std::string small = lm_config(dir, "small", vq, kOneLayer, kT2iData, "steps: 2\nthreads: 2\n");
    ASSERT_EQ(run_emu("train lm --quiet --config '" + small + "'").status, 0);
    std::ofstream(dir + "/grow.yaml") << "out: " << dir << "/deep\nvq: " << vq << "\ninit_from: " << dir
                                      << "/small\ngrow_layers: 3\nexport_dtype: bf16\n"
                                      << data << "steps: 2\nthreads: 2\n";
    CommandResult r = run_emu("train lm --quiet --config '" + dir + "/grow.yaml'");
    ASSERT_EQ(r.status, 0) << r.out;
    const nlohmann::json cfg = nlohmann::json::parse(read_all(dir + "/deep/config.json"));
    EXPECT_EQ(cfg["num_hidden_layers"], 3);
    EXPECT_EQ(cfg["torch_dtype"], "bfloat16");
    const TensorStore store = TensorStore::open(dir + "/deep");
    for (const std::string& name : store.names()) EXPECT_EQ(store.get(name).dtype(), DType::BF16) << name;
    EXPECT_TRUE(store.has("model.layers.2.mlp.down_proj.weight"));
    CommandResult g = run_emu("generate --model '" + dir + "/deep' --vq '" + vq + "' --max-new-tokens 40 --out '" +
                              dir + "/gen' --quiet 'a red circle'");
    ASSERT_EQ(g.status, 0) << g.out;

    std::ofstream(dir + "/bad1.yaml") << "out: " << dir << "/bad\nvq: " << vq << "\ninit_from: " << dir
                                      << "/small\ngrow_layers: 3\nexport_dtype: q8_0\n" << data << "steps: 1\n";
    CommandResult bad1 = run_emu("train lm --quiet --config '" + dir + "/bad1.yaml'");
    EXPECT_NE(bad1.status, 0);
    EXPECT_NE(bad1.out.find("export_dtype"), std::string::npos) << bad1.out;
    std::ofstream(dir + "/bad2.yaml") << "out: " << dir << "/bad\nvq: " << vq << "\ninit_from: " << dir
                                      << "/deep\ngrow_layers: 2\n" << data << "steps: 1\n";
    CommandResult bad2 = run_emu("train lm --quiet --config '" + dir + "/bad2.yaml'");
    EXPECT_NE(bad2.status, 0);
    EXPECT_NE(bad2.out.find("fewer than"), std::string::npos) << bad2.out;
}

TEST(TrainDidaCli, AdaptsATrainedModelForParallelDecoding) {
    const std::string vq = vq_dir();
    if (vq.empty()) GTEST_FAIL() << "no vq fixture case found";
    const std::string dir = temp_dir("train_dida_cli");
    const std::string ar = lm_config(dir, "ar", vq, kOneLayer, kT2iData, "steps: 2\nthreads: 2\n");
    ASSERT_EQ(run_emu("train lm --quiet --config '" + ar + "'").status, 0);
    std::ofstream(dir + "/dida.yaml") << "out: " << dir << "/dida\nvq: " << vq << "\n"
                                      << "dida: {ar_fraction: 0.2, steps: 3}\n"
                                      << "data: {" << kT2iData << "}\nsteps: 3\nlog_every: 1\nthreads: 2\n";
    CommandResult r = run_emu("train dida --quiet --from '" + dir + "/ar' --config '" + dir + "/dida.yaml'");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(train_losses(dir + "/dida/metrics.jsonl").size(), 3u);
    const nlohmann::json defaults = nlohmann::json::parse(read_all(dir + "/dida/generation_defaults.json"));
    EXPECT_EQ(defaults["dida"]["steps"], 3);
    CommandResult g = run_emu("generate --decoder dida --model '" + dir + "/dida' --vq '" + vq +
                              "' --max-new-tokens 40 --out '" + dir + "/gen' --quiet 'a red circle'");
    ASSERT_EQ(g.status, 0) << g.out;
    const nlohmann::json res = nlohmann::json::parse(read_all(dir + "/gen/t2i/result.json"));
    EXPECT_EQ(res["settings"]["dida_steps"], 3);
    // Missing --from is a clear error.
    CommandResult bad = run_emu("train dida --quiet --config '" + dir + "/dida.yaml'");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.out.find("--from"), std::string::npos) << bad.out;
    // So is a --from that is not there, named before anything else is loaded.
    bad = run_emu("train dida --quiet --from '" + dir + "/nope' --config '" + dir + "/dida.yaml'");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.out.find("/nope: not a folder"), std::string::npos) << bad.out;
}
