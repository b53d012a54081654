// Loading emu3.tiktoken + emu3_vision_tokens.txt into a Tokenizer (tokenization_emu3.py
// __init__): ranks are ids, specials are numbered from the first id after the last rank.
#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "emu/core/error.h"
#include "emu/core/mapped_file.h"
#include "emu/io/config.h"
#include "tokenizer_impl.h"

namespace fs = std::filesystem;

namespace emu::text {
namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view strip(std::string_view s) {
    while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
    return s;
}

std::array<std::int8_t, 256> base64_table() {
    std::array<std::int8_t, 256> t;
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return t;
}

// Standard base64 with '=' padding; false on any malformed input.
bool base64_decode(std::string_view in, std::string& out) {
    static const std::array<std::int8_t, 256> table = base64_table();
    if (in.size() % 4 != 0 || in.empty()) return false;
    std::size_t pad = 0;
    if (in.back() == '=') ++pad;
    if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < in.size() - pad; ++i) {
        std::int8_t v = table[static_cast<unsigned char>(in[i])];
        if (v < 0) return false;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return true;
}

struct RankLine {
    std::uint32_t rank, offset, length;
};

// Formats "<|visual token NNNNNN|>" into buf without allocating; returns the length.
std::size_t format_visual(char* buf, std::int64_t code) {
    char digits[24];
    int nd = 0;
    std::int64_t v = code;
    do {
        digits[nd++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v > 0);
    std::size_t len = 0;
    std::memcpy(buf, "<|visual token ", 15);
    len = 15;
    for (int i = nd; i < 6; ++i) buf[len++] = '0';
    while (nd > 0) buf[len++] = digits[--nd];
    buf[len++] = '|';
    buf[len++] = '>';
    return len;
}

std::vector<std::string> read_special_lines(const std::string& path) {
    auto file = MappedFile::open(path);
    std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
    std::vector<std::string> out;
    out.reserve(text.size() / 24 + 1);
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t eol = text.find_first_of("\r\n", pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = strip(text.substr(pos, eol - pos));
        if (!line.empty()) out.emplace_back(line);
        pos = eol + 1;
    }
    return out;
}

}  // namespace

std::string visual_token_string(std::int64_t code) {
    check(code >= 0, "visual token code must not be negative, got ", code);
    char buf[64];
    return std::string(buf, format_visual(buf, code));
}

const std::array<RoleName, 15>& role_names() {
    static const std::array<RoleName, 15> names = {{
        {"BOS", kBosToken, &SpecialRoles::bos},
        {"EOS", kEosToken, &SpecialRoles::eos},
        {"PAD", kPadToken, &SpecialRoles::pad},
        {"EOL", kEolToken, &SpecialRoles::eol},
        {"EOF", kEofToken, &SpecialRoles::eof},
        {"TMS", kTmsToken, &SpecialRoles::tms},
        {"IMG", kImgToken, &SpecialRoles::img},
        {"BOI", kBoiToken, &SpecialRoles::boi},
        {"EOI", kEoiToken, &SpecialRoles::eoi},
        {"BSS", kBssToken, &SpecialRoles::bss},
        {"ESS", kEssToken, &SpecialRoles::ess},
        {"BOG", kBogToken, &SpecialRoles::bog},
        {"EOG", kEogToken, &SpecialRoles::eog},
        {"BOC", kBocToken, &SpecialRoles::boc},
        {"EOC", kEocToken, &SpecialRoles::eoc},
    }};
    return names;
}

std::shared_ptr<Tokenizer::Impl> build_tokenizer(std::string_view text, const std::string& source,
                                                 const std::vector<std::string>& extra_specials,
                                                 std::string_view pat_str) {
    auto impl = std::make_shared<Tokenizer::Impl>();

    // 1. Parse "base64 rank" lines into a scratch arena.
    std::string scratch;
    scratch.reserve(text.size());
    std::vector<RankLine> lines;
    lines.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
    std::size_t pos = 0, line_no = 0;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string_view::npos) eol = text.size();
        std::string_view line = text.substr(pos, eol - pos);
        pos = eol + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        std::string_view body = strip(line);
        std::size_t sp = 0;
        while (sp < body.size() && !is_ascii_space(body[sp])) ++sp;
        std::string_view b64 = body.substr(0, sp);
        std::string_view rank_text = strip(body.substr(sp));
        check(!b64.empty() && !rank_text.empty() &&
                  std::none_of(rank_text.begin(), rank_text.end(), is_ascii_space),
              source, ":", line_no, ": expected 'BASE64 RANK'");
        std::uint64_t rank = 0;
        for (char c : rank_text) {
            check(c >= '0' && c <= '9' && rank < (1u << 30), source, ":", line_no, ": bad rank '", rank_text, "'");
            rank = rank * 10 + static_cast<std::uint64_t>(c - '0');
        }
        std::size_t off = scratch.size();
        check(base64_decode(b64, scratch), source, ":", line_no, ": bad base64 '", b64, "'");
        lines.push_back({static_cast<std::uint32_t>(rank), static_cast<std::uint32_t>(off),
                         static_cast<std::uint32_t>(scratch.size() - off)});
    }
    check(!lines.empty(), source, ": no tokens");

    // 2. Ranks must be exactly 0..n-1: ids are ranks and specials follow the last one.
    std::size_t n_ranks = lines.size();
    std::vector<std::int64_t> line_of_rank(n_ranks, -1);
    for (std::size_t i = 0; i < n_ranks; ++i) {
        std::uint32_t r = lines[i].rank;
        check(r < n_ranks, source, ": rank ", r, " but only ", n_ranks, " tokens (ranks must be 0..", n_ranks - 1, ")");
        check(line_of_rank[r] < 0, source, ": rank ", r, " appears twice");
        line_of_rank[r] = static_cast<std::int64_t>(i);
    }

    std::vector<std::string> special_strings;
    special_strings.reserve(3 + kNumExtras + extra_specials.size());
    special_strings.emplace_back(kEndOfText);
    special_strings.emplace_back(kImStart);
    special_strings.emplace_back(kImEnd);
    for (int i = 0; i < kNumExtras; ++i) special_strings.push_back(str("<|extra_", i, "|>"));
    for (const auto& s : extra_specials) special_strings.push_back(s);
    std::size_t n_vocab = n_ranks + special_strings.size();
    check(n_vocab < (1ull << 31), source, ": vocabulary too large (", n_vocab, " ids)");

    // 3. Final arena in id order; the maps point into it, so it is complete before they are built.
    std::size_t special_bytes = 0;
    for (const auto& s : special_strings) special_bytes += s.size();
    impl->arena.reserve(scratch.size() + special_bytes);
    impl->offsets.reserve(n_vocab + 1);
    for (std::size_t r = 0; r < n_ranks; ++r) {
        const RankLine& l = lines[static_cast<std::size_t>(line_of_rank[r])];
        impl->offsets.push_back(static_cast<std::uint32_t>(impl->arena.size()));
        impl->arena.append(scratch, l.offset, l.length);
    }
    for (const auto& s : special_strings) {
        impl->offsets.push_back(static_cast<std::uint32_t>(impl->arena.size()));
        impl->arena += s;
    }
    impl->offsets.push_back(static_cast<std::uint32_t>(impl->arena.size()));
    impl->n_ranks = n_ranks;

    impl->ranks.reserve(n_ranks);
    for (std::size_t r = 0; r < n_ranks; ++r) {
        std::string_view b = impl->bytes_of(r);
        check(!b.empty(), source, ": rank ", r, " is an empty token");
        check(impl->ranks.insert(b, static_cast<std::int32_t>(r)), source, ": token of rank ", r,
              " appears twice (also rank ", impl->ranks.find(b), ")");
    }
    for (int b = 0; b < 256; ++b) {
        char c = static_cast<char>(b);
        impl->byte_rank[b] = impl->ranks.find(&c, 1);
        check(impl->byte_rank[b] >= 0, source, ": the single byte 0x", "0123456789abcdef"[b >> 4],
              "0123456789abcdef"[b & 15], " has no rank (byte-level BPE needs all 256)");
    }

    impl->specials.reserve(special_strings.size());
    for (std::size_t i = 0; i < special_strings.size(); ++i) {
        std::size_t id = n_ranks + i;
        std::string_view s = impl->bytes_of(id);
        check(!s.empty(), source, ": empty special token");
        check(impl->specials.insert(s, static_cast<std::int32_t>(id)), "special token '", s, "' is listed twice");
        impl->special_first_byte[static_cast<unsigned char>(s[0])] = true;
        auto len = static_cast<std::uint32_t>(s.size());
        if (std::find(impl->special_lengths.begin(), impl->special_lengths.end(), len) == impl->special_lengths.end())
            impl->special_lengths.push_back(len);
    }
    std::sort(impl->special_lengths.rbegin(), impl->special_lengths.rend());
    int n_first = 0;
    for (int b = 0; b < 256; ++b) {
        if (impl->special_first_byte[b]) {
            ++n_first;
            impl->special_first = static_cast<char>(b);
        }
    }
    impl->specials_share_first_byte = n_first == 1;

    // 4. Named roles and the visual-token block.
    for (const RoleName& r : role_names()) {
        std::int32_t id = impl->specials.find(r.token);
        impl->roles.*r.field = id < 0 ? kNoToken : id;
    }
    char buf[64];
    std::int32_t bov = impl->specials.find(buf, format_visual(buf, 0));
    if (bov >= 0) {
        impl->roles.bov = bov;
        std::int64_t k = 0;
        while (static_cast<std::size_t>(bov + k) < n_vocab &&
               impl->bytes_of(static_cast<std::size_t>(bov + k)) == std::string_view(buf, format_visual(buf, k)))
            ++k;
        impl->roles.n_visual = static_cast<std::int32_t>(k);
    }

    impl->pretokenizer = std::make_unique<PreTokenizer>(pat_str);
    return impl;
}

