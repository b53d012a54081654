// Times Ibq encode and decode on a model folder (bench/vq_torch.py make DIR writes a
// mid-size one) and, when bench/vq_torch.py has written DIR/torch_SIZE.safetensors,
// checks our outputs against PyTorch's on the same input.
//   bench_vq DIR SIZE [REPEATS]     (threads: OMP_NUM_THREADS)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <ctime>

#include "emu/io/safetensors.h"
#include "emu/vision/ibq.h"

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Timing {
    double wall = 1e30, cpu = 0;  // best wall time, and the process CPU time of that run
};

template <typename F>
Timing best_of(int repeats, F&& fn) {
    Timing best;
    for (int i = 0; i < repeats; ++i) {
        const auto t = Clock::now();
        const double c = cpu_seconds();
        fn();
        const double w = std::chrono::duration<double>(Clock::now() - t).count();
        if (w < best.wall) best = {w, cpu_seconds() - c};
    }
    return best;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_vq DIR SIZE [REPEATS]\n");
        return 2;
    }
    try {
        const std::string dir = argv[1];
        const int size = std::atoi(argv[2]), repeats = argc > 3 ? std::atoi(argv[3]) : 2;
        const emu::vision::Ibq ibq = emu::vision::Ibq::load(dir);
        const std::string ref_path = dir + "/torch_" + std::to_string(size) + ".safetensors";
        emu::Tensor input;
        std::unique_ptr<emu::SafetensorsFile> ref;
        if (std::filesystem::exists(ref_path)) {
            ref = std::make_unique<emu::SafetensorsFile>(emu::SafetensorsFile::open(ref_path));
            input = ref->get("input").to_f32();
        } else {
            std::mt19937 rng(size);
            std::uniform_real_distribution<float> u(-1.f, 1.f);
            std::vector<float> v(3 * std::size_t(size) * size);
            for (auto& x : v) x = u(rng);
            input = emu::Tensor::from_f32({3, size, size}, v);
        }
        emu::Tensor codes, decoded;
        const Timing te = best_of(repeats, [&] { codes = ibq.encode(input); });
        const Timing td = best_of(repeats, [&] { decoded = ibq.decode(codes); });
        std::printf("{\"size\": %d, \"threads\": %d, \"emu_encode_s\": %.3f, \"emu_decode_s\": %.3f, "
                    "\"emu_encode_cpu_s\": %.3f, \"emu_decode_cpu_s\": %.3f",
                    size, omp_get_max_threads(), te.wall, td.wall, te.cpu, td.cpu);
        if (ref) {
            const emu::Tensor& rc = ref->get("codes");
            std::size_t same = 0;
            for (std::size_t i = 0; i < codes.numel(); ++i) same += codes.item(i) == rc.item(i);
            // Decode torch's codes too, so the decoder comparison does not depend on encode.
            const auto a = ibq.decode(rc).f32_values(), b = ref->get("decoded").f32_values();
            double mx = 0;
            for (std::size_t i = 0; i < a.size(); ++i) mx = std::max(mx, std::fabs(double(a[i]) - b[i]));
            std::printf(", \"codes_equal\": %.4f, \"decoded_max_abs_diff\": %.2g", double(same) / double(codes.numel()),
                        mx);
        }
        std::printf("}\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
