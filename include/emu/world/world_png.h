// World pictures and the project's image I/O (io/image.h): conversions, PNG in and out.
#pragma once
#include <string>

#include "emu/world/image.h"

namespace emu {
struct Image;  // emu/io/image.h; declared only, so world code keeps one Image in scope
}

namespace emu::world {

// The same RGB pixels as the general 8-bit image type, and back (which must be RGB).
emu::Image to_io_image(const Image& image);
Image from_io_image(const emu::Image& image);

// Writes 8-bit RGB; throws Error naming the path on failure.
void write_png(const std::string& path, const Image& image);
// Reads a PNG or JPEG as 8-bit RGB (gray replicated, palettes expanded, alpha dropped). Throws Error naming the path if it is missing or malformed.
Image read_png(const std::string& path);

}  // namespace emu::world
