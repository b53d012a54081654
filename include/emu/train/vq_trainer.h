// `emu train vq`: trains the IBQ vision tokenizer on ShapesWorld pictures.
//
// Config (YAML/JSON; the common keys of run.h plus):
//   model: {ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels,
//           n_embed, embed_dim}            IBQ ddconfig keys (flat)
//   codebook_std: 1.0                      codebook init N(0, std^2)
//   loss: {l1, l2, quant, beta, entropy, entropy_temperature, ...}   (VqLossConfig)
//   data: {seed, batch_size, width, height, max_objects, agent_prob, eval_seed, eval_images}
//   sample_every: steps between sample PNGs (0 = at evaluations)
//   init_from: DIR                         start from a trained IBQ folder (its config.yaml
//                                          is the model; no 'model' key then)
//   trainable: all | decoder               decoder: only post_quant_conv and the decoder
//                                          learn; the encoder and codebook stay fixed, so
//                                          every picture keeps its codes and a transformer
//                                          trained on them stays valid (needs init_from,
//                                          no codebook upkeep)
// Output folder: config.yaml + model.safetensors (vision::Ibq::load reads it),
// train_config.json, metrics.jsonl, samples/step-NNNNNN.png, checkpoint-NNNNNN/.
#pragma once
#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/vision/ibq.h"
#include "emu/tensor/tensor.h"
#include "emu/train/vq_model.h"
#include "emu/world/scene.h"

namespace emu::train {

struct VqDataConfig {
    std::uint64_t seed = 1;
    int batch_size = 8;
    int width = 64, height = 64;
    int max_objects = 4;
    double agent_prob = 0.25;  // chance a picture also holds the vla agent
    std::uint64_t eval_seed = 1000001;
    int eval_images = 64;
    void validate() const;
};
VqDataConfig vq_data_config_from_json(const nlohmann::json& j);

// Picture `index` of the stream with `seed`: a random scene (0..max_objects objects on a
// random background, sometimes the agent), a pure function of (config, seed, index).
world::Scene vq_scene(const VqDataConfig& c, std::uint64_t seed, std::uint64_t index);
Tensor vq_image(const VqDataConfig& c, const world::Scene& scene);  // F32 [3, H, W] in [-1, 1]

struct VqEvalResult {
    int images = 0;
    double psnr = 0;            // mean over images, of the 8-bit reconstruction
    double parse_accuracy = 0;  // reconstructions the ShapesWorld evaluator reads as the true scene
    double codes_used = 0;      // distinct codes over the eval set
    // Cells whose patch and neighbouring patches are all plain background, and the distinct
    // codes they got: a tokenizer that codes patches locally needs one per background colour.
    std::int64_t background_cells = 0;
    double background_codes = 0;
    // Entropy (nats) of such a cell's code given its background colour and place, averaged
    // over the cells: 0 when plain background always gets the same code at the same place.
    double background_code_entropy = 0;
    std::vector<int> failures;  // indices of the first (up to 20) pictures read wrongly
};
// Encodes and decodes each held-out picture with vision::Ibq on the model's weights (the
// inference path) and scores it. sample_png (optional) gets originals over reconstructions.
VqEvalResult evaluate_vq(const VqModel& model, const VqDataConfig& data, const std::string& sample_png = "");
// The same on a loaded tokenizer: eval_images pictures vq_scene(data, eval_seed, 0..).
VqEvalResult evaluate_ibq(const vision::Ibq& ibq, const VqDataConfig& data, const std::string& sample_png = "",
                          const std::function<void(int done, int total)>& progress = {});

struct VqTrainOutcome {
    std::int64_t step = 0;
    bool interrupted = false;
    VqEvalResult last_eval;
};
// until > 0 stops at that step (checkpoint and export written), without changing the
// schedule: a later run with --resume auto goes on as if never stopped, possibly with other
// loss settings (that is how a recipe switches losses part way).
VqTrainOutcome train_vq(const nlohmann::json& config, const std::string& resume, bool quiet, std::int64_t until = 0);

}  // namespace emu::train
