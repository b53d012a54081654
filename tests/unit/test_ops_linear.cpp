// Fast linear kernels against the portable one, and the BLAS tile path against
// the streaming path, over every stored dtype and awkward sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>

#include <cstring>

#include "emu/core/error.h"
#include "emu/ops/isa.h"
#include "emu/ops/linear.h"

using namespace emu;
using namespace emu::ops;

namespace {

std::vector<float> randn(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Exact double-precision reference from the F32 values of the weight.
std::vector<double> reference(const std::vector<float>& x, std::int64_t rows, const Tensor& w) {
    std::vector<float> wf = w.f32_values();
    std::int64_t out = w.dim(0), in = w.dim(1);
    std::vector<double> y(std::size_t(rows * out));
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t o = 0; o < out; ++o) {
            double s = 0;
            for (std::int64_t i = 0; i < in; ++i) s += double(x[std::size_t(r * in + i)]) * wf[std::size_t(o * in + i)];
            y[std::size_t(r * out + o)] = s;
        }
    return y;
}

void expect_near_all(const std::vector<float>& got, const std::vector<double>& want, std::int64_t in,
                     const std::string& what) {
    ASSERT_EQ(got.size(), want.size());
    double tol = 1e-5 * std::sqrt(double(in)) * 4;
    for (std::size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], tol) << what << " at " << i;
}

}  // namespace

TEST(OpsLinear, EveryIsaMatchesReferenceForEveryDtype) {
    for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
        for (std::int64_t in : {1, 15, 16, 33, 100, 257}) {
            for (std::int64_t rows : {1, 2, 3, 4, 5, 9}) {
                const std::int64_t out = 7;
                Tensor w = Tensor::from_f32({out, in}, randn(std::size_t(out * in), unsigned(in))).to(dt);
                std::vector<float> x = randn(std::size_t(rows * in), unsigned(rows + 100));
                std::vector<double> want = reference(x, rows, w);
                for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) {
                    if (!isa_supported(isa)) continue;
                    std::vector<float> y(std::size_t(rows * out), -1.f);
                    linear_rows(isa, x.data(), rows, in, w.raw(), dt, 0, out, y.data(), out);
                    expect_near_all(y, want, in,
                                    std::string(dtype_name(dt)) + " " + isa_name(isa) + " in=" + std::to_string(in) +
                                        " rows=" + std::to_string(rows));
                }
            }
        }
    }
}

TEST(OpsLinear, PrefillPathsMatchReferenceOnEveryIsa) {
    const std::int64_t saved = blas_min_rows();
    for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
        for (auto [rows, in, out] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{20, 70, 45}, {33, 100, 70},
                                     {64, 64, 32}, {17, 1, 5}, {3, 300, 1100},
                                     {70, 1100, 300}, {1100, 40, 24}}) {  // last: slabs of rows on AMX
            Tensor w = Tensor::from_f32({out, in}, randn(std::size_t(out * in), 5)).to(dt);
            std::vector<float> x = randn(std::size_t(rows * in), 6);
            std::vector<double> want = reference(x, rows, w);
            for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16, Isa::Amx}) {
                if (!isa_supported(isa)) continue;
                force_isa(isa);
                set_amx_for_f32(isa == Isa::Amx);  // F32 through AMX here, through sgemm below it
                for (std::int64_t threshold : {std::int64_t(1), std::int64_t(1000)}) {
                    set_blas_min_rows(threshold);
                    std::vector<float> y(std::size_t(rows * out));
                    linear(x.data(), rows, w, y.data());
                    expect_near_all(y, want, in,
                                    std::string(dtype_name(dt)) + " " + isa_name(isa) + " threshold " +
                                        std::to_string(threshold) + " rows " + std::to_string(rows));
                }
            }
            clear_forced_isa();
            set_amx_for_f32(false);
        }
    }
    set_blas_min_rows(saved);
}

// The ISA levels with BF16 products: AMX tiles, and AVX512-BF16 dot products (which only
// take one-part products; linear.h).
static std::vector<Isa> bf16_product_isas() {
    std::vector<Isa> isas;
    for (Isa isa : {Isa::Avx512Bf16, Isa::Amx})
        if (isa_supported(isa)) isas.push_back(isa);
    return isas;
}

