#include "emu/train/tokenizer_training.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/core/mapped_file.h"
#include "emu/text/tokenizer.h"
#include "emu/train/data.h"
#include "emu/train/metrics.h"

namespace fs = std::filesystem;

namespace emu::train {

void TokenizerTrainingConfig::validate() const {
    check(!out.empty(), "tokenizer training needs an output folder ('out' in the config or --out)");
    bpe.validate();
    check(visual_tokens >= 1 && visual_tokens <= (1 << 20), "visual_tokens must be in [1, 1048576], got ", visual_tokens);
    world.validate();
    check(samples_per_task >= 0, "corpus.samples_per_task must be >= 0, got ", samples_per_task);
    check(holdout_fraction >= 0 && holdout_fraction < 1, "corpus.holdout_fraction must be in [0, 1), got ",
          holdout_fraction);
}

TokenizerTrainingConfig tokenizer_training_config_from_json(const nlohmann::json& j) {
    check(j.is_object(), "tokenizer training config must be a mapping");
    static const std::set<std::string> known = {"out", "vocab_size", "min_frequency", "visual_tokens", "corpus"};
    for (auto it = j.begin(); it != j.end(); ++it)
        check(known.count(it.key()), "unknown key '", it.key(), "' in the tokenizer training config (known: out, ",
              "vocab_size, min_frequency, visual_tokens, corpus)");
    TokenizerTrainingConfig c;
    try {
        c.out = j.value("out", c.out);
        c.bpe.vocab_size = j.value("vocab_size", c.bpe.vocab_size);
        c.bpe.min_frequency = j.value("min_frequency", c.bpe.min_frequency);
        c.visual_tokens = j.value("visual_tokens", c.visual_tokens);
        if (j.contains("corpus")) {
            const auto& k = j["corpus"];
            check(k.is_object(), "corpus must be a mapping");
            static const std::set<std::string> ck = {"seed", "samples_per_task", "world", "files", "holdout_fraction"};
            for (auto it = k.begin(); it != k.end(); ++it)
                check(ck.count(it.key()), "unknown key 'corpus.", it.key(), "' in the tokenizer training config");
            c.seed = k.value("seed", c.seed);
            c.samples_per_task = k.value("samples_per_task", c.samples_per_task);
            if (k.contains("world")) c.world = world::world_config_from_json(k["world"]);
            if (k.contains("files")) c.files = k["files"].get<std::vector<std::string>>();
            c.holdout_fraction = k.value("holdout_fraction", c.holdout_fraction);
        }
    } catch (const nlohmann::json::exception& e) {
        fail("tokenizer training config: ", e.what());
    }
    c.validate();
    return c;
}

nlohmann::json to_json(const TokenizerTrainingConfig& c) {
    return {{"out", c.out},
            {"vocab_size", c.bpe.vocab_size},
            {"min_frequency", c.bpe.min_frequency},
            {"visual_tokens", c.visual_tokens},
            {"corpus",
             {{"seed", c.seed},
              {"samples_per_task", c.samples_per_task},
              {"world", world::to_json(c.world)},
              {"files", c.files},
              {"holdout_fraction", c.holdout_fraction}}}};
}

nlohmann::json TokenizerTrainingReport::to_json() const {
    return {{"ranks", ranks},
            {"n_vocab", n_vocab},
            {"corpus_texts", corpus_texts},
            {"corpus_bytes", corpus_bytes},
            {"heldout_bytes", heldout_bytes},
            {"heldout_tokens", heldout_tokens},
            {"bytes_per_token", bytes_per_token},
            {"seconds", seconds}};
}

TokenizerTrainingReport train_tokenizer(const TokenizerTrainingConfig& config) {
    config.validate();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> texts = shapesworld_corpus(config.world, config.seed, config.samples_per_task);
    // Held out: every k-th ShapesWorld text (a fixed rule, so reruns match).
    std::vector<std::string> train_texts, heldout;
    const std::size_t every = config.holdout_fraction > 0 ? std::size_t(1.0 / config.holdout_fraction + 0.5) : 0;
    for (std::size_t i = 0; i < texts.size(); ++i)
        (every && i % every == every - 1 ? heldout : train_texts).push_back(std::move(texts[i]));
    for (const auto& f : config.files) {
        std::istringstream in(read_text_file(f));
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) train_texts.push_back(line);
    }

    BpeTrainer trainer(config.bpe);
    TokenizerTrainingReport report;
    for (const auto& t : train_texts) {
        trainer.add_text(t);
        report.corpus_bytes += std::int64_t(t.size());
    }
    report.corpus_texts = std::int64_t(train_texts.size());
    log_info(str("tokenizer corpus: ", train_texts.size(), " texts, ", report.corpus_bytes, " bytes, ",
                 trainer.distinct_pieces(), " distinct pieces"));

    TrainProgress progress("train tokenizer", 0, config.bpe.vocab_size - 256, "merges", 2.0);
    const std::vector<std::string> tokens =
        trainer.train([&](int done, int) { progress.update(done, 1, {}); });
    progress.finish();

    write_tokenizer_folder(config.out, tokens, config.visual_tokens);
    const text::Tokenizer tok = text::Tokenizer::load(config.out);
    report.ranks = int(tokens.size());
    report.n_vocab = std::int64_t(tok.n_vocab());
    for (const auto& t : heldout) {
        report.heldout_bytes += std::int64_t(t.size());
        report.heldout_tokens += std::int64_t(tok.encode(t).size());
    }
    report.bytes_per_token = report.heldout_tokens ? double(report.heldout_bytes) / double(report.heldout_tokens) : 0.0;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    {
        std::ofstream out(fs::path(config.out) / "train_config.json", std::ios::trunc);
        out << to_json(config).dump(2) << "\n";
        check(bool(out), "cannot write ", (fs::path(config.out) / "train_config.json").string());
    }
    // A tokenizer run is not resumable: each run's metrics replace the previous ones.
    const std::string metrics_path = (fs::path(config.out) / "metrics.jsonl").string();
    std::error_code ec;
    fs::remove(metrics_path, ec);
    MetricsWriter metrics(metrics_path);
    nlohmann::json rec = report.to_json();
    rec["step"] = report.ranks - 256;
    rec["split"] = "final";
    metrics.write(rec);
    return report;
}

}  // namespace emu::train
