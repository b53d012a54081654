// Reads a picture back into a scene: background, and per grid cell the object's shape,
// colour and size (or the agent). Tolerates what a learned image tokenizer leaves
// behind: noise, slight blur, colour drift, stray pixels.
//
// Stated bounds (tests/unit/test_world_parse.cpp holds the evaluator to them, at 64x64
// and 128x128): per-pixel Gaussian noise sigma <= 16, a 3x3 box blur, a uniform colour
// shift of up to 24 per channel, up to 2% of pixels replaced by random colours, and
// any combination of blur + noise 8 + shift 12.
#pragma once
#include <vector>

#include "emu/world/image.h"
#include "emu/world/scene.h"

namespace emu::world {

struct ParseOptions {
    int cols = 3, rows = 3;  // the grid the picture shows
    // Pixels farther than this (RGB distance) from every palette colour count as noise.
    double max_colour_distance = 90.0;
    // A cell holds an object when its dominant colour covers at least this fraction of the
    // smallest object's area.
    double min_area_fraction = 0.35;
};

struct CellParse {
    int col = 0, row = 0;
    bool occupied = false;
    double score = 0;  // best template IoU (1 = exact), 0 when empty
};

struct ParseResult {
    Scene scene;
    std::vector<CellParse> cells;  // row-major, one per cell
};

ParseResult parse_image_detailed(const Image& image, const ParseOptions& options = {});
Scene parse_image(const Image& image, const ParseOptions& options = {});

// Nearest palette colour of an RGB value, and its distance.
Colour nearest_colour(std::uint8_t r, std::uint8_t g, std::uint8_t b, double* distance = nullptr);

}  // namespace emu::world
