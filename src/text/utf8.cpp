#include "emu/text/utf8.h"

#include <cstdlib>
#include <cstring>
#include <utf8proc.h>

#include "emu/core/error.h"

namespace emu::text {
namespace {

// Length of the valid sequence at s[i] (1..4), or -(k) where k >= 1 is the length of the
// maximal invalid subpart to replace by one U+FFFD (Unicode 3.9 / WHATWG rule, as CPython).
int sequence_at(const unsigned char* s, std::size_t n, std::size_t i) {
    unsigned char b = s[i];
    if (b < 0x80) return 1;
    int need;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return -1;
    }
    for (int k = 1; k <= need; ++k) {
        if (i + k >= n) return -k;
        unsigned char c = s[i + k];
        bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
        if (!ok) return -k;
    }
    return need + 1;
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view bytes) {
    const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size(), i = 0;
    while (i < n) {
        // ASCII runs are the common case; skip them eight bytes at a time.
        while (i + 8 <= n) {
            std::uint64_t v;
            std::memcpy(&v, s + i, 8);
            if (v & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        int len = sequence_at(s, n, i);
        if (len < 0) return i;
        i += static_cast<std::size_t>(len);
    }
    return kValidUtf8;
}

std::string utf8_replace_invalid(std::string_view bytes) {
    std::size_t first_bad = find_invalid_utf8(bytes);
    if (first_bad == kValidUtf8) return std::string(bytes);
    const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t n = bytes.size(), i = first_bad;
    std::string out(bytes.substr(0, first_bad));
    out.reserve(n + 16);
    while (i < n) {
        int len = sequence_at(s, n, i);
        if (len > 0) {
            out.append(bytes.data() + i, static_cast<std::size_t>(len));
            i += static_cast<std::size_t>(len);
        } else {
            out += "\xEF\xBF\xBD";
            i += static_cast<std::size_t>(-len);
        }
    }
    return out;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    check(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF), "append_utf8: invalid code point ", cp);
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

namespace {

// Code points NFC leaves alone whatever surrounds them: starters without a canonical
// decomposition that never take part in a composition. Text made only of these (ASCII,
// Latin-1 through Latin Extended-B, CJK ideographs and punctuation, full-width forms) skips
// utf8proc, which is the expensive part of encoding. Verified against utf8proc in the tests.
bool nfc_inert(std::uint32_t cp) {
    if (cp < 0x300) return true;  // below the combining diacritics
    if (cp >= 0x4E00 && cp <= 0x9FFF) return true;   // CJK unified ideographs
    if (cp >= 0x3400 && cp <= 0x4DBF) return true;   // CJK extension A
    if (cp >= 0x3000 && cp <= 0x3029) return true;   // CJK symbols and punctuation
    if (cp >= 0xFF00 && cp <= 0xFFEF) return true;   // half/full-width forms
    return false;
}

bool all_nfc_inert(std::string_view text) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    std::size_t n = text.size(), i = 0;
    while (i < n) {
        unsigned char b = s[i];
        std::uint32_t cp;
        if (b < 0x80) {
            ++i;
            continue;
        } else if (b < 0xE0) {
            cp = (b & 0x1Fu) << 6 | (s[i + 1] & 0x3Fu);
            i += 2;
        } else if (b < 0xF0) {
            cp = (b & 0x0Fu) << 12 | (s[i + 1] & 0x3Fu) << 6 | (s[i + 2] & 0x3Fu);
            i += 3;
        } else {
            return false;
        }
        if (!nfc_inert(cp)) return false;
    }
    return true;
}

}  // namespace

std::string nfc(std::string_view text) {
    std::size_t bad = find_invalid_utf8(text);
    check(bad == kValidUtf8, "invalid UTF-8 at byte ", bad, " of the text");
    if (all_nfc_inert(text)) return std::string(text);
    return nfc_utf8proc(text);
}

std::string nfc_utf8proc(std::string_view text) {
    std::size_t bad = find_invalid_utf8(text);
    check(bad == kValidUtf8, "invalid UTF-8 at byte ", bad, " of the text");
    utf8proc_uint8_t* out = nullptr;
    utf8proc_ssize_t len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                        static_cast<utf8proc_ssize_t>(text.size()), &out,
                                        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (len < 0) fail("NFC normalisation failed: ", utf8proc_errmsg(len));
    std::string result(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
    std::free(out);
    return result;
}

}  // namespace emu::text
