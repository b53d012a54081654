// AMX path for BF16 and F32 weights with many input rows (prefill). The F32
// input is split into up to three BF16 parts (x = hi + mid + lo, exact to F32
// rounding); BF16 weights are exact already, F32 weights are split the same way
// while packed. Summing the part products with a + b < splits (all of them for
// BF16 weights; 6 of 9 for F32, the rest are below F32 rounding) in F32 gives
// the F32 result up to summation order - not a bf16-rounded approximation.
// GCC 12 warns falsely about _mm512_undefined_* inside its own intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cpuid.h>
#include <cstring>
#include <vector>

#include "emu/tensor/dtype.h"
#include "linear_kernels.h"

#define EMU_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw")))

namespace emu::ops::detail {
namespace {

constexpr int kMaxSplits = 3;
constexpr std::int64_t kTileK = 32;  // bf16 values per tile row (64 bytes)

struct TileConfig {
    std::uint8_t palette = 1, start_row = 0;
    std::uint8_t reserved[14] = {};
    std::uint16_t colsb[16] = {};
    std::uint8_t rows[16] = {};
};

bool detect_amx() {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool tile = d & (1u << 24), bf16 = d & (1u << 22);
    if (!tile || !bf16) return false;
    // Linux hands out the tile register state only on request (ARCH_REQ_XCOMP_PERM, XTILEDATA).
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
}

// Mask of the first `n` of 16 lanes (none for n <= 0).
inline __mmask16 lanes16(std::int64_t n) {
    return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// One BF16 part of 16 floats, rounded to nearest even like f32_to_bf16 (NaN
// stays a quiet NaN); `rest` becomes what the part leaves over (exact in F32).
EMU_AMX inline __m256i split_bf16(__m512& rest) {
    const __m512i bits = _mm512_castps_si512(rest);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i h = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    h = _mm512_mask_or_epi32(h, nan, _mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
    rest = _mm512_sub_ps(rest, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
    return _mm512_cvtepi32_epi16(h);
}

// In-register transpose of a 16x16 block of 32-bit words.
EMU_AMX inline void transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int h = 0; h < 2; ++h)
        for (int i = 0; i < 4; ++i) {
            t[8 * h + i] = _mm512_shuffle_i32x4(u[8 * h + i], u[8 * h + 4 + i], 0x88);
            t[8 * h + 4 + i] = _mm512_shuffle_i32x4(u[8 * h + i], u[8 * h + 4 + i], 0xdd);
        }
    for (int i = 0; i < 8; ++i) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_i32x4(t[i], t[8 + i], 0xdd);
    }
}

// Packs weight rows [n0, n0+32) x k-steps [ks0, ks0+kcn) into VNNI B tiles of
// 32-bit words: dst[ks][t][p][n] = (W[n0+16t+n][32ks+2p], W[..][32ks+2p+1]), zero
// padded past the matrix; the two tiles of a k-step are adjacent. Row n's 16 words
// of a k-step become column n of the tile, so each 16x16 word block is a transpose.
EMU_AMX void pack_b(const std::uint16_t* w, std::int64_t out, std::int64_t in, std::int64_t n0, std::int64_t ks0,
                    std::int64_t kcn, std::uint32_t* dst) {
    for (int t = 0; t < 2; ++t)
        for (std::int64_t ks = 0; ks < kcn; ++ks) {
            const std::int64_t k0 = (ks0 + ks) * kTileK, rem = in - k0;
            const __mmask32 mask = rem >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << rem) - 1);
            __m512i r[16];
            for (int n = 0; n < 16; ++n) {
                const std::int64_t row = n0 + 16 * t + n;
                r[n] = row < out ? _mm512_maskz_loadu_epi16(mask, w + row * in + k0) : _mm512_setzero_si512();
            }
            transpose16(r);
            std::uint32_t* d = dst + (ks * 2 + t) * 256;
            for (int p = 0; p < 16; ++p) _mm512_storeu_si512(d + p * 16, r[p]);
        }
}

