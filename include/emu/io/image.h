// 8-bit images in and out: PNG and JPEG decoding (libpng, libjpeg), PNG encoding.
// Pixels are interleaved rows, top row first: pixels[(y * width + x) * channels + c].
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace emu {

struct Image {
    int width = 0, height = 0;
    int channels = 0;  // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
    std::vector<std::uint8_t> pixels;
};

// Decodes a PNG or JPEG (chosen by the file's signature, not its name) into RGB, as
// PIL's Image.convert("RGB") would: alpha dropped, gray replicated, palettes expanded,
// 16-bit samples reduced to their high byte. Throws Error naming the file on a missing,
// truncated, corrupt or unsupported image.
Image read_image_rgb(const std::string& path);
Image decode_image_rgb(const std::uint8_t* data, std::size_t size, const std::string& name);

// Gray, gray+alpha, RGB or RGBA to RGB (alpha dropped). Throws Error on other channel
// counts or when pixels.size() does not match the dimensions.
Image to_rgb(const Image& image);

// Writes a PNG (1, 2, 3 or 4 channels). Throws Error naming the file on failure.
void write_png(const std::string& path, const Image& image);
// The same PNG bytes in memory (for the protobuf output).
std::vector<std::uint8_t> encode_png(const Image& image);

}  // namespace emu
