// emu vq encode / decode / roundtrip end to end on every `kind: vq` case.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "emu/io/image.h"
#include "emu/io/safetensors.h"
#include "fixtures.h"

namespace fs = std::filesystem;

TEST(VqCli, EncodeDecodeRoundtripOnEveryCase) {
    const auto cases = emu::test::cases_of_kind("vq");
    if (cases.empty()) GTEST_FAIL() << "no `kind: vq` cases under " << emu::test::fixtures_root();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const std::string dir = emu::test::temp_dir("vq-cli-" + c.name);
        const std::string image = (fs::path(c.dir) / c.info["files"].value("image", "input.png")).string();
        const emu::SafetensorsFile expect =
            emu::SafetensorsFile::open((fs::path(c.dir) / c.info["files"].value("expect", "expect.safetensors")).string());

        auto r = emu::test::run_emu("vq encode --vq '" + c.dir + "' --image '" + image + "' --out '" + dir +
                                    "/codes.safetensors'");
        ASSERT_EQ(r.status, 0) << r.out;
        const emu::SafetensorsFile got = emu::SafetensorsFile::open(dir + "/codes.safetensors");
        const emu::Tensor& codes = got.get("codes");
        ASSERT_EQ(codes.dtype(), emu::DType::I64);
        const emu::Tensor& want = expect.get("codes");
        ASSERT_EQ(codes.shape(), want.shape());
        std::size_t same = 0;
        for (std::size_t i = 0; i < codes.numel(); ++i) same += codes.item(i) == want.item(i);
        EXPECT_GE(double(same), c.info["tolerances"].value("codes_match_min_fraction", 1.0) * double(codes.numel()));

        // Decode the expected codes: the PNG must be the official pixels (within 1).
        emu::write_safetensors(dir + "/want.safetensors", {{"codes", want}});
        r = emu::test::run_emu("vq decode --vq '" + c.dir + "' --codes '" + dir + "/want.safetensors' --out '" + dir +
                               "/out.png'");
        ASSERT_EQ(r.status, 0) << r.out;
        const emu::Image png = emu::read_image_rgb(dir + "/out.png");
        const emu::Tensor& u8 = expect.get("decoded_u8");
        ASSERT_EQ(png.pixels.size(), u8.numel());
        int worst = 0;
        for (std::size_t i = 0; i < png.pixels.size(); ++i)
            worst = std::max(worst, std::abs(int(png.pixels[i]) - int(u8.item(i))));
        EXPECT_LE(worst, 1);

        r = emu::test::run_emu("vq roundtrip --vq '" + c.dir + "' --image '" + image + "' --out '" + dir + "/rt.png'");
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_NE(r.out.find("PSNR"), std::string::npos) << r.out;
        EXPECT_TRUE(fs::exists(dir + "/rt.png"));
    }
}

TEST(VqCli, BadInputsGiveOneLineErrors) {
    const auto cases = emu::test::cases_of_kind("vq");
    if (cases.empty()) GTEST_FAIL() << "no `kind: vq` cases";
    const auto& c = cases.front();
    const std::string dir = emu::test::temp_dir("vq-cli-errors");
    {
        std::ofstream(dir + "/bad.png") << "\x89PNG\r\n\x1a\nnot really";
    }
    auto r = emu::test::run_emu("vq encode --vq '" + c.dir + "' --image '" + dir + "/bad.png' --out '" + dir +
                                "/c.safetensors'");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bad.png"), std::string::npos) << r.out;
    r = emu::test::run_emu("vq decode --vq '" + dir + "' --codes x --out y.png");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
    r = emu::test::run_emu("vq encode --vq '" + c.dir + "' --image '" + c.dir + "/input.png' --area 10 --out '" + dir +
                           "/c.safetensors'");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("token"), std::string::npos) << r.out;
}
