// F16/BF16 <-> F32 conversions: exact, round-to-nearest-even, edge values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "emu/tensor/dtype.h"
#include "emu/tensor/tensor.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

using namespace emu;

namespace {

float bits_to_f32(std::uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

// Independent definition of correct rounding: the result must be at least as close
// to x as its two neighbours, and on an exact tie its mantissa must be even.
template <typename ToF32>
void expect_nearest_even(float x, std::uint16_t got, ToF32 to_f32, std::uint16_t max_finite) {
    if (std::isnan(x)) {
        EXPECT_TRUE(std::isnan(to_f32(got))) << x;
        return;
    }
    std::uint16_t sign = got & 0x8000, mag = got & 0x7fff;
    double v = to_f32(got);
    double err = std::fabs(double(x) - v);
    if (std::isinf(v)) {
        // Overflow: x must be at least halfway beyond the largest finite value.
        double top = to_f32(max_finite), next_up = 2.0 * top - to_f32(max_finite - 1);
        EXPECT_GE(std::fabs(double(x)), (top + next_up) / 2) << x;
        return;
    }
    for (int d : {-1, 1}) {
        int m = int(mag) + d;
        if (m < 0 || m > max_finite) continue;
        double n = to_f32(std::uint16_t(sign | m));
        double nerr = std::fabs(double(x) - n);
        EXPECT_LE(err, nerr) << "x=" << x << " got " << v << " neighbour " << n;
        if (err == nerr) {
            EXPECT_EQ(mag & 1, 0) << "tie not to even for " << x;
        }
    }
}

}  // namespace

TEST(DType, F16RoundTripsEveryHalfValue) {
    for (std::uint32_t h = 0; h < 65536; ++h) {
        float f = f16_to_f32(std::uint16_t(h));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
            continue;
        }
        EXPECT_EQ(f32_to_f16(f), h) << "half 0x" << std::hex << h;
    }
}

TEST(DType, BF16RoundTripsEveryValue) {
    for (std::uint32_t h = 0; h < 65536; ++h) {
        float f = bf16_to_f32(std::uint16_t(h));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
            continue;
        }
        EXPECT_EQ(f32_to_bf16(f), h);
    }
}

TEST(DType, F16EdgeValues) {
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
    EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
    EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
    EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);             // tie -> even (zero)
    EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);             // above the tie
    EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);             // tie 1.5 ulp -> even 2
    EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);                          // below the overflow tie
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                          // tie rounds to inf
    EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
    EXPECT_EQ(f32_to_f16(1e-10f), 0x0000);
    EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
    EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::nanf("")))));
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // 1 + half ulp: tie -> even
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(3.0f, -11)), 0x3c02);  // 1 + 1.5 ulp: tie -> even
}

TEST(DType, BF16EdgeValues) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808000)), 0x3f80);  // tie -> even
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f818000)), 0x3f82);  // tie -> even (up)
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808001)), 0x3f81);
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x7f7fffff)), 0x7f80);  // max float rounds to inf
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x00000001)), 0x0000);  // tiny subnormal
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x00018000)), 0x0002);  // subnormal tie -> even
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(bits_to_f32(0x7f800001)))));  // sNaN stays NaN
    EXPECT_TRUE(std::isinf(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::infinity()))));
}

TEST(DType, RandomFloatsRoundToNearestEven) {
    std::mt19937 rng(1234);
    std::uniform_int_distribution<std::uint32_t> bits;
    for (int i = 0; i < 200000; ++i) {
        // Bias towards the half range so that most draws are not trivially inf/zero.
        std::uint32_t b = bits(rng);
        if (i % 2) b = (b & 0x807fffff) | (std::uint32_t(100 + (b >> 23) % 60) << 23);
        float x = bits_to_f32(b);
        expect_nearest_even(x, f32_to_f16(x), f16_to_f32, 0x7bff);
        expect_nearest_even(x, f32_to_bf16(x), bf16_to_f32, 0x7f7f);
#if defined(__F16C__)
        if (!std::isnan(x)) {  // the hardware conversion is a second, independent path
            std::uint16_t hw = _cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
            ASSERT_EQ(f32_to_f16(x), hw) << x;
        }
#endif
    }
}

TEST(Tensor, ConversionsBetweenDtypes) {
    Tensor t = Tensor::from_f32({2, 3}, {1.5f, -2.0f, 0.0f, 65504.0f, 3.25f, -7.0f});
    for (DType d : {DType::F16, DType::BF16, DType::F32}) {
        Tensor back = t.to(d).to_f32();
        std::vector<float> v = back.f32_values();
        EXPECT_EQ(v[0], 1.5f);
        EXPECT_EQ(v[5], -7.0f);
    }
    EXPECT_EQ(t.to(DType::I64).item(5), -7.0);
    EXPECT_EQ(t.reshaped({3, 2}).dim(0), 3);
    EXPECT_THROW(t.reshaped({4, 2}), std::exception);
}

TEST(Tensor, ShapeValidation) {
    EXPECT_THROW(shape_numel({-1, 2}), std::exception);
    EXPECT_THROW(shape_numel({1ll << 40, 1ll << 40}), std::exception);
    EXPECT_THROW(dtype_bytes(DType::Q8_0, 33), std::exception);
    EXPECT_EQ(dtype_bytes(DType::Q8_0, 64), 68u);
}
