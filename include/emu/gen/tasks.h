// The official tasks: prompt templates and default settings, each from the task's
// official example config (configs/example_config_*.py; configs/config.py for explore
// and vla), and the image-size presets.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "emu/gen/image_grammar.h"
#include "emu/gen/sampling.h"

namespace emu::gen {

struct TaskDefaults {
    std::string name;                  // t2i, x2i, howto, story, explore, vla
    std::string source;                // official config the defaults come from
    std::string template_text;         // conditional prompt without reference images
    std::string template_with_image;   // ... with reference images (<|IMAGE|> placeholder)
    std::string uncond_template;       // unconditional, without images
    std::string uncond_with_image;     // unconditional, with images
    float cfg_scale = 3.0f;
    SamplingParams text, image;
    int max_new_tokens = 32768;
    long long image_area = 518400;     // pixels, for reference-image resizing and presets
    int max_reference_images = 3;
    std::string default_aspect;        // "default" (55*73 at the official area) for t2i, else "auto"
};

// Throws Error listing the known tasks when `name` is not one.
const TaskDefaults& task_defaults(const std::string& name);
std::vector<std::string> task_names();

// Target grid for an aspect-ratio preset ("4:3", "1:1", ..., or "auto" -> nullopt).
// At the official area (1048576 px) these are the official preset grids; at any other area
// the grid follows the official smart_resize rule for that aspect ratio, so small models
// (a 64x64 canvas is area 4096 -> 4x4 tokens) use the same presets.
std::optional<GridSize> aspect_preset(const std::string& aspect, long long image_area);
std::vector<std::string> aspect_names();

}  // namespace emu::gen
