// Training-step throughput of the IBQ (train::VqModel: forward, quantizer losses,
// backward, clipping, AdamW) on emu-mini's tokenizer config; compare with
// bench/vq_train_torch.py at the same batch and OMP_NUM_THREADS.
//   bench_vq_train [BATCH] [STEPS]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "emu/train/optimizer.h"
#include "emu/train/vq_model.h"

using namespace emu;

int main(int argc, char** argv) {
    const int batch = argc > 1 ? std::atoi(argv[1]) : 8, steps = argc > 2 ? std::atoi(argv[2]) : 5;
    vision::IbqConfig c;
    c.ch = 32;
    c.ch_mult = {1, 2, 2, 4};
    c.num_res_blocks = 1;
    c.resolution = 64;
    c.z_channels = 32;
    c.embed_dim = 32;
    c.n_embed = 512;
    train::VqModel model(c);
    model.init_random(0);
    auto params = model.params();
    train::AdamWConfig oc;
    oc.weight_decay = 0;
    train::AdamW opt(params, oc);
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<Tensor> images;
    for (int b = 0; b < batch; ++b) {
        std::vector<float> v(3 * 64 * 64);
        for (auto& x : v) x = u(rng);
        images.push_back(Tensor::from_f32({3, 64, 64}, v));
    }
    auto one = [&] {
        model.zero_grad();
        const double loss = model.step(images, train::VqLossConfig{}, true).total;
        train::clip_grad_norm(params, 1.0);
        opt.step(1e-3);
        return loss;
    };
    one();  // warm-up
    double best = 1e30, sum = 0;
    for (int s = 0; s < steps; ++s) {
        const auto t0 = std::chrono::steady_clock::now();
        one();
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::min(best, dt);
        sum += dt;
    }
    std::printf("emu threads %d params %zu batch %d: best %.3f s/step (%.2f img/s), mean %.3f s/step (%.2f img/s)\n",
                omp_get_max_threads(), model.parameter_count(), batch, best, batch / best, sum / steps,
                batch / (sum / steps));
}
