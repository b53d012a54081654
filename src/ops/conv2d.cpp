#include "emu/ops/conv2d.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "emu/core/error.h"
#include "vec_math.h"

namespace emu::ops {
namespace {

// Bound on the im2col scratch, so that large images do not need K x (H*W) floats.
constexpr std::size_t kColumnBudgetFloats = std::size_t(8) << 20;  // 32 MiB
// A GEMM packs the whole weight matrix per call, so each call needs enough columns
// to amortise that.
constexpr std::size_t kMinTileCols = 256;
// Below this many input channels the per-tap GEMMs (K = channels) are too thin.
constexpr int kMinStripChannels = 16;
// Columns per strip tile: more rows per strip amortise its kh-1 halo rows.
constexpr std::size_t kStripTileCols = 1024;

void validate(const Conv2dShape& s) {
    check(s.in_channels > 0 && s.in_h > 0 && s.in_w > 0 && s.out_channels > 0 && s.kernel_h > 0 &&
              s.kernel_w > 0 && s.stride > 0 && s.upsample > 0 && s.pad_top >= 0 && s.pad_left >= 0 &&
              s.pad_bottom >= 0 && s.pad_right >= 0,
          "conv2d: invalid shape parameters");
    check(s.virt_h() + s.pad_top + s.pad_bottom >= s.kernel_h && s.virt_w() + s.pad_left + s.pad_right >= s.kernel_w,
          "conv2d: input ", s.in_h, "x", s.in_w, " is smaller than the ", s.kernel_h, "x", s.kernel_w, " kernel");
}

// Rows [row0, row0+rows) of the output, as columns of a [C*kh*kw, rows*out_w] matrix.
// `pre` (optional) transforms input values as they are gathered; padding stays zero.
void im2col_rows(const float* x, const Conv2dShape& s, const ChannelAffine* pre, int row0, int rows, float* col,
                 bool parallel) {
    const int ow = s.out_w(), vh = s.virt_h(), vw = s.virt_w(), u = s.upsample, st = s.stride;
    const int kk = s.kernel_h * s.kernel_w;
    const std::int64_t K = std::int64_t(s.in_channels) * kk;
    const std::size_t n = std::size_t(rows) * ow;
#pragma omp parallel for schedule(static) if (parallel && std::size_t(K) * n >= detail::kParallelMinElems)
    for (std::int64_t r = 0; r < K; ++r) {
        const int c = int(r / kk), ky = int(r % kk) / s.kernel_w, kx = int(r % kk) % s.kernel_w;
        const float* plane = x + std::size_t(c) * s.in_h * s.in_w;
        const float a = pre ? pre->scale[c] : 1.f, b = pre ? pre->shift[c] : 0.f;
        const bool sw = pre && pre->swish;
        float* out = col + std::size_t(r) * n;
        const int ix0 = -s.pad_left + kx;
        // Output columns whose input column is inside the image: [lo, hi).
        const int lo = std::min(ow, ix0 >= 0 ? 0 : (-ix0 + st - 1) / st);
        const int hi = std::max(lo, std::min(ow, vw - 1 - ix0 >= 0 ? (vw - 1 - ix0) / st + 1 : 0));
        for (int oy = row0; oy < row0 + rows; ++oy) {
            float* o = out + std::size_t(oy - row0) * ow;
            const int iy = oy * st - s.pad_top + ky;
            if (iy < 0 || iy >= vh) {
                std::memset(o, 0, sizeof(float) * ow);
                continue;
            }
            const float* src = plane + std::size_t(iy / u) * s.in_w;
            if (lo > 0) std::memset(o, 0, sizeof(float) * lo);
            if (hi < ow) std::memset(o + hi, 0, sizeof(float) * (ow - hi));
            if (st == 1 && u == 1) {
                if (!pre) {
                    std::memcpy(o + lo, src + ix0 + lo, sizeof(float) * (hi - lo));
                } else if (sw) {
                    for (int i = lo; i < hi; ++i) o[i] = detail::swish1(src[ix0 + i] * a + b);
                } else {
                    for (int i = lo; i < hi; ++i) o[i] = src[ix0 + i] * a + b;
                }
            } else if (st == 1 && u == 2) {
                for (int i = lo; i < hi; ++i) o[i] = src[(ix0 + i) >> 1];
                if (pre)
                    for (int i = lo; i < hi; ++i) o[i] = sw ? detail::swish1(o[i] * a + b) : o[i] * a + b;
            } else {
                for (int i = lo; i < hi; ++i) o[i] = src[(i * st + ix0) / u];
                if (pre)
                    for (int i = lo; i < hi; ++i) o[i] = sw ? detail::swish1(o[i] * a + b) : o[i] * a + b;
            }
        }
    }
}

// Stride-1 convolution without im2col. A strip of padded (and transformed, upsampled)
// input rows is built once per tile; on the padded grid, every tap (ky, kx) is then a
// plain shifted view of the strip with row length PW, so the conv is kh*kw GEMMs of
// [O, C] x [C, rows*PW] accumulating into a tile on the padded grid, whose first ow
// columns per row are the output. Each input value is transformed once per tile instead
// of kh*kw times, and nothing kh*kw times larger than the input is ever written.
struct StripPlan {
    int PW = 0, rows = 0, strip_rows = 0;
    std::size_t chan_stride = 0;  // floats per channel in the strip
};

void build_strip(const float* x, const Conv2dShape& s, const ChannelAffine* pre, const StripPlan& p, int r0,
                 float* strip) {
    const int vh = s.virt_h(), vw = s.virt_w(), u = s.upsample, pl = s.pad_left;
    const int nsr = std::min(p.strip_rows, s.out_h() - r0 + s.kernel_h - 1);
    for (int c = 0; c < s.in_channels; ++c) {
        const float* plane = x + std::size_t(c) * s.in_h * s.in_w;
        float* sc = strip + std::size_t(c) * p.chan_stride;
        const float a = pre ? pre->scale[c] : 1.f, b = pre ? pre->shift[c] : 0.f;
        const bool sw = pre && pre->swish;
        for (int sr = 0; sr < nsr; ++sr) {
            float* o = sc + std::size_t(sr) * p.PW;
            const int iy = r0 + sr - s.pad_top;
            if (iy < 0 || iy >= vh) {
                std::memset(o, 0, sizeof(float) * p.PW);
                continue;
            }
            const float* src = plane + std::size_t(iy / u) * s.in_w;
            if (pl > 0) std::memset(o, 0, sizeof(float) * pl);
            if (p.PW - pl - vw > 0) std::memset(o + pl + vw, 0, sizeof(float) * (p.PW - pl - vw));
            float* d = o + pl;
            if (u == 1) {
                if (!pre)
                    std::memcpy(d, src, sizeof(float) * vw);
                else if (sw)
                    for (int i = 0; i < vw; ++i) d[i] = detail::swish1(src[i] * a + b);
                else
                    for (int i = 0; i < vw; ++i) d[i] = src[i] * a + b;
            } else {
                for (int i = 0; i < vw; ++i) d[i] = src[i / u];
                if (pre)
                    for (int i = 0; i < vw; ++i) d[i] = sw ? detail::swish1(d[i] * a + b) : d[i] * a + b;
            }
        }
        // The last taps read up to kw-1 floats past the rows used; keep them defined.
        std::memset(sc + std::size_t(nsr) * p.PW, 0, sizeof(float) * (p.chan_stride - std::size_t(nsr) * p.PW));
    }
}

void conv_strips(const float* x, const float* weight, float* y, const Conv2dShape& s, const ChannelAffine* pre,
                 int threads) {
    const int O = s.out_channels, C = s.in_channels, oh = s.out_h(), ow = s.out_w();
    const int taps = s.kernel_h * s.kernel_w;
    StripPlan p;
    p.PW = s.virt_w() + s.pad_left + s.pad_right;
    p.rows = std::max(1, int((kStripTileCols + p.PW - 1) / p.PW));
    p.strip_rows = p.rows + s.kernel_h - 1;
    p.chan_stride = std::size_t(p.strip_rows) * p.PW + s.kernel_w;
    const int tiles = (oh + p.rows - 1) / p.rows;
    // Weights per tap: wt[t] is [O, C].
    std::unique_ptr<float[]> wt(new float[std::size_t(taps) * O * C]);
    for (int o = 0; o < O; ++o)
        for (int c = 0; c < C; ++c)
            for (int t = 0; t < taps; ++t)
                wt[(std::size_t(t) * O + o) * C + c] = weight[(std::size_t(o) * C + c) * taps + t];
    const std::size_t n = std::size_t(oh) * ow;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        std::unique_ptr<float[]> strip(new float[std::size_t(C) * p.chan_stride]);
        std::unique_ptr<float[]> acc(new float[std::size_t(O) * p.rows * p.PW]);
#pragma omp for schedule(dynamic, 1)
        for (int tile = 0; tile < tiles; ++tile) {
            const int r0 = tile * p.rows, nr = std::min(p.rows, oh - r0), cols = nr * p.PW;
            build_strip(x, s, pre, p, r0, strip.get());
            for (int t = 0; t < taps; ++t) {
                const int ky = t / s.kernel_w, kx = t % s.kernel_w;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, cols, C, 1.f, wt.get() + std::size_t(t) * O * C,
                            C, strip.get() + std::size_t(ky) * p.PW + kx, int(p.chan_stride), t == 0 ? 0.f : 1.f,
                            acc.get(), cols);
            }
            for (int o = 0; o < O; ++o)
                for (int l = 0; l < nr; ++l) {
                    float* dst = y + std::size_t(o) * n + std::size_t(r0 + l) * ow;
                    const float* src = acc.get() + std::size_t(o) * cols + std::size_t(l) * p.PW;
                    for (int i = 0; i < ow; ++i) dst[i] += src[i];
                }
        }
    }
}

