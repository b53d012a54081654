// BF16 products with many rows: prefill (x . W^T for BF16 and F32 weights) and the
// backward of training's F32 linears (bf16_gemm's transposed operands), on AMX tiles or,
// on CPUs without them, with AVX512-BF16 dot products over the same packed operands. The F32
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

#include <omp.h>

#include <algorithm>
#include <cpuid.h>
#include <vector>

#include "emu/core/error.h"
#include "emu/ops/isa.h"
#include "emu/tensor/dtype.h"
#include "linear_kernels.h"

// One body for both units: the AMX instructions only run where active_isa() is Amx.
#define EMU_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))

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

// F32 B stored k-major (B(k, n) = b[k * ld + n], as x in dw = dyᵀ · x and w in dx = dy · w):
// the same tile layout as pack_b_f32, but a word's two values come from rows k and k + 1,
// so no transpose is needed, only an interleave of two rows' BF16 parts.
EMU_AMX void pack_b_f32_rows(const float* b, std::int64_t ld, std::int64_t n_total, std::int64_t k_total,
                             std::int64_t n0, std::int64_t ks0, std::int64_t kcn, int splits, std::uint32_t* dst) {
    for (int t = 0; t < 2; ++t) {
        const std::int64_t col = n0 + 16 * t;
        const __mmask16 m = lanes16(n_total - col);
        for (std::int64_t ks = 0; ks < kcn; ++ks) {
            const std::int64_t k0 = (ks0 + ks) * kTileK;
            for (int p = 0; p < 16; ++p) {
                const std::int64_t k = k0 + 2 * p;
                __m512 even = k < k_total ? _mm512_maskz_loadu_ps(m, b + k * ld + col) : _mm512_setzero_ps();
                __m512 odd = k + 1 < k_total ? _mm512_maskz_loadu_ps(m, b + (k + 1) * ld + col) : _mm512_setzero_ps();
                for (int sp = 0; sp < splits; ++sp) {
                    const __m512i e = _mm512_cvtepu16_epi32(split_bf16(even));
                    const __m512i o = _mm512_cvtepu16_epi32(split_bf16(odd));
                    _mm512_storeu_si512(dst + ((sp * kcn + ks) * 2 + t) * 256 + p * 16,
                                        _mm512_or_si512(e, _mm512_slli_epi32(o, 16)));
                }
            }
        }
    }
}

// A(m, k) for m in [m0, m0 + 32), k in [k0, k0 + 32) as two F32 vectors per row (k0.. and
// k0 + 16..), zeros outside the matrix. A transposed operand (A(m, k) = a[k * ld + m], as dyᵀ
// in dw = dyᵀ · x) is read 16x16 at a time along its rows and transposed in registers.
EMU_AMX void load_a_block(const Bf16A& a, std::int64_t M, std::int64_t K, std::int64_t m0, std::int64_t k0,
                          __m512 lo[32], __m512 hi[32]) {
    if (!a.trans) {
        for (int r = 0; r < 32; ++r) {
            const std::int64_t m = m0 + r;
            lo[r] = m < M ? _mm512_maskz_loadu_ps(lanes16(K - k0), a.p + m * a.ld + k0) : _mm512_setzero_ps();
            hi[r] = m < M ? _mm512_maskz_loadu_ps(lanes16(K - k0 - 16), a.p + m * a.ld + k0 + 16) : _mm512_setzero_ps();
        }
        return;
    }
    for (int h = 0; h < 2; ++h)      // rows m0 + 16h ..
        for (int g = 0; g < 2; ++g) {  // columns k0 + 16g ..
            const __mmask16 mm = lanes16(M - m0 - 16 * h);
            __m512i r[16];
            for (int i = 0; i < 16; ++i) {
                const std::int64_t k = k0 + 16 * g + i;
                r[i] = k < K ? _mm512_castps_si512(_mm512_maskz_loadu_ps(mm, a.p + k * a.ld + m0 + 16 * h))
                             : _mm512_setzero_si512();
            }
            transpose16(r);
            for (int j = 0; j < 16; ++j) (g == 0 ? lo : hi)[16 * h + j] = _mm512_castsi512_ps(r[j]);
        }
}

