#include "emu/world/world_png.h"

#include <cstring>
#include <png.h>

#include "emu/core/error.h"

namespace emu::world {

void write_png(const std::string& path, const Image& image) {
    check(image.width > 0 && image.height > 0 &&
              image.rgb.size() == std::size_t(image.width) * std::size_t(image.height) * 3,
          "write_png ", path, ": image has inconsistent size");
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = png_uint_32(image.width);
    img.height = png_uint_32(image.height);
    img.format = PNG_FORMAT_RGB;
    int ok = png_image_write_to_file(&img, path.c_str(), 0, image.rgb.data(), 0, nullptr);
    std::string why = img.message;
    png_image_free(&img);
    check(ok != 0, "cannot write PNG ", path, ": ", why);
}

Image read_png(const std::string& path) {
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    check(png_image_begin_read_from_file(&img, path.c_str()) != 0, "cannot read PNG ", path, ": ", img.message);
    // Bound the allocation before trusting the header's size.
    if (img.width == 0 || img.height == 0 || img.width > 16384 || img.height > 16384) {
        png_image_free(&img);
        fail("PNG ", path, " has unsupported size ", img.width, "x", img.height);
    }
    img.format = PNG_FORMAT_RGB;
    Image out(int(img.width), int(img.height));
    png_color black{0, 0, 0};
    int ok = png_image_finish_read(&img, &black, out.rgb.data(), 0, nullptr);
    std::string why = img.message;
    png_image_free(&img);
    check(ok != 0, "cannot decode PNG ", path, ": ", why);
    return out;
}

}  // namespace emu::world
