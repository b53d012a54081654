// Prefill matrix products alone (issue 4): y[rows, out] = x . W^T through
// ops::linear, at the real Emu3.5 layer's shapes, and a probe of what the AMX
// unit itself allows, so the GEMM's speed can be read against a ceiling.
//
//   bench_gemm [--threads 2] [--rows 512] [--dtype bf16|f32] [--precision exact|fast|bf16] [--repeat 5]
//
// Prints one JSON line per shape (best of --repeat calls after one warm-up) and,
// on AMX machines, one per probe: the tile-product rate of one core with 0, 2 or 4
// tile loads per 4 products (4 is what a 2x2-tile GEMM kernel must do per k-step).
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "emu/ops/isa.h"
#include "emu/ops/linear.h"
#include "emu/ops/threads.h"
#include "emu/tensor/tensor.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == "--" + name) return argv[i + 1];
    return fallback;
}

struct TileConfig {
    std::uint8_t palette = 1, start_row = 0;
    std::uint8_t reserved[14] = {};
    std::uint16_t colsb[16] = {};
    std::uint8_t rows[16] = {};
};

// Tile products per second on this core with `loads` (0, 2, 4) 1 KB tile loads per
// four products, cycling through `span` bytes per operand.
__attribute__((target("amx-tile,amx-bf16"))) double amx_probe(int loads, std::size_t span) {
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
    std::vector<std::uint16_t> a(span / 2 + 2048, 0x3f80), b(span / 2 + 2048, 0x3f80);
    const char* pa = reinterpret_cast<const char*>(a.data());
    const char* pb = reinterpret_cast<const char*>(b.data());
    _tile_loadd(4, pa, 64);  // tile numbers are immediates: no loops
    _tile_loadd(5, pa, 64);
    _tile_loadd(6, pa, 64);
    _tile_loadd(7, pa, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    const long iters = 1000000;
    std::size_t off = 0;
    const auto t0 = Clock::now();
    for (long i = 0; i < iters; ++i) {
        if (loads >= 2) {
            _tile_loadd(6, pb + off, 64);
            _tile_loadd(7, pb + off + 1024, 64);
        }
        if (loads >= 4) {
            _tile_loadd(4, pa + off, 64);
            _tile_loadd(5, pa + off + 1024, 64);
        }
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
        off += 2048;
        if (off >= span) off = 0;
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    _tile_release();
    return double(iters) * 4 * 16 * 16 * 32 * 2 / s;  // FLOP/s
}

}  // namespace

int main(int argc, char** argv) {
    using namespace emu;
    const int threads = std::stoi(arg(argc, argv, "threads", "2"));
    const std::int64_t rows = std::stoll(arg(argc, argv, "rows", "512"));
    const std::string dtype = arg(argc, argv, "dtype", "bf16"), precision = arg(argc, argv, "precision", "bf16");
    const int repeat = std::stoi(arg(argc, argv, "repeat", "5"));
    ops::set_num_threads(threads);  // OpenMP and OpenBLAS (exact F32 goes through sgemm)
    ops::set_prefill_precision(precision);

    // Emu3.5 layer products: q, k/v, o, gate/up, down.
    const std::int64_t shapes[][2] = {{5120, 8192}, {5120, 1024}, {8192, 5120}, {5120, 25600}, {25600, 5120}};
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.f, 0.02f);
    for (const auto& s : shapes) {
        const std::int64_t in = s[0], out = s[1];
        std::vector<float> wv(std::size_t(in * out)), x(std::size_t(rows * in)), y(std::size_t(rows * out));
        for (float& v : wv) v = normal(rng);
        for (float& v : x) v = normal(rng);
        Tensor w = Tensor::from_f32({out, in}, wv);
        if (dtype == "bf16") w = w.to(DType::BF16);
        ops::linear(x.data(), rows, w, y.data());
        double best = 1e30;
        for (int r = 0; r < repeat; ++r) {
            const auto t0 = Clock::now();
            ops::linear(x.data(), rows, w, y.data());
            best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
        }
        std::printf("{\"what\": \"emu\", \"dtype\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"rows\": %lld, "
                    "\"in\": %lld, \"out\": %lld, \"ms\": %.2f, \"gflop_s\": %.1f}\n",
                    dtype.c_str(), precision.c_str(), threads, (long long)rows, (long long)in, (long long)out,
                    best * 1e3, 2.0 * double(rows * in * out) / best / 1e9);
        std::fflush(stdout);
    }
    if (ops::isa_supported(ops::Isa::Amx)) {
        const struct { int loads; std::size_t span; const char* where; } probes[] = {
            {0, 2048, "none"}, {2, 16384, "L1"}, {4, 16384, "L1"}, {4, 512 * 1024, "L2"}};
        for (const auto& p : probes)
            std::printf("{\"what\": \"amx_probe\", \"tile_loads_per_4_products\": %d, \"operands_in\": \"%s\", "
                        "\"gflop_s_one_core\": %.1f}\n",
                        p.loads, p.where, amx_probe(p.loads, p.span) / 1e9);
    }
}
