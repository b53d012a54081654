// An independent double-precision forward of the Emu3 decoder and its training loss,
// written from the math (not from ops::), for finite-difference gradient checks.
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "emu/lm/config.h"

namespace emu::test {

using DMap = std::map<std::string, std::vector<double>>;

struct RefBatch {
    std::int64_t rows = 0, T = 0;
    std::vector<std::int32_t> ids;
    std::vector<float> mask;
    std::vector<std::int64_t> positions;
    std::vector<std::int32_t> kv_begin, kv_end;  // per token, within its row
};

inline void ref_rmsnorm(const double* x, std::int64_t n, const double* w, double eps, double* y) {
    double ss = 0;
    for (std::int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
    for (std::int64_t i = 0; i < n; ++i) y[i] = w[i] * x[i] * inv;
}

// y[out] = W[out, in] x[in]
inline void ref_matvec(const std::vector<double>& W, std::int64_t out, std::int64_t in, const double* x, double* y) {
    for (std::int64_t o = 0; o < out; ++o) {
        double s = 0;
        for (std::int64_t i = 0; i < in; ++i) s += W[std::size_t(o * in + i)] * x[i];
        y[o] = s;
    }
}

inline void ref_rope(double* v, std::int64_t hd, double pos, double theta, double factor) {
    const std::int64_t half = hd / 2;
    for (std::int64_t i = 0; i < half; ++i) {
        const double inv_freq = 1.0 / std::pow(theta, double(2 * i) / double(hd));
        const double a = (pos / factor) * inv_freq, c = std::cos(a), s = std::sin(a);
        const double x0 = v[i], x1 = v[i + half];
        v[i] = x0 * c - x1 * s;
        v[i + half] = x1 * c + x0 * s;
    }
}

// Returns sum over tokens of mask[i+1] * -log p(ids[i+1] | ...) (within each row);
// logits_out (optional) receives [rows*T, V].
inline double ref_lm_loss(const lm::Config& c, const DMap& W, const RefBatch& b,
                          std::vector<double>* logits_out = nullptr) {
    const std::int64_t D = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads,
                       Hkv = c.num_key_value_heads, hd = c.head_dim, V = c.vocab_size;
    const std::int64_t QD = H * hd, KD = Hkv * hd, T = b.T, g = H / Hkv;
    const double eps = c.rms_norm_eps;
    auto w = [&](const std::string& n) -> const std::vector<double>& { return W.at(n); };
    double loss = 0;
    if (logits_out) logits_out->assign(std::size_t(b.rows * T * V), 0.0);
    for (std::int64_t r = 0; r < b.rows; ++r) {
        std::vector<std::vector<double>> x(static_cast<std::size_t>(T), std::vector<double>(static_cast<std::size_t>(D)));
        for (std::int64_t t = 0; t < T; ++t)
            for (std::int64_t d = 0; d < D; ++d)
                x[t][d] = w("model.embed_tokens.weight")[std::size_t(b.ids[std::size_t(r * T + t)] * D + d)];
        for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
            const std::string p = "model.layers." + std::to_string(l) + ".";
            std::vector<std::vector<double>> q(T, std::vector<double>(QD)), k(T, std::vector<double>(KD)),
                v(T, std::vector<double>(KD));
            std::vector<double> h(static_cast<std::size_t>(D));
            for (std::int64_t t = 0; t < T; ++t) {
                ref_rmsnorm(x[t].data(), D, w(p + "input_layernorm.weight").data(), eps, h.data());
                ref_matvec(w(p + "self_attn.q_proj.weight"), QD, D, h.data(), q[t].data());
                ref_matvec(w(p + "self_attn.k_proj.weight"), KD, D, h.data(), k[t].data());
                ref_matvec(w(p + "self_attn.v_proj.weight"), KD, D, h.data(), v[t].data());
                const double pos = double(b.positions[std::size_t(r * T + t)]);
                for (std::int64_t hh = 0; hh < H; ++hh) {
                    double* qh = q[t].data() + hh * hd;
                    ref_rmsnorm(qh, hd, w(p + "self_attn.q_norm.weight").data(), eps, qh);
                    ref_rope(qh, hd, pos, c.rope_theta, c.rope_linear_factor);
                }
                for (std::int64_t hh = 0; hh < Hkv; ++hh) {
                    double* kh = k[t].data() + hh * hd;
                    ref_rmsnorm(kh, hd, w(p + "self_attn.k_norm.weight").data(), eps, kh);
                    ref_rope(kh, hd, pos, c.rope_theta, c.rope_linear_factor);
                }
            }
            for (std::int64_t t = 0; t < T; ++t) {
                std::vector<double> attn(std::size_t(QD), 0.0);
                const std::int64_t lo = b.kv_begin[std::size_t(r * T + t)], hi = b.kv_end[std::size_t(r * T + t)];
                for (std::int64_t hh = 0; hh < H; ++hh) {
                    const std::int64_t kh = hh / g;
                    std::vector<double> s(std::size_t(hi - lo));
                    double mx = -1e300;
                    for (std::int64_t j = lo; j < hi; ++j) {
                        double d = 0;
                        for (std::int64_t e = 0; e < hd; ++e) d += q[t][hh * hd + e] * k[j][kh * hd + e];
                        s[j - lo] = d / std::sqrt(double(hd));
                        mx = std::max(mx, s[j - lo]);
                    }
                    double z = 0;
                    for (auto& e : s) z += (e = std::exp(e - mx));
                    for (std::int64_t j = lo; j < hi; ++j)
                        for (std::int64_t e = 0; e < hd; ++e) attn[hh * hd + e] += s[j - lo] / z * v[j][kh * hd + e];
                }
                std::vector<double> o(static_cast<std::size_t>(D));
                ref_matvec(w(p + "self_attn.o_proj.weight"), D, QD, attn.data(), o.data());
                // Residual added after all tokens' attention is computed: keep o aside.
                q[t].assign(o.begin(), o.end());
            }
            for (std::int64_t t = 0; t < T; ++t)
                for (std::int64_t d = 0; d < D; ++d) x[t][d] += q[t][d];
            for (std::int64_t t = 0; t < T; ++t) {
                ref_rmsnorm(x[t].data(), D, w(p + "post_attention_layernorm.weight").data(), eps, h.data());
                std::vector<double> ga(static_cast<std::size_t>(I)), up(static_cast<std::size_t>(I)), o(static_cast<std::size_t>(D));
                ref_matvec(w(p + "mlp.gate_proj.weight"), I, D, h.data(), ga.data());
                ref_matvec(w(p + "mlp.up_proj.weight"), I, D, h.data(), up.data());
                for (std::int64_t i = 0; i < I; ++i) ga[i] = ga[i] / (1.0 + std::exp(-ga[i])) * up[i];
                ref_matvec(w(p + "mlp.down_proj.weight"), D, I, ga.data(), o.data());
                for (std::int64_t d = 0; d < D; ++d) x[t][d] += o[d];
            }
        }
        const std::vector<double>& head =
            c.tie_word_embeddings ? w("model.embed_tokens.weight") : w("lm_head.weight");
        std::vector<double> h(static_cast<std::size_t>(D)), lg(static_cast<std::size_t>(V));
        for (std::int64_t t = 0; t < T; ++t) {
            ref_rmsnorm(x[t].data(), D, w("model.norm.weight").data(), eps, h.data());
            ref_matvec(head, V, D, h.data(), lg.data());
            if (logits_out)
                std::copy(lg.begin(), lg.end(), logits_out->begin() + (r * T + t) * V);
            if (t + 1 >= T) continue;
            const double m = b.mask.empty() ? 1.0 : b.mask[std::size_t(r * T + t + 1)];
            if (m == 0) continue;
            double mx = -1e300;
            for (double e : lg) mx = std::max(mx, e);
            double z = 0;
            for (double e : lg) z += std::exp(e - mx);
            loss += m * (mx + std::log(z) - lg[std::size_t(b.ids[std::size_t(r * T + t + 1)])]);
        }
    }
    return loss;
}

}  // namespace emu::test