void init_output(float* y, const float* bias, int O, std::size_t n, bool accumulate) {
#pragma omp parallel for schedule(static) if (std::size_t(O) * n >= detail::kParallelMinElems)
    for (int o = 0; o < O; ++o) {
        float* row = y + std::size_t(o) * n;
        const float b = bias ? bias[o] : 0.f;
        if (accumulate) {
            if (b != 0.f)
                for (std::size_t i = 0; i < n; ++i) row[i] += b;
        } else {
            std::fill(row, row + n, b);
        }
    }
}

// Scatter-adds a [C*kh*kw, rows*out_w] column gradient back onto the stored input grid:
// the transpose of im2col_rows (an upsampled read sums its copies into one stored pixel).
void col2im_add_rows(const float* dcol, const Conv2dShape& s, int row0, int rows, float* dx) {
    const int ow = s.out_w(), vh = s.virt_h(), vw = s.virt_w(), u = s.upsample, st = s.stride;
    const int kk = s.kernel_h * s.kernel_w;
    const std::size_t n = std::size_t(rows) * ow;
#pragma omp parallel for schedule(static) if (std::size_t(s.in_channels) * kk * n >= detail::kParallelMinElems)
    for (int c = 0; c < s.in_channels; ++c) {
        float* plane = dx + std::size_t(c) * s.in_h * s.in_w;
        for (int t = 0; t < kk; ++t) {
            const int ky = t / s.kernel_w, kx = t % s.kernel_w;
            const float* src = dcol + (std::size_t(c) * kk + t) * n;
            const int ix0 = -s.pad_left + kx;
            const int lo = std::min(ow, ix0 >= 0 ? 0 : (-ix0 + st - 1) / st);
            const int hi = std::max(lo, std::min(ow, vw - 1 - ix0 >= 0 ? (vw - 1 - ix0) / st + 1 : 0));
            for (int oy = row0; oy < row0 + rows; ++oy) {
                const int iy = oy * st - s.pad_top + ky;
                if (iy < 0 || iy >= vh) continue;
                float* dst = plane + std::size_t(iy / u) * s.in_w;
                const float* g = src + std::size_t(oy - row0) * ow;
                if (st == 1 && u == 1) {
                    for (int i = lo; i < hi; ++i) dst[ix0 + i] += g[i];
                } else {
                    for (int i = lo; i < hi; ++i) dst[(i * st + ix0) / u] += g[i];
                }
            }
        }
    }
}

