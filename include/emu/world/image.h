// An 8-bit RGB picture, row-major, 3 bytes a pixel: what the world renders and parses.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace emu::world {

struct Image {
    int width = 0, height = 0;
    std::vector<std::uint8_t> rgb;  // width*height*3

    Image() = default;
    Image(int w, int h) : width(w), height(h), rgb(std::size_t(w) * std::size_t(h) * 3, 0) {}
    std::uint8_t* px(int x, int y) { return rgb.data() + (std::size_t(y) * std::size_t(width) + std::size_t(x)) * 3; }
    const std::uint8_t* px(int x, int y) const {
        return rgb.data() + (std::size_t(y) * std::size_t(width) + std::size_t(x)) * 3;
    }
    bool operator==(const Image&) const = default;
};

// Fills the part of the rectangle [x0, x0+w) x [y0, y0+h) that lies on `canvas` with one colour.
inline void fill_rect(Image& canvas, int x0, int y0, int w, int h, std::array<std::uint8_t, 3> colour) {
    for (int y = std::max(y0, 0); y < std::min(y0 + h, canvas.height); ++y)
        for (int x = std::max(x0, 0); x < std::min(x0 + w, canvas.width); ++x)
            std::copy(colour.begin(), colour.end(), canvas.px(x, y));
}

// Copies `picture` onto `canvas` with its top-left corner at (x0, y0); what falls outside is
// clipped. Contact sheets (benchmark galleries, tokenizer samples) are built from this.
inline void paste(Image& canvas, const Image& picture, int x0, int y0) {
    for (int y = std::max(y0, 0); y < std::min(y0 + picture.height, canvas.height); ++y)
        for (int x = std::max(x0, 0); x < std::min(x0 + picture.width, canvas.width); ++x)
            std::copy_n(picture.px(x - x0, y - y0), 3, canvas.px(x, y));
}

}  // namespace emu::world
