#include "emu/vision/preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "emu/core/error.h"

namespace emu::vision {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
    constexpr double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

// Per output index: first source index, tap count, and fixed-point taps (Pillow's
// precompute_coeffs + normalize_coeffs_8bpc).
struct Taps {
    int ksize = 0;
    std::vector<int> start, count;
    std::vector<std::int32_t> k;
};

Taps precompute(int in_size, int out_size) {
    constexpr double support_base = 2.0;
    const double scale = double(float(in_size)) / out_size;
    const double filterscale = std::max(scale, 1.0);
    const double support = support_base * filterscale;
    Taps t;
    t.ksize = int(std::ceil(support)) * 2 + 1;
    t.start.resize(out_size);
    t.count.resize(out_size);
    t.k.assign(std::size_t(out_size) * t.ksize, 0);
    std::vector<double> w(t.ksize);
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = int(center - support + 0.5);  // C truncation, as Pillow
        if (xmin < 0) xmin = 0;
        int xmax = int(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            w[x] = bicubic((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; ++x) {
            const double v = ww != 0.0 ? w[x] / ww : w[x];
            t.k[std::size_t(xx) * t.ksize + x] =
                v < 0 ? std::int32_t(-0.5 + v * (1 << kPrecisionBits)) : std::int32_t(0.5 + v * (1 << kPrecisionBits));
        }
        t.start[xx] = xmin;
        t.count[xx] = xmax;
    }
    return t;
}

inline std::uint8_t clip8(std::int32_t v) {
    const std::int32_t s = v >> kPrecisionBits;
    return std::uint8_t(s < 0 ? 0 : (s > 255 ? 255 : s));
}

Image pass_horizontal(const Image& in, int out_w) {
    const Taps t = precompute(in.width, out_w);
    const int C = in.channels;
    Image out{out_w, in.height, C, std::vector<std::uint8_t>(std::size_t(out_w) * in.height * C)};
#pragma omp parallel for schedule(static)
    for (int y = 0; y < in.height; ++y) {
        const std::uint8_t* row = in.pixels.data() + std::size_t(y) * in.width * C;
        std::uint8_t* orow = out.pixels.data() + std::size_t(y) * out_w * C;
        for (int xx = 0; xx < out_w; ++xx) {
            const std::int32_t* k = t.k.data() + std::size_t(xx) * t.ksize;
            for (int c = 0; c < C; ++c) {
                std::int32_t ss = 1 << (kPrecisionBits - 1);
                for (int x = 0; x < t.count[xx]; ++x) ss += row[std::size_t(x + t.start[xx]) * C + c] * k[x];
                orow[std::size_t(xx) * C + c] = clip8(ss);
            }
        }
    }
    return out;
}

Image pass_vertical(const Image& in, int out_h) {
    const Taps t = precompute(in.height, out_h);
    const int C = in.channels;
    const std::size_t stride = std::size_t(in.width) * C;
    Image out{in.width, out_h, C, std::vector<std::uint8_t>(stride * out_h)};
#pragma omp parallel for schedule(static)
    for (int yy = 0; yy < out_h; ++yy) {
        const std::int32_t* k = t.k.data() + std::size_t(yy) * t.ksize;
        std::uint8_t* orow = out.pixels.data() + std::size_t(yy) * stride;
        for (std::size_t i = 0; i < stride; ++i) {
            std::int32_t ss = 1 << (kPrecisionBits - 1);
            for (int y = 0; y < t.count[yy]; ++y) ss += in.pixels[std::size_t(y + t.start[yy]) * stride + i] * k[y];
            orow[i] = clip8(ss);
        }
    }
    return out;
}

}  // namespace

std::pair<int, int> smart_resize_size(int height, int width, double area, int factor) {
    check(height > 0 && width > 0, "smart_resize: image has no pixels (", width, "x", height, ")");
    check(area > 0 && std::isfinite(area), "smart_resize: area must be positive, got ", area);
    const double ar = double(width) / double(height);
    const double nh_f = std::floor(std::pow(area / ar, 0.5));
    const double nw_f = std::floor(nh_f * ar);
    check(nh_f < 1e6 && nw_f < 1e6, "smart_resize: target size for area ", area, " is too large");
    const long long nh = (static_cast<long long>(nh_f) + factor / 2) / factor * factor;
    const long long nw = (static_cast<long long>(nw_f) + factor / 2) / factor * factor;
    return {int(nh), int(nw)};
}

Image resize_bicubic(const Image& image, int out_width, int out_height) {
    check(image.channels >= 1 && image.width > 0 && image.height > 0 &&
              image.pixels.size() == std::size_t(image.width) * image.height * image.channels,
          "resize: invalid source image");
    check(out_width > 0 && out_height > 0, "resize: invalid target size ", out_width, "x", out_height);
    if (out_width == image.width && out_height == image.height) return image;
    Image cur = image;
    if (out_width != image.width) cur = pass_horizontal(cur, out_width);
    if (out_height != image.height) cur = pass_vertical(cur, out_height);
    return cur;
}

Image smart_resize(const Image& rgb, double area, int factor) {
    const auto [nh, nw] = smart_resize_size(rgb.height, rgb.width, area, factor);
    check(nh >= factor && nw >= factor, "image ", rgb.width, "x", rgb.height, " at area ", area, " gives ", nw, "x",
          nh, ", smaller than one ", factor, "x", factor, " token");
    return resize_bicubic(rgb, nw, nh);
}

Tensor image_to_tensor(const Image& rgb) {
    check(rgb.channels == 3, "image_to_tensor: expected an RGB image, got ", rgb.channels, " channels");
    const std::size_t n = std::size_t(rgb.width) * rgb.height;
    check(rgb.pixels.size() == n * 3, "image_to_tensor: pixel buffer does not match the size");
    Tensor t = Tensor::zeros(DType::F32, {3, rgb.height, rgb.width});
    float* o = t.data_mut<float>();
    for (std::size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) o[c * n + i] = float(double(rgb.pixels[i * 3 + c]) / 127.5 - 1.0);
    return t;
}

Image tensor_to_image(const Tensor& chw) {
    check(chw.ndim() == 3 && chw.dim(0) == 3, "tensor_to_image: expected [3, H, W], got ", shape_str(chw.shape()));
    const Tensor t = chw.to_f32();
    const int h = int(t.dim(1)), w = int(t.dim(2));
    const std::size_t n = std::size_t(h) * w;
    Image img{w, h, 3, std::vector<std::uint8_t>(n * 3)};
    const float* p = t.data<float>();
    for (std::size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) {
            float v = (p[c * n + i] + 1.0f) * 127.5f;
            v = std::isnan(v) ? 0.f : std::min(255.f, std::max(0.f, v));
            img.pixels[i * 3 + c] = std::uint8_t(v);
        }
    return img;
}

}  // namespace emu::vision