// Stride-1 backward on the padded grid, the transpose of conv_strips: with the padded
// (transformed, upsampled) input S[C, PH*PW] and dY spread onto rows of PW columns (zeros
// in the kw-1 columns past the output), each tap is a plain shifted view, so
//   dW_t[O, C] += dYp S_t^T     and     dS_t += W_t^T dYp,
// 2*kh*kw GEMMs and no column matrix. dS is then folded back onto the stored input (an
// upsampled read sums its copies).
void conv_backward_strip(const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                         const Conv2dShape& s, const ChannelAffine* pre) {
    const int O = s.out_channels, C = s.in_channels, oh = s.out_h(), ow = s.out_w();
    const int taps = s.kernel_h * s.kernel_w;
    StripPlan p;
    p.PW = s.virt_w() + s.pad_left + s.pad_right;
    p.rows = oh;
    p.strip_rows = oh + s.kernel_h - 1;
    p.chan_stride = std::size_t(p.strip_rows) * p.PW + s.kernel_w;
    const std::size_t cols = std::size_t(oh) * p.PW, n = std::size_t(oh) * ow;
    std::unique_ptr<float[]> dyp(new float[std::size_t(O) * cols]);
    for (int o = 0; o < O; ++o)
        for (int r = 0; r < oh; ++r) {
            float* d = dyp.get() + std::size_t(o) * cols + std::size_t(r) * p.PW;
            std::memcpy(d, dy + std::size_t(o) * n + std::size_t(r) * ow, sizeof(float) * ow);
            std::memset(d + ow, 0, sizeof(float) * (p.PW - ow));
        }
    std::unique_ptr<float[]> wt(new float[std::size_t(taps) * O * C]);
    if (dweight) {
        std::unique_ptr<float[]> strip(new float[std::size_t(C) * p.chan_stride]);
        build_strip(x, s, pre, p, 0, strip.get());
        std::memset(wt.get(), 0, sizeof(float) * std::size_t(taps) * O * C);
        for (int t = 0; t < taps; ++t) {
            const int ky = t / s.kernel_w, kx = t % s.kernel_w;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, C, int(cols), 1.f, dyp.get(), int(cols),
                        strip.get() + std::size_t(ky) * p.PW + kx, int(p.chan_stride), 0.f,
                        wt.get() + std::size_t(t) * O * C, C);
        }
        for (int o = 0; o < O; ++o)
            for (int c = 0; c < C; ++c)
                for (int t = 0; t < taps; ++t)
                    dweight[(std::size_t(o) * C + c) * taps + t] += wt[(std::size_t(t) * O + o) * C + c];
    }
    if (!dx) return;
    for (int o = 0; o < O; ++o)
        for (int c = 0; c < C; ++c)
            for (int t = 0; t < taps; ++t)
                wt[(std::size_t(t) * O + o) * C + c] = weight[(std::size_t(o) * C + c) * taps + t];
    std::unique_ptr<float[]> ds(new float[std::size_t(C) * p.chan_stride]());
    for (int t = 0; t < taps; ++t) {
        const int ky = t / s.kernel_w, kx = t % s.kernel_w;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, int(cols), O, 1.f, wt.get() + std::size_t(t) * O * C, C,
                    dyp.get(), int(cols), 1.f, ds.get() + std::size_t(ky) * p.PW + kx, int(p.chan_stride));
    }
    const int vh = s.virt_h(), vw = s.virt_w(), u = s.upsample;
