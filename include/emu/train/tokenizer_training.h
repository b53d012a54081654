// `emu train tokenizer`: learn a byte-level BPE vocabulary from ShapesWorld's language (plus
// optional text files) and write a complete Emu tokenizer folder.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/train/bpe_trainer.h"
#include "emu/world/tasks.h"

namespace emu::train {

struct TokenizerTrainingConfig {
    std::string out;                    // output folder
    BpeConfig bpe;                      // vocab_size, min_frequency
    int visual_tokens = 512;            // = the vision tokenizer's codebook size
    world::WorldConfig world;           // corpus.world
    std::uint64_t seed = 1;             // corpus.seed
    int samples_per_task = 2000;        // corpus.samples_per_task
    std::vector<std::string> files;     // corpus.files: extra UTF-8 text, one text per line
    double holdout_fraction = 0.1;      // of the ShapesWorld texts, kept out of training for the report
    void validate() const;
};
// Keys: out, vocab_size, min_frequency, visual_tokens, corpus {seed, samples_per_task,
// world {...}, files [...], holdout_fraction}. Unknown top-level keys are errors (typos).
TokenizerTrainingConfig tokenizer_training_config_from_json(const nlohmann::json& j);
nlohmann::json to_json(const TokenizerTrainingConfig& c);

struct TokenizerTrainingReport {
    int ranks = 0;                  // BPE ranks learned (incl. the 256 bytes)
    std::int64_t n_vocab = 0;       // ranks + specials
    std::int64_t corpus_texts = 0, corpus_bytes = 0;
    std::int64_t heldout_bytes = 0, heldout_tokens = 0;  // encoded with the new tokenizer
    double bytes_per_token = 0;     // on the held-out texts
    double seconds = 0;
    nlohmann::json to_json() const;
};

// Trains and writes out/ (emu3.tiktoken, emu3_vision_tokens.txt, tokenizer_config.json,
// train_config.json, metrics.jsonl). Shows a progress line unless quiet.
TokenizerTrainingReport train_tokenizer(const TokenizerTrainingConfig& config);

}  // namespace emu::train
