// Training-step throughput of the transformer (forward + backward + clip + AdamW) on a
// fixed random batch; writes the initial weights and the batch to --dir so that
// bench/lmtrain_torch.py can run the same step in PyTorch eager autograd.
//   bench_lmtrain [--threads 2] [--steps 5] [--rows 4] [--seq 512] [--layers 5] [--hidden 256]
//                 [--heads 4] [--kv-heads 2] [--head-dim 64] [--inter 768] [--vocab 2048] [--dir D]
//                 [--precision exact|fast|bf16]   (the products, as `precision:` in `emu train lm`)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "emu/ops/linear.h"
#include "emu/ops/threads.h"
#include "emu/train/lm_model.h"
#include "emu/train/optimizer.h"
#include "emu/train/param.h"

using namespace emu;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    int threads = 2, steps = 5;
    std::int64_t rows = 4, seq = 512;
    lm::Config c;
    c.num_hidden_layers = 5;
    c.hidden_size = 256;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 64;
    c.intermediate_size = 768;
    c.vocab_size = 2048;
    c.rope_theta = 10000;
    c.pad_token_id = 0;
    c.bos_token_id = 1;
    c.eos_token_id = 2;
    c.img_token_id = 3;
    c.boi_token_id = 4;
    c.eoi_token_id = 5;
    c.eol_token_id = 6;
    c.eof_token_id = 7;
    std::string dir = "/tmp/emu-lmtrain-bench", precision = "exact";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const long long v = std::atoll(argv[i + 1]);
        if (k == "--threads") threads = int(v);
        else if (k == "--steps") steps = int(v);
        else if (k == "--rows") rows = v;
        else if (k == "--seq") seq = v;
        else if (k == "--layers") c.num_hidden_layers = v;
        else if (k == "--hidden") c.hidden_size = v;
        else if (k == "--heads") c.num_attention_heads = v;
        else if (k == "--kv-heads") c.num_key_value_heads = v;
        else if (k == "--head-dim") c.head_dim = v;
        else if (k == "--inter") c.intermediate_size = v;
        else if (k == "--vocab") c.vocab_size = v;
        else if (k == "--dir") dir = argv[i + 1];
        else if (k == "--precision") precision = argv[i + 1];
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    c.validate();
    ops::set_num_threads(threads);
    ops::set_prefill_precision(precision);
    train::LmModel model = train::LmModel::random(c, 1);
    model.save_pretrained(dir);
    std::mt19937 rng(7);
    std::vector<std::int32_t> ids(std::size_t(rows * seq));
    for (auto& x : ids) x = std::int32_t(rng() % std::uint32_t(c.vocab_size));
    std::ofstream(std::filesystem::path(dir) / "batch.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(ids.data()), std::streamsize(ids.size() * 4));

    std::vector<train::Param> params = model.params();
    train::AdamWConfig oc;
    oc.weight_decay = 0.1;
    train::AdamW opt(params, oc);
    train::LmTrainer tr(model);
    train::LmBatchView b;
    b.rows = rows;
    b.seq_len = seq;
    b.ids = ids.data();
    double t_fwd = 0, t_bwd = 0, t_opt = 0, best = 1e30;
    std::vector<double> losses;
    for (int s = 0; s <= steps; ++s) {  // step 0 is warm-up
        const auto t0 = Clock::now();
        train::zero_grads(params);
        const train::LmStepResult r = tr.forward(b);
        const auto t1 = Clock::now();
        tr.backward(float(1.0 / r.tokens));
        const auto t2 = Clock::now();
        train::clip_grad_norm(params, 1.0);
        opt.step(1e-3);
        const auto t3 = Clock::now();
        losses.push_back(r.loss());
        if (s == 0) continue;
        t_fwd += std::chrono::duration<double>(t1 - t0).count();
        t_bwd += std::chrono::duration<double>(t2 - t1).count();
        t_opt += std::chrono::duration<double>(t3 - t2).count();
        best = std::min(best, std::chrono::duration<double>(t3 - t0).count());
    }
    const double step_s = (t_fwd + t_bwd + t_opt) / steps;
    std::printf("{\"what\": \"emu\", \"precision\": \"%s\", \"params\": %lld, \"threads\": %d, \"rows\": %lld, \"seq\": %lld, "
                "\"step_s\": %.4f, \"best_step_s\": %.4f, \"tok_s\": %.1f, \"forward_s\": %.4f, \"backward_s\": %.4f, "
                "\"optimizer_s\": %.4f, \"losses\": [",
                precision.c_str(), (long long)model.parameter_count(), threads, (long long)rows, (long long)seq, step_s, best,
                double(rows * seq) / step_s, t_fwd / steps, t_bwd / steps, t_opt / steps);
    for (std::size_t i = 0; i < losses.size(); ++i) std::printf("%s%.6f", i ? ", " : "", losses[i]);
    std::printf("]}\n");
    return 0;
}