#pragma omp parallel for schedule(static) if (std::size_t(C) * vh * vw >= detail::kParallelMinElems)
    for (int c = 0; c < C; ++c) {
        float* plane = dx + std::size_t(c) * s.in_h * s.in_w;
        const float* src = ds.get() + std::size_t(c) * p.chan_stride;
        for (int iy = 0; iy < vh; ++iy) {
            const float* g = src + std::size_t(iy + s.pad_top) * p.PW + s.pad_left;
            float* d = plane + std::size_t(iy / u) * s.in_w;
            if (u == 1)
                for (int ix = 0; ix < vw; ++ix) d[ix] += g[ix];
            else
                for (int ix = 0; ix < vw; ++ix) d[ix / u] += g[ix];
        }
    }
}

}  // namespace

void conv2d(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s,
            bool accumulate, std::size_t scratch_floats, const ChannelAffine* pre) {
    validate(s);
    if (scratch_floats == 0) scratch_floats = kColumnBudgetFloats;
    const int O = s.out_channels, oh = s.out_h(), ow = s.out_w();
    const std::size_t n = std::size_t(oh) * ow;
    const int K = s.in_channels * s.kernel_h * s.kernel_w;
    init_output(y, bias, O, n, accumulate);

    const bool pointwise = s.kernel_h == 1 && s.kernel_w == 1 && s.stride == 1 && s.upsample == 1 &&
                           s.pad_top == 0 && s.pad_left == 0 && s.pad_bottom == 0 && s.pad_right == 0 && !pre;
    if (pointwise) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, int(n), K, 1.f, weight, K, x, int(n), 1.f, y,
                    int(n));
        return;
    }
    // Large outputs: each thread takes whole tiles of output rows, small enough that its
    // im2col block stays in cache while a single-threaded GEMM consumes it. This beats
    // one big multi-threaded GEMM over a large column buffer, which is bound by memory
    // traffic (writing the columns, then packing them again).
    const int threads = omp_get_max_threads();
    if (s.stride == 1 && s.in_channels >= kMinStripChannels && !omp_in_parallel()) {
        const int PW = s.virt_w() + s.pad_left + s.pad_right;
        const int rows = std::max(1, int((kStripTileCols + PW - 1) / PW));
        const int strip_tiles = (oh + rows - 1) / rows;
        if (threads == 1 || strip_tiles >= 2 * threads) {
            conv_strips(x, weight, y, s, pre, threads);
            return;
        }
    }
    const std::size_t tile_floats = std::min<std::size_t>(scratch_floats, std::size_t(1) << 18);
    const int tile_rows = int(std::max<std::size_t>(
        {std::size_t(1), tile_floats / (std::size_t(K) * ow), (kMinTileCols + ow - 1) / std::size_t(ow)}));
    const int tiles = (oh + tile_rows - 1) / tile_rows;
    if ((threads == 1 || tiles >= 2 * threads) && !omp_in_parallel()) {
#pragma omp parallel if (threads > 1)
        {
            std::unique_ptr<float[]> col(new float[std::size_t(K) * tile_rows * ow]);
#pragma omp for schedule(dynamic, 1)
            for (int t = 0; t < tiles; ++t) {
                const int r0 = t * tile_rows, nr = std::min(tile_rows, oh - r0), cols = nr * ow;
                im2col_rows(x, s, pre, r0, nr, col.get(), false);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, cols, K, 1.f, weight, K, col.get(), cols,
                            1.f, y + std::size_t(r0) * ow, int(n));
            }
        }
        return;
    }
    int rows = int(std::max<std::size_t>(1, scratch_floats / (std::size_t(K) * ow)));
    rows = std::min(rows, oh);
    std::unique_ptr<float[]> col(new float[std::size_t(K) * rows * ow]);
    for (int r0 = 0; r0 < oh; r0 += rows) {
        const int nr = std::min(rows, oh - r0);
        im2col_rows(x, s, pre, r0, nr, col.get(), true);
        const int cols = nr * ow;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, cols, K, 1.f, weight, K, col.get(), cols, 1.f,
                    y + std::size_t(r0) * ow, int(n));
    }
}

