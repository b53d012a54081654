// The decoder's weights under their official names, as views into the mapped
// checkpoint in the stored dtype (matrices are never converted as a whole; the
// small norm vectors are copied to F32).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "emu/io/safetensors.h"
#include "emu/lm/config.h"
#include "emu/tensor/tensor.h"

namespace emu::lm {

struct LayerWeights {
    Tensor q_proj, k_proj, v_proj, o_proj;  // [H*hd, D], [Hkv*hd, D] x2, [D, H*hd]
    Tensor gate_proj, up_proj, down_proj;   // [I, D] x2, [D, I]
    std::vector<float> input_norm, post_norm;  // [D]
    std::vector<float> q_norm, k_norm;         // [hd]
};

struct Weights {
    Tensor embed_tokens;  // [V, D]
    Tensor lm_head;       // [V, D]; the same tensor as embed_tokens when tied
    std::vector<float> final_norm;
    std::vector<LayerWeights> layers;

    // `lookup` returns the tensor of that name or null; `source` names the
    // checkpoint in errors. Every error names the tensor and the shapes.
    using Lookup = std::function<const Tensor*(const std::string& name)>;
    static Weights load(const Config& cfg, const Lookup& lookup, const std::string& source);
    static Weights load(const Config& cfg, const TensorStore& store);
    static Weights load(const Config& cfg, const std::map<std::string, Tensor>& tensors);

    // Replaces every projection matrix and the LM head by a Q8_0 copy (the
    // embedding stays as stored: it is only looked up). Throws Error naming the
    // first matrix whose rows are not whole 32-value blocks.
    void quantize_q8_0();

    // Bytes of the matrices as stored (what one decode step streams from memory).
    std::uint64_t matrix_bytes() const;
};

// The official tensor names and shapes for a config, in checkpoint order
// (lm_head omitted when tied). Used by loaders, writers and tests.
std::vector<std::pair<std::string, Shape>> expected_tensors(const Config& cfg);

}  // namespace emu::lm
