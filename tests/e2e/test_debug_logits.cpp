// `emu debug logits` on every llm case: full forward and --decode write the
// reference logits; bad input gives one clear error line.
#include <gtest/gtest.h>

#include <cmath>

#include "emu/io/safetensors.h"
#include "fixtures.h"

using namespace emu;

TEST(DebugLogitsCli, WritesReferenceLogitsForEveryLlmCase) {
    auto cases = test::cases_of_kind("llm");
    ASSERT_FALSE(cases.empty()) << "no llm cases under " << test::fixtures_root();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        SafetensorsFile expect = SafetensorsFile::open(c.dir + "/" + c.info["files"]["expect"].get<std::string>());
        Tensor ids = expect.get("input_ids");
        std::string list;
        for (std::uint64_t i = 0; i < ids.numel(); ++i) {
            if (i) list += ',';
            list += std::to_string(std::int64_t(ids.item(i)));
        }
        const double tol = c.info["tolerances"]["logits_max_abs"].get<double>();
        // --precision fast (2-part AMX products where the machine has AMX) stays within the
        // case's tolerance too.
        for (const char* mode : {"", " --decode", " --precision fast"}) {
            std::string out = test::temp_dir("debug_logits_" + c.name) + "/logits.safetensors";
            auto r = test::run_emu("debug logits --model '" + c.dir + "' --ids " + list + mode + " --threads 2 --out '" +
                                   out + "'");
            ASSERT_EQ(r.status, 0) << r.out;
            Tensor got = SafetensorsFile::open(out).get("logits");
            const Tensor& want = expect.get(std::string(mode) == " --decode" ? "decode_logits" : "logits");
            ASSERT_EQ(got.shape(), want.shape());
            std::vector<float> g = got.f32_values(), w = want.f32_values();
            double emax = 1, diff = 0;
            for (std::size_t i = 0; i < w.size(); ++i) {
                emax = std::max(emax, double(std::fabs(w[i])));
                diff = std::max(diff, double(std::fabs(g[i] - w[i])));
            }
            EXPECT_LE(diff, tol * emax) << mode;
        }
    }
}

TEST(DebugLogitsCli, BadInputGivesOneErrorLine) {
    auto cases = test::cases_of_kind("llm");
    ASSERT_FALSE(cases.empty());
    std::string out = test::temp_dir("debug_logits_bad") + "/x.safetensors";
    auto r = test::run_emu("debug logits --model '" + cases[0].dir + "' --ids 1,x --out " + out);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
    r = test::run_emu("debug logits --model '" + cases[0].dir + "' --ids 1,99999999 --out " + out);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("outside the vocabulary"), std::string::npos) << r.out;
    r = test::run_emu("debug logits --model '" + cases[0].dir + "' --ids 1,2 --precision half --out " + out);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("exact, fast or bf16"), std::string::npos) << r.out;
}