void conv2d_backward(const float* x, const float* weight, const float* dy, float* dx, float* dweight, float* dbias,
                     const Conv2dShape& s, const ChannelAffine* pre, std::size_t scratch_floats) {
    validate(s);
    if (scratch_floats == 0) scratch_floats = kColumnBudgetFloats;
    const int O = s.out_channels, oh = s.out_h(), ow = s.out_w();
    const std::size_t n = std::size_t(oh) * ow;
    const int K = s.in_channels * s.kernel_h * s.kernel_w;
    if (dbias) {
        for (int o = 0; o < O; ++o) {
            const float* row = dy + std::size_t(o) * n;
            double acc = 0;
            for (std::size_t i0 = 0; i0 < n; i0 += 256) {
                float part = 0;
                const std::size_t i1 = std::min(n, i0 + 256);
#pragma omp simd reduction(+ : part)
                for (std::size_t i = i0; i < i1; ++i) part += row[i];
                acc += part;
            }
            dbias[o] += float(acc);
        }
    }
    if (!dx && !dweight) return;
    if (s.stride == 1) {
        const std::size_t PW = std::size_t(s.virt_w()) + s.pad_left + s.pad_right;
        const std::size_t PH = std::size_t(s.virt_h()) + s.pad_top + s.pad_bottom;
        const std::size_t cs = PH * PW + s.kernel_w;
        if (std::size_t(s.in_channels) * cs * (dx ? 2 : 1) + std::size_t(O) * oh * PW <= scratch_floats) {
            conv_backward_strip(x, weight, dy, dx, dweight, s, pre);
            return;
        }
    }
    const int rows = std::min(oh, int(std::max<std::size_t>(1, scratch_floats / (std::size_t(K) * ow))));
    std::unique_ptr<float[]> col(new float[std::size_t(K) * rows * ow]);
    for (int r0 = 0; r0 < oh; r0 += rows) {
        const int nr = std::min(rows, oh - r0), cols = nr * ow;
        if (dweight) {
            // dW[O, K] += dY[O, cols] * col[K, cols]^T, col holding the transformed input.
            im2col_rows(x, s, pre, r0, nr, col.get(), true);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, K, cols, 1.f, dy + std::size_t(r0) * ow, int(n),
                        col.get(), cols, 1.f, dweight, K);
        }
        if (dx) {
            // dcol[K, cols] = W^T dY, then scattered back.
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, cols, O, 1.f, weight, K,
                        dy + std::size_t(r0) * ow, int(n), 0.f, col.get(), cols);
            col2im_add_rows(col.get(), s, r0, nr, dx);
        }
    }
}

