// How Emu3.5 writes an image into the token stream (input_utils.py::format_image_string) and
// how it reads one back (generation_utils.py::decode_image):
//   BOI "h" "*" "w" IMG  row0 EOL row1 EOL ... row(h-1)  EOI      (no EOL after the last row)
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emu/text/tokenizer.h"

namespace emu::text {

// h rows x w columns of visual codes, row-major.
struct CodeGrid {
    int h = 0;
    int w = 0;
    std::vector<std::int32_t> codes;
    std::int32_t at(int r, int c) const { return codes[static_cast<std::size_t>(r) * w + c]; }
};

// The official image string, e.g. "<|image start|>2*3<|image token|><|visual token 000001|>...".
std::string image_string(const CodeGrid& grid);
// Its token ids, built directly (equal to tok.encode(image_string(grid))).
std::vector<TokenId> image_token_ids(const CodeGrid& grid, const Tokenizer& tok);

// The official text-side parser (generation_utils.py::decode_image) on one image string:
// split on "<|extra_200|>", collect every "<|visual token N|>" per piece, skip pieces without
// any; the grid is (pieces, codes per piece). The "h*w" header is not used. Throws Error when
// there is no visual token, rows differ in length, or a code does not fit in int32.
CodeGrid parse_image_string(std::string_view image_string);

// One BOI..EOI span found in a token stream.
struct ParsedImage {
    std::size_t begin = 0;  // index of BOI
    std::size_t end = 0;    // one past EOI (or the stream end when EOI is missing)
    bool ok = false;        // the official parser would decode it; `grid` is then valid
    CodeGrid grid;          // rows = EOL-separated pieces holding visual tokens
    int header_h = -1, header_w = -1;  // the "h*w" header, -1 when absent or unreadable
    std::string error;      // why the official parser drops it (ok == false)
    // Deviations from the canonical layout that the official parser tolerates (header
    // disagreeing with the grid, stray tokens, EOL before EOI, ...); empty when canonical.
    std::vector<std::string> warnings;
};

// Finds every image: each BOI up to the next EOI (the official non-greedy BOI.*?EOI), rows
// split on EOL, visual tokens collected per row, rows without visual tokens skipped. An image
// is dropped (ok = false, error set) when EOI is missing, it has no visual token, or its rows
// differ in length.
std::vector<ParsedImage> find_images(std::span<const TokenId> ids, const Tokenizer& tok);

}  // namespace emu::text