// F32 weights: the same layout for each of `splits` BF16 parts of the weights,
// part-major: dst[part][ks][t][p][n].
EMU_AMX void pack_b_f32(const float* w, std::int64_t out, std::int64_t in, std::int64_t n0, std::int64_t ks0,
                        std::int64_t kcn, int splits, std::uint32_t* dst) {
    for (int t = 0; t < 2; ++t)
        for (std::int64_t ks = 0; ks < kcn; ++ks) {
            const std::int64_t k0 = (ks0 + ks) * kTileK, rem = in - k0;
            const __mmask16 m_lo = lanes16(rem), m_hi = lanes16(rem - 16);
            __m512i r[kMaxSplits][16];
            for (int n = 0; n < 16; ++n) {
                const std::int64_t row = n0 + 16 * t + n;
                __m512 a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
                if (row < out) {
                    a = _mm512_maskz_loadu_ps(m_lo, w + row * in + k0);
                    b = _mm512_maskz_loadu_ps(m_hi, w + row * in + k0 + 16);
                }
                for (int sp = 0; sp < splits; ++sp) {
                    const __m256i ah = split_bf16(a), bh = split_bf16(b);
                    r[sp][n] = _mm512_inserti64x4(_mm512_castsi256_si512(ah), bh, 1);
                }
            }
            for (int sp = 0; sp < splits; ++sp) {
                transpose16(r[sp]);
                std::uint32_t* d = dst + ((sp * kcn + ks) * 2 + t) * 256;
                for (int p = 0; p < 16; ++p) _mm512_storeu_si512(d + p * 16, r[sp][p]);
            }
        }
}

}  // namespace

bool amx_available() {
    static const bool ok = detect_amx();
    return ok;
}

EMU_AMX void amx_linear(const float* x, std::int64_t rows, std::int64_t in, const void* w, DType w_dtype,
                        std::int64_t out, float* y, int splits) {
    // Long prompts go through in slabs of rows, so the per-thread scratch (input planes,
    // accumulators) stays bounded however many rows come; each slab packs the weights
    // again, which costs the same share of the work as for a single slab.
    constexpr std::int64_t kSlabRows = 1024;
    if (rows > kSlabRows) {
        for (std::int64_t r0 = 0; r0 < rows; r0 += kSlabRows)
            amx_linear(x + r0 * in, std::min(kSlabRows, rows - r0), in, w, w_dtype, out, y + r0 * out, splits);
        return;
    }
    const int kSplits = std::clamp(splits, 1, kMaxSplits);
    const int w_splits = w_dtype == DType::F32 ? kSplits : 1;
    const std::int64_t kpad = (in + kTileK - 1) / kTileK * kTileK, ksteps = kpad / kTileK;
    const std::int64_t mpad = (rows + 31) / 32 * 32, npad = (out + 31) / 32 * 32, mblocks = mpad / 32;
    const bool big = rows * in * out > (std::int64_t(1) << 22);  // else one thread: regions cost more

    // The input as kSplits BF16 planes, stored as [split][32-row block][k-step] runs of
    // 32 rows x 32 values (the two A tiles of one step, 2 KB contiguous): row strides
    // of whole matrix rows alias in L1 and cross pages on every tile row. Padding rows
    // and columns are zeros.
    thread_local std::vector<std::uint16_t> planes;
    planes.resize(std::size_t(kSplits * mpad * kpad));
    std::uint16_t* const plane_data = planes.data();  // thread_local names resolve per thread in regions
#pragma omp parallel for schedule(static) if (big)
    for (std::int64_t r = 0; r < mpad; ++r)
        for (std::int64_t ks = 0; ks < ksteps; ++ks) {
            const std::int64_t k0 = ks * kTileK;
            __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
            if (r < rows) {
                lo = _mm512_maskz_loadu_ps(lanes16(in - k0), x + r * in + k0);
                hi = _mm512_maskz_loadu_ps(lanes16(in - k0 - 16), x + r * in + k0 + 16);
            }
            for (int s = 0; s < kSplits; ++s) {
                const __m256i a = split_bf16(lo), b = split_bf16(hi);
                _mm512_storeu_si512(plane_data + ((s * mblocks + r / 32) * ksteps + ks) * 1024 + (r % 32) * kTileK,
                                    _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1));
            }
        }

    // Work unit: a group of kGroup 32-column blocks. Per k-chunk the group's packed
    // weights (<= 512 KB) stay in L2 while every 32-row slice of the input passes
    // over them. The 32x32 output blocks accumulate in a per-thread buffer (each
    // block's four 16x16 tiles contiguous) and are copied out once, trimmed to y's
    // real rows and columns: no padded copy of y, however ragged its shape.
    constexpr std::int64_t kChunk = 32;
    const std::int64_t kGroup = std::max<std::int64_t>(2, 8 / w_splits);
    const std::int64_t block_words = w_splits * 2 * kChunk * 256;  // one 32-column block, one k-chunk
    const std::int64_t groups = (npad / 32 + kGroup - 1) / kGroup;
