#include "emu/train/vq_model.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <map>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>

#include "emu/core/error.h"
#include "emu/core/rng.h"
#include "emu/io/safetensors.h"
#include "emu/ops/conv2d.h"
#include "emu/ops/group_norm.h"
#include "emu/ops/spatial_attention.h"
#include "emu/train/run.h"
#include "emu/vision/ibq.h"

namespace fs = std::filesystem;

namespace emu::train {
namespace {
// What vision::Ibq uses (GroupNorm(32, eps 1e-6)).
constexpr int kGroups = 32;
constexpr float kNormEps = 1e-6f;
}  // namespace

void VqLossConfig::validate() const {
    check(l1 >= 0 && l2 >= 0 && l1 + l2 > 0, "vq loss: l1 and l2 must be >= 0 and not both 0");
    check(quant >= 0 && beta >= 0 && entropy >= 0, "vq loss: quant, beta and entropy must be >= 0");
    check(entropy_temperature > 0, "vq loss: entropy_temperature must be > 0");
    check(object_weight >= 0, "vq loss: object_weight must be >= 0");
    check(edge_weight >= 0, "vq loss: edge_weight must be >= 0");
    check(background_consistency >= 0, "vq loss: background_consistency must be >= 0");
}

VqLossConfig vq_loss_config_from_json(const nlohmann::json& j) {
    VqLossConfig c;
    if (j.is_null()) return c;
    check(j.is_object(), "vq loss: expected a mapping");
    static const std::set<std::string> known{"l1", "l2", "quant", "beta", "entropy", "entropy_temperature",
                                             "sample_minimization_weight", "batch_maximization_weight",
                                             "straight_through", "object_weight", "edge_weight",
                                             "background_consistency"};
    for (auto it = j.begin(); it != j.end(); ++it) check(known.count(it.key()), "vq loss: unknown key '", it.key(), "'");
    auto num = [&](const char* k, double& dst) {
        if (!j.contains(k)) return;
        check(j[k].is_number(), "vq loss: '", k, "' must be a number");
        dst = j[k].get<double>();
    };
    num("l1", c.l1);
    num("l2", c.l2);
    num("quant", c.quant);
    num("beta", c.beta);
    num("entropy", c.entropy);
    num("entropy_temperature", c.entropy_temperature);
    num("sample_minimization_weight", c.sample_minimization_weight);
    num("batch_maximization_weight", c.batch_maximization_weight);
    if (j.contains("straight_through")) {
        check(j["straight_through"].is_boolean(), "vq loss: 'straight_through' must be true or false");
        c.straight_through = j["straight_through"].get<bool>();
    }
    num("object_weight", c.object_weight);
    num("edge_weight", c.edge_weight);
    num("background_consistency", c.background_consistency);
    c.validate();
    return c;
}

nlohmann::json to_json(const VqLossConfig& c) {
    return {{"l1", c.l1},
            {"l2", c.l2},
            {"quant", c.quant},
            {"beta", c.beta},
            {"entropy", c.entropy},
            {"entropy_temperature", c.entropy_temperature},
            {"sample_minimization_weight", c.sample_minimization_weight},
            {"batch_maximization_weight", c.batch_maximization_weight},
            {"straight_through", c.straight_through},
            {"object_weight", c.object_weight},
            {"edge_weight", c.edge_weight},
            {"background_consistency", c.background_consistency}};
}

VqModel::VqModel(vision::IbqConfig config) : config_(std::move(config)) {
    for (const auto& [name, shape] : vision::ibq_expected_tensors(config_)) {
        Buf b;
        b.shape = shape;
        std::size_t n = 1;
        for (auto d : shape) n *= std::size_t(d);
        b.v.assign(n, 0.f);
        b.g.assign(n, 0.f);
        p_.emplace(name, std::move(b));
    }
}

namespace {
// FNV-1a: a name hash that is the same with every standard library (std::hash is not).
std::uint64_t name_hash(const std::string& s) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}
}  // namespace

void VqModel::init_random(std::uint64_t seed, double codebook_std) {
    for (auto& [name, b] : p_) {
        Rng rng(mix_seed({seed, name_hash(name)}));
        const bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
        if (name == "quantize.embedding.weight") {
            // Box-Muller normals.
            for (std::size_t i = 0; i < b.v.size(); ++i) {
                const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
                b.v[i] = float(codebook_std * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2));
            }
        } else if (name.find("norm") != std::string::npos) {
            std::fill(b.v.begin(), b.v.end(), is_bias ? 0.f : 1.f);
        } else {
            // Conv: fan_in = in * k * k from the weight's shape (the bias uses its conv's).
            const Shape& ws = is_bias ? p_.at(name.substr(0, name.size() - 5) + ".weight").shape : b.shape;
            const double bound = 1.0 / std::sqrt(double(ws[1] * ws[2] * ws[3]));
            for (auto& x : b.v) x = float((2 * rng.uniform() - 1) * bound);
        }
    }
}