// What the four tile products of one 32x32 output block do over a k-chunk, with AVX512-BF16
// dot products instead (no AMX): acc holds the block as four 16x16 F32 tiles (tile (i, t):
// rows 16i.., columns 16t..), A planes are 32 rows x 32 BF16 values per k-step, B the VNNI
// tiles of pack_b*. Eight rows at a time stay in registers over the whole chunk (16
// accumulators); each A pair is broadcast from memory, each B word row loaded once per 8 rows.
EMU_AMX void dot_block(float* acc, bool zero, const std::uint16_t* a_planes, std::int64_t a_stride,
                       const std::uint32_t* b, std::int64_t kcn, int a_splits, int b_splits) {
    constexpr int kRows = 8;
    for (int r0 = 0; r0 < 32; r0 += kRows) {
        __m512 c[kRows][2];
        float* const base = acc + (r0 / 16) * 512 + (r0 % 16) * 16;  // tile (r0/16, 0), row r0%16
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r)
            for (int t = 0; t < 2; ++t)
                c[r][t] = zero ? _mm512_setzero_ps() : _mm512_loadu_ps(base + t * 256 + r * 16);
        for (std::int64_t ks = 0; ks < kcn; ++ks)
            for (int sb = 0; sb < b_splits; ++sb) {
                const std::uint32_t* b0 = b + (sb * kcn + ks) * 512;
                for (int s = 0; s + sb < a_splits; ++s) {
                    const auto* ap = reinterpret_cast<const std::int32_t*>(a_planes + s * a_stride + ks * 1024) +
                                     r0 * (kTileK / 2);
                    for (int p = 0; p < 16; ++p) {
                        const __m512bh b_lo = (__m512bh)_mm512_loadu_si512(b0 + p * 16);
                        const __m512bh b_hi = (__m512bh)_mm512_loadu_si512(b0 + 256 + p * 16);
#pragma GCC unroll 8
                        for (int r = 0; r < kRows; ++r) {
                            const __m512bh a = (__m512bh)_mm512_set1_epi32(ap[r * (kTileK / 2) + p]);
                            c[r][0] = _mm512_dpbf16_ps(c[r][0], a, b_lo);
                            c[r][1] = _mm512_dpbf16_ps(c[r][1], a, b_hi);
                        }
                    }
                }
            }
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r)
            for (int t = 0; t < 2; ++t) _mm512_storeu_ps(base + t * 256 + r * 16, c[r][t]);
    }
}

}  // namespace

bool amx_available() {
    static const bool ok = detect_amx();
    return ok;
}

