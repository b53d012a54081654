// PNG in and out for world images (libpng's simplified API). Kept inside the world
// module so it has no dependency on the general image I/O.
#pragma once
#include <string>

#include "emu/world/image.h"

namespace emu::world {

// Writes 8-bit RGB; throws Error naming the path on failure.
void write_png(const std::string& path, const Image& image);
// Reads any PNG (gray, palette, alpha, 16-bit are converted) as 8-bit RGB; alpha is
// composited on black. Throws Error naming the path if it is missing or malformed.
Image read_png(const std::string& path);

}  // namespace emu::world