#pragma omp parallel if (big)
    {
        TileConfig cfg;
        for (int t = 0; t < 8; ++t) {
            cfg.colsb[t] = 64;
            cfg.rows[t] = 16;
        }
        _tile_loadconfig(&cfg);
        // Per-thread scratch kept across calls: small products come thousands of times
        // per image, and zero-filling fresh buffers cost more than their tile work.
        // Both are written before they are read (packing; tile_zero for the first chunk).
        thread_local std::vector<std::uint32_t> packed_buf;
        thread_local std::vector<float> acc_buf;
        if (packed_buf.size() < std::size_t(kGroup * block_words)) packed_buf.resize(std::size_t(kGroup * block_words));
        if (acc_buf.size() < std::size_t(kGroup * mpad * 32)) acc_buf.resize(std::size_t(kGroup * mpad * 32));
        std::uint32_t* const packed = packed_buf.data();
        float* const acc = acc_buf.data();
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t g = 0; g < groups; ++g) {
            const std::int64_t n_first = g * kGroup * 32;
            const std::int64_t blocks = std::min(kGroup, (npad - n_first) / 32);
            for (std::int64_t kc0 = 0; kc0 < ksteps; kc0 += kChunk) {
                const std::int64_t kcn = std::min(kChunk, ksteps - kc0);
                for (std::int64_t j = 0; j < blocks; ++j) {
                    if (w_dtype == DType::F32)
                        pack_b_f32(static_cast<const float*>(w), out, in, n_first + 32 * j, kc0, kcn, w_splits,
                                   packed + j * block_words);
                    else
                        pack_b(static_cast<const std::uint16_t*>(w), out, in, n_first + 32 * j, kc0, kcn,
                               packed + j * block_words);
                }
                for (std::int64_t mb = 0; mb < mblocks; ++mb) {
                    for (std::int64_t j = 0; j < blocks; ++j) {
                        float* c = acc + (j * mblocks + mb) * 1024;
                        if (kc0 == 0) {
                            _tile_zero(0);
                            _tile_zero(1);
                            _tile_zero(2);
                            _tile_zero(3);
                        } else {
                            _tile_loadd(0, c, 64);
                            _tile_loadd(1, c + 256, 64);
                            _tile_loadd(2, c + 512, 64);
                            _tile_loadd(3, c + 768, 64);
                        }
                        const std::uint32_t* bj = packed + j * block_words;
                        for (std::int64_t ks = 0; ks < kcn; ++ks)
                            for (int sb = 0; sb < w_splits; ++sb) {
                                const std::uint32_t* b0 = bj + (sb * kcn + ks) * 512;
                                _tile_loadd(6, b0, 64);
                                _tile_loadd(7, b0 + 256, 64);
                                for (int s = 0; s + sb < kSplits; ++s) {
                                    const std::uint16_t* a =
                                        plane_data + ((s * mblocks + mb) * ksteps + kc0 + ks) * 1024;
                                    _tile_loadd(4, a, 64);
                                    _tile_loadd(5, a + 512, 64);
                                    _tile_dpbf16ps(0, 4, 6);
                                    _tile_dpbf16ps(1, 4, 7);
                                    _tile_dpbf16ps(2, 5, 6);
                                    _tile_dpbf16ps(3, 5, 7);
                                }
                            }
                        _tile_stored(0, c, 64);
                        _tile_stored(1, c + 256, 64);
                        _tile_stored(2, c + 512, 64);
                        _tile_stored(3, c + 768, 64);
                    }
                }
            }
            // Copy out: tile (i, t) of block (j, mb) holds rows 32mb+16i.., columns 32j+16t..
            for (std::int64_t j = 0; j < blocks; ++j)
                for (std::int64_t mb = 0; mb < mblocks; ++mb)
                    for (int i = 0; i < 2; ++i)
                        for (int t = 0; t < 2; ++t) {
                            const std::int64_t col = n_first + 32 * j + 16 * t, n = std::min<std::int64_t>(16, out - col);
                            const float* tile = acc + (j * mblocks + mb) * 1024 + (2 * i + t) * 256;
                            for (std::int64_t r = 0; r < 16 && n > 0; ++r) {
                                const std::int64_t row = 32 * mb + 16 * i + r;
                                if (row < rows) std::memcpy(y + row * out + col, tile + r * 16, std::size_t(n) * sizeof(float));
                            }
                        }
        }
        _tile_release();
    }
}

}  // namespace emu::ops::detail
