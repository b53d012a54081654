#include "emu/text/pretokenize.h"

#include <memory>

#include "emu/core/error.h"
#include "emu/text/utf8.h"
#include "pretokenizer.h"

namespace emu::text {

std::vector<std::string> pretokenize(std::string_view text, std::string_view pat_str) {
    std::size_t bad = find_invalid_utf8(text);
    check(bad == kValidUtf8, "cannot pre-tokenize: invalid UTF-8 at byte ", bad);
    // Compiling the pattern costs far more than splitting a sentence; corpora call this per line.
    thread_local std::string cached_pattern;
    thread_local std::unique_ptr<PreTokenizer> cached;
    if (!cached || cached_pattern != pat_str) {
        cached = std::make_unique<PreTokenizer>(pat_str);
        cached_pattern = std::string(pat_str);
    }
    std::vector<std::pair<std::uint32_t, std::uint32_t>> spans;
    cached->split(text, spans);
    std::vector<std::string> out;
    out.reserve(spans.size());
    for (auto [off, len] : spans) out.emplace_back(text.substr(off, len));
    return out;
}

}  // namespace emu::text