std::vector<Param> VqModel::params() {
    std::vector<Param> out;
    for (auto& [name, b] : p_) {
        const bool decay = name != "quantize.embedding.weight" && default_decay(name, b.shape);
        out.push_back(param_of(name, b.v.data(), b.g.data(), b.v.size(), decay, b.shape));
    }
    return out;
}

std::size_t VqModel::parameter_count() const {
    std::size_t n = 0;
    for (const auto& [name, b] : p_) n += b.v.size();
    return n;
}

std::map<std::string, Tensor> VqModel::weights() const {
    std::map<std::string, Tensor> m;
    for (const auto& [name, b] : p_) m.emplace(name, Tensor::from_f32(b.shape, b.v));
    return m;
}

void VqModel::set_weights(const std::map<std::string, Tensor>& w) {
    for (auto& [name, b] : p_) {
        auto it = w.find(name);
        check(it != w.end(), "VQ weights: missing tensor '", name, "'");
        check(it->second.shape() == b.shape, "VQ weights: tensor '", name, "' has shape ", shape_str(it->second.shape()),
              ", expected ", shape_str(b.shape));
        const Tensor t = it->second.to_f32();
        std::copy(t.data<float>(), t.data<float>() + b.v.size(), b.v.begin());
    }
}

float* VqModel::value(const std::string& name) {
    auto it = p_.find(name);
    check(it != p_.end(), "VQ: no parameter '", name, "'");
    return it->second.v.data();
}
float* VqModel::grad(const std::string& name) {
    auto it = p_.find(name);
    check(it != p_.end(), "VQ: no parameter '", name, "'");
    return it->second.g.data();
}
void VqModel::zero_grad() {
    for (auto& [name, b] : p_) std::fill(b.g.begin(), b.g.end(), 0.f);
}

// One image's forward with its tape: each layer pushes the closure that back-propagates it.
struct VqGraph {
    struct Map {
        int c = 0, h = 0, w = 0;
        std::vector<float> v, g;
        bool needs_grad = true;
        Map(int c_, int h_, int w_) : c(c_), h(h_), w(w_), v(std::size_t(c_) * h_ * w_) {}
        std::size_t hw() const { return std::size_t(h) * w; }
        float* grad() {
            if (g.empty()) g.assign(v.size(), 0.f);
            return g.data();
        }
    };
    using M = std::shared_ptr<Map>;

    VqModel& m;
    std::vector<std::function<void()>> tape;
    explicit VqGraph(VqModel& model) : m(model) {}

    const float* W(const std::string& n) { return m.p_.at(n).v.data(); }
    // Gradients go to the model's buffers, or to a thread's own ones (batch-parallel backward).
    std::map<std::string, std::vector<float>>* grads = nullptr;
    float* G(const std::string& n) {
        if (!grads) return m.p_.at(n).g.data();
        auto& v = (*grads)[n];
        if (v.empty()) v.assign(m.p_.at(n).g.size(), 0.f);
        return v.data();
    }
    bool has(const std::string& n) const { return m.p_.count(n) != 0; }

    M copy(const M& x) {
        auto y = std::make_shared<Map>(*x);
        y->g.clear();
        y->needs_grad = true;
        tape.push_back([x, y] {
            if (y->g.empty() || !x->needs_grad) return;
            float* dx = x->grad();
            for (std::size_t i = 0; i < y->g.size(); ++i) dx[i] += y->g[i];
        });
        return y;
    }

    // Ibq::conv, recorded.
    M conv(const std::string& name, const M& x, int kernel, int stride, int pad_tl, int pad_br, int upsample = 1,
           const std::string& pre_norm = "", M accumulate_into = nullptr) {
        const Shape& ws = m.p_.at(name + ".weight").shape;
        ops::Conv2dShape s;
        s.in_channels = x->c;
        s.in_h = x->h;
        s.in_w = x->w;
        s.out_channels = int(ws[0]);
        s.kernel_h = s.kernel_w = kernel;
        s.stride = stride;
        s.pad_top = s.pad_left = pad_tl;
        s.pad_bottom = s.pad_right = pad_br;
        s.upsample = upsample;
        auto scale = std::make_shared<std::vector<float>>(), shift = std::make_shared<std::vector<float>>();
        if (!pre_norm.empty()) {
            scale->resize(x->c);
            shift->resize(x->c);
            ops::group_norm_coefficients(x->v.data(), x->c, x->hw(), kGroups, kNormEps, W(pre_norm + ".weight"),
                                         W(pre_norm + ".bias"), scale->data(), shift->data());
        }
        const ops::ChannelAffine pre{scale->data(), shift->data(), true};
        M y = accumulate_into ? accumulate_into : std::make_shared<Map>(s.out_channels, s.out_h(), s.out_w());
        check(y->c == s.out_channels && y->h == s.out_h() && y->w == s.out_w(), "VQ: residual shape mismatch at ", name);
        ops::conv2d(x->v.data(), W(name + ".weight"), W(name + ".bias"), y->v.data(), s, accumulate_into != nullptr, 0,
                    pre_norm.empty() ? nullptr : &pre);
        tape.push_back([this, name, x, y, s, pre_norm, scale, shift] {
            if (y->g.empty()) return;
            const float* dy = y->g.data();
            if (pre_norm.empty()) {
                ops::conv2d_backward(x->v.data(), W(name + ".weight"), dy, x->needs_grad ? x->grad() : nullptr,
                                     G(name + ".weight"), G(name + ".bias"), s);
                return;
            }
            const ops::ChannelAffine p{scale->data(), shift->data(), true};
            std::vector<float> da(x->v.size(), 0.f);
            ops::conv2d_backward(x->v.data(), W(name + ".weight"), dy, da.data(), G(name + ".weight"),
                                 G(name + ".bias"), s, &p);
            ops::group_norm_backward(x->v.data(), da.data(), x->grad(), x->c, x->hw(), kGroups, kNormEps,
                                     W(pre_norm + ".weight"), W(pre_norm + ".bias"), true, G(pre_norm + ".weight"),
                                     G(pre_norm + ".bias"));
        });
        return y;
    }

