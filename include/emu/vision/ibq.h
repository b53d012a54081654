// The IBQ vision tokenizer (Emu3.5-VisionTokenizer): images <-> grids of codebook
// indices, computed in float32 on the CPU exactly as the official model does.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "emu/tensor/tensor.h"
#include "emu/vision/ibq_config.h"

namespace emu::vision {

class Ibq {
public:
    // DIR holds config.yaml (or config.json) and model.safetensors (single, sharded
    // index, or folder) or model.ckpt (torch zip). safetensors is preferred when both exist.
    static Ibq load(const std::string& dir);
    // Weights by their official names; every expected tensor must be present with its
    // expected shape (checked here, naming the tensor). Non-F32 weights are converted.
    Ibq(IbqConfig config, std::map<std::string, Tensor> weights);

    const IbqConfig& config() const { return config_; }
    // The weights by official name, F32 (what a trainer starts from).
    const std::map<std::string, Tensor>& weights() const { return weights_; }

    // image: F32 [3, H, W] in [-1, 1], H and W multiples of the downsample factor.
    // Returns quant_conv(encoder(image)), F32 [embed_dim, H/f, W/f].
    Tensor encode_latent(const Tensor& image) const;
    // Index of the codebook row with the largest dot product per position (smallest
    // index on ties), I64 [h, w]. margin (optional) receives best - second best, F32 [h, w].
    Tensor quantize(const Tensor& latent, Tensor* margin = nullptr) const;
    Tensor encode(const Tensor& image) const { return quantize(encode_latent(image)); }
    // codes: integer [h, w] in [0, n_embed). Returns the decoder output, F32 [3, h*f, w*f]
    // (not clamped).
    Tensor decode(const Tensor& codes) const;

private:
    struct Fmap;
    const float* w(const std::string& name) const;
    // Conv `name` over x (optionally reading x through GroupNorm `pre_norm` + swish, and
    // optionally adding into *accumulate_into instead of returning a new map).
    Fmap conv(const std::string& name, const Fmap& x, int kernel, int stride, int pad_tl, int pad_br,
              int upsample = 1, const std::string& pre_norm = "", Fmap* accumulate_into = nullptr) const;
    Fmap resnet(const std::string& prefix, Fmap x) const;
    Fmap attention(const std::string& prefix, Fmap x) const;

    IbqConfig config_;
    std::map<std::string, Tensor> weights_;
};

// The tensor names and shapes an IbqConfig implies (what the official module holds).
std::map<std::string, Shape> ibq_expected_tensors(const IbqConfig& config);

}  // namespace emu::vision
