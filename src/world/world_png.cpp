#include "emu/world/world_png.h"

#include "emu/io/image.h"

namespace emu::world {

// World pictures are plain RGB buffers; the project's image I/O does the PNG work.
void write_png(const std::string& path, const Image& image) {
    emu::Image out;
    out.width = image.width;
    out.height = image.height;
    out.channels = 3;
    out.pixels = image.rgb;
    emu::write_png(path, out);
}

Image read_png(const std::string& path) {
    emu::Image in = read_image_rgb(path);
    Image out(in.width, in.height);
    out.rgb = std::move(in.pixels);
    return out;
}

}  // namespace emu::world
