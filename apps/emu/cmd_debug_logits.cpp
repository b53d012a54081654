// emu debug logits: raw logits of the language model for given token ids, from
// one full forward or from token-by-token decoding through the KV cache.
#include <chrono>
#include <cstdio>
#include <cstring>

#include "args.h"
#include "command.h"
#include "emu/core/error.h"
#include "emu/io/safetensors.h"
#include "emu/lm/transformer.h"
#include "emu/ops/isa.h"
#include "emu/ops/linear.h"
#include "emu/ops/threads.h"

namespace emu::cli {
namespace {

int run_debug_logits(const std::vector<std::string>& argv) {
    Args args(argv, {"model", "ids", "out", "threads", "bf16-splits", "precision"}, {"decode", "q8", "kv-bf16"});
    const std::string model_dir = args.require("model"), out = args.require("out");
    apply_compute_flags(args);
    if (args.has("bf16-splits")) {  // the finer knob: BF16-weight input splits alone
        const long long splits = args.get_int("bf16-splits", 3);
        check(splits >= 1 && splits <= 3, "--bf16-splits must be 1, 2 or 3");
        ops::set_bf16_input_splits(int(splits));
    }
    std::vector<std::int32_t> ids;
    for (long long v : parse_int_list(args.require("ids"))) {
        check(v >= 0 && v <= 0x7fffffff, "--ids: token id ", v, " is out of range");
        ids.push_back(std::int32_t(v));
    }
    check(!ids.empty(), "--ids: give at least one token id");

    lm::Transformer model = lm::Transformer::load(model_dir);
    if (args.has("q8")) model.quantize_q8_0();
    const std::int64_t T = std::int64_t(ids.size()), V = model.config().vocab_size;
    lm::KvCache cache = model.new_cache(T, args.has("kv-bf16") ? DType::BF16 : DType::F32);
    std::fprintf(stderr, "model: %lld layers, hidden %lld, vocab %lld; kv cache %.1f MiB for %lld positions; %s, %d threads\n",
                 (long long)model.config().num_hidden_layers, (long long)model.config().hidden_size, (long long)V,
                 double(cache.bytes()) / (1 << 20), (long long)T, ops::isa_name(ops::active_isa()),
                 ops::num_threads());

    Tensor logits = Tensor::zeros(DType::F32, {T, V});
    auto start = std::chrono::steady_clock::now();
    if (args.has("decode")) {
        for (std::int64_t t = 0; t < T; ++t) {
            Tensor row = model.logits(cache, std::span<const std::int32_t>(ids).subspan(std::size_t(t), 1));
            std::memcpy(logits.data_mut<float>() + t * V, row.data<float>(), std::size_t(V) * sizeof(float));
        }
    } else {
        logits = model.logits(cache, ids);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%s of %lld tokens: %.3f s (%.1f tok/s)\n", args.has("decode") ? "decode" : "forward",
                 (long long)T, secs, double(T) / secs);
    write_safetensors(out, {{"logits", logits}});
    return 0;
}

Register reg{"debug logits",
             "--model DIR --ids 1,2,3 [--decode] [--threads N] [--precision exact|fast|bf16] [--bf16-splits 3] [--q8] [--kv-bf16] --out FILE.safetensors  write the LM's "
             "logits F32 [T,V]",
             run_debug_logits};

}  // namespace
}  // namespace emu::cli
