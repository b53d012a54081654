#include "emu/text/image_tokens.h"

#include "emu/core/error.h"

namespace emu::text {
namespace {

void check_grid(const CodeGrid& g) {
    check(g.h > 0 && g.w > 0, "image grid must be at least 1x1, got ", g.h, "x", g.w);
    check(g.codes.size() == static_cast<std::size_t>(g.h) * static_cast<std::size_t>(g.w), "image grid ", g.h, "x",
          g.w, " has ", g.codes.size(), " codes");
}

TokenId role(TokenId id, const char* name) {
    check(id != kNoToken, "the vocabulary has no ", name, " token");
    return id;
}

// Reads the "h*w" header between IMG-less BOI and IMG: digits '*' digits, as text.
void read_header(std::span<const TokenId> body, const Tokenizer& tok, ParsedImage& img) {
    std::string text;
    for (TokenId id : body) {
        if (tok.is_special(id)) return;
        text += tok.token_bytes(id);
    }
    std::size_t star = text.find('*');
    if (star == std::string::npos || star == 0 || star + 1 == text.size() || text.size() > 16) return;
    int h = 0, w = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (i == star) continue;
        if (text[i] < '0' || text[i] > '9') return;
        int& v = i < star ? h : w;
        v = v * 10 + (text[i] - '0');
    }
    img.header_h = h;
    img.header_w = w;
}

}  // namespace

std::string image_string(const CodeGrid& grid) {
    check_grid(grid);
    std::string s;
    s.reserve(static_cast<std::size_t>(grid.h) * (static_cast<std::size_t>(grid.w) * 23 + 13) + 48);
    s += kBoiToken;
    s += str(grid.h, "*", grid.w);
    s += kImgToken;
    for (int r = 0; r < grid.h; ++r) {
        for (int c = 0; c < grid.w; ++c) s += visual_token_string(grid.at(r, c));
        if (r + 1 < grid.h) s += kEolToken;
    }
    s += kEoiToken;
    return s;
}

std::vector<TokenId> image_token_ids(const CodeGrid& grid, const Tokenizer& tok) {
    check_grid(grid);
    const SpecialRoles& roles = tok.roles();
    std::vector<TokenId> ids;
    ids.reserve(static_cast<std::size_t>(grid.h) * (static_cast<std::size_t>(grid.w) + 1) + 16);
    ids.push_back(role(roles.boi, "BOI (<|image start|>)"));
    for (TokenId id : tok.encode_ordinary(str(grid.h, "*", grid.w))) ids.push_back(id);
    ids.push_back(role(roles.img, "IMG (<|image token|>)"));
    TokenId eol = role(roles.eol, "EOL (<|extra_200|>)");
    for (int r = 0; r < grid.h; ++r) {
        for (int c = 0; c < grid.w; ++c) ids.push_back(tok.visual_id(grid.at(r, c)));
        if (r + 1 < grid.h) ids.push_back(eol);
    }
    ids.push_back(role(roles.eoi, "EOI (<|image end|>)"));
    return ids;
}

CodeGrid parse_image_string(std::string_view s) {
    constexpr std::string_view open = "<|visual token ";
    std::vector<std::vector<std::int32_t>> rows;
    std::size_t pos = 0;
    while (pos <= s.size()) {
        std::size_t eol = s.find(kEolToken, pos);
        std::string_view piece = s.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        std::vector<std::int32_t> row;
        for (std::size_t at = piece.find(open); at != std::string_view::npos; at = piece.find(open, at + 1)) {
            std::size_t d = at + open.size(), e = d;
            while (e < piece.size() && piece[e] >= '0' && piece[e] <= '9') ++e;
            if (e == d || piece.substr(e, 2) != "|>") continue;  // not a visual token, as the regex
            check(e - d <= 9, "image string: visual token number ", piece.substr(d, e - d), " is too large");
            std::int32_t code = 0;
            for (std::size_t k = d; k < e; ++k) code = code * 10 + (piece[k] - '0');
            row.push_back(code);
        }
        if (!row.empty()) rows.push_back(std::move(row));
        if (eol == std::string_view::npos) break;
        pos = eol + kEolToken.size();
    }
    check(!rows.empty(), "image string holds no visual tokens");
    CodeGrid g;
    g.h = static_cast<int>(rows.size());
    g.w = static_cast<int>(rows[0].size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
        check(rows[r].size() == rows[0].size(), "image string: row ", r, " has ", rows[r].size(),
              " codes but row 0 has ", rows[0].size());
        g.codes.insert(g.codes.end(), rows[r].begin(), rows[r].end());
    }
    return g;
}