    M resnet(const std::string& p, const M& x) {
        M h = conv(p + ".conv1", x, 3, 1, 1, 1, 1, p + ".norm1");
        // The inference forward accumulates conv2 into x itself; x is still needed here
        // (conv1's backward reads it), so the residual is a copy.
        M out = has(p + ".nin_shortcut.weight") ? conv(p + ".nin_shortcut", x, 1, 1, 0, 0) : copy(x);
        conv(p + ".conv2", h, 3, 1, 1, 1, 1, p + ".norm2", out);
        return out;
    }

    M attention(const std::string& p, const M& x) {
        auto nrm = std::make_shared<Map>(x->c, x->h, x->w);
        ops::group_norm(x->v.data(), nrm->v.data(), x->c, x->hw(), kGroups, kNormEps, W(p + ".norm.weight"),
                        W(p + ".norm.bias"), false);
        tape.push_back([this, p, x, nrm] {
            if (nrm->g.empty()) return;
            ops::group_norm_backward(x->v.data(), nrm->g.data(), x->grad(), x->c, x->hw(), kGroups, kNormEps,
                                     W(p + ".norm.weight"), W(p + ".norm.bias"), false, G(p + ".norm.weight"),
                                     G(p + ".norm.bias"));
        });
        M q = conv(p + ".q", nrm, 1, 1, 0, 0), k = conv(p + ".k", nrm, 1, 1, 0, 0), v = conv(p + ".v", nrm, 1, 1, 0, 0);
        auto o = std::make_shared<Map>(x->c, x->h, x->w);
        const float scale = float(1.0 / std::sqrt(double(x->c)));
        ops::spatial_attention(q->v.data(), k->v.data(), v->v.data(), o->v.data(), x->c, x->hw(), scale);
        tape.push_back([q, k, v, o, scale] {
            if (o->g.empty()) return;
            ops::spatial_attention_backward(q->v.data(), k->v.data(), v->v.data(), o->g.data(), q->grad(), k->grad(),
                                            v->grad(), q->c, q->hw(), scale);
        });
        M out = copy(x);
        conv(p + ".proj_out", o, 1, 1, 0, 0, 1, "", out);
        return out;
    }

    // Ibq::encode_latent.
    M encoder(const M& img) {
        const auto& c = m.config_;
        M h = conv("encoder.conv_in", img, 3, 1, 1, 1);
        int res = c.resolution;
        for (int i = 0; i < c.levels(); ++i) {
            for (int b = 0; b < c.num_res_blocks; ++b) {
                h = resnet(str("encoder.down.", i, ".block.", b), h);
                if (c.has_attention_at(res)) h = attention(str("encoder.down.", i, ".attn.", b), h);
            }
            if (i != c.levels() - 1) {
                h = conv(str("encoder.down.", i, ".downsample.conv"), h, 3, 2, 0, 1);
                res /= 2;
            }
        }
        h = resnet("encoder.mid.block_1", h);
        h = attention("encoder.mid.attn_1", h);
        h = resnet("encoder.mid.block_2", h);
        h = conv("encoder.conv_out", h, 3, 1, 1, 1, 1, "encoder.norm_out");
        return conv("quant_conv", h, 1, 1, 0, 0);
    }

