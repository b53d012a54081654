#include "emu/train/lm_model.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "emu/core/error.h"
#include "emu/io/safetensors.h"
#include "emu/lm/random_init.h"
#include "emu/ops/attention.h"
#include "emu/ops/cross_entropy.h"
#include "emu/ops/linear.h"
#include "emu/ops/rmsnorm.h"
#include "emu/ops/rope.h"
#include "emu/ops/silu.h"
#include "emu/train/run.h"

namespace emu::train {

namespace fs = std::filesystem;

LmModel LmModel::from_tensors(const lm::Config& cfg, const std::map<std::string, Tensor>& tensors) {
    cfg.validate();
    LmModel m;
    m.cfg_ = cfg;
    for (const auto& [name, shape] : lm::expected_tensors(cfg)) {
        auto it = tensors.find(name);
        check(it != tensors.end(), "lm model: missing tensor '", name, "'");
        check(it->second.shape() == shape, "lm model: tensor '", name, "' has shape ", shape_str(it->second.shape()),
              ", expected ", shape_str(shape));
        Tensor t = Tensor::zeros(DType::F32, shape);
        const std::vector<float> v = it->second.f32_values();
        std::memcpy(t.data_mut<float>(), v.data(), v.size() * sizeof(float));
        m.names_.push_back(name);
        m.values_.emplace(name, std::move(t));
    }
    m.alloc_grads();
    return m;
}

LmModel LmModel::random(const lm::Config& cfg, std::uint64_t seed, float init_std) {
    return from_tensors(cfg, lm::random_weights(cfg, DType::F32, seed, init_std, 0.f));
}

std::map<std::string, Tensor> grow_depth(const lm::Config& from, const std::map<std::string, Tensor>& tensors,
                                         const lm::Config& to, std::uint64_t seed, float init_std) {
    const std::int64_t n_from = from.num_hidden_layers, n_to = to.num_hidden_layers;
    check(n_from > 0 && n_to >= n_from, "grow: ", n_to, " layers is fewer than the ", n_from,
          " layers of the model grown");
    lm::Config same_depth = to;
    same_depth.num_hidden_layers = n_from;
    check(same_depth.to_json() == from.to_json(), "grow: only num_hidden_layers may change");
    // Source layer i lands at floor(i * n_to / n_from): the fresh layers are spread evenly
    // between the trained ones (for a multiple k, source layer i is layer i*k).
    std::map<std::int64_t, std::int64_t> source_of;
    for (std::int64_t i = 0; i < n_from; ++i) source_of[i * n_to / n_from] = i;
    const std::string prefix = "model.layers.";
    std::map<std::string, Tensor> fresh = lm::random_weights(to, DType::F32, seed, init_std, 0.f), out;
    for (auto& [name, t] : fresh) {
        if (name.rfind(prefix, 0) != 0) {  // embeddings, final norm, head: the source's
            auto it = tensors.find(name);
            check(it != tensors.end(), "grow: missing tensor '", name, "'");
            out.emplace(name, it->second);
            continue;
        }
        const std::size_t dot = name.find('.', prefix.size());
        const std::int64_t layer = std::stoll(name.substr(prefix.size(), dot - prefix.size()));
        const std::string rest = name.substr(dot);
        auto src = source_of.find(layer);
        if (src != source_of.end()) {
            const std::string source = prefix + std::to_string(src->second) + rest;
            auto it = tensors.find(source);
            check(it != tensors.end(), "grow: missing tensor '", source, "'");
            out.emplace(name, it->second);
        } else {
            // A fresh layer adds nothing to the residual stream until training moves it.
            if (rest == ".self_attn.o_proj.weight" || rest == ".mlp.down_proj.weight")
                std::memset(t.data_mut<float>(), 0, std::size_t(t.numel()) * sizeof(float));
            out.emplace(name, std::move(t));
        }
    }
    return out;
}

void LmModel::alloc_grads() {
    for (const auto& n : names_) grads_.emplace(n, Tensor::zeros(DType::F32, values_.at(n).shape()));
}

std::vector<Param> LmModel::params() {
    std::vector<Param> out;
    for (const auto& n : names_) {
        Tensor& v = values_.at(n);
        out.push_back(param_of(n, v, grads_.at(n), default_decay(n, v.shape())));
    }
    return out;
}

const Tensor& LmModel::value(const std::string& name) const {
    auto it = values_.find(name);
    check(it != values_.end(), "lm model: no tensor '", name, "'");
    return it->second;
}

Tensor& LmModel::grad(const std::string& name) {
    auto it = grads_.find(name);
    check(it != grads_.end(), "lm model: no tensor '", name, "'");
    return it->second;
}

std::int64_t LmModel::parameter_count() const {
    std::int64_t n = 0;
    for (const auto& [name, t] : values_) n += t.numel();
    return n;
}

lm::Weights LmModel::weights() const { return lm::Weights::load(cfg_, values_); }

void LmModel::save_pretrained(const std::string& dir, DType dtype) const {
    check_exportable(dtype, "lm model");
    fs::create_directories(dir);
    nlohmann::json j = cfg_.to_json();
    j["torch_dtype"] = dtype == DType::F32 ? "float32" : dtype == DType::BF16 ? "bfloat16" : "float16";
    std::ofstream(fs::path(dir) / "config.json") << j.dump(2) << "\n";
    std::vector<std::pair<std::string, Tensor>> list;
    for (const auto& n : names_) list.emplace_back(n, dtype == DType::F32 ? values_.at(n) : values_.at(n).to(dtype));
    write_safetensors((fs::path(dir) / "model.safetensors").string(), list, {{"format", "pt"}});
}

void attention_ranges(const std::int32_t* segments, const std::int32_t* blocks, std::int64_t T, std::int32_t* begin,
                      std::int32_t* end) {
    std::int32_t start = 0;
    for (std::int64_t t = 0; t < T; ++t) {
        const std::int32_t s = segments ? segments[t] : 1;
        if (t == 0 || (segments && segments[t - 1] != s)) start = std::int32_t(t);
        if (s == 0) {
            begin[t] = std::int32_t(t);
            end[t] = std::int32_t(t + 1);
            continue;
        }
        begin[t] = start;
        end[t] = std::int32_t(t + 1);
    }
    if (!blocks) return;
    // A block's tokens all see up to the block's last token (same segment, same id).
    for (std::int64_t t = T - 1; t >= 0; --t) {
        if (blocks[t] == 0 || (segments && segments[t] == 0)) continue;
        const bool continues = t + 1 < T && blocks[t + 1] == blocks[t] && (!segments || segments[t + 1] == segments[t]);
        if (continues) end[t] = end[t + 1];
    }
}

namespace {

void add_into(float* dst, const float* src, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// Keys and values (or their gradients) between the token-major layout the projections use,
// [rows*T][kv heads*hd], and the per-sequence head-major one attention reads, [rows][kv
// heads][T][hd]; two arrays at once, in either direction.
void kv_layout(std::int64_t N, std::int64_t T, std::int64_t Hkv, std::int64_t hd, bool to_head_major,
               const float* a, const float* b, float* a_out, float* b_out) {
    const std::int64_t KD = Hkv * hd;
#pragma omp parallel for schedule(static) if (N * KD > (1 << 15))
    for (std::int64_t rt = 0; rt < N; ++rt) {
        const std::int64_t r = rt / T, t = rt % T;
        for (std::int64_t j = 0; j < Hkv; ++j) {
            const std::int64_t token = rt * KD + j * hd, head = r * T * KD + (j * T + t) * hd;
            const std::int64_t src = to_head_major ? token : head, dst = to_head_major ? head : token;
            std::memcpy(a_out + dst, a + src, std::size_t(hd) * 4);
            std::memcpy(b_out + dst, b + src, std::size_t(hd) * 4);
        }
    }
}

std::string lp(std::int64_t i) { return "model.layers." + std::to_string(i) + "."; }

}  // namespace

LmStepResult LmTrainer::forward(const LmBatchView& b) {
    const lm::Config& c = m_.config();
    const std::int64_t D = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads,
                       Hkv = c.num_key_value_heads, hd = c.head_dim, V = c.vocab_size, L = c.num_hidden_layers;
    const std::int64_t QD = c.q_dim(), KD = c.kv_dim(), half = hd / 2;
    check(b.rows > 0 && b.seq_len > 0 && b.ids, "lm forward: empty batch");
    rows_ = b.rows;
    T_ = b.seq_len;
    const std::int64_t T = T_, N = rows_ * T_;
    const std::size_t n = std::size_t(N);

    ids_.assign(b.ids, b.ids + N);
    for (std::int64_t i = 0; i < N; ++i)
        check(ids_[std::size_t(i)] >= 0 && ids_[std::size_t(i)] < V, "lm forward: token id ", ids_[std::size_t(i)],
              " at ", i, " is outside the vocabulary (", V, ")");
    targets_.assign(n, 0);
    weights_.assign(n, 0.f);
    for (std::int64_t r = 0; r < rows_; ++r)
        for (std::int64_t t = 0; t + 1 < T; ++t) {
            const std::int64_t i = r * T + t;
            targets_[std::size_t(i)] = b.targets ? b.targets[i + 1] : ids_[std::size_t(i + 1)];
            check(targets_[std::size_t(i)] >= 0 && targets_[std::size_t(i)] < V, "lm forward: target id ",
                  targets_[std::size_t(i)], " is outside the vocabulary");
            weights_[std::size_t(i)] = b.mask ? b.mask[i + 1] : 1.f;
        }
    std::vector<std::int64_t> pos(n);
    for (std::int64_t i = 0; i < N; ++i) pos[std::size_t(i)] = b.positions ? b.positions[i] : i % T;
    cos_.resize(std::size_t(N * half));
    sin_.resize(std::size_t(N * half));
    ops::rope_tables(ops::RopeParams{hd, float(c.rope_theta), float(c.rope_linear_factor)}, pos.data(), N,
                     cos_.data(), sin_.data());
    kv_begin_.resize(n);
    kv_end_.resize(n);
    for (std::int64_t r = 0; r < rows_; ++r)
        attention_ranges(b.segments ? b.segments + r * T : nullptr, b.blocks ? b.blocks + r * T : nullptr, T,
                         kv_begin_.data() + r * T, kv_end_.data() + r * T);

    const lm::Weights w = m_.weights();
    const float eps = float(c.rms_norm_eps);
    const ops::AttentionDims ad{H, Hkv, hd};
    std::vector<float>& x = x_final_;
    std::vector<float>& h = scratch_.h;
    x.resize(n * std::size_t(D));
    h.resize(n * std::size_t(D));
    for (std::int64_t i = 0; i < N; ++i)
        ops::weight_rows_to_f32(w.embed_tokens.raw(), w.embed_tokens.dtype(), D, ids_[std::size_t(i)], 1,
                                x.data() + i * D);

    acts_.resize(std::size_t(L));
    for (std::int64_t l = 0; l < L; ++l) {
        const lm::LayerWeights& lw = w.layers[std::size_t(l)];
        LayerActs& A = acts_[std::size_t(l)];
        A.x = x;
        A.inv1.resize(n);
        A.h1.resize(n * D);
        A.q_pre.resize(n * QD);
        A.k_pre.resize(n * KD);
        A.q_inv.resize(n * H);
        A.k_inv.resize(n * Hkv);
        A.q.resize(n * QD);
        A.kc.resize(n * KD);
        A.vc.resize(n * KD);
        A.probs.resize(std::size_t(rows_ * H * T * T));
        A.attn.resize(n * QD);
        A.inv2.resize(n);
        A.h2.resize(n * D);
        A.gate.resize(n * I);
        A.up.resize(n * I);
        A.act.resize(n * I);
        std::vector<float>& k = scratch_.k;
        std::vector<float>& v = scratch_.v;
        k.resize(n * KD);
        v.resize(n * KD);

        ops::rmsnorm(x.data(), N, D, lw.input_norm.data(), eps, A.h1.data(), A.inv1.data());
        ops::linear(A.h1.data(), N, lw.q_proj, A.q_pre.data());
        ops::linear(A.h1.data(), N, lw.k_proj, A.k_pre.data());
        ops::linear(A.h1.data(), N, lw.v_proj, v.data());
        ops::rmsnorm(A.q_pre.data(), N * H, hd, lw.q_norm.data(), eps, A.q.data(), A.q_inv.data());
        ops::rmsnorm(A.k_pre.data(), N * Hkv, hd, lw.k_norm.data(), eps, k.data(), A.k_inv.data());
#pragma omp parallel for schedule(static) if (N * QD > (1 << 15))
        for (std::int64_t t = 0; t < N; ++t) {
            ops::rope_apply(A.q.data() + t * QD, H, hd, cos_.data() + t * half, sin_.data() + t * half);
            ops::rope_apply(k.data() + t * KD, Hkv, hd, cos_.data() + t * half, sin_.data() + t * half);
        }
        // Keys and values go head-major per sequence; then every (sequence, head) pair is
        // one unit of work, so more threads than heads help.
        kv_layout(N, T, Hkv, hd, true, k.data(), v.data(), A.kc.data(), A.vc.data());
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (N * QD > (1 << 15))
        for (std::int64_t r = 0; r < rows_; ++r)
            for (std::int64_t hh = 0; hh < H; ++hh)
                ops::attention_head(ad, hh, A.q.data() + r * T * QD, T, QD, A.kc.data() + r * T * KD,
                                    A.vc.data() + r * T * KD, T, kv_begin_.data() + r * T, kv_end_.data() + r * T,
                                    A.attn.data() + r * T * QD, QD, A.probs.data() + r * H * T * T);
        ops::linear(A.attn.data(), N, lw.o_proj, h.data());
        add_into(x.data(), h.data(), N * D);
        A.xm = x;

        ops::rmsnorm(x.data(), N, D, lw.post_norm.data(), eps, A.h2.data(), A.inv2.data());
        ops::linear(A.h2.data(), N, lw.gate_proj, A.gate.data());
        ops::linear(A.h2.data(), N, lw.up_proj, A.up.data());
        A.act = A.gate;
        ops::silu_mul(A.act.data(), A.up.data(), N * I);
        ops::linear(A.act.data(), N, lw.down_proj, h.data());
        add_into(x.data(), h.data(), N * D);
    }
    inv_final_.resize(n);
    h_final_.resize(n * D);
    ops::rmsnorm(x_final_.data(), N, D, w.final_norm.data(), eps, h_final_.data(), inv_final_.data());
    logits_.resize(n * V);
    ops::linear(h_final_.data(), N, w.lm_head, logits_.data());

    backward_done_ = false;
    LmStepResult res;
    res.loss_sum = ops::cross_entropy(logits_.data(), N, V, targets_.data(), weights_.data(), nullptr);
    for (float wt : weights_) res.tokens += wt;
    return res;
}

void LmTrainer::backward(float grad_scale) {
    const lm::Config& c = m_.config();
    const std::int64_t D = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads,
                       Hkv = c.num_key_value_heads, hd = c.head_dim, V = c.vocab_size, L = c.num_hidden_layers;
    const std::int64_t QD = c.q_dim(), KD = c.kv_dim(), half = hd / 2, T = T_, N = rows_ * T_;
    check(!backward_done_ && std::int64_t(acts_.size()) == L, "lm backward: no forward pass to go back through");
    const std::size_t n = std::size_t(N);
    const lm::Weights w = m_.weights();
    const ops::AttentionDims ad{H, Hkv, hd};
    auto g = [&](const std::string& name) { return m_.grad(name).data_mut<float>(); };

    // Head and final norm. dlogits reuses the logits buffer (the forward's logits are gone after this).
    std::vector<float>& dlogits = logits_;
    ops::cross_entropy(logits_.data(), N, V, targets_.data(), weights_.data(), dlogits.data(), grad_scale);
    // Scratch buffers live across steps (same sizes every step: no page faults).
    Scratch& S = scratch_;
    auto sized = [](std::vector<float>& v, std::size_t size) -> std::vector<float>& {
        v.resize(size);
        return v;
    };
    std::vector<float>&dh = sized(S.dh, n * D), &dx = sized(S.dx, n * D), &tmp = sized(S.tmp, n * D);
    ops::linear_backward_input(dlogits.data(), N, w.lm_head, dh.data());
    ops::linear_backward_weight(dlogits.data(), h_final_.data(), N, V, D,
                                g(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"));
    ops::rmsnorm_backward(x_final_.data(), inv_final_.data(), N, D, w.final_norm.data(), dh.data(), dx.data(),
                          g("model.norm.weight"));
    backward_done_ = true;

    std::vector<float>&dact = sized(S.dact, n * I), &dgate = sized(S.dgate, n * I), &dup = sized(S.dup, n * I),
                      &dattn = sized(S.dattn, n * QD), &dq = sized(S.dq, n * QD), &dq_pre = sized(S.dq_pre, n * QD),
                      &dkc = sized(S.dkc, n * KD), &dvc = sized(S.dvc, n * KD), &dk = sized(S.dk, n * KD),
                      &dv = sized(S.dv, n * KD), &dk_pre = sized(S.dk_pre, n * KD);
    for (std::int64_t l = L - 1; l >= 0; --l) {
        const lm::LayerWeights& lw = w.layers[std::size_t(l)];
        LayerActs& A = acts_[std::size_t(l)];
        const std::string p = lp(l);
        // MLP: out = xm + down(silu(gate) * up), gate/up from rmsnorm(xm).
        ops::linear_backward_input(dx.data(), N, lw.down_proj, dact.data());
        ops::linear_backward_weight(dx.data(), A.act.data(), N, D, I, g(p + "mlp.down_proj.weight"));
        ops::silu_mul_backward(A.gate.data(), A.up.data(), dact.data(), dgate.data(), dup.data(), N * I);
        ops::linear_backward_input(dgate.data(), N, lw.gate_proj, dh.data());
        ops::linear_backward_input(dup.data(), N, lw.up_proj, dh.data(), true);
        ops::linear_backward_weight(dgate.data(), A.h2.data(), N, I, D, g(p + "mlp.gate_proj.weight"));
        ops::linear_backward_weight(dup.data(), A.h2.data(), N, I, D, g(p + "mlp.up_proj.weight"));
        ops::rmsnorm_backward(A.xm.data(), A.inv2.data(), N, D, lw.post_norm.data(), dh.data(), tmp.data(),
                              g(p + "post_attention_layernorm.weight"));
        add_into(dx.data(), tmp.data(), N * D);

        // Attention: xm = x + o(attn(rope(qnorm(q(h1))), rope(knorm(k(h1))), v(h1))).
        ops::linear_backward_input(dx.data(), N, lw.o_proj, dattn.data());
        ops::linear_backward_weight(dx.data(), A.attn.data(), N, D, QD, g(p + "self_attn.o_proj.weight"));
        // One unit per (sequence, kv head): each owns its block of dkc/dvc and its heads'
        // columns of dq, so units run side by side without races, in any order.
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (N * QD > (1 << 15))
        for (std::int64_t r = 0; r < rows_; ++r)
            for (std::int64_t j = 0; j < Hkv; ++j) {
                const std::int64_t block = r * T * KD + j * T * hd;
                std::fill(dkc.data() + block, dkc.data() + block + T * hd, 0.f);
                std::fill(dvc.data() + block, dvc.data() + block + T * hd, 0.f);
                ops::attention_backward_kv_head(ad, j, A.q.data() + r * T * QD, T, QD, A.kc.data() + r * T * KD,
                                                A.vc.data() + r * T * KD, T, A.probs.data() + r * H * T * T,
                                                dattn.data() + r * T * QD, QD, dq.data() + r * T * QD,
                                                dkc.data() + r * T * KD, dvc.data() + r * T * KD);
            }
        kv_layout(N, T, Hkv, hd, false, dkc.data(), dvc.data(), dk.data(), dv.data());
#pragma omp parallel for schedule(static) if (N * QD > (1 << 15))
        for (std::int64_t t = 0; t < N; ++t) {
            ops::rope_apply_backward(dq.data() + t * QD, H, hd, cos_.data() + t * half, sin_.data() + t * half);
            ops::rope_apply_backward(dk.data() + t * KD, Hkv, hd, cos_.data() + t * half, sin_.data() + t * half);
        }
        ops::rmsnorm_backward(A.q_pre.data(), A.q_inv.data(), N * H, hd, lw.q_norm.data(), dq.data(), dq_pre.data(),
                              g(p + "self_attn.q_norm.weight"));
        ops::rmsnorm_backward(A.k_pre.data(), A.k_inv.data(), N * Hkv, hd, lw.k_norm.data(), dk.data(),
                              dk_pre.data(), g(p + "self_attn.k_norm.weight"));
        ops::linear_backward_input(dq_pre.data(), N, lw.q_proj, dh.data());
        ops::linear_backward_input(dk_pre.data(), N, lw.k_proj, dh.data(), true);
        ops::linear_backward_input(dv.data(), N, lw.v_proj, dh.data(), true);
        ops::linear_backward_weight(dq_pre.data(), A.h1.data(), N, QD, D, g(p + "self_attn.q_proj.weight"));
        ops::linear_backward_weight(dk_pre.data(), A.h1.data(), N, KD, D, g(p + "self_attn.k_proj.weight"));
        ops::linear_backward_weight(dv.data(), A.h1.data(), N, KD, D, g(p + "self_attn.v_proj.weight"));
        ops::rmsnorm_backward(A.x.data(), A.inv1.data(), N, D, lw.input_norm.data(), dh.data(), tmp.data(),
                              g(p + "input_layernorm.weight"));
        add_into(dx.data(), tmp.data(), N * D);
    }
    float* ge = g("model.embed_tokens.weight");
    for (std::int64_t i = 0; i < N; ++i) {
        float* row = ge + std::int64_t(ids_[std::size_t(i)]) * D;
        const float* src = dx.data() + i * D;
        for (std::int64_t k = 0; k < D; ++k) row[k] += src[k];
    }
}

}  // namespace emu::train
