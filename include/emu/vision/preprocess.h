// Image pre- and post-processing around the IBQ tokenizer, as the official
// build_image / decode_image do it (src/utils/input_utils.py, generation_utils.py).
#pragma once
#include <cstdint>
#include <utility>

#include "emu/io/image.h"
#include "emu/tensor/tensor.h"

namespace emu::vision {

// Official smart_resize size rule: keep the aspect ratio, target `area` pixels, each
// side rounded half up to a multiple of `factor`. Returns {height, width}; either may be
// 0 for degenerate aspect ratios (callers check).
std::pair<int, int> smart_resize_size(int height, int width, double area, int factor = 16);

// Pillow's Image.resize(..., BICUBIC) on 8-bit images, reproduced bit for bit: separable
// passes (horizontal first), a = -0.5 cubic, support scaled when shrinking (antialias),
// 22-bit fixed-point coefficients, clamping after each pass. Any channel count.
Image resize_bicubic(const Image& image, int out_width, int out_height);

// smart_resize_size + resize_bicubic (always resampling through Pillow's path, which
// is a plain copy when the size is unchanged). Throws Error when the result would have
// no token (image too small or too thin for `area`).
Image smart_resize(const Image& rgb, double area, int factor = 16);

// RGB 8-bit -> F32 [3, H, W] with pixel/127.5 - 1 computed in double then rounded to float.
Tensor image_to_tensor(const Image& rgb);
// F32 [3, H, W] decoder output -> RGB 8-bit: ((x + 1) * 127.5) in float, clamped to
// [0, 255] then truncated, as the official PNG conversion.
Image tensor_to_image(const Tensor& chw);

}  // namespace emu::vision