    // Ibq::decode after the codebook lookup.
    M decoder(const M& zq) {
        const auto& c = m.config_;
        M h = conv("post_quant_conv", zq, 1, 1, 0, 0);
        h = conv("decoder.conv_in", h, 3, 1, 1, 1);
        h = resnet("decoder.mid.block_1", h);
        h = attention("decoder.mid.attn_1", h);
        h = resnet("decoder.mid.block_2", h);
        int res = c.resolution >> (c.levels() - 1);
        for (int i = c.levels() - 1; i >= 0; --i) {
            for (int b = 0; b <= c.num_res_blocks; ++b) {
                h = resnet(str("decoder.up.", i, ".block.", b), h);
                if (c.has_attention_at(res)) h = attention(str("decoder.up.", i, ".attn.", b), h);
            }
            if (i != 0) {
                h = conv(str("decoder.up.", i, ".upsample.conv"), h, 3, 1, 1, 1, 2);
                res *= 2;
            }
        }
        return conv("decoder.conv_out", h, 3, 1, 1, 1, 1, "decoder.norm_out");
    }

    void backward() {
        for (auto it = tape.rbegin(); it != tape.rend(); ++it) (*it)();
        tape.clear();
    }
};

namespace {

using Rgb = std::array<float, 3>;
Rgb pixel_colour(const std::vector<float>& img, int hw, int i) { return {img[i], img[hw + i], img[2 * hw + i]}; }

// The most common colour of a [3, H, W] picture: a ShapesWorld picture's background.
Rgb background_colour(const std::vector<float>& img, int hw) {
    std::map<Rgb, int> count;
    for (int i = 0; i < hw; ++i) ++count[pixel_colour(img, hw, i)];
    auto mode = count.begin();
    for (auto it = count.begin(); it != count.end(); ++it)
        if (it->second > mode->second) mode = it;
    return mode->first;
}

// Reconstruction weight per pixel: 1, plus object_weight where the colour differs from
// `background` (background_colour of the picture), plus edge_weight where it differs from
// a 4-neighbour's (the outlines that tell a shape from another). Empty when both are 0.
// img is [3, H, W].
std::vector<float> pixel_weights(const std::vector<float>& img, int H, int W, const Rgb& background,
                                 double object_weight, double edge_weight) {
    if (object_weight <= 0 && edge_weight <= 0) return {};
    const int hw = H * W;
    auto colour = [&](int i) { return pixel_colour(img, hw, i); };
    std::vector<float> w(hw, 1.f);
    if (object_weight > 0) {
        for (int i = 0; i < hw; ++i)
            if (colour(i) != background) w[i] += float(object_weight);
    }
    if (edge_weight > 0)
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
                const int i = y * W + x;
                const auto c = colour(i);
                const bool edge = (x > 0 && colour(i - 1) != c) || (x + 1 < W && colour(i + 1) != c) ||
                                  (y > 0 && colour(i - W) != c) || (y + 1 < H && colour(i + W) != c);
                if (edge) w[i] += float(edge_weight);
            }
    return w;
}

}  // namespace

std::vector<std::size_t> plain_background_cells(int H, int W, int f, const std::function<bool(int x, int y)>& is_background) {
    check(f > 0 && H % f == 0 && W % f == 0, "plain_background_cells: ", H, "x", W, " is not a multiple of ", f);
    std::vector<std::size_t> cells;
    const int h = H / f, w = W / f;
    for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j) {
            bool plain = true;
            for (int y = std::max(0, (i - 1) * f); plain && y < std::min(H, (i + 2) * f); ++y)
                for (int x = std::max(0, (j - 1) * f); plain && x < std::min(W, (j + 2) * f); ++x)
                    plain = is_background(x, y);
            if (plain) cells.push_back(std::size_t(i) * std::size_t(w) + std::size_t(j));
        }
    return cells;
}

namespace {

// Per image: the quantizer's forward state.
struct QuantState {
    int n = 0;
    std::vector<float> logits, soft;  // [n, N]
    std::vector<std::int64_t> codes;  // [n]
    std::vector<float> zq_hard;       // [D, n]  E[code]
};

// logits = z^T E^T exactly as Ibq::quantize computes them (same tiling), argmax with the
// smallest index on ties; soft = softmax(logits).
void quantizer_logits(const float* z, const float* E, int D, int N, std::size_t n, QuantState& q) {
    q.n = int(n);
    q.logits.assign(n * N, 0.f);
    const std::size_t tile = std::max<std::size_t>(1, std::min<std::size_t>(n, (std::size_t(8) << 20) / N));
    for (std::size_t i0 = 0; i0 < n; i0 += tile) {
        const std::size_t mm = std::min(tile, n - i0);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, int(mm), N, D, 1.f, z + i0, int(n), E, D, 0.f,
                    q.logits.data() + i0 * N, N);
    }
    q.codes.assign(n, 0);
    q.soft.assign(n * N, 0.f);
    for (std::size_t i = 0; i < n; ++i) {
        const float* row = q.logits.data() + i * N;
        int best = 0;
        for (int j = 1; j < N; ++j)
            if (row[j] > row[best]) best = j;
        q.codes[i] = best;
        double sum = 0;
        float* s = q.soft.data() + i * N;
        for (int j = 0; j < N; ++j) sum += (s[j] = float(std::exp(double(row[j]) - double(row[best]))));
        for (int j = 0; j < N; ++j) s[j] = float(s[j] / sum);
    }
}

}  // namespace

