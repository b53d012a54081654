#include "emu/ops/linear.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <atomic>
#include <vector>

#include "emu/core/error.h"
#include "linear_kernels.h"

namespace emu::ops {
namespace {

std::atomic<std::int64_t> g_blas_min_rows{16};
std::atomic<int> g_bf16_splits{3};
// Measured on par with OpenBLAS sgemm on a 2-core Sapphire Rapids VM, so off by default.
std::atomic<bool> g_amx_f32{false};

// Weight rows per parallel work item: small enough to balance threads, large
// enough that a block stays in L2 while every input row group passes over it.
constexpr std::int64_t kOutBlock = 16;
// F32 bytes of one converted tile handed to BLAS.
constexpr std::int64_t kTileBytes = std::int64_t(8) << 20;

detail::RowsKernel pick_kernel(Isa isa, DType t) {
    detail::RowsKernel k = nullptr;
    if (int(isa) >= int(Isa::Avx512)) k = detail::avx512_kernel(t);
    if (!k && int(isa) >= int(Isa::Avx2)) k = detail::avx2_kernel(t);
    if (!k) k = detail::portable_kernel(t);
    check(k != nullptr, "linear: unsupported weight dtype ", dtype_name(t));
    return k;
}

void stream_rows(detail::RowsKernel k, const float* x, std::int64_t rows, std::int64_t in, const void* w,
                 std::int64_t o0, std::int64_t o1, float* y, std::int64_t ldy) {
    for (std::int64_t r0 = 0; r0 < rows; r0 += detail::kMaxRows) {
        std::int64_t n = std::min(detail::kMaxRows, rows - r0);
        k(x + r0 * in, n, in, w, o0, o1, y + r0 * ldy, ldy);
    }
}

}  // namespace

namespace detail {
bool use_bf16_gemm(int splits) {
    const Isa isa = active_isa();
    return isa == Isa::Amx || (isa == Isa::Avx512Bf16 && splits == 1);
}
}  // namespace detail

std::int64_t blas_min_rows() { return g_blas_min_rows.load(); }
void set_blas_min_rows(std::int64_t rows) { g_blas_min_rows.store(std::max<std::int64_t>(1, rows)); }

int bf16_input_splits() { return g_bf16_splits.load(); }
void set_bf16_input_splits(int splits) { g_bf16_splits.store(std::clamp(splits, 1, 3)); }
bool amx_for_f32() { return g_amx_f32.load(); }
void set_amx_for_f32(bool on) { g_amx_f32.store(on); }

void set_prefill_precision(const std::string& mode) {
    check(mode == "exact" || mode == "fast" || mode == "bf16", "precision must be exact, fast or bf16, got '", mode,
          "'");
    set_bf16_input_splits(mode == "exact" ? 3 : mode == "fast" ? 2 : 1);
    set_amx_for_f32(mode != "exact");
}

void linear_rows(Isa isa, const float* x, std::int64_t rows, std::int64_t in, const void* w, DType w_dtype,
                 std::int64_t o_begin, std::int64_t o_end, float* y, std::int64_t ldy) {
    if (!isa_supported(isa)) isa = active_isa();
    stream_rows(pick_kernel(isa, w_dtype), x, rows, in, w, o_begin, o_end, y, ldy);
}

Tensor quantize_q8_0(const Tensor& w) {
    check(w.ndim() == 2 && w.dim(1) % 32 == 0, "quantize_q8_0: need a matrix with rows of whole 32-value blocks, got ",
          shape_str(w.shape()));
    const std::int64_t out = w.dim(0), in = w.dim(1), blocks_per_row = in / 32;
    Tensor q = Tensor::zeros(DType::Q8_0, w.shape());
    std::uint8_t* dst = static_cast<std::uint8_t*>(q.raw_mut());
#pragma omp parallel
    {
        std::vector<float> row(static_cast<std::size_t>(in));
#pragma omp for schedule(static)
        for (std::int64_t o = 0; o < out; ++o) {
            detail::convert_to_f32(w.dtype(), w.raw(), o * in, in, row.data());
            for (std::int64_t b = 0; b < blocks_per_row; ++b) {
                const float* x = row.data() + b * 32;
                float amax = 0.f;
                for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
                const std::uint16_t d_bits = f32_to_f16(amax / 127.f);
                const float d = f16_to_f32(d_bits), inv = d > 0 ? 1.f / d : 0.f;
                std::uint8_t* blk = dst + (o * blocks_per_row + b) * 34;
                std::memcpy(blk, &d_bits, 2);
                for (int i = 0; i < 32; ++i) {
                    long v = std::lround(x[i] * inv);
                    blk[2 + i] = std::uint8_t(std::int8_t(std::clamp(v, -127L, 127L)));
                }
            }
        }
    }
    return q;
}

void weight_rows_to_f32(const void* w, DType w_dtype, std::int64_t in, std::int64_t row_begin, std::int64_t count,
                        float* dst) {
#pragma omp parallel for schedule(static) if (count * in > (1 << 16))
    for (std::int64_t r = 0; r < count; ++r)
        detail::convert_to_f32(w_dtype, w, (row_begin + r) * in, in, dst + r * in);
}

void linear(const float* x, std::int64_t rows, const Tensor& w, float* y) {
    check(w.ndim() == 2 && w.is_contiguous(), "linear: weight must be a contiguous matrix, got ",
          shape_str(w.shape()));
    const std::int64_t out = w.dim(0), in = w.dim(1);
    const DType t = w.dtype();
    check(t == DType::F32 || t == DType::BF16 || t == DType::F16 || t == DType::Q8_0,
          "linear: unsupported weight dtype ", dtype_name(t));
    check(t != DType::Q8_0 || in % 32 == 0, "linear: Q8_0 rows must be whole blocks, in=", in);
    if (rows <= 0 || out == 0) return;

    if (rows >= blas_min_rows() && in > 0) {
        if ((t == DType::BF16 || (t == DType::F32 && g_amx_f32.load())) && detail::use_bf16_gemm(bf16_input_splits())) {
            detail::bf16_linear(x, rows, in, w.raw(), t, out, y, bf16_input_splits());
            return;
        }
        if (t == DType::F32) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(out), int(in), 1.f, x, int(in),
                        w.data<float>(), int(in), 0.f, y, int(out));
            return;
        }
        std::int64_t tile = std::max<std::int64_t>(16, kTileBytes / (in * 4));
        tile = std::min(tile, out);
        thread_local std::vector<float> buf;
        buf.resize(std::size_t(tile * in));
        for (std::int64_t o0 = 0; o0 < out; o0 += tile) {
            std::int64_t n = std::min(tile, out - o0);
            weight_rows_to_f32(w.raw(), t, in, o0, n, buf.data());
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(n), int(in), 1.f, x, int(in),
                        buf.data(), int(in), 0.f, y + o0, int(out));
        }
        return;
    }

    detail::RowsKernel k = pick_kernel(active_isa(), t);
    const std::int64_t blocks = (out + kOutBlock - 1) / kOutBlock;
    // Small products stay on one thread: a parallel region costs more than they do.
#pragma omp parallel for schedule(static) if (rows * out * in > (1 << 18))
    for (std::int64_t b = 0; b < blocks; ++b) {
        std::int64_t o0 = b * kOutBlock, o1 = std::min(out, o0 + kOutBlock);
        stream_rows(k, x, rows, in, w.raw(), o0, o1, y, out);
    }
}

}  // namespace emu::ops
