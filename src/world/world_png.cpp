#include "emu/world/world_png.h"

#include "emu/core/error.h"
#include "emu/io/image.h"

namespace emu::world {

emu::Image to_io_image(const Image& image) {
    emu::Image out;
    out.width = image.width;
    out.height = image.height;
    out.channels = 3;
    out.pixels = image.rgb;
    return out;
}

Image from_io_image(const emu::Image& image) {
    check(image.channels == 3, "world pictures are RGB, got ", image.channels, " channels");
    Image out(image.width, image.height);
    out.rgb = image.pixels;
    return out;
}

// World pictures are plain RGB buffers; the project's image I/O does the PNG work.
void write_png(const std::string& path, const Image& image) { emu::write_png(path, to_io_image(image)); }

Image read_png(const std::string& path) { return from_io_image(read_image_rgb(path)); }

}  // namespace emu::world