TEST(OpsLinear, Bf16SplitsTradeExactnessAsDocumented) {
    if (bf16_product_isas().empty()) GTEST_SKIP() << "no AVX512-BF16 or AMX on this CPU";
    set_amx_for_f32(true);
    for (Isa isa : bf16_product_isas())
    for (DType dt : {DType::BF16, DType::F32}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " " + isa_name(isa));
        force_isa(isa);
        const std::int64_t rows = 48, in = 300, out = 40;
        Tensor w = Tensor::from_f32({out, in}, randn(std::size_t(out * in), 11)).to(dt);
        std::vector<float> x = randn(std::size_t(rows * in), 12);
        std::vector<double> want = reference(x, rows, w);
        double err[4] = {};
        for (int splits = 1; splits <= 3; ++splits) {
            set_bf16_input_splits(splits);
            std::vector<float> y(std::size_t(rows * out));
            linear(x.data(), rows, w, y.data());
            for (std::size_t i = 0; i < y.size(); ++i) err[splits] = std::max(err[splits], std::fabs(y[i] - want[i]));
        }
        set_bf16_input_splits(3);
        // 3 AMX parts sum below F32 rounding; on AVX512-BF16, 3 parts are sgemm's F32 products,
        // whose rounding over sums of 300 products of size ~1 is ~3e-5.
        EXPECT_LT(err[3], isa == Isa::Amx ? 2e-5 : 5e-5);
        EXPECT_LT(err[2], 1e-3);
        EXPECT_GT(err[1], err[3]);  // one split really rounds the operands
        EXPECT_LT(err[1], 0.5);
    }
    clear_forced_isa();
    set_amx_for_f32(false);
}

// The backward products in BF16 parts (what a trainer gets with precision fast or bf16) against
// a double reference: dx = dy . W (overwritten and accumulated) and dW += dyᵀ . x, over ragged
// shapes and more rows than one slab; 3 splits are F32-exact, 1 split rounds to BF16.
TEST(OpsLinear, Bf16BackwardMatchesReference) {
    if (bf16_product_isas().empty()) GTEST_SKIP() << "no AVX512-BF16 or AMX on this CPU";
    const std::int64_t saved = blas_min_rows();
    set_blas_min_rows(1);
    set_amx_for_f32(true);
    for (Isa isa : bf16_product_isas())
    for (auto [rows, in, out] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{20, 70, 45}, {33, 100, 17},
                                 {64, 64, 32}, {5, 1, 3}, {1100, 40, 24}, {70, 300, 1100}}) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " rows " + std::to_string(rows) + " in " + std::to_string(in) +
                     " out " + std::to_string(out));
        force_isa(isa);
        Tensor w = Tensor::from_f32({out, in}, randn(std::size_t(out * in), 21));
        const std::vector<float> wf = w.f32_values(), x = randn(std::size_t(rows * in), 22),
                                 dy = randn(std::size_t(rows * out), 23), dx0 = randn(std::size_t(rows * in), 24),
                                 dw0 = randn(std::size_t(out * in), 25);
        std::vector<double> dx_want(std::size_t(rows * in)), dw_want(std::size_t(out * in));
        for (std::int64_t r = 0; r < rows; ++r)
            for (std::int64_t i = 0; i < in; ++i) {
                double s = 0;
                for (std::int64_t o = 0; o < out; ++o) s += double(dy[std::size_t(r * out + o)]) * wf[std::size_t(o * in + i)];
                dx_want[std::size_t(r * in + i)] = s;
            }
        for (std::int64_t o = 0; o < out; ++o)
            for (std::int64_t i = 0; i < in; ++i) {
                double s = dw0[std::size_t(o * in + i)];
                for (std::int64_t r = 0; r < rows; ++r) s += double(dy[std::size_t(r * out + o)]) * x[std::size_t(r * in + i)];
                dw_want[std::size_t(o * in + i)] = s;
            }
        for (int splits : {3, 1}) {
            set_bf16_input_splits(splits);
            // One split rounds both operands to 8 significant bits: errors grow like sqrt(k) * 2^-8.
            const double rel = splits == 3 ? 1e-5 : 2e-2;
            std::vector<float> dx(std::size_t(rows * in), 7.f), dx_acc = dx0, dw = dw0;
            linear_backward_input(dy.data(), rows, w, dx.data());
            linear_backward_input(dy.data(), rows, w, dx_acc.data(), true);
            linear_backward_weight(dy.data(), x.data(), rows, out, in, dw.data());
            const double tol_dx = rel * std::sqrt(double(out)) * 4, tol_dw = rel * std::sqrt(double(rows)) * 4;
            for (std::size_t i = 0; i < dx.size(); ++i) {
                ASSERT_NEAR(dx[i], dx_want[i], tol_dx) << "dx, splits " << splits << " at " << i;
                ASSERT_NEAR(dx_acc[i], dx_want[i] + dx0[i], tol_dx) << "dx accumulated, splits " << splits << " at " << i;
            }
            for (std::size_t i = 0; i < dw.size(); ++i)
                ASSERT_NEAR(dw[i], dw_want[i], tol_dw) << "dw, splits " << splits << " at " << i;
        }
    }
    clear_forced_isa();
    set_bf16_input_splits(3);
    set_amx_for_f32(false);
    set_blas_min_rows(saved);
}

