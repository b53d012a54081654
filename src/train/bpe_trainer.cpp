#include "emu/train/bpe_trainer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <queue>
#include <unordered_set>

#include "emu/core/error.h"
#include "emu/text/pretokenize.h"
#include "emu/text/special_tokens.h"
#include "emu/text/utf8.h"

namespace fs = std::filesystem;

namespace emu::train {
namespace {

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
    return (std::uint64_t(std::uint32_t(a)) << 32) | std::uint32_t(b);
}

struct Word {
    std::vector<std::int32_t> syms;
    std::int64_t count;
};

struct Candidate {
    std::int64_t count;
    std::uint64_t pair;
    // The priority queue pops the largest: more frequent first, then the smaller pair.
    bool operator<(const Candidate& o) const { return count != o.count ? count < o.count : pair > o.pair; }
};

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    check(bool(out), "cannot write ", path.string());
    out << text;
    check(bool(out), "write failed: ", path.string());
}

std::string base64(std::string_view in) {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                          std::uint8_t(in[i + 2]);
        for (int k = 3; k >= 0; --k) out += alphabet[(v >> (6 * k)) & 63];
    }
    std::size_t rest = in.size() - i;
    if (rest == 1) {
        std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        std::uint32_t v = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

}  // namespace

void BpeConfig::validate() const {
    check(vocab_size >= 256, "tokenizer vocab_size must be at least 256 (the single bytes), got ", vocab_size);
    check(vocab_size <= (1 << 24), "tokenizer vocab_size ", vocab_size, " is too large");
    check(min_frequency >= 1, "tokenizer min_frequency must be >= 1, got ", min_frequency);
}

const std::vector<std::uint8_t>& bytes_in_rank_order() {
    static const std::vector<std::uint8_t> order = [] {
        // Printable Latin-1 first (GPT-2's bytes_to_unicode), then the rest by value.
        std::vector<std::uint8_t> o;
        std::vector<bool> used(256, false);
        auto add = [&](int lo, int hi) {
            for (int b = lo; b <= hi; ++b) {
                o.push_back(std::uint8_t(b));
                used[b] = true;
            }
        };
        add('!', '~');
        add(0xA1, 0xAC);
        add(0xAE, 0xFF);
        for (int b = 0; b < 256; ++b)
            if (!used[b]) o.push_back(std::uint8_t(b));
        return o;
    }();
    return order;
}

BpeTrainer::BpeTrainer(BpeConfig config) : config_(std::move(config)) { config_.validate(); }

void BpeTrainer::add_piece(std::string_view piece, std::int64_t count) {
    if (piece.empty() || count <= 0) return;
    counts_[std::string(piece)] += count;
    total_bytes_ += std::int64_t(piece.size()) * count;
}

void BpeTrainer::add_text(std::string_view raw) {
    const std::string normalized = text::nfc(raw);
    std::string_view s = normalized;
    std::size_t pos = 0;
    while (pos < s.size()) {
        // Special tokens look like "<|...|>": short, on one line ("<|visual token 000001|>").
        std::size_t open = s.find("<|", pos), close = std::string_view::npos;
        while (open != std::string_view::npos) {
            close = s.find("|>", open + 2);
            if (close != std::string_view::npos && close - open <= 40 &&
                s.substr(open, close - open).find_first_of("\r\n") == std::string_view::npos)
                break;
            open = s.find("<|", open + 1);
        }
        const std::size_t end = open == std::string_view::npos ? s.size() : open;
        if (end > pos)
            for (const std::string& piece : text::pretokenize(s.substr(pos, end - pos), config_.pat_str)) add_piece(piece);
        if (open == std::string_view::npos) break;
        pos = close + 2;
    }
}

