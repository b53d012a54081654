#include "emu/ops/upsample.h"

#include <cstring>

#include "emu/core/error.h"

namespace emu::ops {

void upsample_nearest(const float* x, float* y, int channels, int h, int w, int factor) {
    check(factor >= 1 && channels >= 0 && h >= 0 && w >= 0, "upsample_nearest: bad arguments");
    const int oh = h * factor, ow = w * factor;
#pragma omp parallel for schedule(static) if (std::size_t(channels) * oh * ow >= (std::size_t(1) << 16))
    for (int c = 0; c < channels; ++c) {
        for (int iy = 0; iy < h; ++iy) {
            const float* src = x + (std::size_t(c) * h + iy) * w;
            float* dst = y + (std::size_t(c) * oh + std::size_t(iy) * factor) * ow;
            for (int ix = 0; ix < w; ++ix)
                for (int f = 0; f < factor; ++f) dst[ix * factor + f] = src[ix];
            for (int f = 1; f < factor; ++f) std::memcpy(dst + std::size_t(f) * ow, dst, sizeof(float) * ow);
        }
    }
}

void upsample_nearest_backward(const float* dy, float* dx, int channels, int h, int w, int factor) {
    check(factor >= 1 && channels >= 0 && h >= 0 && w >= 0, "upsample_nearest_backward: bad arguments");
    const int ow = w * factor;
#pragma omp parallel for schedule(static) if (std::size_t(channels) * h * w * factor * factor >= (std::size_t(1) << 16))
    for (int c = 0; c < channels; ++c)
        for (int iy = 0; iy < h; ++iy) {
            float* dst = dx + (std::size_t(c) * h + iy) * w;
            for (int f = 0; f < factor; ++f) {
                const float* src = dy + (std::size_t(c) * h * factor + std::size_t(iy) * factor + f) * ow;
                for (int ix = 0; ix < w; ++ix)
                    for (int g = 0; g < factor; ++g) dst[ix] += src[ix * factor + g];
            }
        }
}

}  // namespace emu::ops
