// The tokenizer a `tokenizer` or `prompt` fixture case names (vocab_file relative to the
// folder that holds shared/), shared by the parity tests of text and generation.
#pragma once
#include <string>

#include "emu/text/tokenizer.h"
#include "fixtures.h"

namespace emu::test {

std::string resolve_shared(const FixtureCase& c, const std::string& rel);
text::Tokenizer load_case_tokenizer(const FixtureCase& c);

}  // namespace emu::test