std::vector<std::string> BpeTrainer::train(const std::function<void(int, int)>& on_merge) const {
    std::vector<std::string> tokens;
    tokens.reserve(std::size_t(config_.vocab_size));
    std::int32_t rank_of_byte[256];
    for (std::uint8_t b : bytes_in_rank_order()) {
        rank_of_byte[b] = std::int32_t(tokens.size());
        tokens.emplace_back(1, char(b));
    }
    std::unordered_map<std::string, std::int32_t> rank_of_token;
    for (std::size_t i = 0; i < tokens.size(); ++i) rank_of_token.emplace(tokens[i], std::int32_t(i));

    // Distinct pieces in a fixed order (the map's order is not deterministic across builds).
    std::vector<std::pair<std::string, std::int64_t>> sorted(counts_.begin(), counts_.end());
    std::sort(sorted.begin(), sorted.end());
    std::vector<Word> words;
    words.reserve(sorted.size());
    for (const auto& [piece, count] : sorted) {
        Word w{{}, count};
        for (char c : piece) w.syms.push_back(rank_of_byte[std::uint8_t(c)]);
        words.push_back(std::move(w));
    }

    std::unordered_map<std::uint64_t, std::int64_t> pair_count;
    std::unordered_map<std::uint64_t, std::vector<std::int32_t>> pair_words;  // may hold stale entries
    for (std::size_t wi = 0; wi < words.size(); ++wi) {
        const Word& w = words[wi];
        for (std::size_t i = 0; i + 1 < w.syms.size(); ++i) {
            const std::uint64_t k = pair_key(w.syms[i], w.syms[i + 1]);
            pair_count[k] += w.count;
            auto& list = pair_words[k];
            if (list.empty() || list.back() != std::int32_t(wi)) list.push_back(std::int32_t(wi));
        }
    }
    std::priority_queue<Candidate> queue;
    for (const auto& [k, c] : pair_count) queue.push({c, k});

    const int target = config_.vocab_size - int(tokens.size());
    int done = 0;
    std::unordered_set<std::uint64_t> touched;
    while (int(tokens.size()) < config_.vocab_size && !queue.empty()) {
        Candidate best = queue.top();
        queue.pop();
        auto it = pair_count.find(best.pair);
        if (it == pair_count.end() || it->second != best.count) continue;  // stale entry
        if (best.count < config_.min_frequency) break;
        const std::int32_t a = std::int32_t(best.pair >> 32), b = std::int32_t(best.pair & 0xFFFFFFFFu);
        const std::string merged = tokens[std::size_t(a)] + tokens[std::size_t(b)];
        // Two different pairs can spell the same bytes ("ab"+"c", "a"+"bc"); reuse the rank.
        std::int32_t id;
        if (auto found = rank_of_token.find(merged); found != rank_of_token.end()) {
            id = found->second;
        } else {
            id = std::int32_t(tokens.size());
            tokens.push_back(merged);
            rank_of_token.emplace(merged, id);
            ++done;
            if (on_merge) on_merge(done, target);
        }
        touched.clear();
        std::vector<std::int32_t> word_list = std::move(pair_words[best.pair]);
        pair_words.erase(best.pair);
        for (std::int32_t wi : word_list) {
            Word& w = words[std::size_t(wi)];
            bool has = false;
            for (std::size_t i = 0; i + 1 < w.syms.size(); ++i)
                if (w.syms[i] == a && w.syms[i + 1] == b) has = true;
            if (!has) continue;
            for (std::size_t i = 0; i + 1 < w.syms.size(); ++i) {
                const std::uint64_t k = pair_key(w.syms[i], w.syms[i + 1]);
                pair_count[k] -= w.count;
                touched.insert(k);
            }
            std::vector<std::int32_t> next;
            next.reserve(w.syms.size());
            for (std::size_t i = 0; i < w.syms.size(); ++i) {
                if (i + 1 < w.syms.size() && w.syms[i] == a && w.syms[i + 1] == b) {
                    next.push_back(id);
                    ++i;
                } else {
                    next.push_back(w.syms[i]);
                }
            }
            w.syms = std::move(next);
            for (std::size_t i = 0; i + 1 < w.syms.size(); ++i) {
                const std::uint64_t k = pair_key(w.syms[i], w.syms[i + 1]);
                pair_count[k] += w.count;
                touched.insert(k);
                auto& list = pair_words[k];
                if (list.empty() || list.back() != wi) list.push_back(wi);
            }
        }
        // Re-queue every pair whose count changed, in a fixed order (determinism).
        std::vector<std::uint64_t> changed(touched.begin(), touched.end());
        std::sort(changed.begin(), changed.end());
        for (std::uint64_t k : changed) {
            auto c = pair_count.find(k);
            if (c == pair_count.end()) continue;
            if (c->second <= 0) {
                pair_count.erase(c);
                continue;
            }
            queue.push({c->second, k});
        }
        pair_count.erase(best.pair);
    }
    return tokens;
}

std::string tiktoken_text(const std::vector<std::string>& tokens) {
    std::string out;
    for (std::size_t r = 0; r < tokens.size(); ++r) {
        check(!tokens[r].empty(), "token of rank ", r, " is empty");
        out += base64(tokens[r]);
        out += ' ';
        out += std::to_string(r);
        out += '\n';
    }
    return out;
}

std::vector<std::string> vision_token_lines(int n_visual) {
    check(n_visual >= 0, "number of visual tokens must be >= 0, got ", n_visual);
    std::vector<std::string> lines = {std::string(text::kImgToken), std::string(text::kBoiToken),
                                      std::string(text::kEoiToken)};
    for (int i = 0; i < n_visual; ++i) lines.push_back(text::visual_token_string(i));
    return lines;
}

void write_tokenizer_folder(const std::string& dir, const std::vector<std::string>& tokens, int n_visual) {
    check(tokens.size() >= 256, "a byte-level vocabulary needs the 256 single bytes, got ", tokens.size(), " tokens");
    std::error_code ec;
    fs::create_directories(dir, ec);
    check(!ec, "cannot create ", dir, ": ", ec.message());
    write_file(fs::path(dir) / "emu3.tiktoken", tiktoken_text(tokens));
    std::string lines;
    for (const auto& l : vision_token_lines(n_visual)) lines += l + "\n";
    write_file(fs::path(dir) / "emu3_vision_tokens.txt", lines);
    const nlohmann::json cfg = {{"model_max_length", 1000000000000000000LL},
                                {"tokenizer_class", "Emu3Tokenizer"},
                                {"auto_map", {{"AutoTokenizer", {"tokenization_emu3.Emu3Tokenizer", nullptr}}}}};
    write_file(fs::path(dir) / "tokenizer_config.json", cfg.dump(2) + "\n");
}

}  // namespace emu::train
