// LM throughput: prefill tokens/s, decode tokens/s (one sequence and a CFG
// pair in one batched call), and the machine's memory read bandwidth for the
// decode roofline. Prints one JSON object per line for run_lm_bench.sh.
//
//   bench_lm --preset small|layer --dtype f32|bf16 [--threads 2] [--prefill 512]
//            [--decode 16] [--dir DIR] [--precision exact|fast|bf16] [--bf16-splits 3] [--f32-amx]
//            [--prefill-runs 3] [--q8] [--bandwidth] [--isa portable|avx2|avx512|avx512+bf16|avx512+amx]
// The random weights are written to DIR (config.json + model.safetensors) and
// then memory-mapped back, so the PyTorch script can load the very same ones.
// GCC 12 warns falsely about _mm512_undefined_* inside its own intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "emu/core/error.h"
#include "emu/io/safetensors.h"
#include "emu/lm/random_init.h"
#include "emu/lm/transformer.h"
#include "emu/ops/isa.h"
#include "emu/ops/linear.h"
#include "emu/ops/threads.h"

using namespace emu;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

lm::Config preset(const std::string& name) {
    nlohmann::json j = {{"model_type", "Emu3"}, {"hidden_act", "silu"}, {"rms_norm_eps", 1e-5},
                        {"rope_theta", 1e6},    {"max_position_embeddings", 4096}, {"tie_word_embeddings", false}};
    if (name == "small") {  // ~0.31 B parameters
        j.update({{"vocab_size", 32000}, {"hidden_size", 1024}, {"intermediate_size", 4096}, {"num_hidden_layers", 16},
                  {"num_attention_heads", 16}, {"num_key_value_heads", 4}, {"head_dim", 64}});
    } else if (name == "layer") {  // one decoder layer at the real Emu3.5 dimensions, tiny vocab
        j.update({{"vocab_size", 1024}, {"hidden_size", 5120}, {"intermediate_size", 25600}, {"num_hidden_layers", 1},
                  {"num_attention_heads", 64}, {"num_key_value_heads", 8}, {"head_dim", 128}});
    } else {
        fail("unknown preset '", name, "' (small, layer)");
    }
    return lm::Config::from_json(j, name);
}

