// The Emu tokenizer's pre-tokenization as a public function, for tools that need the same
// word boundaries as encode() (the BPE trainer learns merges inside these pieces only).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "emu/text/tokenizer.h"

namespace emu::text {

// Splits valid UTF-8 `text` into the pieces encode_ordinary() would byte-pair merge, in
// order; the pieces concatenate back to `text`. No NFC and no special-token handling (call
// nfc() first to match encode()). Throws Error on invalid UTF-8 or a pattern that does not
// compile. The compiled pattern is cached per thread for the last pattern used.
std::vector<std::string> pretokenize(std::string_view text, std::string_view pat_str = kEmu3PatStr);

}  // namespace emu::text
