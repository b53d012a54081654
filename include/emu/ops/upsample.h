// Nearest-neighbour upsampling of a CHW image by an integer factor (torch
// F.interpolate(mode="nearest", scale_factor=f)). conv2d can also read its input
// through this upsampling without materialising it (Conv2dShape::upsample).
#pragma once
#include <cstddef>

namespace emu::ops {

// y is [C, H*factor, W*factor].
void upsample_nearest(const float* x, float* y, int channels, int h, int w, int factor);

// Gradient of upsample_nearest: dx[c, y, x] += the sum of dy over its factor x factor block.
void upsample_nearest_backward(const float* dy, float* dx, int channels, int h, int w, int factor);

}  // namespace emu::ops
