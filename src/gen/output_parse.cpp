#include "emu/gen/output_parse.h"

#include <algorithm>

namespace emu::gen {

namespace {

using text::TokenId;

bool is_blank(const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

}  // namespace

const char* segment_kind_name(OutputSegment::Kind kind) {
    switch (kind) {
        case OutputSegment::Kind::Text: return "text";
        case OutputSegment::Kind::GlobalCot: return "global_cot";
        case OutputSegment::Kind::ImageCot: return "image_cot";
        case OutputSegment::Kind::Image: return "image";
    }
    return "?";
}

std::vector<OutputSegment> parse_output(std::span<const TokenId> generated, const text::Tokenizer& tok) {
    const text::SpecialRoles& r = tok.roles();
    std::vector<TokenId> ids;
    for (TokenId id : generated)
        if (id != r.ess && id != r.eos) ids.push_back(id);

    std::vector<OutputSegment> out;
    auto add_text = [&](std::size_t begin, std::size_t end) {
        std::span<const TokenId> chunk(ids.data() + begin, end - begin);
        if (chunk.empty() || std::find(chunk.begin(), chunk.end(), r.boi) != chunk.end()) return;
        std::string s = tok.decode(chunk);
        if (!is_blank(s)) out.push_back({OutputSegment::Kind::Text, s, {}});
    };
    // Leftmost match first; at one position the alternatives are tried in the official
    // order (global CoT, image CoT, image), each ending at its first closing marker.
    const std::pair<TokenId, TokenId> pairs[] = {{r.bog, r.eog}, {r.boc, r.eoc}, {r.boi, r.eoi}};
    std::size_t text_begin = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        for (int p = 0; p < 3; ++p) {
            auto [open, close] = pairs[p];
            if (open == text::kNoToken || ids[i] != open) continue;
            auto end = std::find(ids.begin() + long(i) + 1, ids.end(), close);
            if (end == ids.end()) continue;
            std::size_t j = std::size_t(end - ids.begin());
            add_text(text_begin, i);
            std::span<const TokenId> inner(ids.data() + i + 1, j - i - 1);
            if (p == 2) {
                auto images = text::find_images(std::span<const TokenId>(ids.data() + i, j - i + 1), tok);
                if (!images.empty() && images[0].ok) out.push_back({OutputSegment::Kind::Image, "", images[0].grid});
            } else {
                out.push_back({p == 0 ? OutputSegment::Kind::GlobalCot : OutputSegment::Kind::ImageCot, tok.decode(inner), {}});
            }
            text_begin = j + 1;
            i = j;
            break;
        }
    }
    add_text(text_begin, ids.size());
    return out;
}

}  // namespace emu::gen
