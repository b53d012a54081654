// IbqConfig parsing and the Ibq API's input checks, on a tiny random model.
#include <gtest/gtest.h>

#include <random>

#include "emu/core/error.h"
#include "emu/io/config.h"
#include "emu/vision/ibq.h"

namespace {

using emu::vision::Ibq;
using emu::vision::IbqConfig;

const char* kYaml = R"(
ddconfig:
  double_z: false
  z_channels: 4
  resolution: 32
  in_channels: 3
  out_ch: 3
  ch: 32
  ch_mult: [1, 1, 1, 1, 2]
  num_res_blocks: 1
  attn_resolutions: [4, 2]
  dropout: 0.0
  some_future_key: 7
n_embed: 10
embed_dim: 6
beta: 0.25
use_entropy_loss: false
unknown_top_level: [1, 2]
)";

IbqConfig tiny_config() { return IbqConfig::from_json(emu::parse_yaml_as_json(kYaml, "tiny.yaml"), "tiny.yaml"); }

std::map<std::string, emu::Tensor> random_weights(const IbqConfig& c) {
    std::mt19937 rng(5);
    std::normal_distribution<float> d(0.f, 0.1f);
    std::map<std::string, emu::Tensor> w;
    for (const auto& [name, shape] : emu::vision::ibq_expected_tensors(c)) {
        std::vector<float> v(emu::shape_numel(shape));
        for (auto& x : v) x = d(rng) + (name.find("norm") != std::string::npos && name.ends_with("weight") ? 1.f : 0.f);
        w[name] = emu::Tensor::from_f32(shape, v);
    }
    return w;
}

TEST(IbqConfig, ReadsNestedYamlAndIgnoresUnknownKeys) {
    const IbqConfig c = tiny_config();
    EXPECT_EQ(c.ch, 32);
    EXPECT_EQ(c.ch_mult, (std::vector<int>{1, 1, 1, 1, 2}));
    EXPECT_EQ(c.z_channels, 4);
    EXPECT_EQ(c.embed_dim, 6);
    EXPECT_EQ(c.n_embed, 10);
    EXPECT_EQ(c.downsample_factor(), 16);
    EXPECT_TRUE(c.has_attention_at(4));
    EXPECT_FALSE(c.has_attention_at(32));
}

TEST(IbqConfig, ReadsFlatConfigJson) {
    const nlohmann::json j = {{"model_type", "Emu3p5VisionVQ"}, {"codebook_size", 131072}, {"embed_dim", 256},
                              {"z_channels", 256}, {"ch", 256}, {"ch_mult", {1, 1, 2, 2, 4}}, {"num_res_blocks", 4},
                              {"attn_resolutions", {16}}, {"resolution", 256}, {"in_channels", 3}, {"out_ch", 3},
                              {"double_z", false}, {"dropout", 0.0}};
    const IbqConfig c = IbqConfig::from_json(j, "config.json");
    EXPECT_EQ(c.n_embed, 131072);
    EXPECT_EQ(c.num_res_blocks, 4);
    // The released model's parameter count (spec: 455.34 M).
    std::uint64_t params = 0;
    for (const auto& [name, shape] : emu::vision::ibq_expected_tensors(c)) params += emu::shape_numel(shape);
    EXPECT_NEAR(double(params) / 1e6, 455.34, 0.01);
}

TEST(IbqConfig, BadValuesAreErrors) {
    nlohmann::json j = emu::parse_yaml_as_json(kYaml, "x");
    auto bad = [](nlohmann::json v) { EXPECT_THROW(IbqConfig::from_json(v, "bad.yaml"), emu::Error) << v.dump(); };
    nlohmann::json v = j;
    v["ddconfig"].erase("ch");
    bad(v);
    v = j;
    v["ddconfig"]["ch"] = 20;
    bad(v);
    v = j;
    v["ddconfig"]["ch_mult"] = "1,2";
    bad(v);
    v = j;
    v.erase("n_embed");
    bad(v);
    v = j;
    v["ddconfig"]["in_channels"] = 4;
    bad(v);
}

