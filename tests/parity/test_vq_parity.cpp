// IBQ vision tokenizer against the official code's outputs: every `kind: vq` case.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "emu/io/image.h"
#include "emu/io/safetensors.h"
#include "emu/vision/ibq.h"
#include "emu/vision/preprocess.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using emu::Tensor;

namespace {

struct Diff {
    double max_abs = 0, mean_abs = 0;
};

Diff compare(const Tensor& ours, const Tensor& expect) {
    EXPECT_EQ(emu::shape_str(ours.shape()), emu::shape_str(expect.shape()));
    if (ours.shape() != expect.shape()) return {1e30, 1e30};
    const auto a = ours.f32_values(), b = expect.f32_values();
    Diff d;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double e = std::fabs(double(a[i]) - double(b[i]));
        d.max_abs = std::max(d.max_abs, std::isnan(e) ? 1e30 : e);
        d.mean_abs += e;
    }
    d.mean_abs /= double(std::max<std::size_t>(1, a.size()));
    return d;
}

double tol(const emu::test::FixtureCase& c, const char* key) {
    EXPECT_TRUE(c.info["tolerances"].contains(key)) << c.name << ": case.json lacks tolerances." << key;
    return c.info["tolerances"].value(key, 0.0);
}

TEST(VqParity, EveryCase) {
    const auto cases = emu::test::cases_of_kind("vq");
    if (cases.empty()) GTEST_FAIL() << "no `kind: vq` cases under " << emu::test::fixtures_root();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const auto& files = c.info["files"];
        const emu::vision::Ibq ibq = emu::vision::Ibq::load(c.dir);
        const emu::SafetensorsFile expect =
            emu::SafetensorsFile::open((fs::path(c.dir) / files.value("expect", "expect.safetensors")).string());

        // Pre-processing: the PNG as the official code turns it into the model input.
        const emu::Image rgb = emu::read_image_rgb((fs::path(c.dir) / files.value("image", "input.png")).string());
        const Tensor image = emu::vision::image_to_tensor(rgb);
        const Diff di = compare(image, expect.get("image"));
        EXPECT_LE(di.max_abs, tol(c, "image_max_abs"));

        // Encoder: latent and codes.
        const Tensor latent = ibq.encode_latent(image);
        const Diff dl = compare(latent, expect.get("latent"));
        EXPECT_LE(dl.max_abs, tol(c, "latent_max_abs")) << "latent";
        const Tensor codes = ibq.quantize(latent);
        const Tensor& want_codes = expect.get("codes");
        ASSERT_EQ(emu::shape_str(codes.shape()), emu::shape_str(want_codes.shape()));
        std::size_t same = 0;
        for (std::size_t i = 0; i < codes.numel(); ++i) same += codes.item(i) == want_codes.item(i);
        const double frac = double(same) / double(codes.numel());
        EXPECT_GE(frac, tol(c, "codes_match_min_fraction")) << same << "/" << codes.numel() << " codes match";

        // Decoder, from the expected codes so that it is tested on its own.
        const Tensor decoded = ibq.decode(want_codes);
        const Diff dd = compare(decoded, expect.get("decoded"));
        EXPECT_LE(dd.max_abs, tol(c, "decoded_max_abs")) << "decoded";
        EXPECT_LE(dd.mean_abs, tol(c, "decoded_mean_abs")) << "decoded";

        // Post-processing to 8-bit pixels, [H, W, 3].
        const emu::Image out = emu::vision::tensor_to_image(decoded);
        const Tensor& want_u8 = expect.get("decoded_u8");
        ASSERT_EQ(want_u8.numel(), out.pixels.size());
        int worst = 0;
        for (std::size_t i = 0; i < out.pixels.size(); ++i)
            worst = std::max(worst, std::abs(int(out.pixels[i]) - int(want_u8.item(i))));
        EXPECT_LE(worst, tol(c, "decoded_u8_max_abs"));

        std::printf("[%s] image %.2g  latent %.3g  codes %zu/%zu  decoded max %.3g mean %.3g  u8 %d\n",
                    c.name.c_str(), di.max_abs, dl.max_abs, same, std::size_t(codes.numel()), dd.max_abs, dd.mean_abs,
                    worst);
    }
}

}  // namespace
