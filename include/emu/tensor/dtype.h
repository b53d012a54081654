// Element types and exact conversions between the float formats.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace emu {

// Q8_0 is a block-quantized type: blocks of 32 values, one F16 scale + 32 int8.
enum class DType : std::uint8_t { F32, F16, BF16, I32, I64, U8, Q8_0 };

struct DTypeInfo {
    const char* name;       // safetensors spelling ("F32", "BF16", ...)
    std::size_t block_elems; // elements per storage block (1 for plain types)
    std::size_t block_bytes; // bytes per storage block
};

const DTypeInfo& dtype_info(DType t);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }
// Parses a safetensors dtype name; returns false when unknown.
bool parse_dtype(const std::string& name, DType* out);
// Bytes needed for `elements` values of type t, or throws Error when the count is
// not a whole number of blocks or the size would overflow.
std::size_t dtype_bytes(DType t, std::uint64_t elements);

constexpr std::size_t kQ8BlockElems = 32;

// IEEE binary16 <-> binary32. float->half rounds to nearest even; NaN stays NaN.
inline float f16_to_f32(std::uint16_t h) {
    std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
    std::uint32_t exp = (h >> 10) & 0x1f;
    std::uint32_t mant = h & 0x3ff;
    std::uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {  // subnormal half: normalise into a float
        int shift = 0;
        while (!(mant & 0x400)) { mant <<= 1; ++shift; }
        mant &= 0x3ff;
        bits = sign | (std::uint32_t(113 - shift) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline std::uint16_t f32_to_f16(float f) {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    std::uint16_t sign = std::uint16_t((x >> 16) & 0x8000);
    std::uint32_t exp = (x >> 23) & 0xff;
    std::uint32_t mant = x & 0x7fffff;
    if (exp == 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0);
    int e = int(exp) - 127 + 15;
    if (e >= 0x1f) return sign | 0x7c00;  // overflow -> inf
    if (e <= 0) {                         // subnormal or zero in half
        if (e < -10) return sign;
        mant |= 0x800000;
        int shift = 14 - e;
        std::uint32_t half = mant >> shift;
        std::uint32_t rem = mant & ((1u << shift) - 1);
        std::uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) ++half;
        return sign | std::uint16_t(half);
    }
    std::uint32_t half = (std::uint32_t(e) << 10) | (mant >> 13);
    std::uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;  // may carry into inf: correct
    return sign | std::uint16_t(half);
}

inline float bf16_to_f32(std::uint16_t b) {
    std::uint32_t bits = std::uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline std::uint16_t f32_to_bf16(float f) {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return std::uint16_t((x >> 16) | 0x40);  // quiet NaN
    std::uint32_t rounding = 0x7fff + ((x >> 16) & 1);
    return std::uint16_t((x + rounding) >> 16);
}

}  // namespace emu
