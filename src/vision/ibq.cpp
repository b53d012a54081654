#include "emu/vision/ibq.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/io/safetensors.h"
#include "emu/io/torch_checkpoint.h"
#include "emu/ops/conv2d.h"
#include "emu/ops/group_norm.h"
#include "emu/ops/spatial_attention.h"

namespace fs = std::filesystem;

namespace emu::vision {

namespace {
constexpr int kGroups = 32;
constexpr float kNormEps = 1e-6f;
// Images beyond this side would need tens of GB of activations; refuse them up front.
constexpr std::int64_t kMaxSide = 16384;

void add_conv(std::map<std::string, Shape>& m, const std::string& name, int out, int in, int k) {
    m[name + ".weight"] = {out, in, k, k};
    m[name + ".bias"] = {out};
}
void add_norm(std::map<std::string, Shape>& m, const std::string& name, int c) {
    m[name + ".weight"] = {c};
    m[name + ".bias"] = {c};
}
void add_resnet(std::map<std::string, Shape>& m, const std::string& p, int in, int out) {
    add_norm(m, p + ".norm1", in);
    add_conv(m, p + ".conv1", out, in, 3);
    add_norm(m, p + ".norm2", out);
    add_conv(m, p + ".conv2", out, out, 3);
    if (in != out) add_conv(m, p + ".nin_shortcut", out, in, 1);
}
void add_attn(std::map<std::string, Shape>& m, const std::string& p, int c) {
    add_norm(m, p + ".norm", c);
    for (const char* n : {".q", ".k", ".v", ".proj_out"}) add_conv(m, p + n, c, c, 1);
}
}  // namespace

std::map<std::string, Shape> ibq_expected_tensors(const IbqConfig& c) {
    std::map<std::string, Shape> m;
    const int L = c.levels();
    // Encoder.
    add_conv(m, "encoder.conv_in", c.ch, c.in_channels, 3);
    int res = c.resolution, block_in = c.ch;
    for (int i = 0; i < L; ++i) {
        block_in = c.ch * (i == 0 ? 1 : c.ch_mult[i - 1]);
        const int block_out = c.ch * c.ch_mult[i];
        for (int b = 0; b < c.num_res_blocks; ++b) {
            add_resnet(m, str("encoder.down.", i, ".block.", b), block_in, block_out);
            block_in = block_out;
            if (c.has_attention_at(res)) add_attn(m, str("encoder.down.", i, ".attn.", b), block_in);
        }
        if (i != L - 1) {
            add_conv(m, str("encoder.down.", i, ".downsample.conv"), block_in, block_in, 3);
            res /= 2;
        }
    }
    add_resnet(m, "encoder.mid.block_1", block_in, block_in);
    add_attn(m, "encoder.mid.attn_1", block_in);
    add_resnet(m, "encoder.mid.block_2", block_in, block_in);
    add_norm(m, "encoder.norm_out", block_in);
    add_conv(m, "encoder.conv_out", c.z_channels, block_in, 3);
    add_conv(m, "quant_conv", c.embed_dim, c.z_channels, 1);
    m["quantize.embedding.weight"] = {c.n_embed, c.embed_dim};
    // Decoder.
    add_conv(m, "post_quant_conv", c.z_channels, c.embed_dim, 1);
    block_in = c.ch * c.ch_mult[L - 1];
    res = c.resolution >> (L - 1);
    add_conv(m, "decoder.conv_in", block_in, c.z_channels, 3);
    add_resnet(m, "decoder.mid.block_1", block_in, block_in);
    add_attn(m, "decoder.mid.attn_1", block_in);
    add_resnet(m, "decoder.mid.block_2", block_in, block_in);
    for (int i = L - 1; i >= 0; --i) {
        const int block_out = c.ch * c.ch_mult[i];
        for (int b = 0; b <= c.num_res_blocks; ++b) {
            add_resnet(m, str("decoder.up.", i, ".block.", b), block_in, block_out);
            block_in = block_out;
            if (c.has_attention_at(res)) add_attn(m, str("decoder.up.", i, ".attn.", b), block_in);
        }
        if (i != 0) {
            add_conv(m, str("decoder.up.", i, ".upsample.conv"), block_in, block_in, 3);
            res *= 2;
        }
    }
    add_norm(m, "decoder.norm_out", block_in);
    add_conv(m, "decoder.conv_out", c.out_ch, block_in, 3);
    return m;
}

Ibq::Ibq(IbqConfig config, std::map<std::string, Tensor> weights) : config_(std::move(config)) {
    const auto expected = ibq_expected_tensors(config_);
    for (const auto& [name, shape] : expected) {
        auto it = weights.find(name);
        check(it != weights.end(), "IBQ weights: missing tensor '", name, "'");
        check(it->second.shape() == shape, "IBQ weights: tensor '", name, "' has shape ", shape_str(it->second.shape()),
              ", the config implies ", shape_str(shape));
        Tensor t = it->second;
        if (t.dtype() != DType::F32 || !t.is_contiguous() ||
            reinterpret_cast<std::uintptr_t>(t.raw()) % alignof(float) != 0)
            t = t.to_f32();
        weights_.emplace(name, std::move(t));
    }
    std::size_t unexpected = 0;
    std::string first;
    for (const auto& [name, t] : weights)
        if (!expected.count(name)) {
            if (!unexpected++) first = name;
        }
    // The official loader is strict: extra tensors mean the config does not describe
    // these weights.
    check(unexpected == 0, "IBQ weights: ", unexpected, " tensor(s) the config does not describe, e.g. '", first,
          "'");
}

Ibq Ibq::load(const std::string& dir) {
    check(fs::is_directory(dir), dir, ": not a folder (expected config.yaml and model.safetensors or model.ckpt)");
    IbqConfig cfg = IbqConfig::load_dir(dir);
    std::map<std::string, Tensor> weights;
    const fs::path st = fs::path(dir) / "model.safetensors", idx = fs::path(dir) / "model.safetensors.index.json",
                   ckpt = fs::path(dir) / "model.ckpt";
    if (fs::exists(st) || fs::exists(idx)) {
        TensorStore store = TensorStore::open(fs::exists(idx) ? idx.string() : st.string());
        for (const auto& name : store.names()) weights.emplace(name, store.get(name));
    } else if (fs::exists(ckpt)) {
        weights = load_torch_checkpoint(ckpt.string());
    } else {
        fail(dir, ": no model.safetensors or model.ckpt");
    }
    return Ibq(std::move(cfg), std::move(weights));
}

// A CHW float feature map that owns its (uninitialised) memory.
struct Ibq::Fmap {
    int c = 0, h = 0, w = 0;
    std::unique_ptr<float[]> d;
    Fmap() = default;
    Fmap(int c_, int h_, int w_) : c(c_), h(h_), w(w_), d(new float[std::size_t(c_) * h_ * w_]) {}
    std::size_t hw() const { return std::size_t(h) * w; }
    std::size_t size() const { return std::size_t(c) * hw(); }
    float* p() const { return d.get(); }
};

const float* Ibq::w(const std::string& name) const {
    auto it = weights_.find(name);
    check(it != weights_.end(), "IBQ: no tensor '", name, "'");
    return it->second.data<float>();
}

Ibq::Fmap Ibq::conv(const std::string& name, const Fmap& x, int kernel, int stride, int pad_tl, int pad_br,
                    int upsample, const std::string& pre_norm, Fmap* accumulate_into) const {
    const Tensor& wt = weights_.at(name + ".weight");
    ops::Conv2dShape s;
    s.in_channels = x.c;
    s.in_h = x.h;
    s.in_w = x.w;
    s.out_channels = int(wt.dim(0));
    s.kernel_h = s.kernel_w = kernel;
    s.stride = stride;
    s.pad_top = s.pad_left = pad_tl;
    s.pad_bottom = s.pad_right = pad_br;
    s.upsample = upsample;
    // GroupNorm + swish of the input, folded into the conv's input read.
    std::vector<float> scale, shift;
    ops::ChannelAffine pre;
    if (!pre_norm.empty()) {
        scale.resize(x.c);
        shift.resize(x.c);
        ops::group_norm_coefficients(x.p(), x.c, x.hw(), kGroups, kNormEps, w(pre_norm + ".weight"),
                                     w(pre_norm + ".bias"), scale.data(), shift.data());
        pre = {scale.data(), shift.data(), true};
    }
    Fmap y;
    if (accumulate_into) {
        check(accumulate_into->c == s.out_channels && accumulate_into->h == s.out_h() && accumulate_into->w == s.out_w(),
              "IBQ: residual shape mismatch at ", name);
    } else {
        y = Fmap(s.out_channels, s.out_h(), s.out_w());
    }
    Fmap& out = accumulate_into ? *accumulate_into : y;
    ops::conv2d(x.p(), wt.data<float>(), w(name + ".bias"), out.p(), s, accumulate_into != nullptr, 0,
                pre_norm.empty() ? nullptr : &pre);
    return y;
}

Ibq::Fmap Ibq::resnet(const std::string& p, Fmap x) const {
    // Two full-size buffers at a time: norm1+swish and norm2+swish are folded into the
    // convs' input reads, and conv2 accumulates into the residual.
    Fmap h = conv(p + ".conv1", x, 3, 1, 1, 1, 1, p + ".norm1");
    Fmap out = weights_.count(p + ".nin_shortcut.weight") ? conv(p + ".nin_shortcut", x, 1, 1, 0, 0) : std::move(x);
    x = Fmap();
    conv(p + ".conv2", h, 3, 1, 1, 1, 1, p + ".norm2", &out);
    return out;
}

Ibq::Fmap Ibq::attention(const std::string& p, Fmap x) const {
    const std::size_t n = x.hw();
    Fmap o(x.c, x.h, x.w);
    {
        Fmap nrm(x.c, x.h, x.w);
        ops::group_norm(x.p(), nrm.p(), x.c, n, kGroups, kNormEps, w(p + ".norm.weight"), w(p + ".norm.bias"), false);
        Fmap q = conv(p + ".q", nrm, 1, 1, 0, 0), k = conv(p + ".k", nrm, 1, 1, 0, 0),
             v = conv(p + ".v", nrm, 1, 1, 0, 0);
        nrm = Fmap();
        const float scale = float(1.0 / std::sqrt(double(x.c)));
        ops::spatial_attention(q.p(), k.p(), v.p(), o.p(), x.c, n, scale);
    }
    conv(p + ".proj_out", o, 1, 1, 0, 0, 1, "", &x);
    return x;
}

Tensor Ibq::encode_latent(const Tensor& image) const {
    const IbqConfig& c = config_;
    const int f = c.downsample_factor();
    check(image.ndim() == 3 && image.dim(0) == c.in_channels, "IBQ encode: image must be [", c.in_channels,
          ", H, W], got ", shape_str(image.shape()));
    check(image.dim(1) >= f && image.dim(2) >= f, "IBQ encode: image ", image.dim(1), "x", image.dim(2),
          " is smaller than one token (", f, "x", f, ")");
    check(image.dim(1) <= kMaxSide && image.dim(2) <= kMaxSide, "IBQ encode: image ", image.dim(1), "x",
          image.dim(2), " is larger than ", kMaxSide, " pixels a side");
    check(image.dim(1) % f == 0 && image.dim(2) % f == 0, "IBQ encode: image size ", image.dim(1), "x", image.dim(2),
          " is not a multiple of ", f);
    Tensor img = image.to_f32();
    Fmap x(c.in_channels, int(image.dim(1)), int(image.dim(2)));
    std::copy(img.data<float>(), img.data<float>() + x.size(), x.p());

    Fmap h = conv("encoder.conv_in", x, 3, 1, 1, 1);
    x = Fmap();
    int res = c.resolution;
    for (int i = 0; i < c.levels(); ++i) {
        for (int b = 0; b < c.num_res_blocks; ++b) {
            h = resnet(str("encoder.down.", i, ".block.", b), std::move(h));
            if (c.has_attention_at(res)) h = attention(str("encoder.down.", i, ".attn.", b), std::move(h));
        }
        if (i != c.levels() - 1) {
            // Official Downsample: pad right and bottom by one, 3x3 stride 2, no padding.
            h = conv(str("encoder.down.", i, ".downsample.conv"), h, 3, 2, 0, 1);
            res /= 2;
        }
    }
    h = resnet("encoder.mid.block_1", std::move(h));
    h = attention("encoder.mid.attn_1", std::move(h));
    h = resnet("encoder.mid.block_2", std::move(h));
    h = conv("encoder.conv_out", h, 3, 1, 1, 1, 1, "encoder.norm_out");
    h = conv("quant_conv", h, 1, 1, 0, 0);
    Tensor out = Tensor::zeros(DType::F32, {h.c, h.h, h.w});
    std::copy(h.p(), h.p() + h.size(), out.data_mut<float>());
    return out;
}

Tensor Ibq::quantize(const Tensor& latent_in, Tensor* margin) const {
    const int D = config_.embed_dim, ncode = config_.n_embed;
    check(latent_in.ndim() == 3 && latent_in.dim(0) == D, "IBQ quantize: latent must be [", D, ", h, w], got ",
          shape_str(latent_in.shape()));
    Tensor latent = latent_in.to_f32();
    const int h = int(latent.dim(1)), wd = int(latent.dim(2));
    const std::size_t n = std::size_t(h) * wd;
    const float* E = w("quantize.embedding.weight");
    Tensor codes = Tensor::zeros(DType::I64, {h, wd});
    Tensor marg = Tensor::zeros(DType::F32, {h, wd});
    const std::size_t tile = std::max<std::size_t>(1, std::min<std::size_t>(n, (std::size_t(8) << 20) / ncode));
    std::unique_ptr<float[]> scores(new float[tile * ncode]);
    for (std::size_t i0 = 0; i0 < n; i0 += tile) {
        const std::size_t m = std::min(tile, n - i0);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, int(m), ncode, D, 1.f, latent.data<float>() + i0, int(n), E,
                    D, 0.f, scores.get(), ncode);
#pragma omp parallel for schedule(static) if (m * std::size_t(ncode) >= (std::size_t(1) << 16))
        for (std::size_t i = 0; i < m; ++i) {
            const float* row = scores.get() + i * ncode;
            int best = 0;
            float b1 = row[0], b2 = -std::numeric_limits<float>::infinity();
            for (int j = 1; j < ncode; ++j) {
                if (row[j] > b1) {
                    b2 = b1;
                    b1 = row[j];
                    best = j;
                } else if (row[j] > b2) {
                    b2 = row[j];
                }
            }
            codes.data_mut<std::int64_t>()[i0 + i] = best;
            marg.data_mut<float>()[i0 + i] = ncode > 1 ? b1 - b2 : 0.f;
        }
    }
    if (margin) *margin = std::move(marg);
    return codes;
}