VqLosses VqModel::step(const std::vector<Tensor>& images, const VqLossConfig& loss, bool backward,
                       std::vector<VqImageResult>* results, bool keep_state, const std::vector<QuantFreeze>* freeze) {
    loss.validate();
    check(!images.empty(), "VQ step: empty batch");
    const int B = int(images.size()), D = config_.embed_dim, N = config_.n_embed, f = config_.downsample_factor();
    const int H = int(images[0].dim(1)), Wd = int(images[0].dim(2));
    check(!freeze || int(freeze->size()) == B, "VQ step: one freeze state per image");
    float* E = p_.at("quantize.embedding.weight").v.data();
    if (results) results->assign(B, {});

    struct PerImage {
        std::unique_ptr<VqGraph> enc, dec;
        VqGraph::M img, z, zq, rec;
        QuantState q;
        std::vector<float> weight;  // per pixel reconstruction weight; empty = all 1
        double quant = 0, l1 = 0, l2 = 0;
        Rgb background{};                // most common colour (object_weight, background_consistency)
        std::vector<std::size_t> plain;  // plain-background cells (background_consistency only)
    };
    std::vector<PerImage> per(B);
    VqLosses L;
    std::set<std::int64_t> used;
    const std::size_t n = std::size_t(H / f) * (Wd / f);
    const double Mq = double(B) * D * n, Mr = double(B) * 3 * H * Wd;

    for (int b = 0; b < B; ++b) {
        const Tensor& t = images[b];
        check(t.ndim() == 3 && t.dim(0) == 3 && t.dim(1) == H && t.dim(2) == Wd, "VQ step: images must be [3, ", H,
              ", ", Wd, "], got ", shape_str(t.shape()));
        check(H % f == 0 && Wd % f == 0 && H >= f && Wd >= f, "VQ step: image size ", H, "x", Wd,
              " is not a multiple of ", f);
        if (freeze) {
            const QuantFreeze& fr = (*freeze)[b];
            check(fr.codes.size() == n && fr.soft.size() == n * N && fr.z.size() == n * D && fr.zq.size() == n * D,
                  "VQ step: freeze state has the wrong size");
        }
    }
    // Small images keep a core busy only inside a batch: images run in parallel, each with
    // single-threaded kernels (nested regions are serial), instead of many short parallel
    // regions per layer.
    const int T = omp_in_parallel() ? 1 : std::max(1, std::min(omp_get_max_threads(), B));
#pragma omp parallel for num_threads(T) schedule(static) if (T > 1)
    for (int b = 0; b < B; ++b) {
        const Tensor& t = images[b];
        PerImage& P = per[b];
        P.enc = std::make_unique<VqGraph>(*this);
        P.dec = std::make_unique<VqGraph>(*this);
        P.img = std::make_shared<VqGraph::Map>(3, H, Wd);
        P.img->needs_grad = false;
        const Tensor tf = t.to_f32();
        std::copy(tf.data<float>(), tf.data<float>() + P.img->v.size(), P.img->v.begin());
        P.z = P.enc->encoder(P.img);
        quantizer_logits(P.z->v.data(), E, D, N, n, P.q);
        const QuantFreeze* fr = freeze ? &(*freeze)[b] : nullptr;
        if (fr) P.q.codes = fr->codes;
        P.q.zq_hard.assign(std::size_t(D) * n, 0.f);
        for (std::size_t i = 0; i < n; ++i) {
            for (int d = 0; d < D; ++d) P.q.zq_hard[std::size_t(d) * n + i] = E[std::size_t(P.q.codes[i]) * D + d];
        }
        // z_q: the value is E[code]; with a freeze, the surrogate: (hard - soft0 + soft) E
        // (index propagation) or E0[code] + z - z0 (straight-through).
        P.zq = std::make_shared<VqGraph::Map>(D, H / f, Wd / f);
        P.zq->v = P.q.zq_hard;
        if (fr && loss.straight_through) {
            for (std::size_t k = 0; k < P.zq->v.size(); ++k) P.zq->v[k] = fr->zq[k] + (P.z->v[k] - fr->z[k]);
        } else if (fr) {
            std::vector<float> delta(n * N);
            for (std::size_t k = 0; k < n * N; ++k) delta[k] = P.q.soft[k] - fr->soft[k];
            // zq[D, n] += E^T[D, N] delta^T[N, n]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, D, int(n), N, 1.f, E, D, delta.data(), N, 1.f,
                        P.zq->v.data(), int(n));
        }
        // quant_loss terms.
        const float* z = P.z->v.data();
        double t1 = 0, t2 = 0, t3 = 0;
        for (std::size_t k = 0; k < std::size_t(D) * n; ++k) {
            const double a = double(P.zq->v[k]) - z[k];
            const double c2 = double(fr ? fr->zq[k] : P.q.zq_hard[k]) - z[k];
            const double c3 = double(P.q.zq_hard[k]) - (fr ? fr->z[k] : z[k]);
            t1 += a * a;
            t2 += c2 * c2;
            t3 += c3 * c3;
        }
        // Index propagation: |z_q - z|^2 (through both) + |sg(E) - z|^2 + beta |E - sg(z)|^2;
        // straight-through: the VQ-VAE codebook and commitment terms.
        P.quant = (loss.straight_through ? loss.beta * t2 + t3 : t1 + t2 + loss.beta * t3) / Mq;
        // Decoder and reconstruction loss.
        P.rec = P.dec->decoder(P.zq);
        const float* x = P.img->v.data();
        if (loss.object_weight > 0 || loss.background_consistency > 0)
            P.background = background_colour(P.img->v, H * Wd);
        P.weight = pixel_weights(P.img->v, H, Wd, P.background, loss.object_weight, loss.edge_weight);
        if (loss.background_consistency > 0) {
            P.plain = plain_background_cells(H, Wd, f, [&](int px, int py) {
                return pixel_colour(P.img->v, H * Wd, py * Wd + px) == P.background;
            });
        }
        double l1 = 0, l2 = 0;
        for (std::size_t k = 0; k < P.rec->v.size(); ++k) {
            const double d = double(P.rec->v[k]) - x[k], wk = P.weight.empty() ? 1.0 : P.weight[k % (H * Wd)];
            l1 += wk * std::abs(d);
            l2 += wk * d * d;
        }
        P.l1 = l1 / Mr;
        P.l2 = l2 / Mr;
        if (results) {
            auto& r = (*results)[b];
            r.recon = Tensor::from_f32({3, H, Wd}, P.rec->v);
            r.codes = Tensor::zeros(DType::I64, {H / f, Wd / f});
            std::copy(P.q.codes.begin(), P.q.codes.end(), r.codes.data_mut<std::int64_t>());
            if (keep_state) r.state = {P.q.codes, P.q.soft, P.z->v, P.q.zq_hard};
        }
    }
    for (const PerImage& P : per) {
        L.quant += P.quant;
        L.l1 += P.l1;
        L.l2 += P.l2;
        used.insert(P.q.codes.begin(), P.q.codes.end());
    }
    L.rec = loss.l1 * L.l1 + loss.l2 * L.l2;
    L.codes_used = double(used.size());

    // Entropy loss over every position of the batch (compute_entropy_loss); its logit
    // gradients are collected per image.
    std::vector<std::vector<float>> dlog_entropy(B);
    if (loss.entropy > 0) {
        const double T = loss.entropy_temperature, P = double(B) * n, eps = 1e-5;
        std::vector<double> avg(N, 0.0);
        std::vector<std::vector<double>> probs(B);
        double sample_h = 0;
        for (int b = 0; b < B; ++b) {
            probs[b].assign(n * N, 0.0);
            for (std::size_t i = 0; i < n; ++i) {
                const float* row = per[b].q.logits.data() + i * N;
                double mx = -std::numeric_limits<double>::infinity();
                for (int j = 0; j < N; ++j) mx = std::max(mx, row[j] / T);
                double s = 0;
                for (int j = 0; j < N; ++j) s += std::exp(row[j] / T - mx);
                const double lse = mx + std::log(s);
                double h = 0;
                for (int j = 0; j < N; ++j) {
                    const double lp = row[j] / T - lse, p = std::exp(lp);
                    probs[b][i * N + j] = p;
                    avg[j] += p / P;
                    h -= p * lp;
                }
                sample_h += h / P;
            }
        }
        double avg_h = 0;
        for (int j = 0; j < N; ++j) avg_h -= avg[j] * std::log(avg[j] + eps);
        L.sample_entropy = sample_h;
        L.avg_entropy = avg_h;
        L.entropy = loss.sample_minimization_weight * sample_h - loss.batch_maximization_weight * avg_h;
        // dA/da_j, for the batch term.
        std::vector<double> dA(N);
        for (int j = 0; j < N; ++j) dA[j] = -(std::log(avg[j] + eps) + avg[j] / (avg[j] + eps));
        for (int b = 0; b < B; ++b) {
            dlog_entropy[b].assign(n * N, 0.f);
            for (std::size_t i = 0; i < n; ++i) {
                const double* p = probs[b].data() + i * N;
                // g_j = d(loss)/d(p_j); then through softmax(l / T).
                std::vector<double> g(N);
                double pg = 0;
                for (int j = 0; j < N; ++j) {
                    const double lp = std::log(std::max(p[j], 1e-300));
                    g[j] = (loss.sample_minimization_weight * -(lp + 1.0) -
                            loss.batch_maximization_weight * dA[j]) / P;
                    pg += p[j] * g[j];
                }
                for (int j = 0; j < N; ++j)
                    dlog_entropy[b][i * N + j] = float(loss.entropy * p[j] * (g[j] - pg) / T);
            }
        }
    }
    // Background consistency: per background colour, the mean encoder output over the
    // batch's plain-background cells; each such cell is pulled toward it (the mean's own
    // gradient cancels: the deviations sum to zero).
    std::vector<std::vector<float>> background_mean(B);  // per image: its colour's mean, [D]
    if (loss.background_consistency > 0) {
        std::map<Rgb, std::pair<std::vector<double>, std::size_t>> sums;
        for (const PerImage& P : per) {
            auto& [sum, count] = sums[P.background];
            sum.resize(std::size_t(D), 0.0);
            for (std::size_t i : P.plain)
                for (int d = 0; d < D; ++d) sum[std::size_t(d)] += P.z->v[std::size_t(d) * n + i];
            count += P.plain.size();
        }
        for (int b = 0; b < B; ++b) {
            const auto& [sum, count] = sums[per[b].background];
            background_mean[b].assign(std::size_t(D), 0.f);
            for (int d = 0; d < D; ++d) background_mean[b][std::size_t(d)] = float(sum[std::size_t(d)] / double(std::max<std::size_t>(count, 1)));
            for (std::size_t i : per[b].plain)
                for (int d = 0; d < D; ++d) {
                    const double dev = double(per[b].z->v[std::size_t(d) * n + i]) - background_mean[b][std::size_t(d)];
                    L.background += dev * dev / Mq;
                }
        }
    }
    L.total = L.rec + loss.quant * L.quant + loss.entropy * L.entropy + loss.background_consistency * L.background;

    if (!backward) return L;
    std::vector<std::map<std::string, std::vector<float>>> thread_grads(T > 1 ? T : 0);
