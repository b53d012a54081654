// Turning scores into the next token, as the official differential sampler does:
// temperature, then top-k (ties at the threshold survive), then top-p, then a draw
// from the softmax. Seeded and deterministic.
#pragma once
#include <cstdint>
#include <random>
#include <span>

namespace emu::gen {

struct SamplingParams {
    float temperature = 1.0f;
    int top_k = 0;       // 0 or >= vocab: no top-k
    float top_p = 1.0f;  // 1: no top-p
    bool greedy = false; // argmax instead of a draw (ties: lowest id)
};

// The generator is std::mt19937_64, whose output sequence the C++ standard fixes, and
// uniforms are built from its raw bits, so a seed gives the same tokens everywhere.
class SamplerRng {
public:
    explicit SamplerRng(std::uint64_t seed) : engine_(seed) {}
    double uniform() { return double(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)

private:
    std::mt19937_64 engine_;
};

// Applies temperature, top-k and top-p to `scores` in place: removed entries become -inf.
void warp_scores(std::span<float> scores, const SamplingParams& params);

// Draws from softmax(scores) (or takes the argmax when greedy). Entries at -inf are never
// chosen; throws Error when every entry is -inf.
std::int32_t draw_token(std::span<const float> scores, bool greedy, SamplerRng& rng);

// warp_scores then draw_token.
std::int32_t sample_token(std::span<float> scores, const SamplingParams& params, SamplerRng& rng);

}  // namespace emu::gen
