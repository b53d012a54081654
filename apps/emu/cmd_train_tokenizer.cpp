// emu train tokenizer --config FILE: byte-level BPE on ShapesWorld's language.
#include <cstdio>

#include "command.h"
#include "emu/core/error.h"
#include "emu/train/tokenizer_training.h"
#include "train_cli.h"

namespace emu::cli {
namespace {

int run_train_tokenizer(const std::vector<std::string>& argv) {
    const TrainInvocation inv = parse_train_invocation(argv);
    check(inv.resume.empty(), "tokenizer training is not resumable (it takes seconds); drop --resume");
    const train::TokenizerTrainingConfig cfg = train::tokenizer_training_config_from_json(inv.config);
    const train::TokenizerTrainingReport r = train::train_tokenizer(cfg);
    std::printf("wrote %s: %d ranks, %lld ids (with %d visual tokens), %.2f bytes/token on held-out text, %.1fs\n",
                cfg.out.c_str(), r.ranks, (long long)r.n_vocab, cfg.visual_tokens, r.bytes_per_token, r.seconds);
    std::printf("%s\n", r.to_json().dump().c_str());
    return 0;
}

Register reg{"train tokenizer", "--config FILE [--out DIR]  learn a BPE vocabulary from ShapesWorld text",
             run_train_tokenizer};

}  // namespace
}  // namespace emu::cli