#pragma omp parallel for num_threads(T) schedule(static) if (T > 1)
    for (int b = 0; b < B; ++b) {
        PerImage& P = per[b];
        if (T > 1) P.enc->grads = P.dec->grads = &thread_grads[omp_get_thread_num()];
        float* dE = P.enc->G("quantize.embedding.weight");
        // Reconstruction gradient.
        float* dr = P.rec->grad();
        const float* x = P.img->v.data();
        for (std::size_t k = 0; k < P.rec->v.size(); ++k) {
            const double d = double(P.rec->v[k]) - x[k], wk = P.weight.empty() ? 1.0 : P.weight[k % (H * Wd)];
            dr[k] = float(wk * (loss.l1 * ((d > 0) - (d < 0)) + loss.l2 * 2.0 * d) / Mr);
        }
        P.dec->backward();
        P.dec.reset();
        if (encoder_frozen_) {
            P.enc.reset();
            continue;
        }
        // Quantizer.
        const std::size_t Dn = std::size_t(D) * n;
        std::vector<float> dzq(Dn, 0.f);
        if (!P.zq->g.empty()) dzq = P.zq->g;
        float* dz = P.z->grad();
        const float* z = P.z->v.data();
        const double w = loss.quant * 2.0 / Mq;
        if (loss.straight_through) {
            // z_q = z + sg(E[code] - z): the decoder's gradient goes to z as it is.
            for (std::size_t k = 0; k < Dn; ++k) {
                const double c2 = double(P.q.zq_hard[k]) - z[k];
                dz[k] += float(dzq[k] - w * loss.beta * c2);
            }
            for (std::size_t i = 0; i < n; ++i) {
                const std::size_t code = std::size_t(P.q.codes[i]);
                for (int d = 0; d < D; ++d) {
                    const std::size_t k = std::size_t(d) * n + i;
                    dE[code * D + d] += float(w * (double(P.q.zq_hard[k]) - z[k]));
                }
            }
            std::fill(dzq.begin(), dzq.end(), 0.f);  // nothing flows through the softmax
        } else {
            for (std::size_t k = 0; k < Dn; ++k) {
                const double a = double(P.zq->v[k]) - z[k];  // term 1 (through z_q and z)
                const double c2 = double(P.q.zq_hard[k]) - z[k];
                dzq[k] += float(w * a);
                dz[k] += float(-w * a - w * c2);
            }
            for (std::size_t i = 0; i < n; ++i) {
                const std::size_t code = std::size_t(P.q.codes[i]);
                for (int d = 0; d < D; ++d) {
                    const std::size_t k = std::size_t(d) * n + i;
                    // term 3 (commitment: moves E[code] toward z) and the hard part of z_q.
                    dE[code * D + d] += float(w * loss.beta * (double(P.q.zq_hard[k]) - z[k])) + dzq[k];
                }
            }
        }
        // Soft part: dsoft[n, N] = dzq^T E^T; dlogits = soft * (dsoft - <soft, dsoft>).
        std::vector<float> dl(n * N, 0.f);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, int(n), N, D, 1.f, dzq.data(), int(n), E, D, 0.f, dl.data(),
                    N);
        for (std::size_t i = 0; i < n; ++i) {
            float* row = dl.data() + i * N;
            const float* s = P.q.soft.data() + i * N;
            double dot = 0;
            for (int j = 0; j < N; ++j) dot += double(s[j]) * row[j];
            for (int j = 0; j < N; ++j) row[j] = float(s[j] * (row[j] - dot));
        }
        if (!dlog_entropy[b].empty())
            for (std::size_t k = 0; k < n * N; ++k) dl[k] += dlog_entropy[b][k];
        // logits = z^T E^T: dz[D, n] += E^T[D, N] dl^T[N, n]; dE[N, D] += dl^T[N, n] z^T[n, D].
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, D, int(n), N, 1.f, E, D, dl.data(), N, 1.f, dz, int(n));
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, N, D, int(n), 1.f, dl.data(), N, z, int(n), 1.f, dE, D);
        for (std::size_t i : P.plain)
            for (int d = 0; d < D; ++d) {
                const std::size_t k = std::size_t(d) * n + i;
                dz[k] += float(loss.background_consistency * 2.0 * (double(z[k]) - background_mean[b][std::size_t(d)]) / Mq);
            }
        P.enc->backward();
        P.enc.reset();
    }
    // Fixed order (thread 0, 1, ...): the sums depend on the thread count only.
    for (auto& tg : thread_grads)
        for (auto& [name, g] : tg) {
            float* dst = p_.at(name).g.data();
            for (std::size_t i = 0; i < g.size(); ++i) dst[i] += g[i];
        }
    return L;
}