TokenizerFiles find_tokenizer_files(const std::string& path) {
    TokenizerFiles files;
    fs::path p(path);
    check(fs::exists(p), "tokenizer path does not exist: ", path);
    fs::path dir;
    if (fs::is_regular_file(p)) {
        files.vocab = p.string();
        dir = p.parent_path();
    } else {
        const char* subdirs[] = {"", "tokenizer", "tokenizer_emu3_ibq", "src/tokenizer_emu3_ibq"};
        std::string tried;
        for (const char* sub : subdirs) {
            fs::path candidate = (*sub ? p / sub : p) / "emu3.tiktoken";
            tried += (tried.empty() ? "" : ", ") + candidate.string();
            if (fs::is_regular_file(candidate)) {
                files.vocab = candidate.string();
                dir = candidate.parent_path();
                break;
            }
        }
        check(!files.vocab.empty(), "no emu3.tiktoken for tokenizer path ", path, " (looked for ", tried, ")");
    }
    if (fs::is_regular_file(dir / "emu3_vision_tokens.txt")) files.vision_tokens = (dir / "emu3_vision_tokens.txt").string();
    if (fs::is_regular_file(dir / "tokenizer_config.json")) files.config = (dir / "tokenizer_config.json").string();
    return files;
}

Tokenizer Tokenizer::load(const TokenizerFiles& files) {
    if (!files.config.empty()) {
        const nlohmann::json cfg = load_json_file(files.config);
        if (cfg.is_object() && cfg.contains("tokenizer_class") && cfg["tokenizer_class"].is_string()) {
            std::string cls = cfg["tokenizer_class"];
            check(cls == "Emu3Tokenizer", files.config, ": tokenizer_class is ", cls, ", expected Emu3Tokenizer");
        }
    }
    std::vector<std::string> extra;
    if (!files.vision_tokens.empty()) extra = read_special_lines(files.vision_tokens);
    auto vocab = MappedFile::open(files.vocab);
    std::string_view text(reinterpret_cast<const char*>(vocab->data()), vocab->size());
    return Tokenizer(build_tokenizer(text, files.vocab, extra, files.pat_str));
}

Tokenizer Tokenizer::load(const std::string& path) { return load(find_tokenizer_files(path)); }

Tokenizer Tokenizer::from_text(std::string_view tiktoken_text, const std::vector<std::string>& extra_specials,
                               std::string_view pat_str) {
    return Tokenizer(build_tokenizer(tiktoken_text, "<vocabulary text>", extra_specials, pat_str));
}

}  // namespace emu::text
