// The official protobuf output (emu3p5.story.Story), filled exactly as the official
// ProtoWriter does from the ordered items of one generation, so the official visualiser
// (vis_proto.py) reads our .pb files.
#pragma once
#include <string>
#include <vector>

#include "emu/io/image.h"

namespace emu {

struct StoryItem {
    enum class Kind { Question, ReferenceImage, GlobalCot, ImageCot, Text, Image };
    Kind kind = Kind::Text;
    std::string text;           // Question, GlobalCot, ImageCot, Text
    const emu::Image* image = nullptr;  // ReferenceImage, Image (RGB)
};

// Serialized Story bytes.
std::string build_story_proto(const std::vector<StoryItem>& items);

}  // namespace emu
