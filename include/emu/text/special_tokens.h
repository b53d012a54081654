// The special-token roles Emu3.5 gives names to (src/utils/model_utils.py), as strings.
// Their ids are looked up in the loaded vocabulary (Tokenizer::roles()), never assumed.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace emu::text {

using TokenId = std::int32_t;
inline constexpr TokenId kNoToken = -1;

// Specials the official tokenizer registers before the lines of emu3_vision_tokens.txt,
// numbered consecutively from the first id after the BPE ranks.
inline constexpr std::string_view kEndOfText = "<|endoftext|>";
inline constexpr std::string_view kImStart = "<|im_start|>";
inline constexpr std::string_view kImEnd = "<|im_end|>";
inline constexpr int kNumExtras = 205;  // <|extra_0|> .. <|extra_204|>

// Role strings.
inline constexpr std::string_view kBosToken = "<|extra_203|>";
inline constexpr std::string_view kEosToken = "<|extra_204|>";
inline constexpr std::string_view kPadToken = "<|endoftext|>";
inline constexpr std::string_view kEolToken = "<|extra_200|>";
inline constexpr std::string_view kEofToken = "<|extra_201|>";
inline constexpr std::string_view kTmsToken = "<|extra_202|>";
inline constexpr std::string_view kImgToken = "<|image token|>";
inline constexpr std::string_view kBoiToken = "<|image start|>";
inline constexpr std::string_view kEoiToken = "<|image end|>";
inline constexpr std::string_view kBssToken = "<|extra_100|>";
inline constexpr std::string_view kEssToken = "<|extra_101|>";
inline constexpr std::string_view kBogToken = "<|extra_60|>";
inline constexpr std::string_view kEogToken = "<|extra_61|>";
inline constexpr std::string_view kBocToken = "<|extra_50|>";
inline constexpr std::string_view kEocToken = "<|extra_51|>";
// Placeholder the task templates use for reference images (replaced before encoding).
inline constexpr std::string_view kImagePlaceholder = "<|IMAGE|>";

// "<|visual token NNNNNN|>" for code n (zero-padded to at least 6 digits, as the official
// "{:0>6d}" format).
std::string visual_token_string(std::int64_t code);

// Ids of the named roles in one vocabulary; kNoToken where the vocabulary lacks the token.
struct SpecialRoles {
    TokenId bos = kNoToken, eos = kNoToken, pad = kNoToken, eol = kNoToken, eof = kNoToken,
            tms = kNoToken, img = kNoToken, boi = kNoToken, eoi = kNoToken, bss = kNoToken,
            ess = kNoToken, bog = kNoToken, eog = kNoToken, boc = kNoToken, eoc = kNoToken;
    TokenId bov = kNoToken;      // id of <|visual token 000000|>; code n has id bov + n
    std::int32_t n_visual = 0;   // number of consecutive visual tokens from bov
};

// The role names ("BOS", "EOS", ...) with their token strings, in the order of
// case.json special_token_ids; for lookups by name.
struct RoleName {
    std::string_view name;
    std::string_view token;
    TokenId SpecialRoles::*field;
};
const std::array<RoleName, 15>& role_names();

}  // namespace emu::text
