// 2-D convolution over one CHW float image (batch 1), as torch.nn.Conv2d with bias.
// Padding may be asymmetric (the IBQ downsampler pads only right and bottom), and the
// input may be read through a nearest-neighbour upsampling so that "upsample x2 then
// conv" never materialises the upsampled image.
#pragma once
#include <cstddef>
#include <cstdint>

namespace emu::ops {

struct Conv2dShape {
    int in_channels = 0, in_h = 0, in_w = 0;  // stored input (before any upsampling)
    int out_channels = 0;
    int kernel_h = 1, kernel_w = 1;
    int stride = 1;
    int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    int upsample = 1;  // the input is read as if nearest-upsampled by this factor

    int virt_h() const { return in_h * upsample; }
    int virt_w() const { return in_w * upsample; }
    int out_h() const { return (virt_h() + pad_top + pad_bottom - kernel_h) / stride + 1; }
    int out_w() const { return (virt_w() + pad_left + pad_right - kernel_w) / stride + 1; }
};

// An elementwise per-channel transform of the conv input, v -> v * scale[c] + shift[c],
// then swish if set: a GroupNorm (+ swish) folded into the conv's input read, so the
// normalised image is never stored. Zero padding is applied after it, as in torch.
struct ChannelAffine {
    const float* scale = nullptr;
    const float* shift = nullptr;
    bool swish = false;
};

// y[O, out_h, out_w] = conv(pre(x[C, in_h, in_w])) + bias. weight is [O, C, kh, kw], bias [O] or
// null. With accumulate, the result is added to what y already holds (a fused residual).
// Throws Error on shapes that give an empty output. Memory beyond y is bounded: the
// im2col scratch is tiled over output rows to at most scratch_floats (0 = 32 MiB).
void conv2d(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s,
            bool accumulate = false, std::size_t scratch_floats = 0, const ChannelAffine* pre = nullptr);

// Gradients of conv2d, given dy = dLoss/dy [O, out_h, out_w] and the forward's x, weight,
// shape and `pre`. Every output is *added into* (so residual branches and batches
// accumulate), and any may be null:
//   dx      [C, in_h, in_w]: gradient with respect to the conv's input values after `pre`
//           (the normalised, swished map), summed over the copies an upsampled read
//           makes; chain it through group_norm_backward when `pre` is set.
//   dweight [O, C, kh, kw], dbias [O].
// Scratch is tiled over output rows like the forward's (0 = 32 MiB).
void conv2d_backward(const float* x, const float* weight, const float* dy, float* dx, float* dweight, float* dbias,
                     const Conv2dShape& s, const ChannelAffine* pre = nullptr, std::size_t scratch_floats = 0);

// The same convolution computed directly by its definition, in double: slow, for tests.
void conv2d_reference(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s,
                      bool accumulate = false, const ChannelAffine* pre = nullptr);

}  // namespace emu::ops
