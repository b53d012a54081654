// The IBQ vision tokenizer as a trainable model. Its forward is vision::Ibq's inference
// forward (the same ops:: kernels, called in the same order with the same fusions: GroupNorm
// + swish folded into the next conv's input read, x2 upsampling folded into the conv, the
// right/bottom-padded stride-2 downsampling conv), extended to keep the activations the
// backward needs. Parameters carry the official tensor names, so the weights load into
// vision::Ibq (and the official PyTorch module) unchanged.
//
// Quantizer = the official IndexPropagationQuantize in training mode:
//   logits = z . E^T,  soft = softmax(logits),  hard = one_hot(argmax)
//   z_q = (hard - sg(soft) + soft) E      (index back-propagation: the value is E[argmax],
//                                          the gradient reaches every code through soft)
//   quant_loss = mean((z_q - z)^2) + mean((sg(E[argmax]) - z)^2) + beta mean((E[argmax] - sg(z))^2)
//   optional entropy loss (compute_entropy_loss: sample entropy minus batch-average entropy
//   of softmax(logits / temperature), averaged over every position of the batch).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/tensor/tensor.h"
#include "emu/train/param.h"
#include "emu/vision/ibq_config.h"

namespace emu::train {

struct VqLossConfig {
    double l1 = 1.0;     // reconstruction: l1 * mean|x - x'| + l2 * mean (x - x')^2
    double l2 = 1.0;
    double quant = 1.0;  // weight of quant_loss
    double beta = 0.25;  // commitment weight inside quant_loss (official default)
    double entropy = 0.0;  // weight of the entropy loss; 0 = off (official use_entropy_loss: false)
    double entropy_temperature = 0.01;
    double sample_minimization_weight = 1.0;
    double batch_maximization_weight = 1.0;
    // Training-only knobs (not in the official IBQ; defaults reproduce it):
    // straight_through replaces index propagation by the VQ-VAE straight-through estimator:
    // the decoder's gradient at z_q goes to z unchanged, the codebook learns from
    // |sg(z) - E[code]|^2 (weight 1) and z from beta |z - sg(E[code])|^2. The codes are
    // still the argmax of z.E, as at inference. Why: on a small codebook the dot-product
    // softmax saturates, index propagation then gives the encoder almost no reconstruction
    // gradient and a mini tokenizer learns only blobs (docs/training.md).
    bool straight_through = false;
    // object_weight adds this much weight to the reconstruction loss of every pixel whose
    // colour differs from the image's most common colour (the background of a ShapesWorld
    // picture), so small objects are not drowned by the plain background.
    double object_weight = 0.0;
    // edge_weight adds this much weight to every pixel whose colour differs from one of its
    // four neighbours': the outlines, where one shape differs from another.
    double edge_weight = 0.0;
    // background_consistency pulls the encoder outputs of plain-background cells (see
    // plain_background_cells) toward their mean over the batch's pictures of the same
    // background colour: weight * sum |z - mean|^2 / (pictures x cells x embed_dim). Why:
    // otherwise the encoder, whose mid-block attention and GroupNorm see the whole picture,
    // gives plain background a different code by place and content elsewhere (316 codes for
    // two colours in emu-mini's first tokenizer), codes the transformer must then predict.
    double background_consistency = 0.0;
    void validate() const;
};
VqLossConfig vq_loss_config_from_json(const nlohmann::json& j);  // missing keys keep defaults
nlohmann::json to_json(const VqLossConfig& c);

// Cells of the f x f code grid of an H x W picture whose own pixels and their 8
// neighbours' (clipped at the border) are all background: cell indices, row-major.
std::vector<std::size_t> plain_background_cells(int H, int W, int f, const std::function<bool(int x, int y)>& is_background);

struct VqLosses {
    double total = 0, rec = 0, l1 = 0, l2 = 0, quant = 0, entropy = 0, sample_entropy = 0, avg_entropy = 0;
    double background = 0;  // the background_consistency term before its weight
    double codes_used = 0;  // distinct codes in the batch
};

// Quantizer values held fixed, for gradient checks: with them the forward computes the
// straight-through surrogate whose ordinary derivative is the quantizer's gradient (the
// chosen codes, sg(soft), sg(z) and sg(E[code]) frozen at their values at one point).
struct QuantFreeze {
    std::vector<std::int64_t> codes;  // [n]
    std::vector<float> soft;          // [n, n_embed]
    std::vector<float> z;             // [D, n]
    std::vector<float> zq;            // [D, n]  E[code] at the frozen point
};

struct VqImageResult {
    Tensor recon;  // F32 [3, H, W], the decoder output (not clamped)
    Tensor codes;  // I64 [h, w]
    QuantFreeze state;  // filled when asked (keep_state)
};

class VqModel {
public:
    explicit VqModel(vision::IbqConfig config);  // parameters zero; call init_random or set_weights
    const vision::IbqConfig& config() const { return config_; }

