// Tokenizer behaviour beyond the fixtures: round trips, UTF-8 repair, errors, the BPE merge
// against a naive reference, a small synthetic vocabulary, image-token layout and parsing,
// prompt assembly and the CLI.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <map>
#include <numeric>
#include <random>
#include <thread>

#include "../../src/text/bpe.h"
#include "../../src/text/pretokenizer.h"
#include "../../src/text/byte_map.h"
#include "emu/core/error.h"
#include "emu/text/image_tokens.h"
#include "emu/text/prompt.h"
#include "emu/text/tokenizer.h"
#include "emu/text/utf8.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using namespace emu::text;

namespace {

// ---------- helpers ----------

std::string base64(std::string_view in) {
    static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16 | std::uint32_t(std::uint8_t(in[i + 1])) << 8 |
                          std::uint8_t(in[i + 2]);
        for (int k = 3; k >= 0; --k) out += a[(v >> (6 * k)) & 63];
    }
    if (in.size() - i == 1) {
        std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16;
        out += a[v >> 18];
        out += a[(v >> 12) & 63];
        out += "==";
    } else if (in.size() - i == 2) {
        std::uint32_t v = std::uint32_t(std::uint8_t(in[i])) << 16 | std::uint32_t(std::uint8_t(in[i + 1])) << 8;
        out += a[v >> 18];
        out += a[(v >> 12) & 63];
        out += a[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

// A tiny BPE trainer: 256 bytes at permuted ranks, then `merges` most-frequent-pair merges
// over the words of `corpus`. Returns the tokens by rank.
std::vector<std::string> train_vocab(const std::string& corpus, int merges) {
    std::vector<std::string> tokens(256);
    for (int b = 0; b < 256; ++b) tokens[(b * 7 + 3) % 256] = std::string(1, char(b));
    std::vector<std::vector<std::string>> words;
    std::size_t pos = 0;
    while (pos < corpus.size()) {
        std::size_t next = corpus.find(' ', pos + 1);
        if (next == std::string::npos) next = corpus.size();
        std::vector<std::string> w;
        for (std::size_t i = pos; i < next; ++i) w.emplace_back(1, corpus[i]);
        words.push_back(w);
        pos = next;
    }
    for (int m = 0; m < merges; ++m) {
        std::map<std::pair<std::string, std::string>, int> counts;
        for (const auto& w : words)
            for (std::size_t i = 0; i + 1 < w.size(); ++i) ++counts[{w[i], w[i + 1]}];
        if (counts.empty()) break;
        auto best = std::max_element(counts.begin(), counts.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
        std::string merged = best->first.first + best->first.second;
        if (std::find(tokens.begin(), tokens.end(), merged) != tokens.end()) break;
        tokens.push_back(merged);
        for (auto& w : words) {
            for (std::size_t i = 0; i + 1 < w.size();) {
                if (w[i] == best->first.first && w[i + 1] == best->first.second) {
                    w[i] = merged;
                    w.erase(w.begin() + long(i) + 1);
                } else {
                    ++i;
                }
            }
        }
    }
    return tokens;
}

std::string tiktoken_text(const std::vector<std::string>& tokens) {
    std::string out;
    // Lines deliberately out of rank order: the file format does not promise sorted lines.
    for (std::size_t k = 0; k < tokens.size(); ++k) {
        std::size_t r = (k * 37) % tokens.size();
        if (std::gcd(std::size_t(37), tokens.size()) != 1) r = k;
        out += base64(tokens[r]) + " " + std::to_string(r) + "\n";
    }
    return out;
}

const std::string kCorpus =
    "the quick brown fox jumps over the lazy dog and the other dog sleeps while the fox runs "
    "def main(): return the_value + other_value # comment the end int x = 0; for (int i = 0; i < n; ++i) "
    "你好 世界 你好 世界 模型 世界模型 the theory of the thing there then these those";

std::vector<std::string> vision_lines(int n_visual) {
    std::vector<std::string> v = {"<|image token|>", "<|image start|>", "<|image end|>"};
    for (int i = 0; i < n_visual; ++i) v.push_back(visual_token_string(i));
    return v;
}

const Tokenizer& synthetic() {
    static const Tokenizer tok = Tokenizer::from_text(tiktoken_text(train_vocab(kCorpus, 120)), vision_lines(64));
    return tok;
}

// The released vocabulary beside the fixtures, when present.
const Tokenizer* released() {
    static const Tokenizer* tok = [] () -> const Tokenizer* {
        fs::path dir = fs::path(emu::test::fixtures_root()) / ".." / "emu35-tokenizer";
        if (!fs::exists(dir / "emu3.tiktoken")) return nullptr;
        return new Tokenizer(Tokenizer::load(dir.string()));
    }();
    return tok;
}

// Random valid UTF-8 mixing scripts, whitespace, digits, punctuation, combining marks, emoji.
std::string random_utf8(std::mt19937& rng, std::size_t n_chars) {
    static const std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges = {
        {'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {' ', ' '}, {' ', ' '}, {'\n', '\n'}, {'\r', '\r'}, {'\t', '\t'},
        {'!', '/'}, {':', '@'}, {'\'', '\''}, {0x80, 0xFF}, {0x100, 0x17F}, {0x300, 0x36F}, {0x391, 0x3C9},
        {0x410, 0x44F}, {0x5D0, 0x5EA}, {0x4E00, 0x4E80}, {0x3000, 0x303F}, {0xAC00, 0xAC40}, {0x1100, 0x1175},
        {0xFF01, 0xFF5E}, {0x1F600, 0x1F64F}, {0x2000, 0x206F}, {0x85, 0x85}, {0x1D400, 0x1D433}, {0x0, 0x1F}};
    std::string s;
    std::uniform_int_distribution<std::size_t> pick(0, ranges.size() - 1);
    for (std::size_t i = 0; i < n_chars; ++i) {
        auto [lo, hi] = ranges[pick(rng)];
        std::uint32_t cp = std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
        append_utf8(s, cp);
    }
    return s;
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
    return s;
}

// Naive merge: the literal rule, with a std::map and string concatenation.
std::vector<std::int32_t> naive_bpe(std::string_view piece, const Tokenizer& tok) {
    std::vector<std::string> parts;
    for (char c : piece) parts.emplace_back(1, c);
    while (true) {
        std::int32_t best_rank = INT32_MAX;
        std::size_t best = parts.size();
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            auto r = tok.rank_of(parts[i] + parts[i + 1]);
            if (r && *r < best_rank) {
                best_rank = *r;
                best = i;
            }
        }
        if (best == parts.size()) break;
        parts[best] += parts[best + 1];
        parts.erase(parts.begin() + long(best) + 1);
    }
    std::vector<std::int32_t> out;
    for (const auto& p : parts) out.push_back(*tok.rank_of(p));
    return out;
}

std::string u8(const char8_t* s) { return std::string(reinterpret_cast<const char*>(s)); }

// ---------- UTF-8 ----------

TEST(Utf8, ReplacementFollowsPythonMaximalSubparts) {
    // Unicode 3.9 example: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64
    EXPECT_EQ(utf8_replace_invalid("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
              u8(u8"a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd"));
    EXPECT_EQ(utf8_replace_invalid("\xE4\xBD"), u8(u8"\uFFFD"));              // truncated
    EXPECT_EQ(utf8_replace_invalid("\xED\xA0\x80"), u8(u8"\uFFFD\uFFFD\uFFFD"));  // surrogate
    EXPECT_EQ(utf8_replace_invalid("\xC0\xAF"), u8(u8"\uFFFD\uFFFD"));        // overlong
    EXPECT_EQ(utf8_replace_invalid("\xF4\x90\x80\x80"), u8(u8"\uFFFD\uFFFD\uFFFD\uFFFD"));  // > U+10FFFF
    EXPECT_EQ(utf8_replace_invalid("\xF0\x9F\x98"), u8(u8"\uFFFD"));
    EXPECT_EQ(utf8_replace_invalid("\xE2\x41"), u8(u8"\uFFFDA"));
    EXPECT_EQ(utf8_replace_invalid(u8(u8"ok \u4F60 \U0001F600")), u8(u8"ok \u4F60 \U0001F600"));
    EXPECT_EQ(find_invalid_utf8("abc\xC3"), 3u);
    EXPECT_EQ(find_invalid_utf8(u8(u8"\u00E9\U0010FFFF")), kValidUtf8);
}

TEST(Utf8, ReplacementOutputIsValidAndKeepsValidInput) {
    std::mt19937 rng(7);
    for (int i = 0; i < 300; ++i) {
        std::string b = random_bytes(rng, rng() % 64);
        std::string fixed = utf8_replace_invalid(b);
        EXPECT_EQ(find_invalid_utf8(fixed), kValidUtf8);
        std::string v = random_utf8(rng, rng() % 40);
        EXPECT_EQ(utf8_replace_invalid(v), v);
    }
}

TEST(Utf8, NfcComposesAndFastPathAgreesWithUtf8proc) {
    EXPECT_EQ(nfc(u8(u8"Cafe\u0301")), u8(u8"Caf\u00E9"));
    EXPECT_EQ(nfc(u8(u8"\u212B")), u8(u8"\u00C5"));              // angstrom sign -> A ring
    EXPECT_EQ(nfc(u8(u8"\u1100\u1161\u11A8")), u8(u8"\uAC01"));  // Hangul jamo compose
    EXPECT_EQ(nfc(u8(u8"q\u0307\u0323")), u8(u8"q\u0323\u0307"));  // canonical reordering
    std::mt19937 rng(11);
    for (int i = 0; i < 2000; ++i) {
        std::string s = random_utf8(rng, rng() % 24);
        ASSERT_EQ(nfc(s), nfc_utf8proc(s)) << s;
    }
    // Every code point the fast path passes through is left alone by utf8proc, alone and
    // after a base letter.
    for (std::uint32_t cp : {0x41u, 0xE9u, 0x2FFu, 0x3000u, 0x3029u, 0x4E00u, 0x9FFFu, 0x3400u, 0xFF9Eu, 0xFFEFu}) {
        std::string s;
        append_utf8(s, 'e');
        append_utf8(s, cp);
        EXPECT_EQ(nfc_utf8proc(s), s) << cp;
    }
    for (std::uint32_t cp = 0; cp < 0x300; ++cp) {
        std::string s;
        append_utf8(s, cp);
        std::string pair = "A" + s;
        ASSERT_EQ(nfc_utf8proc(pair), pair) << cp;
    }
    EXPECT_THROW(nfc("\xFF"), emu::Error);
}

// ---------- BPE ----------

ByteMap rank_map(const Tokenizer& tok) {
    ByteMap m;
    m.reserve(tok.n_ranks());
    for (std::size_t r = 0; r < tok.n_ranks(); ++r) m.insert(tok.token_bytes(TokenId(r)), std::int32_t(r));
    return m;
}

std::vector<const Tokenizer*> all_tokenizers() {
    std::vector<const Tokenizer*> toks = {&synthetic()};
    if (released()) toks.push_back(released());
    return toks;
}

TEST(Bpe, ScanAndHeapEqualNaiveMerge) {
    std::mt19937 rng(3);
    for (const Tokenizer* tok : all_tokenizers()) {
        ByteMap ranks = rank_map(*tok);
        int checked = 0;
        for (int i = 0; i < 600; ++i) {
            std::string piece = (i % 3 == 0) ? random_bytes(rng, 2 + rng() % 40) : random_utf8(rng, 2 + rng() % 30);
            if (i % 5 == 0) piece = std::string(2 + rng() % 300, char('a' + rng() % 3));
            if (i % 7 == 0) piece = " the" + random_utf8(rng, 20) + "ing the";
            if (piece.size() < 2) continue;
            auto expect = naive_bpe(piece, *tok);
            std::vector<std::int32_t> scan, heap, dispatch;
            bpe_merge_scan(piece, ranks, scan);
            bpe_merge_heap(piece, ranks, heap);
            bpe_merge(piece, ranks, dispatch);
            ASSERT_EQ(scan, expect) << piece;
            ASSERT_EQ(heap, expect) << piece;
            ASSERT_EQ(dispatch, expect) << piece;
            ++checked;
        }
        EXPECT_GT(checked, 500);
    }
}

// The whole encode equals pre-tokenizer pieces, each a whole token or naively merged.
TEST(Bpe, EncodeEqualsPiecewiseNaiveReference) {
    std::mt19937 rng(5);
    PreTokenizer pre(kEmu3PatStr);
    for (const Tokenizer* tok : all_tokenizers()) {
        for (int i = 0; i < 200; ++i) {
            std::string text = random_utf8(rng, rng() % 80);
            std::vector<std::pair<std::uint32_t, std::uint32_t>> pieces;
            pre.split(text, pieces);
            std::vector<TokenId> expect;
            std::size_t covered = 0;
            for (auto [off, len] : pieces) {
                EXPECT_EQ(off, covered);  // the official pattern leaves no gaps
                covered = off + len;
                std::string_view piece = std::string_view(text).substr(off, len);
                if (auto r = tok->rank_of(piece)) {
                    expect.push_back(*r);
                } else {
                    for (auto id : naive_bpe(piece, *tok)) expect.push_back(id);
                }
            }
            EXPECT_EQ(covered, text.size());
            ASSERT_EQ(tok->encode_ordinary(text), expect) << text;
        }
    }
}

// ---------- pre-tokenizer semantics (Rust regex / fancy-regex rules) ----------

std::vector<std::string> split(std::string_view text) {
    static PreTokenizer pre(kEmu3PatStr);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> pieces;
    pre.split(text, pieces);
    std::vector<std::string> out;
    for (auto [o, l] : pieces) out.emplace_back(text.substr(o, l));
    return out;
}

TEST(PreTokenizer, MatchesTiktokenSemantics) {
    using V = std::vector<std::string>;
    EXPECT_EQ(split("55*73"), (V{"5", "5", "*", "7", "3"}));
    EXPECT_EQ(split("a  b"), (V{"a", " ", " b"}));  // \s+(?!\S) leaves one space for the word
    EXPECT_EQ(split("don't DON'T"), (V{"don", "'t", " DON", "'T"}));
    EXPECT_EQ(split("x\n\n  y"), (V{"x", "\n\n", " ", " y"}));
    EXPECT_EQ(split("end   "), (V{"end", "   "}));
    EXPECT_EQ(split("a, b!!\r\n"), (V{"a", ",", " b", "!!\r\n"}));
    // U+0085 is White_Space for Rust's \s (PCRE2's own UCP \s would disagree).
    EXPECT_EQ(split(u8(u8"\u0085\u0085x")), (V{u8(u8"\u0085"), u8(u8"\u0085x")}));
    // U+3000 (ideographic space) and U+00A0 are whitespace too.
    EXPECT_EQ(split(u8(u8"\u4F60\u3000\u3000\u597D")), (V{u8(u8"\u4F60"), u8(u8"\u3000"), u8(u8"\u3000\u597D")}));
    // Case-insensitive contractions follow Unicode simple case folding: 'ſ (U+017F) is 's.
    EXPECT_EQ(split(u8(u8"it'\u017F")), (V{"it", u8(u8"'\u017F")}));
    EXPECT_NE(translate_pattern_for_pcre2(kEmu3PatStr).find("\\x{85}"), std::string::npos);
    // Unicode 15/16 letters and numbers count as \p{L} / \p{N}, as in tiktoken's regex (UCD 16):
    // Kaktovik numerals are single-digit pieces, CJK extension H / I and U+A7CB are letters.
    EXPECT_EQ(split(u8(u8"a\U0001D2C0\U0001D2C1")), (V{"a", u8(u8"\U0001D2C0"), u8(u8"\U0001D2C1")}));
    EXPECT_EQ(split(u8(u8"x \U00031350\U0002EBF0!")), (V{"x", u8(u8" \U00031350\U0002EBF0"), "!"}));
    EXPECT_EQ(split(u8(u8"x\uA7CB y")), (V{u8(u8"x\uA7CB"), " y"}));
}

// ---------- synthetic vocabulary: layout, specials, round trips ----------

TEST(Tokenizer, SyntheticVocabularyLayout) {
    const Tokenizer& tok = synthetic();
    std::size_t n_specials = 3 + 205 + 3 + 64;
    EXPECT_EQ(tok.n_vocab(), tok.n_ranks() + n_specials);
    EXPECT_EQ(tok.first_special(), TokenId(tok.n_ranks()));
    EXPECT_EQ(tok.special_id("<|endoftext|>"), tok.first_special());
    EXPECT_EQ(tok.special_id("<|extra_0|>"), tok.first_special() + 3);
    const SpecialRoles& r = tok.roles();
    EXPECT_EQ(r.pad, tok.first_special());
    EXPECT_EQ(r.bos, tok.first_special() + 3 + 203);
    EXPECT_EQ(r.eos, tok.first_special() + 3 + 204);
    EXPECT_EQ(r.eol, tok.first_special() + 3 + 200);
    EXPECT_EQ(r.bss, tok.first_special() + 3 + 100);
    EXPECT_EQ(r.boc, tok.first_special() + 3 + 50);
    EXPECT_EQ(r.img, tok.first_special() + 208);
    EXPECT_EQ(r.boi, tok.first_special() + 209);
    EXPECT_EQ(r.eoi, tok.first_special() + 210);
    EXPECT_EQ(r.bov, tok.first_special() + 211);
    EXPECT_EQ(r.n_visual, 64);
    EXPECT_EQ(tok.visual_id(5), r.bov + 5);
    EXPECT_EQ(tok.code_of(r.bov + 63), 63);
    EXPECT_EQ(tok.code_of(r.bov - 1), -1);
    EXPECT_FALSE(tok.is_visual(r.eoi));
    EXPECT_THROW(tok.visual_id(64), emu::Error);
    EXPECT_THROW(tok.visual_id(-1), emu::Error);
    EXPECT_EQ(tok.decode(std::vector<TokenId>{tok.visual_id(7)}), "<|visual token 000007|>");
    // A vocabulary without the vision file has no image roles.
    Tokenizer bare = Tokenizer::from_text(tiktoken_text(train_vocab(kCorpus, 10)), {});
    EXPECT_EQ(bare.roles().boi, kNoToken);
    EXPECT_EQ(bare.roles().n_visual, 0);
    EXPECT_EQ(bare.roles().bos, TokenId(bare.n_ranks() + 206));
    EXPECT_THROW(bare.visual_id(0), emu::Error);
}

TEST(Tokenizer, SpecialTokensInText) {
    const Tokenizer& tok = synthetic();
    const SpecialRoles& r = tok.roles();
    std::vector<TokenId> ids = tok.encode("<|extra_203|>the fox<|image start|><|visual token 000003|>  \n<|extra_204|>");
    ASSERT_GE(ids.size(), 5u);
    EXPECT_EQ(ids.front(), r.bos);
    EXPECT_EQ(ids.back(), r.eos);
    EXPECT_NE(std::find(ids.begin(), ids.end(), r.boi), ids.end());
    EXPECT_NE(std::find(ids.begin(), ids.end(), tok.visual_id(3)), ids.end());
    // Whitespace before a special ends at the special: encoded on its own.
    std::vector<TokenId> tail = tok.encode_ordinary("  \n");
    EXPECT_TRUE(std::equal(tail.begin(), tail.end(), ids.end() - 1 - long(tail.size())));
    // Lookalikes are plain text.
    for (const char* s : {"<|extra_205|>", "<|visual token 000064|>", "<|Image start|>", "<|image start |>", "<|extra_2"}) {
        std::vector<TokenId> v = tok.encode(s);
        for (TokenId id : v) EXPECT_FALSE(tok.is_special(id)) << s;
        EXPECT_EQ(tok.decode(v), s);
    }
    // encode_ordinary never produces specials.
    for (TokenId id : tok.encode_ordinary("<|extra_203|>x")) EXPECT_FALSE(tok.is_special(id));
    EXPECT_EQ(tok.decode(ids, true), "the fox  \n");
    EXPECT_EQ(tok.encode(""), std::vector<TokenId>{});
}

TEST(Tokenizer, RoundTripsRandomUtf8) {
    std::mt19937 rng(21);
    for (const Tokenizer* tok : all_tokenizers()) {
        for (int i = 0; i < 300; ++i) {
            std::string s = random_utf8(rng, rng() % 120);
            std::vector<TokenId> ids = tok->encode(s);
            ASSERT_EQ(tok->decode(ids), nfc(s));
            ASSERT_EQ(tok->decode(tok->encode_ordinary(s)), s);
            for (TokenId id : ids) ASSERT_TRUE(tok->is_valid(id));
        }
    }
}

TEST(Tokenizer, RoundTripsRandomBytes) {
    std::mt19937 rng(23);
    for (const Tokenizer* tok : all_tokenizers()) {
        for (int i = 0; i < 300; ++i) {
            std::string b = random_bytes(rng, rng() % 200);
            if (i % 4 == 0) b = random_utf8(rng, 30) + random_bytes(rng, 3) + random_utf8(rng, 30);
            std::vector<TokenId> ids = tok->encode_bytes(b);
            ASSERT_EQ(tok->decode_bytes(ids), b);
            ASSERT_EQ(tok->decode(ids), utf8_replace_invalid(b));
        }
    }
}

TEST(Tokenizer, LongAndAdversarialInputs) {
    for (const Tokenizer* tok : all_tokenizers()) {
        std::string spaces(1 << 20, ' ');
        spaces += "x";
        EXPECT_EQ(tok->decode(tok->encode(spaces)), spaces);
        std::string newlines(200000, '\n');
        EXPECT_EQ(tok->decode(tok->encode(newlines)), newlines);
        std::string letters(100000, 'a');
        EXPECT_EQ(tok->decode(tok->encode(letters)), letters);
        std::string mixed;
        for (int i = 0; i < 20000; ++i) mixed += u8(u8"\u4F60\u597Da");
        EXPECT_EQ(tok->decode(tok->encode(mixed)), mixed);
    }
}

TEST(Tokenizer, ErrorsAreClear) {
    const Tokenizer& tok = synthetic();
    try {
        tok.encode("ok\xC3(");
        FAIL() << "invalid UTF-8 accepted";
    } catch (const emu::Error& e) {
        EXPECT_NE(std::string(e.what()).find("invalid UTF-8 at byte 2"), std::string::npos) << e.what();
    }
    TokenId too_big = TokenId(tok.n_vocab());
    for (TokenId bad : {too_big, TokenId(-1), TokenId(1 << 30)}) {
        try {
            tok.decode(std::vector<TokenId>{0, bad});
            FAIL() << "unknown id accepted";
        } catch (const emu::Error& e) {
            EXPECT_NE(std::string(e.what()).find("unknown token id " + std::to_string(bad)), std::string::npos)
                << e.what();
        }
        EXPECT_THROW(tok.decode(std::vector<TokenId>{bad}, true), emu::Error);
        EXPECT_THROW(tok.token_bytes(bad), emu::Error);
    }
    EXPECT_THROW(tok.require_special("<|nope|>"), emu::Error);
}

TEST(Tokenizer, LoadErrors) {
    auto tokens = train_vocab(kCorpus, 5);
    std::string good = tiktoken_text(tokens);
    EXPECT_NO_THROW(Tokenizer::from_text(good, {}));
    auto expect_error = [](const std::string& text, const std::vector<std::string>& extra, const std::string& what) {
        try {
            Tokenizer::from_text(text, extra);
            ADD_FAILURE() << "accepted: " << what;
        } catch (const emu::Error& e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    };
    expect_error(good + "!!!! 999\n", {}, "bad base64");
    expect_error(good + base64("zzqq") + " 3\n", {}, "appears twice");
    expect_error(good + base64("zzqq") + " " + std::to_string(tokens.size() + 1) + "\n", {}, "ranks must be");
    expect_error(good + base64("zzqq") + "\n", {}, "expected 'BASE64 RANK'");
    expect_error(good + base64("zzqq") + " 1x\n", {}, "bad rank");
    expect_error(good, {"<|image start|>", "<|image start|>"}, "listed twice");
    // Without the byte 0x41 the vocabulary cannot encode everything.
    std::string missing;
    for (std::size_t r = 0, out = 0; r < tokens.size(); ++r) {
        if (tokens[r] == "A") continue;
        missing += base64(tokens[r]) + " " + std::to_string(out++) + "\n";
    }
    expect_error(missing, {}, "single byte 0x41");
    expect_error("", {}, "no tokens");
}

// ---------- folders, files, CLI ----------

std::string write_synthetic_folder(const std::string& dir) {
    fs::create_directories(dir);
    std::ofstream(fs::path(dir) / "emu3.tiktoken") << tiktoken_text(train_vocab(kCorpus, 120));
    std::ofstream v(fs::path(dir) / "emu3_vision_tokens.txt");
    for (const auto& l : vision_lines(64)) v << "  " << l << " \r\n\n";
    std::ofstream(fs::path(dir) / "tokenizer_config.json") << R"({"tokenizer_class": "Emu3Tokenizer"})";
    return dir;
}

TEST(Tokenizer, LoadsFromFoldersLikeSynthetic) {
    std::string root = emu::test::temp_dir("tok_folders");
    write_synthetic_folder(root + "/model/tokenizer");
    TokenizerFiles files = find_tokenizer_files(root + "/model");
    EXPECT_EQ(fs::path(files.vocab).filename(), "emu3.tiktoken");
    EXPECT_FALSE(files.vision_tokens.empty());
    EXPECT_FALSE(files.config.empty());
    Tokenizer a = Tokenizer::load(root + "/model");
    Tokenizer b = Tokenizer::load(root + "/model/tokenizer/emu3.tiktoken");
    const Tokenizer& ref = synthetic();
    EXPECT_EQ(a.n_vocab(), ref.n_vocab());
    EXPECT_EQ(b.n_vocab(), ref.n_vocab());
    std::string text = "<|extra_203|>the lazy fox 你好<|image start|>";
    EXPECT_EQ(a.encode(text), ref.encode(text));
    EXPECT_THROW(find_tokenizer_files(root + "/nowhere"), emu::Error);
    fs::create_directories(root + "/empty");
    EXPECT_THROW(Tokenizer::load(root + "/empty"), emu::Error);
    std::ofstream(fs::path(root) / "model/tokenizer/tokenizer_config.json") << R"({"tokenizer_class": "LlamaTokenizer"})";
    EXPECT_THROW(Tokenizer::load(root + "/model"), emu::Error);
}

TEST(Cli, TokenizeAndDetokenize) {
    std::string dir = write_synthetic_folder(emu::test::temp_dir("tok_cli") + "/tok");
    const Tokenizer& tok = synthetic();
    std::string text = "<|extra_203|>the quick dog 你好";
    auto r = emu::test::run_emu("tokenize --tokenizer " + dir + " --text '" + text + "' --json");
    ASSERT_EQ(r.status, 0) << r.out;
    auto j = nlohmann::json::parse(r.out);
    std::vector<TokenId> ids = j.at("ids").get<std::vector<TokenId>>();
    EXPECT_EQ(ids, tok.encode(text));

    std::ofstream(dir + "/in.txt") << "line one\nline two\n";
    r = emu::test::run_emu("tokenize --tokenizer " + dir + " --file " + dir + "/in.txt");
    ASSERT_EQ(r.status, 0) << r.out;
    std::string csv;
    for (TokenId id : tok.encode("line one\nline two\n")) csv += (csv.empty() ? "" : ",") + std::to_string(id);
    EXPECT_EQ(r.out, csv + "\n");

    std::string list;
    for (TokenId id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
    r = emu::test::run_emu("detokenize --tokenizer " + dir + " --ids " + list);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, text + "\n");
    r = emu::test::run_emu("detokenize --tokenizer " + dir + " --ids " + list + " --skip-special");
    EXPECT_EQ(r.out, tok.decode(ids, true) + "\n");
    r = emu::test::run_emu("detokenize --tokenizer " + dir + " --ids 1," + std::to_string(tok.n_vocab()));
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("unknown token id " + std::to_string(tok.n_vocab())), std::string::npos) << r.out;
    r = emu::test::run_emu("tokenize --tokenizer " + dir + " --text a --file b");
    EXPECT_NE(r.status, 0);
}

// ---------- image tokens ----------

CodeGrid random_grid(std::mt19937& rng, int max_code) {
    CodeGrid g;
    g.h = 1 + int(rng() % 12);
    g.w = 1 + int(rng() % 12);
    for (int i = 0; i < g.h * g.w; ++i) g.codes.push_back(std::int32_t(rng() % std::uint32_t(max_code)));
    return g;
}

TEST(ImageTokens, SerializeParseRoundTrip) {
    std::mt19937 rng(31);
    for (const Tokenizer* tok : all_tokenizers()) {
        for (int i = 0; i < 50; ++i) {
            CodeGrid a = random_grid(rng, tok->roles().n_visual), b = random_grid(rng, tok->roles().n_visual);
            std::vector<TokenId> ids_a = image_token_ids(a, *tok);
            ASSERT_EQ(ids_a, tok->encode(image_string(a)));
            std::size_t digits = std::to_string(a.h).size() + std::to_string(a.w).size();
            EXPECT_EQ(ids_a.size(), 1 + digits + 1 + 1 + std::size_t(a.h * a.w) + std::size_t(a.h - 1) + 1);
            std::string text = "<|extra_203|>before " + image_string(a) + image_string(b) + " after<|extra_204|>";
            std::vector<TokenId> ids = tok->encode(text);
            auto found = find_images(ids, *tok);
            ASSERT_EQ(found.size(), 2u);
            for (int k = 0; k < 2; ++k) {
                const CodeGrid& g = k ? b : a;
                EXPECT_TRUE(found[k].ok) << found[k].error;
                EXPECT_TRUE(found[k].warnings.empty());
                EXPECT_EQ(found[k].grid.h, g.h);
                EXPECT_EQ(found[k].grid.w, g.w);
                EXPECT_EQ(found[k].grid.codes, g.codes);
                EXPECT_EQ(found[k].header_h, g.h);
                EXPECT_EQ(found[k].header_w, g.w);
                EXPECT_EQ(ids[found[k].begin], tok->roles().boi);
                EXPECT_EQ(ids[found[k].end - 1], tok->roles().eoi);
            }
            EXPECT_EQ(found[1].begin, found[0].end);
        }
    }
    CodeGrid bad;
    bad.h = 2;
    bad.w = 2;
    bad.codes = {1, 2, 3};
    EXPECT_THROW(image_string(bad), emu::Error);
    bad.codes = {1, 2, 3, 64};
    EXPECT_NO_THROW(image_string(bad));
    EXPECT_THROW(image_token_ids(bad, synthetic()), emu::Error);  // code 64 beyond 64 visual tokens
}

TEST(ImageTokens, ParseImageStringLikeOfficialDecodeImage) {
    std::mt19937 rng(37);
    for (int i = 0; i < 50; ++i) {
        CodeGrid g = random_grid(rng, 131072);
        CodeGrid back = parse_image_string(image_string(g));
        EXPECT_EQ(back.h, g.h);
        EXPECT_EQ(back.w, g.w);
        EXPECT_EQ(back.codes, g.codes);
    }
    // The header is ignored; empty pieces are skipped; the number is read as written.
    CodeGrid odd = parse_image_string(
        "<|image start|>9*9<|image token|><|extra_200|><|visual token 7|><|visual token 0000012|>"
        "<|extra_200|><|extra_200|>x<|visual token 3|><|visual token 4|><|visual token x|><|extra_200|><|image end|>");
    EXPECT_EQ(odd.h, 2);
    EXPECT_EQ(odd.w, 2);
    EXPECT_EQ(odd.codes, (std::vector<std::int32_t>{7, 12, 3, 4}));
    EXPECT_THROW(parse_image_string("<|image start|>1*1<|image token|><|image end|>"), emu::Error);
    EXPECT_THROW(parse_image_string("<|visual token 1|><|extra_200|><|visual token 1|><|visual token 2|>"), emu::Error);
    EXPECT_THROW(parse_image_string("<|visual token 99999999999|>"), emu::Error);
}

TEST(Tokenizer, ConcurrentEncodeIsSafe) {
    const Tokenizer& tok = synthetic();
    std::mt19937 rng(41);
    std::vector<std::string> texts;
    for (int i = 0; i < 64; ++i) texts.push_back(random_utf8(rng, 200) + "<|extra_203|>" + random_utf8(rng, 50));
    std::vector<std::vector<TokenId>> expect;
    for (const auto& t : texts) expect.push_back(tok.encode(t));
    std::vector<std::vector<TokenId>> got(texts.size());
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w)
        workers.emplace_back([&, w] {
            for (std::size_t i = std::size_t(w); i < texts.size(); i += 4) got[i] = tok.encode(texts[i]);
        });
    for (auto& t : workers) t.join();
    EXPECT_EQ(got, expect);
}

TEST(ImageTokens, MalformedImagesAreReported) {
    const Tokenizer& tok = synthetic();
    const SpecialRoles& r = tok.roles();
    auto v = [&](int c) { return tok.visual_id(c); };
    std::vector<TokenId> hdr = tok.encode_ordinary("2*2");
    auto image = [&](std::vector<TokenId> body, bool with_eoi = true) {
        std::vector<TokenId> ids = {r.boi};
        ids.insert(ids.end(), hdr.begin(), hdr.end());
        ids.push_back(r.img);
        ids.insert(ids.end(), body.begin(), body.end());
        if (with_eoi) ids.push_back(r.eoi);
        return find_images(ids, tok);
    };
    auto ok = image({v(1), v(2), r.eol, v(3), v(4)});
    ASSERT_EQ(ok.size(), 1u);
    EXPECT_TRUE(ok[0].ok);
    EXPECT_TRUE(ok[0].warnings.empty());

    auto truncated = image({v(1), v(2), r.eol, v(3)}, false);
    ASSERT_EQ(truncated.size(), 1u);
    EXPECT_FALSE(truncated[0].ok);
    EXPECT_NE(truncated[0].error.find("no <|image end|>"), std::string::npos);

    auto ragged = image({v(1), v(2), r.eol, v(3)});
    EXPECT_FALSE(ragged[0].ok);
    EXPECT_NE(ragged[0].error.find("row 1 has 1 codes but row 0 has 2"), std::string::npos) << ragged[0].error;

    auto empty = image({});
    EXPECT_FALSE(empty[0].ok);
    EXPECT_NE(empty[0].error.find("no visual tokens"), std::string::npos);

    // Tolerated like the official parser, but flagged.
    auto trailing_eol = image({v(1), v(2), r.eol, v(3), v(4), r.eol});
    EXPECT_TRUE(trailing_eol[0].ok);
    EXPECT_FALSE(trailing_eol[0].warnings.empty());
    auto wrong_header = image({v(1), v(2), v(5), r.eol, v(3), v(4), v(6)});
    EXPECT_TRUE(wrong_header[0].ok);
    EXPECT_EQ(wrong_header[0].grid.w, 3);
    ASSERT_FALSE(wrong_header[0].warnings.empty());
    EXPECT_NE(wrong_header[0].warnings[0].find("header says 2*2"), std::string::npos);
    auto stray = image({v(1), tok.encode_ordinary("x")[0], v(2), r.eol, v(3), v(4)});
    EXPECT_TRUE(stray[0].ok);
    EXPECT_FALSE(stray[0].warnings.empty());

    // No BOI at all: nothing found; a second BOI before EOI belongs to the first image.
    EXPECT_TRUE(find_images(tok.encode("plain text"), tok).empty());
    std::vector<TokenId> nested = {r.boi, r.img, v(1), r.boi, r.img, v(2), r.eoi};
    auto n = find_images(nested, tok);
    ASSERT_EQ(n.size(), 1u);
    EXPECT_EQ(n[0].grid.codes, (std::vector<std::int32_t>{1, 2}));
}

// ---------- prompts ----------

TEST(Prompt, FormatsLikePython) {
    EXPECT_EQ(format_question("USER: {question} END", "hi {x}"), "USER: hi {x} END");
    EXPECT_EQ(format_question("{{literal}} {question}{question}", "q"), "{literal} qq");
    EXPECT_EQ(format_question("{question!s}|{question:}", "a"), "a|a");
    EXPECT_THROW(format_question("{other}", "q"), emu::Error);
    EXPECT_THROW(format_question("{question", "q"), emu::Error);
    EXPECT_THROW(format_question("a } b", "q"), emu::Error);
    EXPECT_EQ(replace_all("a<|IMAGE|>b<|IMAGE|>", "<|IMAGE|>", "X"), "aXbX");

    const std::string tmpl = "<|extra_203|>T. USER: {question}<|IMAGE|> ASSISTANT: <|extra_100|>";
    const std::string unc = "<|extra_203|>U. USER: <|IMAGE|> ASSISTANT: <|extra_100|>";
    Prompts none = build_prompts(tmpl, unc, "a cat", {});
    EXPECT_EQ(none.prompt, "<|extra_203|>T. USER: a cat<|IMAGE|> ASSISTANT: <|extra_100|>");
    EXPECT_EQ(none.unc_prompt, unc);
    Prompts two = build_prompts(tmpl, unc, "a cat", {"[A]", "[B]"});
    EXPECT_EQ(two.prompt, "<|extra_203|>T. USER: a cat[A][B] ASSISTANT: <|extra_100|>");
    EXPECT_EQ(two.unc_prompt, "<|extra_203|>U. USER: [A][B] ASSISTANT: <|extra_100|>");
    // A question that itself contains the placeholder is replaced too (the replace runs on
    // the formatted prompt, as in inference.py).
    EXPECT_EQ(build_prompts(tmpl, unc, "<|IMAGE|>", {"[A]"}).prompt,
              "<|extra_203|>T. USER: [A][A] ASSISTANT: <|extra_100|>");
}

}  // namespace
