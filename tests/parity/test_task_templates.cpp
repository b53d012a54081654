// Each task's default templates are the official example config's, as the prompt
// fixtures recorded them (build_unc_and_template per config file).
#include <gtest/gtest.h>

#include <fstream>

#include "emu/gen/generator.h"
#include "emu/gen/tasks.h"
#include "emu/text/image_tokens.h"
#include "fixture_tokenizer.h"
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

// The generator builds exactly the official prompt ids from each case's own templates,
// question and reference images (given as code grids).
TEST(TaskTemplates, GeneratorPromptIdsMatchEveryPromptCase) {
    auto cases = test::cases_of_kind("prompt");
    ASSERT_FALSE(cases.empty());
    for (const auto& c : cases) {
        gen::Generator g(test::load_case_tokenizer(c), std::nullopt, std::nullopt);
        nlohmann::json list = nlohmann::json::parse(std::ifstream(c.dir + "/cases.json"));
        for (const auto& p : list) {
            gen::GenerationSettings s = g.defaults(p["task"].get<std::string>());
            s.template_text = p["template"].get<std::string>();
            s.uncond_template = p["unc_template"].get<std::string>();
            std::vector<gen::ReferenceImage> refs;
            for (const auto& image_string : p["image_strings"]) {
                gen::ReferenceImage ref;
                ref.codes = text::parse_image_string(image_string.get<std::string>());
                refs.push_back(ref);
            }
            gen::PreparedPrompt prepared = g.prepare(s, p["question"].get<std::string>(), refs);
            EXPECT_EQ(prepared.prompt, p["prompt"].get<std::string>()) << p["source"] << " " << p["task"];
            EXPECT_EQ(prepared.uncond_prompt, p["unc_prompt"].get<std::string>());
            EXPECT_EQ(prepared.ids, p["prompt_ids"].get<std::vector<text::TokenId>>());
            EXPECT_EQ(prepared.uncond_ids, p["unc_prompt_ids"].get<std::vector<text::TokenId>>());
        }
    }
}