nlohmann::json ibq_config_yaml_json(const vision::IbqConfig& c, const VqLossConfig& loss) {
    nlohmann::json dd = {{"double_z", c.double_z},   {"z_channels", c.z_channels},
                         {"resolution", c.resolution}, {"in_channels", c.in_channels},
                         {"out_ch", c.out_ch},         {"ch", c.ch},
                         {"ch_mult", c.ch_mult},       {"num_res_blocks", c.num_res_blocks},
                         {"attn_resolutions", c.attn_resolutions}, {"dropout", 0.0}};
    return {{"ddconfig", dd},
            {"n_embed", c.n_embed},
            {"embed_dim", c.embed_dim},
            {"beta", loss.beta},
            {"use_entropy_loss", loss.entropy > 0},
            {"cosine_similarity", false},
            {"entropy_temperature", loss.entropy_temperature},
            {"sample_minimization_weight", loss.sample_minimization_weight},
            {"batch_maximization_weight", loss.batch_maximization_weight}};
}

std::string ibq_config_yaml(const vision::IbqConfig& c, const VqLossConfig& loss) {
    // The released file's layout and key order (a flat YAML writer is enough for it).
    auto list = [](const std::vector<int>& v) {
        std::string s = "[";
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
        return s + "]";
    };
    auto num = [](double v) {
        std::string s = nlohmann::json(v).dump();
        if (s.find_first_of(".eE") == std::string::npos) s += ".0";
        return s;
    };
    std::string y;
    y += "ddconfig:\n";
    y += str("  double_z: ", c.double_z ? "true" : "false", "\n");
    y += str("  z_channels: ", c.z_channels, "\n");
    y += str("  resolution: ", c.resolution, "\n");
    y += str("  in_channels: ", c.in_channels, "\n");
    y += str("  out_ch: ", c.out_ch, "\n");
    y += str("  ch: ", c.ch, "\n");
    y += str("  ch_mult: ", list(c.ch_mult), "\n");
    y += str("  num_res_blocks: ", c.num_res_blocks, "\n");
    y += str("  attn_resolutions: ", list(c.attn_resolutions), "\n");
    y += "  dropout: 0.0\n";
    y += str("n_embed: ", c.n_embed, "\n");
    y += str("embed_dim: ", c.embed_dim, "\n");
    y += str("beta: ", num(loss.beta), "\n");
    y += str("use_entropy_loss: ", loss.entropy > 0 ? "true" : "false", "\n");
    y += "cosine_similarity: false\n";
    y += str("entropy_temperature: ", num(loss.entropy_temperature), "\n");
    y += str("sample_minimization_weight: ", num(loss.sample_minimization_weight), "\n");
    y += str("batch_maximization_weight: ", num(loss.batch_maximization_weight), "\n");
    return y;
}

void export_ibq(const std::string& dir, const VqModel& model, const VqLossConfig& loss, DType dtype) {
    check_exportable(dtype, "vq model");
    fs::create_directories(dir);
    const std::string tmp = (fs::path(dir) / "model.safetensors.tmp").string();
    std::vector<std::pair<std::string, Tensor>> ts;
    for (auto& [name, t] : model.weights()) ts.emplace_back(name, dtype == DType::F32 ? t : t.to(dtype));
    write_safetensors(tmp, ts, {{"format", "pt"}});
    fs::rename(tmp, fs::path(dir) / "model.safetensors");
    std::ofstream(fs::path(dir) / "config.yaml") << ibq_config_yaml(model.config(), loss);
}

}  // namespace emu::train
