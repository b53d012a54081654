#include "pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "emu/core/error.h"

namespace emu::text {
namespace {

// Unicode White_Space (PropList.txt), which is what Rust's regex means by \s.
constexpr std::string_view kWhiteSpaceItems =
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

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

std::string translate_pattern_for_pcre2(std::string_view pattern) {
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

PreTokenizer::PreTokenizer(std::string_view pattern) : translated_(translate_pattern_for_pcre2(pattern)) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated_.data()), translated_.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &offset, nullptr);
    if (!code) fail("pre-tokenizer pattern does not compile at offset ", offset, ": ", pcre2_message(err));
    code_ = code;
    // Without JIT PCRE2 still matches correctly, only slower.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
}

PreTokenizer::~PreTokenizer() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void PreTokenizer::split(std::string_view text, std::vector<std::pair<std::uint32_t, std::uint32_t>>& pieces) const {
    thread_local MatchState state;
    auto* code = static_cast<const pcre2_code*>(code_);
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
