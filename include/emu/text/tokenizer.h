// Emu3.5's text tokenizer (src/tokenizer_emu3_ibq/tokenization_emu3.py on top of tiktoken):
// byte-level BPE ranks from emu3.tiktoken, a regex pre-tokenizer, and special tokens
// numbered right after the last rank. Bit-exact with the official encode/decode.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emu/text/special_tokens.h"

namespace emu::text {

// The official pre-tokenization pattern (tokenization_emu3.py PAT_STR).
inline constexpr std::string_view kEmu3PatStr =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// The vocabulary files inside a tokenizer or model folder.
struct TokenizerFiles {
    std::string vocab;           // emu3.tiktoken (base64 token, space, rank per line)
    std::string vision_tokens;   // emu3_vision_tokens.txt, empty when absent
    std::string config;          // tokenizer_config.json, empty when absent
    std::string pat_str{kEmu3PatStr};  // pre-tokenization regex (Rust regex syntax)
};

// Finds the files for `path`: an emu3.tiktoken file itself, a folder holding it, or a model
// folder with it in tokenizer/, tokenizer_emu3_ibq/ or src/tokenizer_emu3_ibq/.
// Throws Error listing the places searched.
TokenizerFiles find_tokenizer_files(const std::string& path);

class Tokenizer {
public:
    // Loads from a folder or file (see find_tokenizer_files).
    static Tokenizer load(const std::string& path);
    static Tokenizer load(const TokenizerFiles& files);
    // From memory: `tiktoken_text` in the emu3.tiktoken format, `extra_specials` the lines of
    // an emu3_vision_tokens.txt (appended after endoftext, im_start, im_end, extra_0..204).
    static Tokenizer from_text(std::string_view tiktoken_text,
                               const std::vector<std::string>& extra_specials,
                               std::string_view pat_str = kEmu3PatStr);

    // Official encode(text, add_special_tokens=False): NFC, then every special token written
    // in the text becomes its id, the text between specials is pre-tokenized and
    // byte-pair merged. Throws Error on invalid UTF-8 (naming the byte offset).
    std::vector<TokenId> encode(std::string_view text) const;
    // Same without NFC and without special-token recognition ("<|...|>" is plain text).
    std::vector<TokenId> encode_ordinary(std::string_view text) const;
    // Any bytes (not necessarily UTF-8), no NFC, no specials; decode_bytes() gives them back.
    // Each byte of an invalid UTF-8 sequence is a piece of its own between valid stretches.
    std::vector<TokenId> encode_bytes(std::string_view bytes) const;

    // Official decode: token bytes joined (specials as their text), then UTF-8 with
    // replacement. skip_special drops every id >= first_special(). Unknown ids throw Error.
    std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;
    // The joined bytes without UTF-8 repair.
    std::string decode_bytes(std::span<const TokenId> ids, bool skip_special = false) const;

    std::size_t n_vocab() const;          // ranks + specials
    std::size_t n_ranks() const;          // BPE ids are 0 .. n_ranks()-1
    TokenId first_special() const { return static_cast<TokenId>(n_ranks()); }
    bool is_special(TokenId id) const { return id >= first_special() && static_cast<std::size_t>(id) < n_vocab(); }
    bool is_valid(TokenId id) const { return id >= 0 && static_cast<std::size_t>(id) < n_vocab(); }
    // Bytes of a BPE token or the text of a special token; throws Error on unknown ids.
    std::string_view token_bytes(TokenId id) const;
    // Id of a special-token string, or nullopt.
    std::optional<TokenId> special_id(std::string_view token) const;
    // Id of a special-token string; throws Error naming it when the vocabulary lacks it.
    TokenId require_special(std::string_view token) const;
    // Id of a BPE token's exact bytes, or nullopt.
    std::optional<TokenId> rank_of(std::string_view bytes) const;

    const SpecialRoles& roles() const;
    // Visual tokens: code n <-> id roles().bov + n, for 0 <= n < roles().n_visual.
    bool is_visual(TokenId id) const;
    std::int32_t code_of(TokenId id) const;       // -1 when id is not a visual token
    TokenId visual_id(std::int64_t code) const;   // throws Error when out of range

    struct Impl;  // opaque; defined in src/text/tokenizer_impl.h

private:
    explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const Impl> impl_;
};

}  // namespace emu::text
