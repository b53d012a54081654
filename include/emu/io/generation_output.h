// Writes one generation to a folder: a PNG per image, a .txt per text segment,
// result.json (ordered segments with file names and sizes, settings, token counts,
// timings) and the official-format protobuf story.pb.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "emu/gen/generator.h"

namespace emu {

// Returns the result.json it wrote. `question` is the raw user text.
nlohmann::json write_generation_folder(const std::string& dir, const std::string& question,
                                       const gen::GenerationResult& result);

}  // namespace emu
