#include "emu/io/generation_output.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "emu/core/error.h"
#include "emu/io/story_proto.h"

namespace fs = std::filesystem;

namespace emu {

namespace {

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    check(bool(out), path.string(), ": cannot write");
}

std::string numbered(std::size_t index, const char* suffix) {
    char name[64];
    std::snprintf(name, sizeof name, "%03zu_%s", index, suffix);
    return name;
}

}  // namespace

nlohmann::json write_generation_folder(const std::string& dir, const std::string& question,
                                       const gen::GenerationResult& result) {
    fs::create_directories(dir);
    check(fs::is_directory(dir), dir, ": cannot create the output folder");
    const fs::path root(dir);
    std::vector<StoryItem> story{{StoryItem::Kind::Question, question, nullptr}};

    nlohmann::json refs = nlohmann::json::array();
    for (std::size_t i = 0; i < result.reference_images.size(); ++i) {
        const Image& img = result.reference_images[i];
        std::string file = numbered(i, "reference.png");
        write_png((root / file).string(), img);
        const auto& grid = result.prompt.reference_grids[i];
        refs.push_back({{"file", file}, {"width", img.width}, {"height", img.height}, {"tokens_h", grid.h}, {"tokens_w", grid.w}});
        story.push_back({StoryItem::Kind::ReferenceImage, "", &img});
    }

    nlohmann::json segments = nlohmann::json::array();
    std::size_t image_index = 0;
    for (std::size_t i = 0; i < result.segments.size(); ++i) {
        const gen::OutputSegment& seg = result.segments[i];
        nlohmann::json s = {{"kind", gen::segment_kind_name(seg.kind)}};
        if (seg.kind == gen::OutputSegment::Kind::Image) {
            s["tokens_h"] = seg.grid.h;
            s["tokens_w"] = seg.grid.w;
            if (image_index < result.images.size()) {
                const Image& img = result.images[image_index++];
                std::string file = numbered(i + 1, "image.png");
                write_png((root / file).string(), img);
                s["file"] = file;
                s["width"] = img.width;
                s["height"] = img.height;
                story.push_back({StoryItem::Kind::Image, "", &img});
            }
        } else {
            std::string file = numbered(i + 1, seg.kind == gen::OutputSegment::Kind::Text ? "text.txt" : "cot.txt");
            write_text(root / file, seg.text);
            s["file"] = file;
            s["text"] = seg.text;
            story.push_back({seg.kind == gen::OutputSegment::Kind::Text        ? StoryItem::Kind::Text
                             : seg.kind == gen::OutputSegment::Kind::GlobalCot ? StoryItem::Kind::GlobalCot
                                                                               : StoryItem::Kind::ImageCot,
                             seg.text, nullptr});
        }
        segments.push_back(s);
    }
    write_text(root / "story.pb", build_story_proto(story));

    const double gen_seconds = result.seconds_generate;
    nlohmann::json j = {
        {"question", question},
        {"prompt", result.prompt.prompt},
        {"uncond_prompt", result.prompt.uncond_prompt},
        {"settings", result.settings.to_json()},
        {"reference_images", refs},
        {"segments", segments},
        {"tokens",
         {{"prompt", result.prompt.ids.size()},
          {"uncond_prompt", result.prompt.uncond_ids.size()},
          {"generated", result.tokens.size()},
          {"image", result.image_tokens},
          {"stopped_at_eos", result.stopped_at_eos}}},
        {"passes", result.passes},
        {"seconds",
         {{"prompt", result.seconds_prompt},
          {"generate", gen_seconds},
          {"image_decode", result.seconds_image_decode}}},
        {"tokens_per_second", gen_seconds > 0 ? double(result.tokens.size()) / gen_seconds : 0.0},
        {"story_pb", "story.pb"},
    };
    write_text(root / "result.json", j.dump(2) + "\n");
    return j;
}

}  // namespace emu
