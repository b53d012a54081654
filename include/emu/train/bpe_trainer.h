// Byte-level BPE training in the Emu3.5 tokenizer's format.
//
// Text is NFC-normalised, cut at special tokens ("<|...|>", never learned from), split by
// the Emu pre-tokenization regex, and merges are learned inside the pieces only. Ranks
// 0..255 are the 256 single bytes in the GPT-2 / Qwen order the released emu3.tiktoken uses
// ('!' = 0, '*' = 9, '0'..'9' = 15..24, ' ' = 220, '\n' = 198), so any text encodes and the
// image-header digits keep their official ids; merges follow in the order learned.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/text/tokenizer.h"

namespace emu::train {

struct BpeConfig {
    int vocab_size = 1024;           // BPE ranks including the 256 bytes (>= 256)
    std::int64_t min_frequency = 2;  // stop early when the best pair occurs fewer times
    std::string pat_str{text::kEmu3PatStr};
    void validate() const;
};

// The 256 single bytes in rank order (rank i has bytes_in_rank_order()[i]).
const std::vector<std::uint8_t>& bytes_in_rank_order();

class BpeTrainer {
public:
    explicit BpeTrainer(BpeConfig config);

    // Adds a text to the corpus (see the header comment for what is counted).
    void add_text(std::string_view text);
    // Adds one pre-tokenized piece `count` times (no normalisation, no splitting).
    void add_piece(std::string_view piece, std::int64_t count = 1);

    std::size_t distinct_pieces() const { return counts_.size(); }
    std::int64_t total_bytes() const { return total_bytes_; }

    // Learns merges; returns each rank's bytes (size <= vocab_size, the 256 bytes first).
    // Deterministic: ties between equally frequent pairs go to the smaller (left rank,
    // right rank). `on_merge(done, target)` is called after each merge (progress).
    std::vector<std::string> train(const std::function<void(int, int)>& on_merge = {}) const;

private:
    BpeConfig config_;
    std::unordered_map<std::string, std::int64_t> counts_;
    std::int64_t total_bytes_ = 0;
};

// emu3.tiktoken text: one "BASE64(bytes) rank" line per token, ranks in order.
std::string tiktoken_text(const std::vector<std::string>& tokens);
// The lines of emu3_vision_tokens.txt: IMG, BOI, EOI, then n_visual visual tokens.
std::vector<std::string> vision_token_lines(int n_visual);

// Writes DIR/emu3.tiktoken, DIR/emu3_vision_tokens.txt, DIR/tokenizer_config.json (the
// official content: tokenizer_class Emu3Tokenizer) so text::Tokenizer::load(DIR) reads it.
// The id layout is the official one: ranks, then endoftext, im_start, im_end,
// extra_0..204, IMG, BOI, EOI, visual tokens 0..n_visual-1.
void write_tokenizer_folder(const std::string& dir, const std::vector<std::string>& tokens, int n_visual);

}  // namespace emu::train
