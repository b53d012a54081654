// Each task's default templates are the official example config's, as the prompt
// fixtures recorded them (build_unc_and_template per config file).
#include <gtest/gtest.h>

#include <fstream>

#include "emu/gen/tasks.h"
#include "fixtures.h"

using namespace emu;

TEST(TaskTemplates, MatchTheOfficialConfigs) {
    auto cases = test::cases_of_kind("prompt");
    ASSERT_FALSE(cases.empty()) << "no prompt cases under " << test::fixtures_root();
    int compared = 0;
    for (const auto& c : cases) {
        nlohmann::json list = nlohmann::json::parse(std::ifstream(c.dir + "/cases.json"));
        for (const auto& p : list) {
            const gen::TaskDefaults& t = gen::task_defaults(p["task"].get<std::string>());
            if (p["source"].get<std::string>() != t.source) continue;  // another config's variant
            bool img = p["with_image"].get<bool>();
            EXPECT_EQ(img ? t.template_with_image : t.template_text, p["template"].get<std::string>()) << p["source"];
            EXPECT_EQ(img ? t.uncond_with_image : t.uncond_template, p["unc_template"].get<std::string>());
            ++compared;
        }
    }
    EXPECT_GT(compared, 0);
}