std::vector<ParsedImage> find_images(std::span<const TokenId> ids, const Tokenizer& tok) {
    const SpecialRoles& roles = tok.roles();
    std::vector<ParsedImage> images;
    if (roles.boi == kNoToken) return images;
    std::size_t i = 0;
    while (i < ids.size()) {
        if (ids[i] != roles.boi) {
            ++i;
            continue;
        }
        ParsedImage img;
        img.begin = i;
        std::size_t j = i + 1;
        while (j < ids.size() && ids[j] != roles.eoi) ++j;
        bool closed = j < ids.size();
        img.end = closed ? j + 1 : ids.size();
        std::span<const TokenId> body = ids.subspan(i + 1, j - (i + 1));
        i = img.end;

        // Header: BOI "h*w" IMG.
        std::size_t img_at = body.size();
        for (std::size_t k = 0; k < body.size(); ++k) {
            if (body[k] == roles.img) {
                img_at = k;
                break;
            }
        }
        if (img_at < body.size())
            read_header(body.subspan(0, img_at), tok, img);
        else
            img.warnings.push_back("no <|image token|> after the header");
        if (img.header_h < 0) img.warnings.push_back("no readable h*w header after <|image start|>");

        // Rows: EOL-separated, visual tokens collected, empty rows skipped (official parser).
        std::vector<std::vector<std::int32_t>> rows(1);
        std::size_t strays = 0;
        bool eol_last = false;
        for (std::size_t k = 0; k < body.size(); ++k) {
            TokenId id = body[k];
            eol_last = false;
            if (id == roles.eol) {
                if (!rows.back().empty()) rows.emplace_back();
                eol_last = true;
            } else if (std::int32_t code = tok.code_of(id); code >= 0) {
                rows.back().push_back(code);
            } else if (k > img_at) {
                ++strays;
            }
        }
        if (rows.back().empty()) rows.pop_back();
        if (eol_last) img.warnings.push_back("EOL right before <|image end|> (the canonical layout has none)");
        if (strays) img.warnings.push_back(str(strays, " non-visual token(s) among the rows"));
        if (img_at < body.size() && img_at + 1 < body.size() && body[img_at + 1] == roles.eol)
            img.warnings.push_back("EOL right after <|image token|>");

        if (!closed) {
            img.error = str("image at token ", img.begin, " has no <|image end|> (truncated)");
        } else if (rows.empty()) {
            img.error = str("image at token ", img.begin, " holds no visual tokens");
        } else {
            std::size_t w = rows[0].size();
            for (std::size_t r = 1; r < rows.size() && img.error.empty(); ++r) {
                if (rows[r].size() != w)
                    img.error = str("image at token ", img.begin, ": row ", r, " has ", rows[r].size(),
                                    " codes but row 0 has ", w);
            }
        }
        if (img.error.empty()) {
            img.ok = true;
            img.grid.h = static_cast<int>(rows.size());
            img.grid.w = static_cast<int>(rows[0].size());
            img.grid.codes.reserve(rows.size() * rows[0].size());
            for (const auto& r : rows) img.grid.codes.insert(img.grid.codes.end(), r.begin(), r.end());
            if (img.header_h >= 0 && (img.header_h != img.grid.h || img.header_w != img.grid.w))
                img.warnings.push_back(str("header says ", img.header_h, "*", img.header_w, " but the rows form ",
                                           img.grid.h, "x", img.grid.w));
        }
        images.push_back(std::move(img));
    }
    return images;
}

}  // namespace emu::text
