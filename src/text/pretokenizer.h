// The regex pre-tokenizer: splits a stretch of text into the pieces BPE works on, with the
// semantics of tiktoken's fancy-regex (leftmost-first alternation, backtracking look-ahead,
// Unicode classes), run by PCRE2 with UTF + UCP and JIT.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace emu::text {

class PreTokenizer {
public:
    explicit PreTokenizer(std::string_view pattern);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // Appends (offset, length) of each match in `text` (valid UTF-8), left to right. The
    // pattern sees only `text`: look-aheads end at its end, as for one tiktoken segment.
    void split(std::string_view text, std::vector<std::pair<std::uint32_t, std::uint32_t>>& pieces) const;

    // The pattern as given to PCRE2 (\s and \S spelled out as Unicode White_Space).
    const std::string& pcre2_pattern() const { return translated_; }

private:
    std::string translated_;      // full Unicode 16 classes
    std::string translated_bmp_;  // the same without the additions above U+FFFF
    void* code_ = nullptr;        // pcre2_code_8*
    void* code_bmp_ = nullptr;    // used for text without 4-byte sequences
};

// Rewrites a Rust-regex pattern for PCRE2: \s / \S become explicit White_Space classes
// (PCRE2's UCP \s is "Z or ASCII space", which differs from Rust's White_Space at U+0085), and
// \p{L} / \p{N} gain the letters and numbers of Unicode 15-16 that PCRE2 10.42 lacks.
std::string translate_pattern_for_pcre2(std::string_view pattern, bool bmp_only = false);

}  // namespace emu::text
