// An 8-bit RGB picture, row-major, 3 bytes a pixel: what the world renders and parses.
#pragma once
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

}  // namespace emu::world
