// Encode and decode (tiktoken's CoreBPE as Emu3Tokenizer drives it).
#include <cstring>

#include "bpe.h"
#include "emu/core/error.h"
#include "emu/text/utf8.h"
#include "tokenizer_impl.h"

namespace emu::text {

namespace {

using Impl = Tokenizer::Impl;

struct SpecialMatch {
    std::size_t pos = std::string_view::npos;
    std::size_t len = 0;
    TokenId id = kNoToken;
};

// Leftmost special token at or after `from`. The official table never has two specials
// matching at one position; for other tables the longest wins (tiktoken's choice there
// depends on hash-map order, so it is not reproducible anyway).
SpecialMatch find_special(const Impl& t, std::string_view s, std::size_t from) {
    SpecialMatch m;
    if (t.special_lengths.empty()) return m;
    const char* p = s.data();
    std::size_t n = s.size();
    for (std::size_t i = from; i < n; ++i) {
        if (t.specials_share_first_byte) {
            const void* hit = std::memchr(p + i, t.special_first, n - i);
            if (!hit) return m;
            i = static_cast<std::size_t>(static_cast<const char*>(hit) - p);
        } else if (!t.special_first_byte[static_cast<unsigned char>(p[i])]) {
            continue;
        }
        for (std::uint32_t len : t.special_lengths) {
            if (len > n - i) continue;
            std::int32_t id = t.specials.find(p + i, len);
            if (id >= 0) return {i, len, id};
        }
    }
    return m;
}

void encode_piece(const Impl& t, std::string_view piece, std::vector<TokenId>& out) {
    if (piece.size() == 1) {
        out.push_back(t.byte_rank[static_cast<unsigned char>(piece[0])]);
        return;
    }
    std::int32_t whole = t.ranks.find(piece);
    if (whole >= 0) {
        out.push_back(whole);
        return;
    }
    bpe_merge(piece, t.ranks, out);
}

// One stretch of valid UTF-8 between specials: pre-tokenize, then BPE each piece.
void encode_segment(const Impl& t, std::string_view seg, std::vector<TokenId>& out) {
    if (seg.empty()) return;
    thread_local std::vector<std::pair<std::uint32_t, std::uint32_t>> pieces;
    pieces.clear();
    t.pretokenizer->split(seg, pieces);
    for (auto [off, len] : pieces) encode_piece(t, seg.substr(off, len), out);
}

void check_size(std::string_view text) {
    check(text.size() < (1ull << 32), "text of ", text.size(), " bytes is too long to encode at once (limit 4 GiB)");
}

void require_utf8(std::string_view text) {
    std::size_t bad = find_invalid_utf8(text);
    check(bad == kValidUtf8, "cannot encode: invalid UTF-8 at byte ", bad, " (byte 0x", std::hex,
          static_cast<int>(static_cast<unsigned char>(text[bad < text.size() ? bad : 0])), std::dec, ")");
}

}  // namespace

std::vector<TokenId> Tokenizer::encode(std::string_view text) const {
    const Impl& t = *impl_;
    check_size(text);
    require_utf8(text);
    std::string normalized = nfc(text);
    std::string_view s = normalized;
    std::vector<TokenId> out;
    out.reserve(s.size() / 3 + 4);
    std::size_t pos = 0;
    while (pos < s.size()) {
        SpecialMatch m = find_special(t, s, pos);
        std::size_t seg_end = m.pos == std::string_view::npos ? s.size() : m.pos;
        encode_segment(t, s.substr(pos, seg_end - pos), out);
        if (m.pos == std::string_view::npos) break;
        out.push_back(m.id);
        pos = m.pos + m.len;
    }
    return out;
}

std::vector<TokenId> Tokenizer::encode_ordinary(std::string_view text) const {
    check_size(text);
    require_utf8(text);
    std::vector<TokenId> out;
    out.reserve(text.size() / 3 + 4);
    encode_segment(*impl_, text, out);
    return out;
}

std::vector<TokenId> Tokenizer::encode_bytes(std::string_view bytes) const {
    const Impl& t = *impl_;
    check_size(bytes);
    std::vector<TokenId> out;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        std::string_view rest = bytes.substr(pos);
        std::size_t bad = find_invalid_utf8(rest);
        if (bad == kValidUtf8) {
            encode_segment(t, rest, out);
            break;
        }
        encode_segment(t, rest.substr(0, bad), out);
        // An invalid byte is a piece of its own, so decode_bytes() gives it back unchanged.
        encode_piece(t, rest.substr(bad, 1), out);
        pos += bad + 1;
    }
    return out;
}

std::string Tokenizer::decode_bytes(std::span<const TokenId> ids, bool skip_special) const {
    const Impl& t = *impl_;
    std::string out;
    std::size_t total = 0;
    for (TokenId id : ids) {
        check(is_valid(id), "cannot decode: unknown token id ", id, " (vocabulary has ids 0..", t.n_vocab() - 1, ")");
        total += t.offsets[static_cast<std::size_t>(id) + 1] - t.offsets[static_cast<std::size_t>(id)];
    }
    out.reserve(total);
    for (TokenId id : ids) {
        if (skip_special && id >= first_special()) continue;
        out += t.bytes_of(static_cast<std::size_t>(id));
    }
    return out;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
    return utf8_replace_invalid(decode_bytes(ids, skip_special));
}

std::size_t Tokenizer::n_vocab() const { return impl_->n_vocab(); }
std::size_t Tokenizer::n_ranks() const { return impl_->n_ranks; }

std::string_view Tokenizer::token_bytes(TokenId id) const {
    check(is_valid(id), "unknown token id ", id, " (vocabulary has ids 0..", n_vocab() - 1, ")");
    return impl_->bytes_of(static_cast<std::size_t>(id));
}

std::optional<TokenId> Tokenizer::special_id(std::string_view token) const {
    std::int32_t id = impl_->specials.find(token);
    if (id < 0) return std::nullopt;
    return id;
}

TokenId Tokenizer::require_special(std::string_view token) const {
    auto id = special_id(token);
    check(id.has_value(), "the vocabulary has no special token ", token);
    return *id;
}

std::optional<TokenId> Tokenizer::rank_of(std::string_view bytes) const {
    std::int32_t r = impl_->ranks.find(bytes);
    if (r < 0) return std::nullopt;
    return r;
}

const SpecialRoles& Tokenizer::roles() const { return impl_->roles; }

bool Tokenizer::is_visual(TokenId id) const { return code_of(id) >= 0; }

std::int32_t Tokenizer::code_of(TokenId id) const {
    const SpecialRoles& r = impl_->roles;
    if (r.bov == kNoToken || id < r.bov || id - r.bov >= r.n_visual) return -1;
    return id - r.bov;
}

TokenId Tokenizer::visual_id(std::int64_t code) const {
    const SpecialRoles& r = impl_->roles;
    check(r.n_visual > 0, "the vocabulary has no visual tokens");
    check(code >= 0 && code < r.n_visual, "visual code ", code, " out of range [0, ", r.n_visual, ")");
    return r.bov + static_cast<TokenId>(code);
}

}  // namespace emu::text
