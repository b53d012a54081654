#include "emu/lm/weights.h"

#include "emu/core/error.h"
#include "emu/ops/linear.h"

namespace emu::lm {
namespace {

bool is_float_dtype(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

const Tensor& need(const Weights::Lookup& lookup, const std::string& source, const std::string& name,
                   const Shape& shape) {
    const Tensor* t = lookup(name);
    check(t != nullptr, source, ": missing tensor '", name, "'");
    check(t->shape() == shape, source, ": tensor '", name, "' has shape ", shape_str(t->shape()), ", expected ",
          shape_str(shape));
    check(is_float_dtype(t->dtype()), source, ": tensor '", name, "' has dtype ", dtype_name(t->dtype()),
          ", expected F32, BF16 or F16");
    check(t->is_contiguous(), source, ": tensor '", name, "' is not contiguous");
    return *t;
}

std::vector<float> vec(const Weights::Lookup& lookup, const std::string& source, const std::string& name,
                       std::int64_t n) {
    return need(lookup, source, name, {n}).f32_values();
}

std::string layer_prefix(std::int64_t i) { return "model.layers." + std::to_string(i) + "."; }

}  // namespace

std::vector<std::pair<std::string, Shape>> expected_tensors(const Config& c) {
    const std::int64_t D = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
    std::vector<std::pair<std::string, Shape>> out;
    out.push_back({"model.embed_tokens.weight", {c.vocab_size, D}});
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
        std::string p = layer_prefix(i);
        out.push_back({p + "input_layernorm.weight", {D}});
        out.push_back({p + "self_attn.q_proj.weight", {c.q_dim(), D}});
        out.push_back({p + "self_attn.k_proj.weight", {c.kv_dim(), D}});
        out.push_back({p + "self_attn.v_proj.weight", {c.kv_dim(), D}});
        out.push_back({p + "self_attn.o_proj.weight", {D, c.q_dim()}});
        out.push_back({p + "self_attn.q_norm.weight", {hd}});
        out.push_back({p + "self_attn.k_norm.weight", {hd}});
        out.push_back({p + "post_attention_layernorm.weight", {D}});
        out.push_back({p + "mlp.gate_proj.weight", {I, D}});
        out.push_back({p + "mlp.up_proj.weight", {I, D}});
        out.push_back({p + "mlp.down_proj.weight", {D, I}});
    }
    out.push_back({"model.norm.weight", {D}});
    if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, D}});
    return out;
}

Weights Weights::load(const Config& c, const Lookup& lookup, const std::string& source) {
    const std::int64_t D = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
    Weights w;
    w.embed_tokens = need(lookup, source, "model.embed_tokens.weight", {c.vocab_size, D});
    w.lm_head = c.tie_word_embeddings ? w.embed_tokens : need(lookup, source, "lm_head.weight", {c.vocab_size, D});
    w.final_norm = vec(lookup, source, "model.norm.weight", D);
    w.layers.resize(std::size_t(c.num_hidden_layers));
    for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
        std::string p = layer_prefix(i);
        LayerWeights& l = w.layers[std::size_t(i)];
        l.input_norm = vec(lookup, source, p + "input_layernorm.weight", D);
        l.q_proj = need(lookup, source, p + "self_attn.q_proj.weight", {c.q_dim(), D});
        l.k_proj = need(lookup, source, p + "self_attn.k_proj.weight", {c.kv_dim(), D});
        l.v_proj = need(lookup, source, p + "self_attn.v_proj.weight", {c.kv_dim(), D});
        l.o_proj = need(lookup, source, p + "self_attn.o_proj.weight", {D, c.q_dim()});
        l.q_norm = vec(lookup, source, p + "self_attn.q_norm.weight", hd);
        l.k_norm = vec(lookup, source, p + "self_attn.k_norm.weight", hd);
        l.post_norm = vec(lookup, source, p + "post_attention_layernorm.weight", D);
        l.gate_proj = need(lookup, source, p + "mlp.gate_proj.weight", {I, D});
        l.up_proj = need(lookup, source, p + "mlp.up_proj.weight", {I, D});
        l.down_proj = need(lookup, source, p + "mlp.down_proj.weight", {D, I});
    }
    return w;
}

Weights Weights::load(const Config& cfg, const TensorStore& store) {
    return load(
        cfg, [&](const std::string& n) -> const Tensor* { return store.has(n) ? &store.get(n) : nullptr; },
        store.source());
}

Weights Weights::load(const Config& cfg, const std::map<std::string, Tensor>& tensors) {
    return load(
        cfg,
        [&](const std::string& n) -> const Tensor* {
            auto it = tensors.find(n);
            return it == tensors.end() ? nullptr : &it->second;
        },
        "weights");
}

void Weights::quantize_q8_0() {
    auto q = [](Tensor& t, const std::string& name) {
        check(t.dim(1) % 32 == 0, "quantize: ", name, " has rows of ", t.dim(1),
              " values, not a multiple of the Q8_0 block (32)");
        t = ops::quantize_q8_0(t);
    };
    // Validate every shape first so a failure leaves the weights unchanged.
    for (std::size_t i = 0; i < layers.size(); ++i)
        for (const Tensor* t : {&layers[i].q_proj, &layers[i].o_proj, &layers[i].down_proj})
            check(t->dim(1) % 32 == 0, "quantize: layer ", i, " has a matrix with rows of ", t->dim(1),
                  " values, not a multiple of the Q8_0 block (32)");
    check(lm_head.dim(1) % 32 == 0, "quantize: lm_head has rows of ", lm_head.dim(1), " values, not a multiple of 32");
    for (std::size_t i = 0; i < layers.size(); ++i) {
        LayerWeights& l = layers[i];
        const std::string p = "model.layers." + std::to_string(i) + ".";
        q(l.q_proj, p + "self_attn.q_proj.weight");
        q(l.k_proj, p + "self_attn.k_proj.weight");
        q(l.v_proj, p + "self_attn.v_proj.weight");
        q(l.o_proj, p + "self_attn.o_proj.weight");
        q(l.gate_proj, p + "mlp.gate_proj.weight");
        q(l.up_proj, p + "mlp.up_proj.weight");
        q(l.down_proj, p + "mlp.down_proj.weight");
    }
    q(lm_head, "lm_head.weight");
}

std::uint64_t Weights::matrix_bytes() const {
    std::uint64_t b = lm_head.nbytes();
    for (const auto& l : layers)
        for (const Tensor* t : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
            b += t->nbytes();
    return b;
}

}  // namespace emu::lm