    // PyTorch's default initialisation: convs U(+-1/sqrt(fan_in)) for weight and bias,
    // GroupNorm weight 1 bias 0, codebook N(0, codebook_std^2) (nn.Embedding: std 1).
    void init_random(std::uint64_t seed, double codebook_std = 1.0);

    // Every parameter in name order, with default_decay (the codebook is not decayed).
    std::vector<Param> params();
    std::size_t parameter_count() const;
    // Copies of the values by official name (for vision::Ibq and export).
    std::map<std::string, Tensor> weights() const;
    // Sets every parameter from `w` (all must be present with the right shapes).
    void set_weights(const std::map<std::string, Tensor>& w);
    float* value(const std::string& name);
    float* grad(const std::string& name);
    void zero_grad();

    // Forward of a batch of images (F32 [3, H, W] in [-1, 1], all the same size), the
    // losses, and (when backward) the gradients of total loss added into the grad buffers.
    // results (optional) receives each image's reconstruction and codes (and the quantizer
    // state with keep_state). freeze (optional, one per image) computes the surrogate.
    VqLosses step(const std::vector<Tensor>& images, const VqLossConfig& loss, bool backward,
                  std::vector<VqImageResult>* results = nullptr, bool keep_state = false,
                  const std::vector<QuantFreeze>* freeze = nullptr);
    // With the encoder side frozen (encoder, quant_conv, codebook), the backward stops at the
    // quantizer: only the decoder and post_quant_conv receive gradients, the rest stay as
    // they were (decoder-only fine-tuning, where computing the others would be wasted).
    void freeze_encoder(bool frozen) { encoder_frozen_ = frozen; }
    // Whether a parameter is on the decoder side (reads the codes): what a frozen encoder
    // leaves trainable.
    static bool decoder_side(const std::string& name) {
        return name.starts_with("decoder.") || name.starts_with("post_quant_conv.");
    }

private:
    struct Buf {
        Shape shape;
        std::vector<float> v, g;
    };
    vision::IbqConfig config_;
    std::map<std::string, Buf> p_;
    bool encoder_frozen_ = false;
    friend struct VqGraph;
};

// The released config.yaml layout for a config (ddconfig {...}, n_embed, embed_dim, beta,
// entropy settings), as the official IBQ constructor takes it.
nlohmann::json ibq_config_yaml_json(const vision::IbqConfig& c, const VqLossConfig& loss);
std::string ibq_config_yaml(const vision::IbqConfig& c, const VqLossConfig& loss);
// Writes DIR/config.yaml and DIR/model.safetensors (official names): a folder
// vision::Ibq::load reads. The weights are stored in `dtype` (F32, BF16 or F16); training
// checkpoints stay F32 whatever the export.
void export_ibq(const std::string& dir, const VqModel& model, const VqLossConfig& loss, DType dtype = DType::F32);

}  // namespace emu::train
