// PNG in and out for world images, through the project's image I/O (io/image.h).
#pragma once
#include <string>

#include "emu/world/image.h"

namespace emu::world {

// Writes 8-bit RGB; throws Error naming the path on failure.
void write_png(const std::string& path, const Image& image);
// Reads a PNG or JPEG as 8-bit RGB (gray replicated, palettes expanded, alpha dropped). Throws Error naming the path if it is missing or malformed.
Image read_png(const std::string& path);

}  // namespace emu::world