// The user-facing precision modes set the two knobs as documented in linear.h.
TEST(OpsLinear, PrefillPrecisionModesSetTheKnobs) {
    set_prefill_precision("fast");
    EXPECT_EQ(bf16_input_splits(), 2);
    EXPECT_TRUE(amx_for_f32());
    set_prefill_precision("bf16");
    EXPECT_EQ(bf16_input_splits(), 1);
    EXPECT_TRUE(amx_for_f32());
    set_prefill_precision("exact");
    EXPECT_EQ(bf16_input_splits(), 3);
    EXPECT_FALSE(amx_for_f32());
    EXPECT_THROW(set_prefill_precision("half"), Error);
    EXPECT_EQ(bf16_input_splits(), 3);
}

TEST(OpsLinear, Q8BlocksDequantiseAsScaleTimesInt) {
    const std::int64_t out = 3, in = 64;
    std::vector<std::uint8_t> raw(std::size_t(out * (in / 32) * 34));
    std::vector<float> dense(std::size_t(out * in));
    for (std::int64_t b = 0; b < out * in / 32; ++b) {
        float scale = 0.01f * float(b + 1);
        std::uint16_t h = f32_to_f16(scale);
        std::memcpy(&raw[std::size_t(b * 34)], &h, 2);
        for (int i = 0; i < 32; ++i) {
            std::int8_t q = std::int8_t((b * 37 + i * 11) % 255 - 127);
            raw[std::size_t(b * 34 + 2 + i)] = std::uint8_t(q);
            dense[std::size_t(b * 32 + i)] = f16_to_f32(h) * float(q);
        }
    }
    Tensor wq = Tensor::view(DType::Q8_0, {out, in}, raw.data(), nullptr);
    Tensor wf = Tensor::from_f32({out, in}, dense);
    std::vector<float> x = randn(std::size_t(2 * in), 9);
    std::vector<float> y(std::size_t(2 * out));
    linear(x.data(), 2, wq, y.data());
    expect_near_all(y, reference(x, 2, wf), in, "q8_0");
}

TEST(OpsLinear, QuantizedQ8MatchesItsDequantisedValuesOnEveryIsa) {
    for (std::int64_t in : {32, 96, 320}) {
        const std::int64_t out = 19;
        std::vector<float> dense = randn(std::size_t(out * in), unsigned(in + 7));
        Tensor wf = Tensor::from_f32({out, in}, dense);
        Tensor wq = quantize_q8_0(wf);
        ASSERT_EQ(wq.dtype(), DType::Q8_0);
        std::vector<float> deq(std::size_t(out * in));
        weight_rows_to_f32(wq.raw(), DType::Q8_0, in, 0, out, deq.data());
        for (std::int64_t b = 0; b < out * in / 32; ++b) {  // rounding error at most half a step
            float amax = 0;
            for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(dense[std::size_t(b * 32 + i)]));
            for (int i = 0; i < 32; ++i)
                ASSERT_LE(std::fabs(deq[std::size_t(b * 32 + i)] - dense[std::size_t(b * 32 + i)]), amax / 127 * 0.51f);
        }
        for (std::int64_t rows : {1, 2, 5}) {
            std::vector<float> x = randn(std::size_t(rows * in), unsigned(rows));
            std::vector<double> ref = reference(x, rows, Tensor::from_f32({out, in}, deq));
            for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) {
                if (!isa_supported(isa)) continue;
                std::vector<float> y(std::size_t(rows * out));
                linear_rows(isa, x.data(), rows, in, wq.raw(), DType::Q8_0, 0, out, y.data(), out);
                expect_near_all(y, ref, in, std::string("q8 ") + isa_name(isa));
            }
        }
        // Prefill-sized input: F32 tiles + BLAS.
        std::vector<float> x = randn(std::size_t(20 * in), 77);
        std::vector<float> y(std::size_t(20 * out));
        linear(x.data(), 20, wq, y.data());
        expect_near_all(y, reference(x, 20, Tensor::from_f32({out, in}, deq)), in, "q8 prefill");
    }
    EXPECT_THROW(quantize_q8_0(Tensor::zeros(DType::F32, {2, 33})), Error);
}

TEST(OpsLinear, RejectsNonMatrixWeights) {
    Tensor w = Tensor::from_f32({4}, {1, 2, 3, 4});
    float x[4] = {}, y[4] = {};
    EXPECT_THROW(linear(x, 1, w, y), Error);
}