EMU_AMX void bf16_gemm(const Bf16A& a, const Bf16B& b, std::int64_t M, std::int64_t N, std::int64_t K, float* c,
                      std::int64_t ldc, bool accumulate, int splits) {
    check(b.dtype == DType::F32 || (b.dtype == DType::BF16 && b.trans), "bf16_gemm: B must be F32, or BF16 stored [N, K]");
    check(!b.trans || b.ld == K, "bf16_gemm: a transposed B must be stored [N, K] densely");
    // Many rows go through in slabs, so the per-thread scratch (input planes,
    // accumulators) stays bounded however many come; each slab packs B again, which
    // costs the same share of the work as for a single slab.
    constexpr std::int64_t kSlabRows = 1024;
    if (M > kSlabRows) {
        for (std::int64_t m0 = 0; m0 < M; m0 += kSlabRows) {
            Bf16A slab = a;
            slab.p += a.trans ? m0 : m0 * a.ld;
            bf16_gemm(slab, b, std::min(kSlabRows, M - m0), N, K, c + m0 * ldc, ldc, accumulate, splits);
        }
        return;
    }
    const Isa isa = active_isa();
    const bool tiles = isa == Isa::Amx;
    check(tiles || isa == Isa::Avx512Bf16, "bf16_gemm: needs AMX or AVX512-BF16 (see use_bf16_gemm)");
    const int kSplits = std::clamp(splits, 1, kMaxSplits);
    const int w_splits = b.dtype == DType::F32 ? kSplits : 1;
    const std::int64_t kpad = (K + kTileK - 1) / kTileK * kTileK, ksteps = kpad / kTileK;
    const std::int64_t mpad = (M + 31) / 32 * 32, npad = (N + 31) / 32 * 32, mblocks = mpad / 32;
    const bool big = M * K * N > (std::int64_t(1) << 22);  // else one thread: regions cost more

    // A as kSplits BF16 planes, stored as [split][32-row block][k-step] runs of
    // 32 rows x 32 values (the two A tiles of one step, 2 KB contiguous): row strides
    // of whole matrix rows alias in L1 and cross pages on every tile row. Padding rows
    // and columns are zeros.
    thread_local std::vector<std::uint16_t> planes;
    planes.resize(std::size_t(kSplits * mpad * kpad));
    std::uint16_t* const plane_data = planes.data();  // thread_local names resolve per thread in regions
    // Work unit: a group of kGroup 32-column blocks (and, for narrow products, a part of
    // the rows). Per k-chunk the group's packed B (<= 512 KB) stays in L2 while every
    // 32-row slice of A passes over it. The 32x32 output blocks accumulate in a
    // per-thread buffer (each block's four 16x16 tiles contiguous) and are written out
    // once, trimmed to C's real rows and columns: no padded copy of C, however ragged.
    constexpr std::int64_t kChunk = 32;
    const std::int64_t kGroup = std::max<std::int64_t>(2, 8 / w_splits);
    const std::int64_t block_words = w_splits * 2 * kChunk * 256;  // one 32-column block, one k-chunk
    const std::int64_t col_blocks = npad / 32, chunks = (ksteps + kChunk - 1) / kChunk;
    const std::int64_t groups = (col_blocks + kGroup - 1) / kGroup;
    auto pack = [&](std::int64_t col_block, std::int64_t kc0, std::uint32_t* dst) {
        const std::int64_t n0 = 32 * col_block, kcn = std::min(kChunk, ksteps - kc0);
        if (b.dtype == DType::BF16)
            pack_b(static_cast<const std::uint16_t*>(b.p), N, K, n0, kc0, kcn, dst);
        else if (b.trans)
            pack_b_f32(static_cast<const float*>(b.p), N, K, n0, kc0, kcn, w_splits, dst);
        else
            pack_b_f32_rows(static_cast<const float*>(b.p), b.ld, N, K, n0, kc0, kcn, w_splits, dst);
    };
    // A small B (a training model's weights or activations, up to 16 MB packed) is packed
    // once for all threads, and then the rows are split too, so that a product with fewer
    // column groups than threads (256 columns are one group) still keeps every thread busy.
    // A large one (a real model's weights in prefill) is packed per group as it is used.
    const bool shared_b = big && col_blocks * chunks * block_words * 4 <= (std::int64_t(16) << 20);
    const std::int64_t threads = big ? omp_get_max_threads() : 1;
    const std::int64_t row_parts =
        shared_b ? std::clamp<std::int64_t>((2 * threads + groups - 1) / groups, 1, mblocks) : 1;
    thread_local std::vector<std::uint32_t> shared_buf;
    if (shared_b) shared_buf.resize(std::size_t(col_blocks * chunks * block_words));
    std::uint32_t* const shared = shared_buf.data();
    // One parallel region for the whole product (each fork and join costs about as much
    // as a small product): the A planes, then a shared B, then the tiles.
#pragma omp parallel if (big)
    {
#pragma omp for schedule(static)
        for (std::int64_t blk = 0; blk < mblocks * ksteps; ++blk) {
            const std::int64_t mb = blk / ksteps, ks = blk % ksteps;
            __m512 lo[32], hi[32];
            load_a_block(a, M, K, mb * 32, ks * kTileK, lo, hi);
            for (int r = 0; r < 32; ++r)
                for (int s = 0; s < kSplits; ++s) {
                    const __m256i p0 = split_bf16(lo[r]), p1 = split_bf16(hi[r]);
                    _mm512_storeu_si512(plane_data + ((s * mblocks + mb) * ksteps + ks) * 1024 + r * kTileK,
                                        _mm512_inserti64x4(_mm512_castsi256_si512(p0), p1, 1));
                }
        }
        if (shared_b) {
#pragma omp for schedule(static)
            for (std::int64_t u = 0; u < col_blocks * chunks; ++u)
                pack(u / chunks, (u % chunks) * kChunk, shared + u * block_words);
        }
        if (tiles) {
            TileConfig cfg;
            for (int t = 0; t < 8; ++t) {
                cfg.colsb[t] = 64;
                cfg.rows[t] = 16;
            }
            _tile_loadconfig(&cfg);
        }
        // Per-thread scratch kept across calls: small products come thousands of times
        // per image, and zero-filling fresh buffers cost more than their tile work.
        // Both are written before they are read (packing; tile_zero for the first chunk).
        thread_local std::vector<std::uint32_t> packed_buf;
        thread_local std::vector<float> acc_buf;
        if (!shared_b && packed_buf.size() < std::size_t(kGroup * block_words))
            packed_buf.resize(std::size_t(kGroup * block_words));
        if (acc_buf.size() < std::size_t(kGroup * mpad * 32)) acc_buf.resize(std::size_t(kGroup * mpad * 32));
        std::uint32_t* const packed = packed_buf.data();
        float* const acc = acc_buf.data();
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t unit = 0; unit < groups * row_parts; ++unit) {
            const std::int64_t g = unit / row_parts, part = unit % row_parts;
            const std::int64_t mb_begin = part * mblocks / row_parts, mb_end = (part + 1) * mblocks / row_parts;
            const std::int64_t first_block = g * kGroup, n_first = 32 * first_block;
            const std::int64_t blocks = std::min(kGroup, col_blocks - first_block);
            for (std::int64_t kc0 = 0; kc0 < ksteps; kc0 += kChunk) {
                const std::int64_t kcn = std::min(kChunk, ksteps - kc0);
                auto packed_block = [&](std::int64_t j) {
                    return shared_b ? shared + ((first_block + j) * chunks + kc0 / kChunk) * block_words
                                    : packed + j * block_words;
                };
                if (!shared_b)
                    for (std::int64_t j = 0; j < blocks; ++j) pack(first_block + j, kc0, packed_block(j));
                for (std::int64_t mb = mb_begin; mb < mb_end; ++mb) {
                    for (std::int64_t j = 0; j < blocks; ++j) {
                        float* acc_block = acc + (j * mblocks + mb) * 1024;
                        if (!tiles) {
                            dot_block(acc_block, kc0 == 0, plane_data + (mb * ksteps + kc0) * 1024,
                                      mblocks * ksteps * 1024, packed_block(j), kcn, kSplits, w_splits);
                            continue;
                        }
                        if (kc0 == 0) {
                            _tile_zero(0);
                            _tile_zero(1);
                            _tile_zero(2);
                            _tile_zero(3);
                        } else {
                            _tile_loadd(0, acc_block, 64);
                            _tile_loadd(1, acc_block + 256, 64);
                            _tile_loadd(2, acc_block + 512, 64);
                            _tile_loadd(3, acc_block + 768, 64);
                        }
                        const std::uint32_t* bj = packed_block(j);
                        for (std::int64_t ks = 0; ks < kcn; ++ks)
                            for (int sb = 0; sb < w_splits; ++sb) {
                                const std::uint32_t* b0 = bj + (sb * kcn + ks) * 512;
                                _tile_loadd(6, b0, 64);
                                _tile_loadd(7, b0 + 256, 64);
                                for (int s = 0; s + sb < kSplits; ++s) {
                                    const std::uint16_t* ap =
                                        plane_data + ((s * mblocks + mb) * ksteps + kc0 + ks) * 1024;
                                    _tile_loadd(4, ap, 64);
                                    _tile_loadd(5, ap + 512, 64);
                                    _tile_dpbf16ps(0, 4, 6);
                                    _tile_dpbf16ps(1, 4, 7);
                                    _tile_dpbf16ps(2, 5, 6);
                                    _tile_dpbf16ps(3, 5, 7);
                                }
                            }
                        _tile_stored(0, acc_block, 64);
                        _tile_stored(1, acc_block + 256, 64);
                        _tile_stored(2, acc_block + 512, 64);
                        _tile_stored(3, acc_block + 768, 64);
                    }
                }
            }
            // Write out: tile (i, t) of block (j, mb) holds rows 32mb+16i.., columns 32j+16t..
            for (std::int64_t j = 0; j < blocks; ++j)
                for (std::int64_t mb = mb_begin; mb < mb_end; ++mb)
                    for (int i = 0; i < 2; ++i)
                        for (int t = 0; t < 2; ++t) {
                            const std::int64_t col = n_first + 32 * j + 16 * t;
                            const __mmask16 lanes = lanes16(N - col);
                            if (!lanes) continue;
                            const float* tile = acc + (j * mblocks + mb) * 1024 + (2 * i + t) * 256;
                            for (std::int64_t r = 0; r < 16; ++r) {
                                const std::int64_t row = 32 * mb + 16 * i + r;
                                if (row >= M) break;
                                float* dst = c + row * ldc + col;
                                __m512 v = _mm512_loadu_ps(tile + r * 16);
                                if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(lanes, dst));
                                _mm512_mask_storeu_ps(dst, lanes, v);
                            }
                        }
        }
        if (tiles) _tile_release();
    }
}

void bf16_linear(const float* x, std::int64_t rows, std::int64_t in, const void* w, DType w_dtype, std::int64_t out,
                float* y, int splits) {
    bf16_gemm(Bf16A{x, in, false}, Bf16B{w, w_dtype, in, true}, rows, out, in, y, out, false, splits);
}

}  // namespace emu::ops::detail
