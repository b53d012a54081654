#include "pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>

#include "emu/core/error.h"

namespace emu::text {
namespace {

// Unicode White_Space (PropList.txt), which is what Rust's regex means by \s.
constexpr std::string_view kWhiteSpaceItems =
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// Letters and numbers assigned in Unicode 15.0-16.0, which tiktoken's Rust regex (UCD 16.0
// since regex-syntax 0.8.5) knows and Debian's PCRE2 10.42 (Unicode 14) does not; from
// DerivedGeneralCategory 16.0, minus what PCRE2 10.42 already matches (nothing is removed
// between the versions). Adding them to \p{L} / \p{N} is harmless on a newer PCRE2.
struct CpRange {
    std::uint32_t lo, hi;
};
constexpr CpRange kLetterAdditions[] = {
    {0x1C89, 0x1C8A}, {0xA7CB, 0xA7CD}, {0xA7DA, 0xA7DC}, {0x105C0, 0x105F3}, {0x10D4A, 0x10D65}, {0x10D6F, 0x10D85},
    {0x10EC2, 0x10EC4}, {0x1123F, 0x11240}, {0x11380, 0x11389}, {0x1138B, 0x1138B}, {0x1138E, 0x1138E}, {0x11390, 0x113B5},
    {0x113B7, 0x113B7}, {0x113D1, 0x113D1}, {0x113D3, 0x113D3}, {0x11BC0, 0x11BE0}, {0x11F02, 0x11F02}, {0x11F04, 0x11F10},
    {0x11F12, 0x11F33}, {0x1342F, 0x1342F}, {0x13441, 0x13446}, {0x13460, 0x143FA}, {0x16100, 0x1611D}, {0x16D40, 0x16D6C},
    {0x18CFF, 0x18CFF}, {0x1B132, 0x1B132}, {0x1B155, 0x1B155}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D}, {0x1E4D0, 0x1E4EB},
    {0x1E5D0, 0x1E5ED}, {0x1E5F0, 0x1E5F0}, {0x2B739, 0x2B739}, {0x2EBF0, 0x2EE5D}, {0x31350, 0x323AF},
};
constexpr CpRange kNumberAdditions[] = {
    {0x10D40, 0x10D49}, {0x116D0, 0x116E3}, {0x11BF0, 0x11BF9}, {0x11F50, 0x11F59}, {0x16130, 0x16139},
    {0x16D70, 0x16D79}, {0x1CCF0, 0x1CCF9}, {0x1D2C0, 0x1D2D3}, {0x1E4F0, 0x1E4F9}, {0x1E5F1, 0x1E5FA},
};

// Class items (no brackets) for \p{X} plus the additions (only those below U+10000 when
// `bmp_only`).
template <std::size_t N>
std::string property_items(const char* name, const CpRange (&extra)[N], bool bmp_only) {
    std::string s = str("\\p{", name, "}");
    char buf[48];
    for (const CpRange& r : extra) {
        if (bmp_only && r.lo > 0xFFFF) continue;
        if (r.lo == r.hi)
            std::snprintf(buf, sizeof buf, "\\x{%X}", r.lo);
        else
            std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", r.lo, r.hi);
        s += buf;
    }
    return s;
}

std::string pcre2_message(int code) {
    PCRE2_UCHAR buf[256];
    int n = pcre2_get_error_message(code, buf, sizeof buf);
    return n < 0 ? "unknown PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buf));
}

// Per-thread match state, reused across calls (creating it per piece would dominate).
struct MatchState {
    pcre2_match_data* data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* stack = nullptr;
    MatchState() {
        data = pcre2_match_data_create(4, nullptr);
        context = pcre2_match_context_create(nullptr);
        // Long whitespace runs backtrack through \s+(?!\S); give JIT room beyond its 32 KiB.
        stack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
        if (!data || !context || !stack) fail("PCRE2: out of memory creating match state");
        pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~MatchState() {
        pcre2_jit_stack_free(stack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(data);
    }
};

}  // namespace

std::string translate_pattern_for_pcre2(std::string_view pattern, bool bmp_only) {
    std::string out;
    out.reserve(pattern.size() * 2);
    bool in_class = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            char e = pattern[i + 1];
            ++i;
            if (e == 's') {
                if (in_class)
                    out += kWhiteSpaceItems;
                else
                    out += str("[", kWhiteSpaceItems, "]");
            } else if (e == 'p' && (pattern.substr(i + 1, 3) == "{L}" || pattern.substr(i + 1, 3) == "{N}")) {
                std::string items = pattern[i + 2] == 'L' ? property_items("L", kLetterAdditions, bmp_only)
                                                          : property_items("N", kNumberAdditions, bmp_only);
                out += in_class ? items : "[" + items + "]";
                i += 3;
            } else if (e == 'S') {
                check(!in_class, "pre-tokenizer pattern: \\S inside a character class is not supported");
                out += str("[^", kWhiteSpaceItems, "]");
            } else {
                out += c;
                out += e;
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out += c;
            // A ']' right after '[' or '[^' is literal.
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
            continue;
        }
        if (in_class && c == ']') in_class = false;
        out += c;
    }
    return out;
}

namespace {

pcre2_code* compile(const std::string& pattern) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &offset, nullptr);
    if (!code) fail("pre-tokenizer pattern does not compile at offset ", offset, ": ", pcre2_message(err));
    // Without JIT PCRE2 still matches correctly, only slower.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    return code;
}

// True when the text has a code point above U+FFFF (a 4-byte UTF-8 sequence).
bool has_astral(std::string_view text) {
    for (unsigned char c : text)
        if (c >= 0xF0) return true;
    return false;
}

}  // namespace

PreTokenizer::PreTokenizer(std::string_view pattern)
    : translated_(translate_pattern_for_pcre2(pattern, false)),
      translated_bmp_(translate_pattern_for_pcre2(pattern, true)) {
    code_ = compile(translated_);
    code_bmp_ = compile(translated_bmp_);
}

PreTokenizer::~PreTokenizer() {
    pcre2_code_free(static_cast<pcre2_code*>(code_));
    pcre2_code_free(static_cast<pcre2_code*>(code_bmp_));
}

void PreTokenizer::split(std::string_view text, std::vector<std::pair<std::uint32_t, std::uint32_t>>& pieces) const {
    thread_local MatchState state;
    // The astral additions make PCRE2's classes ~10% slower; most text never needs them.
    auto* code = static_cast<const pcre2_code*>(has_astral(text) ? code_ : code_bmp_);
    auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    PCRE2_SIZE pos = 0, n = text.size();
    while (pos < n) {
        int rc = pcre2_match(code, subject, n, pos, PCRE2_NO_UTF_CHECK, state.data, state.context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) fail("pre-tokenizer: PCRE2 match failed at byte ", pos, ": ", pcre2_message(rc));
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state.data);
        PCRE2_SIZE begin = ov[0], end = ov[1];
        if (end == begin) {
            // An empty match would loop forever; step over one character like find_iter does.
            ++pos;
            while (pos < n && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
            continue;
        }
        pieces.emplace_back(static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end - begin));
        pos = end;
    }
}

}  // namespace emu::text
