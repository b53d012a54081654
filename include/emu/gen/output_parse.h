// Splitting a generated stream into ordered segments, as the official
// multimodal_decode does (spec 5.10): ESS/EOS removed; BOG..EOG (global chain of
// thought), BOC..EOC (image chain of thought) and BOI..EOI (images) cut out in order;
// the text between kept when it is not blank and holds no stray image start.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "emu/text/image_tokens.h"
#include "emu/text/tokenizer.h"

namespace emu::gen {

struct OutputSegment {
    enum class Kind { Text, GlobalCot, ImageCot, Image };
    Kind kind = Kind::Text;
    std::string text;      // Text (unstripped), GlobalCot and ImageCot (markers removed)
    text::CodeGrid grid;   // Image
};

const char* segment_kind_name(OutputSegment::Kind kind);

// Images the official parser would drop (no EOI, ragged rows) are left out.
std::vector<OutputSegment> parse_output(std::span<const text::TokenId> ids, const text::Tokenizer& tok);

}  // namespace emu::gen