// Best-of-3 read bandwidth over a buffer much larger than the caches.
__attribute__((target("avx512f"))) double read_bandwidth_gbs(std::size_t bytes) {
    std::size_t n = bytes / sizeof(float);
    std::vector<float> buf(n);
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) buf[i] = float(i & 7);
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 3; ++rep) {
        auto t = Clock::now();
        float total = 0;
#pragma omp parallel reduction(+ : total)
        {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#pragma omp for schedule(static)
            for (std::size_t i = 0; i < n; i += 64) {
                a0 = _mm512_add_ps(a0, _mm512_loadu_ps(&buf[i]));
                a1 = _mm512_add_ps(a1, _mm512_loadu_ps(&buf[i + 16]));
                a2 = _mm512_add_ps(a2, _mm512_loadu_ps(&buf[i + 32]));
                a3 = _mm512_add_ps(a3, _mm512_loadu_ps(&buf[i + 48]));
            }
            total += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        }
        sink = sink + total;
        best = std::max(best, double(n / 64 * 64) * sizeof(float) / seconds_since(t) / 1e9);
    }
    return best;
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == "--" + name) return argv[i + 1];
    return fallback;
}
bool flag(int argc, char** argv, const std::string& name) {
    for (int i = 1; i < argc; ++i)
        if (argv[i] == "--" + name) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) try {
    const int threads = std::stoi(arg(argc, argv, "threads", "2"));
    const std::string precision = arg(argc, argv, "precision", "exact");
    ops::set_prefill_precision(precision);  // then the finer knobs, when given
    if (flag(argc, argv, "bf16-splits")) ops::set_bf16_input_splits(std::stoi(arg(argc, argv, "bf16-splits", "3")));
    if (flag(argc, argv, "f32-amx")) ops::set_amx_for_f32(true);
    const int splits = ops::bf16_input_splits();
    ops::set_num_threads(threads);
    if (flag(argc, argv, "isa")) {  // cap the kernels, to measure the fallbacks on this CPU
        const std::string want = arg(argc, argv, "isa", "");
        bool known = false;
        for (ops::Isa isa : {ops::Isa::Portable, ops::Isa::Avx2, ops::Isa::Avx512, ops::Isa::Avx512Bf16, ops::Isa::Amx})
            if (want == ops::isa_name(isa)) {
                ops::force_isa(isa);
                known = true;
            }
        if (!known) throw std::runtime_error("--isa: unknown level '" + want + "'");
    }
    if (flag(argc, argv, "bandwidth")) {
        double gbs = read_bandwidth_gbs(std::size_t(1) << 30);
        std::printf("{\"what\": \"bandwidth\", \"threads\": %d, \"read_gb_s\": %.2f}\n", threads, gbs);
        return 0;
    }
    const std::string preset_name = arg(argc, argv, "preset", "small"), dtype_name = arg(argc, argv, "dtype", "f32");
    const std::int64_t prefill = std::stoll(arg(argc, argv, "prefill", "512")),
                       decode = std::stoll(arg(argc, argv, "decode", "16"));
    const std::string dir = arg(argc, argv, "dir", "/tmp/emu-lm-bench/" + preset_name + "-" + dtype_name);
    check(dtype_name == "f32" || dtype_name == "bf16", "--dtype f32|bf16");
    const DType dt = dtype_name == "f32" ? DType::F32 : DType::BF16;
    lm::Config cfg = preset(preset_name);

    std::filesystem::create_directories(dir);
    const std::string weights_path = dir + "/model.safetensors";
    if (!std::filesystem::exists(weights_path)) {
        auto w = lm::random_weights(cfg, dt, 1234);
        std::vector<std::pair<std::string, Tensor>> list(w.begin(), w.end());
        write_safetensors(weights_path, list);
        std::ofstream(dir + "/config.json") << cfg.to_json().dump(2);
    }
    lm::Transformer model = lm::Transformer::load(dir);
    const bool q8 = flag(argc, argv, "q8");
    if (q8) model.quantize_q8_0();
    const double weight_bytes = double(model.weights().matrix_bytes());

    std::vector<std::int32_t> ids(std::size_t(prefill + decode));
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 7919 + 13) % std::size_t(cfg.vocab_size));

    // Medians of repeated timings: this machine is shared, and a median is robust
    // to the runs that lost their core to another process.
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    // A prompt is prefilled many times in a session (every generation, both CFG streams):
    // one untimed full-size prefill (it also touches the mapped weights and the thread
    // pools), then the median of --prefill-runs, as lm_torch_ref.py reports.
    const int prefill_runs = std::stoi(arg(argc, argv, "prefill-runs", "3"));
    check(prefill_runs >= 1, "--prefill-runs must be at least 1");
    lm::KvCache cache = model.new_cache(prefill + decode), cache2 = model.new_cache(prefill + decode);
    std::vector<lm::SequenceStep> one(1);
    std::vector<double> runs;
    for (int r = 0; r <= prefill_runs; ++r) {
        cache.truncate(0);
        one[0].cache = &cache;
        one[0].tokens = std::span<const std::int32_t>(ids).subspan(0, std::size_t(prefill));
        one[0].last_only();
        auto t = Clock::now();
        model.forward(one);
        if (r > 0) runs.push_back(seconds_since(t));
    }
    const double prefill_s = median(runs);

    std::vector<double> steps;
    for (std::int64_t i = 0; i < decode; ++i) {
        one[0].tokens = std::span<const std::int32_t>(ids).subspan(std::size_t(prefill + i), 1);
        one[0].last_only();
        auto t = Clock::now();
        model.forward(one);
        steps.push_back(seconds_since(t));
    }
    const double decode_s = median(steps);

    // CFG-style pair: two sequences (cond/uncond) advanced by one token each per call.
    cache.truncate(prefill);
    {
        std::vector<lm::SequenceStep> pre(1);
        pre[0].cache = &cache2;
        pre[0].tokens = std::span<const std::int32_t>(ids).subspan(1, std::size_t(prefill));
        model.forward(pre);
    }
    std::vector<lm::SequenceStep> pair(2);
    steps.clear();
    for (std::int64_t i = 0; i < decode; ++i) {
        auto t = Clock::now();
        pair[0].cache = &cache;
        pair[1].cache = &cache2;
        pair[0].tokens = pair[1].tokens = std::span<const std::int32_t>(ids).subspan(std::size_t(prefill + i), 1);
        pair[0].last_only();
        pair[1].last_only();
        model.forward(pair);
        steps.push_back(seconds_since(t));
    }
    const double pair_s = median(steps);

    std::printf(
        "{\"what\": \"emu\", \"preset\": \"%s\", \"dtype\": \"%s%s\", \"bf16_splits\": %d, \"f32_amx\": %s, \"threads\": %d, \"isa\": \"%s\", "
        "\"params\": %.0f, \"weight_bytes\": %.0f, \"kv_cache_bytes\": %llu, \"prefill_tokens\": %lld, "
        "\"prefill_tok_s\": %.2f, \"decode_tok_s\": %.3f, \"cfg_pair_step_s\": %.4f, \"decode_step_s\": %.4f}\n",
        preset_name.c_str(), dtype_name.c_str(), q8 ? "->q8_0" : "", splits, ops::amx_for_f32() ? "true" : "false", threads, ops::isa_name(ops::active_isa()),
        double(cfg.num_hidden_layers) * double(cfg.q_dim() * cfg.hidden_size * 2 + cfg.kv_dim() * cfg.hidden_size * 2 +
                                                3 * cfg.intermediate_size * cfg.hidden_size) +
            double(cfg.vocab_size * cfg.hidden_size),
        weight_bytes, (unsigned long long)cache.bytes(),
        (long long)prefill, double(prefill) / prefill_s, 1.0 / decode_s, pair_s, decode_s);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