void conv2d_reference(const float* x, const float* weight, const float* bias, float* y, const Conv2dShape& s,
                      bool accumulate, const ChannelAffine* pre) {
    validate(s);
    const int oh = s.out_h(), ow = s.out_w(), vh = s.virt_h(), vw = s.virt_w(), u = s.upsample;
    for (int o = 0; o < s.out_channels; ++o)
        for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox) {
                double acc = bias ? bias[o] : 0.0;
                for (int c = 0; c < s.in_channels; ++c)
                    for (int ky = 0; ky < s.kernel_h; ++ky)
                        for (int kx = 0; kx < s.kernel_w; ++kx) {
                            const int iy = oy * s.stride - s.pad_top + ky, ix = ox * s.stride - s.pad_left + kx;
                            if (iy < 0 || iy >= vh || ix < 0 || ix >= vw) continue;
                            double xv = x[(std::size_t(c) * s.in_h + iy / u) * s.in_w + ix / u];
                            if (pre) {
                                xv = xv * pre->scale[c] + pre->shift[c];
                                if (pre->swish) xv = xv / (1.0 + std::exp(-xv));
                            }
                            const double wv =
                                weight[((std::size_t(o) * s.in_channels + c) * s.kernel_h + ky) * s.kernel_w + kx];
                            acc += xv * wv;
                        }
                float& out = y[(std::size_t(o) * oh + oy) * ow + ox];
                out = accumulate ? float(out + acc) : float(acc);
            }
}

}  // namespace emu::ops
