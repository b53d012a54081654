// AMX path for BF16 weights with many input rows (prefill). The F32 input is
// split into three BF16 planes (x = hi + mid + lo, exact to F32 rounding), so
// the tile products with the exactly-BF16 weights, accumulated in F32, give the
// F32 result up to summation order - not a bf16-rounded approximation.
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

constexpr int kSplits = 3;
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

// Packs weight rows [n0, n0+32) x all K into two VNNI B-tile streams:
// dst[t][ks][p][n] = 32-bit pair (W[n0+16t+n][32ks+2p], W[..][32ks+2p+1]), zero padded.
void pack_b(const std::uint16_t* w, std::int64_t out, std::int64_t in, std::int64_t n0, std::int64_t ksteps,
            std::uint16_t* dst) {
    std::memset(dst, 0, std::size_t(2 * ksteps * 512) * sizeof(std::uint16_t));
    for (int t = 0; t < 2; ++t)
        for (int n = 0; n < 16; ++n) {
            const std::int64_t row = n0 + 16 * t + n;
            if (row >= out) continue;
            const std::uint16_t* src = w + row * in;
            std::uint16_t* base = dst + std::int64_t(t) * ksteps * 512 + 2 * n;
            for (std::int64_t k = 0; k < in; ++k) {
                const std::int64_t ks = k / kTileK, p = (k % kTileK) / 2;
                base[ks * 512 + p * 32 + (k & 1)] = src[k];
            }
        }
}

}  // namespace

bool amx_available() {
    static const bool ok = detect_amx();
    return ok;
}

EMU_AMX void amx_linear_bf16(const float* x, std::int64_t rows, std::int64_t in, const std::uint16_t* w,
                             std::int64_t out, float* y) {
    const std::int64_t kpad = (in + kTileK - 1) / kTileK * kTileK, ksteps = kpad / kTileK;
    const std::int64_t mpad = (rows + 31) / 32 * 32;
    thread_local std::vector<std::uint16_t> planes;
    planes.assign(std::size_t(kSplits * mpad * kpad), 0);
    // thread_local names resolve per thread inside the parallel regions: use a plain pointer.
    std::uint16_t* const plane_data = planes.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t k = 0; k < in; ++k) {
            float rest = x[r * in + k];
            for (int s = 0; s < kSplits; ++s) {
                std::uint16_t h = f32_to_bf16(rest);
                plane_data[(s * mpad + r) * kpad + k] = h;
                rest -= bf16_to_f32(h);
            }
        }
    const std::int64_t nblocks = (out + 31) / 32;
    const std::int64_t a_stride = kpad * 2;  // bytes between A tile rows
#pragma omp parallel
    {
        TileConfig cfg;
        for (int t = 0; t < 8; ++t) {
            cfg.colsb[t] = 64;
            cfg.rows[t] = 16;
        }
        _tile_loadconfig(&cfg);
        std::vector<std::uint16_t> packed(std::size_t(2 * ksteps * 512));
        alignas(64) float cbuf[4][256];
#pragma omp for schedule(static)
        for (std::int64_t nb = 0; nb < nblocks; ++nb) {
            const std::int64_t n0 = nb * 32;
            pack_b(w, out, in, n0, ksteps, packed.data());
            const std::uint16_t* b0 = packed.data();
            const std::uint16_t* b1 = packed.data() + ksteps * 512;
            for (std::int64_t m0 = 0; m0 < rows; m0 += 32) {
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                for (std::int64_t ks = 0; ks < ksteps; ++ks) {
                    _tile_loadd(6, b0 + ks * 512, 64);
                    _tile_loadd(7, b1 + ks * 512, 64);
                    for (int s = 0; s < kSplits; ++s) {
                        const std::uint16_t* a = plane_data + (s * mpad + m0) * kpad + ks * kTileK;
                        _tile_loadd(4, a, a_stride);
                        _tile_loadd(5, a + 16 * kpad, a_stride);
                        _tile_dpbf16ps(0, 4, 6);
                        _tile_dpbf16ps(1, 4, 7);
                        _tile_dpbf16ps(2, 5, 6);
                        _tile_dpbf16ps(3, 5, 7);
                    }
                }
                _tile_stored(0, cbuf[0], 64);
                _tile_stored(1, cbuf[1], 64);
                _tile_stored(2, cbuf[2], 64);
                _tile_stored(3, cbuf[3], 64);
                for (int q = 0; q < 4; ++q) {
                    const std::int64_t mr = m0 + (q / 2) * 16, nc = n0 + (q % 2) * 16;
                    const std::int64_t mn = std::min<std::int64_t>(16, rows - mr), nn = std::min<std::int64_t>(16, out - nc);
                    for (std::int64_t i = 0; i < mn; ++i)
                        for (std::int64_t j = 0; j < nn; ++j) y[(mr + i) * out + nc + j] = cbuf[q][i * 16 + j];
                }
            }
        }
        _tile_release();
    }
}

}  // namespace emu::ops::detail
