// The loaded vocabulary shared by copies of a Tokenizer (immutable after construction).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "byte_map.h"
#include "emu/text/tokenizer.h"
#include "pretokenizer.h"

namespace emu::text {

struct Tokenizer::Impl {
    // Every token's bytes back to back: BPE tokens by rank, then special-token strings by id.
    std::string arena;
    std::vector<std::uint32_t> offsets;  // n_vocab + 1 entries into arena
    std::size_t n_ranks = 0;

    ByteMap ranks;     // BPE bytes -> rank
    ByteMap specials;  // special-token string -> id
    std::array<std::int32_t, 256> byte_rank{};

    // Quick rejection while scanning text for special tokens.
    std::array<bool, 256> special_first_byte{};
    std::vector<std::uint32_t> special_lengths;  // distinct lengths, longest first
    bool specials_share_first_byte = false;
    char special_first = 0;

    SpecialRoles roles;
    std::unique_ptr<PreTokenizer> pretokenizer;

    std::string_view bytes_of(std::size_t id) const {
        return std::string_view(arena).substr(offsets[id], offsets[id + 1] - offsets[id]);
    }
    std::size_t n_vocab() const { return offsets.size() - 1; }
};

// Builds an Impl from emu3.tiktoken text and the extra special lines (after the fixed
// endoftext, im_start, im_end, extra_0..204). `source` names the file for error messages.
std::shared_ptr<Tokenizer::Impl> build_tokenizer(std::string_view tiktoken_text, const std::string& source,
                                                 const std::vector<std::string>& extra_specials,
                                                 std::string_view pat_str);

}  // namespace emu::text
