#include "emu/train/dida.h"

#include "emu/core/error.h"
#include "emu/core/rng.h"

namespace emu::train {

DidaConfig dida_config_from_json(const nlohmann::json& j) {
    DidaConfig c;
    check(j.is_object(), "dida config must be a mapping");
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& k = it.key();
        if (k == "mask_token") c.mask_token = it->get<std::string>();
        else if (k == "ar_fraction") c.ar_fraction = it->get<double>();
        else if (k == "steps") c.steps = it->get<int>();
        else fail("dida config: unknown key '", k, "' (mask_token, ar_fraction, steps)");
    }
    check(c.ar_fraction >= 0 && c.ar_fraction < 1, "dida config: ar_fraction must be in [0, 1), got ", c.ar_fraction);
    check(c.steps >= 1, "dida config: steps must be at least 1");
    return c;
}

LmBatchView DidaRows::view(const Batch& b) const {
    LmBatchView v;
    v.rows = b.rows;
    v.seq_len = b.seq_len;
    v.ids = ids.data();
    v.targets = targets.data();
    v.mask = mask.data();
    v.positions = positions.data();
    v.segments = segments.data();
    v.blocks = blocks.data();
    return v;
}

void make_dida_rows(const Batch& b, const text::SpecialRoles& roles, text::TokenId mask_token,
                    const DidaConfig& config, std::uint64_t seed, DidaRows& out) {
    const std::size_t n = b.ids.size();
    out.ids.assign(b.ids.begin(), b.ids.end());
    out.targets.assign(b.ids.begin(), b.ids.end());
    loss_weights(b.mask, 1.f, out.mask);  // every target weighs 1 (object_weight is for AR training)
    out.positions.assign(b.positions.begin(), b.positions.end());
    out.segments.assign(b.segments.begin(), b.segments.end());
    out.blocks.assign(n, 0);
    out.masked = 0;
    auto is_visual = [&](text::TokenId t) { return t >= roles.bov && t < roles.bov + roles.n_visual; };
    std::int32_t block_id = 0;
    std::int64_t sequence = 0;
    for (int r = 0; r < b.rows; ++r) {
        const std::size_t row = std::size_t(r) * std::size_t(b.seq_len);
        std::size_t s0 = row;
        while (s0 < row + std::size_t(b.seq_len)) {
            std::size_t s1 = s0;
            while (s1 < row + std::size_t(b.seq_len) && b.segments[s1] == b.segments[s0]) ++s1;
            if (b.segments[s0] == 0) {  // padding
                s0 = s1;
                continue;
            }
            // One noise draw per sequence, keyed by its place in the stream.
            Rng rng(mix_seed({seed, std::uint64_t(b.first_index + sequence++)}));
            // The last target image of the sequence: IMG .. EOI.
            std::size_t img = s1, eoi = s1;
            for (std::size_t p = s0; p < s1; ++p)
                if (b.ids[p] == roles.img && b.mask[p]) img = p;
            for (std::size_t p = img; p < s1; ++p)
                if (b.ids[p] == roles.eoi) {
                    eoi = p;
                    break;
                }
            if (img == s1 || eoi == s1 || rng.chance(config.ar_fraction)) {
                s0 = s1;
                continue;
            }
            const double ratio = 1e-3 + (1.0 - 1e-3) * rng.uniform();
            ++block_id;
            std::size_t first_visual = 0;
            std::int64_t masked_here = 0;
            for (std::size_t p = img; p < eoi; ++p) {
                out.blocks[p] = block_id;
                if (p == img) continue;
                out.mask[p] = 0.f;
                if (!is_visual(b.ids[p])) continue;
                if (first_visual == 0) first_visual = p;
                if (rng.chance(ratio)) {
                    out.ids[p] = mask_token;
                    out.mask[p] = 1.f;
                    ++masked_here;
                }
            }
            if (masked_here == 0 && first_visual != 0) {  // at least one token to learn from
                out.ids[first_visual] = mask_token;
                out.mask[first_visual] = 1.f;
                ++masked_here;
            }
            out.masked += masked_here;
            for (std::size_t p = eoi; p < s1; ++p) out.mask[p] = 0.f;  // they would see noise
            s0 = s1;
        }
    }
}

}  // namespace emu::train