TEST(Ibq, ChecksWeightsAndInputs) {
    const IbqConfig c = tiny_config();
    auto w = random_weights(c);
    const Ibq ibq(c, w);

    auto missing = w;
    missing.erase("decoder.mid.attn_1.q.weight");
    EXPECT_THROW(Ibq(c, missing), emu::Error);
    auto wrong = w;
    wrong["quant_conv.weight"] = emu::Tensor::zeros(emu::DType::F32, {6, 5, 1, 1});
    EXPECT_THROW(Ibq(c, wrong), emu::Error);
    auto extra = w;
    extra["encoder.down.9.block.0.norm1.weight"] = emu::Tensor::zeros(emu::DType::F32, {4});
    EXPECT_THROW(Ibq(c, extra), emu::Error);

    // Too small for one token, not a multiple of 16, wrong channel count.
    EXPECT_THROW(ibq.encode(emu::Tensor::zeros(emu::DType::F32, {3, 8, 8})), emu::Error);
    EXPECT_THROW(ibq.encode(emu::Tensor::zeros(emu::DType::F32, {3, 16, 0})), emu::Error);
    EXPECT_THROW(ibq.encode(emu::Tensor::zeros(emu::DType::F32, {3, 24, 32})), emu::Error);
    EXPECT_THROW(ibq.encode(emu::Tensor::zeros(emu::DType::F32, {4, 32, 32})), emu::Error);
    EXPECT_THROW(ibq.encode(emu::Tensor::zeros(emu::DType::F32, {1, 32, 32})), emu::Error);

    const emu::Tensor codes = ibq.encode(emu::Tensor::zeros(emu::DType::F32, {3, 32, 48}));
    EXPECT_EQ(codes.shape(), (emu::Shape{2, 3}));
    const emu::Tensor img = ibq.decode(codes);
    EXPECT_EQ(img.shape(), (emu::Shape{3, 32, 48}));

    emu::Tensor bad_codes = emu::Tensor::zeros(emu::DType::I64, {1, 2});
    bad_codes.data_mut<std::int64_t>()[1] = 10;  // == n_embed
    EXPECT_THROW(ibq.decode(bad_codes), emu::Error);
    bad_codes.data_mut<std::int64_t>()[1] = -1;
    EXPECT_THROW(ibq.decode(bad_codes), emu::Error);
    EXPECT_THROW(ibq.decode(emu::Tensor::zeros(emu::DType::I64, {4})), emu::Error);
    EXPECT_THROW(ibq.decode(emu::Tensor::zeros(emu::DType::I64, {1, 5000})), emu::Error);  // 80000 pixels wide
    EXPECT_THROW(ibq.decode(emu::Tensor::zeros(emu::DType::F32, {2, 2})), emu::Error);
}

TEST(Ibq, QuantizeIsDotProductArgmax) {
    const IbqConfig c = tiny_config();
    auto w = random_weights(c);
    // Codebook where the nearest row (L2) and the largest dot product differ.
    std::vector<float> E(10 * 6, 0.f);
    E[0 * 6 + 0] = 1.0f;   // close to z
    E[1 * 6 + 0] = 10.0f;  // far away, but the largest dot product
    E[2 * 6 + 0] = 10.0f;  // tie with row 1: the smaller index wins
    w["quantize.embedding.weight"] = emu::Tensor::from_f32({10, 6}, E);
    const Ibq ibq(c, w);
    std::vector<float> z(6, 0.f);
    z[0] = 1.0f;
    emu::Tensor margin;
    const emu::Tensor codes = ibq.quantize(emu::Tensor::from_f32({6, 1, 1}, z), &margin);
    EXPECT_EQ(codes.item(0), 1.0);
    EXPECT_EQ(margin.item(0), 0.0);
}

}  // namespace