Tensor Ibq::decode(const Tensor& codes_in) const {
    const IbqConfig& c = config_;
    check(codes_in.ndim() == 2 && codes_in.dim(0) > 0 && codes_in.dim(1) > 0, "IBQ decode: codes must be [h, w], got ",
          shape_str(codes_in.shape()));
    check(codes_in.dtype() == DType::I64 || codes_in.dtype() == DType::I32, "IBQ decode: codes must be I64 or I32, got ",
          dtype_name(codes_in.dtype()));
    const std::int64_t f = c.downsample_factor();
    check(codes_in.dim(0) * f <= kMaxSide && codes_in.dim(1) * f <= kMaxSide, "IBQ decode: a ",
          codes_in.dim(0), "x", codes_in.dim(1), " code grid would decode to more than ", kMaxSide, " pixels a side");
    const int h = int(codes_in.dim(0)), wd = int(codes_in.dim(1));
    const std::size_t n = std::size_t(h) * wd;
    const Tensor codes = codes_in.to(DType::I64);
    const float* E = w("quantize.embedding.weight");
    Fmap z(c.embed_dim, h, wd);
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t code = codes.data<std::int64_t>()[i];
        check(code >= 0 && code < c.n_embed, "IBQ decode: code ", code, " at position ", i / wd, ",", i % wd,
              " is outside the codebook [0, ", c.n_embed, ")");
        for (int d = 0; d < c.embed_dim; ++d) z.p()[std::size_t(d) * n + i] = E[std::size_t(code) * c.embed_dim + d];
    }
    Fmap hm = conv("post_quant_conv", z, 1, 1, 0, 0);
    z = Fmap();
    hm = conv("decoder.conv_in", hm, 3, 1, 1, 1);
    hm = resnet("decoder.mid.block_1", std::move(hm));
    hm = attention("decoder.mid.attn_1", std::move(hm));
    hm = resnet("decoder.mid.block_2", std::move(hm));
    int res = c.resolution >> (c.levels() - 1);
    for (int i = c.levels() - 1; i >= 0; --i) {
        for (int b = 0; b <= c.num_res_blocks; ++b) {
            hm = resnet(str("decoder.up.", i, ".block.", b), std::move(hm));
            if (c.has_attention_at(res)) hm = attention(str("decoder.up.", i, ".attn.", b), std::move(hm));
        }
        if (i != 0) {
            // Nearest x2 then 3x3 conv, with the upsampling folded into the conv's input read.
            hm = conv(str("decoder.up.", i, ".upsample.conv"), hm, 3, 1, 1, 1, 2);
            res *= 2;
        }
    }
    hm = conv("decoder.conv_out", hm, 3, 1, 1, 1, 1, "decoder.norm_out");
    Tensor out = Tensor::zeros(DType::F32, {hm.c, hm.h, hm.w});
    std::copy(hm.p(), hm.p() + hm.size(), out.data_mut<float>());
    return out;
}

}  // namespace emu::vision
