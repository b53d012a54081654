// UTF-8 helpers with the exact semantics the Emu3.5 tokenizer needs (Python's codec rules).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace emu::text {

inline constexpr std::size_t kValidUtf8 = static_cast<std::size_t>(-1);

// Byte offset of the first invalid sequence, or kValidUtf8. Strict like Python's codec:
// no overlong forms, no encoded surrogates, nothing above U+10FFFF, no truncated tails.
std::size_t find_invalid_utf8(std::string_view bytes);

// Like Python's bytes.decode("utf-8", errors="replace"): one U+FFFD per maximal invalid
// subpart (the WHATWG rule), valid sequences copied unchanged.
std::string utf8_replace_invalid(std::string_view bytes);

// Unicode NFC of valid UTF-8 (throws Error on invalid input).
std::string nfc(std::string_view text);
// The same, always through utf8proc (no fast path for text NFC leaves unchanged); tests
// compare the two.
std::string nfc_utf8proc(std::string_view text);

// Appends the UTF-8 encoding of a code point (must be <= 0x10FFFF and not a surrogate).
void append_utf8(std::string& out, std::uint32_t cp);

}  // namespace emu::text
