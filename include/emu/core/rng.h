// A small seeded random generator (xoshiro256** seeded through splitmix64).
// Its output is fixed by the seed alone on every platform and compiler, unlike
// std::uniform_int_distribution, so data sets built from a seed are reproducible.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace emu {

// One splitmix64 step: a good 64-bit mixer, also used to derive seeds.
inline std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Mixes several values into one seed, so (seed, stream, index) pick independent streams.
inline std::uint64_t mix_seed(std::initializer_list<std::uint64_t> parts) {
    std::uint64_t state = 0x6A09E667F3BCC908ull;
    std::uint64_t out = 0;
    for (std::uint64_t p : parts) {
        state ^= p;
        out = splitmix64(state);
        state = out;
    }
    return out;
}

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0) {
        std::uint64_t sm = seed;
        for (auto& w : s_) w = splitmix64(sm);
    }

    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform integer in [0, n); n must be > 0. Rejection keeps it exactly unbiased.
    std::uint64_t below(std::uint64_t n) {
        const std::uint64_t limit = ~std::uint64_t(0) - (~std::uint64_t(0) % n);
        std::uint64_t x;
        do x = next_u64();
        while (x >= limit);
        return x % n;
    }

    // Uniform integer in [lo, hi] inclusive.
    int range(int lo, int hi) { return lo + int(below(std::uint64_t(hi - lo + 1))); }

    // Uniform double in [0, 1) with 53 random bits.
    double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }

    bool chance(double p) { return uniform() < p; }

    template <typename T>
    const T& pick(const std::vector<T>& items) { return items[below(items.size())]; }

    template <typename T>
    void shuffle(std::vector<T>& items) {
        for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
    }

    // The full generator state, for checkpoints that must resume the exact stream.
    std::array<std::uint64_t, 4> state() const { return {s_[0], s_[1], s_[2], s_[3]}; }
    static Rng from_state(const std::array<std::uint64_t, 4>& state) {
        Rng r;
        for (int i = 0; i < 4; ++i) r.s_[i] = state[i];
        return r;
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

}  // namespace emu
