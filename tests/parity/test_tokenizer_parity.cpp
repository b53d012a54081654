// Every `kind: tokenizer` and `kind: prompt` case under $EMU_FIXTURES, exactly.
#include <filesystem>
#include <gtest/gtest.h>

#include "emu/core/mapped_file.h"
#include "emu/text/image_tokens.h"
#include "emu/text/prompt.h"
#include "emu/text/tokenizer.h"
#include "emu/text/utf8.h"
#include "fixtures.h"
#include "fixture_tokenizer.h"

namespace fs = std::filesystem;
using emu::text::TokenId;
using emu::text::Tokenizer;
using nlohmann::json;

namespace {

json load_json(const emu::test::FixtureCase& c, const std::string& file) {
    return json::parse(emu::read_text_file((fs::path(c.dir) / file).string()));
}

std::vector<TokenId> ids_of(const json& j) { return j.get<std::vector<TokenId>>(); }

std::string show(const std::string& s) { return json(s).dump(); }

TEST(TokenizerParity, EveryTokenizerCase) {
    auto cases = emu::test::cases_of_kind("tokenizer");
    if (cases.empty()) GTEST_FAIL() << "no `kind: tokenizer` case under " << emu::test::fixtures_root();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Tokenizer tok = emu::test::load_case_tokenizer(c);
        if (c.info.contains("special_tokens")) {
            const json& sp = c.info["special_tokens"];
            if (sp.contains("first_id")) {
                EXPECT_EQ(tok.first_special(), sp["first_id"].get<TokenId>());
            }
            if (sp.contains("n_vocab")) {
                EXPECT_EQ(tok.n_vocab(), sp["n_vocab"].get<std::size_t>());
            }
            if (sp.contains("examples")) {
                for (auto& [text, id] : sp["examples"].items()) {
                    EXPECT_EQ(tok.special_id(text), std::optional<TokenId>(id.get<TokenId>())) << text;
                    EXPECT_EQ(tok.decode(std::vector<TokenId>{id.get<TokenId>()}), text);
                }
            }
        }
        const json& files = c.info.at("files");
        json encode_cases = load_json(c, files.at("cases").get<std::string>());
        ASSERT_FALSE(encode_cases.empty());
        for (const json& e : encode_cases) {
            std::string text = e.at("text");
            SCOPED_TRACE("text " + show(text));
            std::vector<TokenId> ids = tok.encode(text);
            EXPECT_EQ(ids, ids_of(e.at("ids")));
            EXPECT_EQ(tok.decode(ids), e.at("decoded").get<std::string>());
            EXPECT_EQ(tok.decode(ids, true), e.at("decoded_skip_special").get<std::string>());
            if (e.contains("nfc_changed_text")) {
                EXPECT_EQ(emu::text::nfc(text) != text, e["nfc_changed_text"].get<bool>());
            }
        }
        if (files.contains("decode_cases")) {
            json decode_cases = load_json(c, files["decode_cases"].get<std::string>());
            for (const json& d : decode_cases) {
                SCOPED_TRACE(d.value("label", "decode case"));
                std::vector<TokenId> ids = ids_of(d.at("ids"));
                EXPECT_EQ(tok.decode(ids), d.at("decoded").get<std::string>());
                EXPECT_EQ(tok.decode(ids, true), d.at("decoded_skip_special").get<std::string>());
            }
        }
    }
}

emu::text::CodeGrid grid_of(const json& rows) {
    emu::text::CodeGrid g;
    g.h = static_cast<int>(rows.size());
    g.w = g.h ? static_cast<int>(rows[0].size()) : 0;
    for (const json& row : rows) {
        EXPECT_EQ(row.size(), static_cast<std::size_t>(g.w));
        for (const json& v : row) g.codes.push_back(v.get<std::int32_t>());
    }
    return g;
}

TEST(TokenizerParity, EveryPromptCase) {
    auto cases = emu::test::cases_of_kind("prompt");
    if (cases.empty()) GTEST_FAIL() << "no `kind: prompt` case under " << emu::test::fixtures_root();
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Tokenizer tok = emu::test::load_case_tokenizer(c);

        // Named roles: every name the case lists must be known and resolve to the same id.
        if (c.info.contains("special_token_ids")) {
            for (auto& [name, id] : c.info["special_token_ids"].items()) {
                const emu::text::RoleName* role = nullptr;
                for (const auto& r : emu::text::role_names())
                    if (r.name == name) role = &r;
                ASSERT_NE(role, nullptr) << "unknown role " << name;
                EXPECT_EQ(tok.roles().*(role->field), id.get<TokenId>()) << name;
                EXPECT_EQ(tok.special_id(role->token), std::optional<TokenId>(id.get<TokenId>())) << name;
                if (c.info.contains("special_tokens") && c.info["special_tokens"].contains(name)) {
                    EXPECT_EQ(c.info["special_tokens"][name].get<std::string>(), std::string(role->token)) << name;
                }
            }
        }

        json prompt_cases = load_json(c, c.info.at("files").at("cases").get<std::string>());
        ASSERT_FALSE(prompt_cases.empty());
        for (const json& p : prompt_cases) {
            SCOPED_TRACE(p.value("source", "") + " " + p.value("task", "") + (p.value("with_image", false) ? " +image" : ""));
            std::vector<emu::text::CodeGrid> grids;
            std::vector<std::string> image_strings;
            for (const json& img : p.at("images")) {
                grids.push_back(grid_of(img));
                image_strings.push_back(emu::text::image_string(grids.back()));
                EXPECT_EQ(emu::text::image_token_ids(grids.back(), tok), tok.encode(image_strings.back()));
            }
            std::vector<std::string> expect_strings = p.at("image_strings").get<std::vector<std::string>>();
            EXPECT_EQ(image_strings, expect_strings);
            for (std::size_t k = 0; k < expect_strings.size() && k < grids.size(); ++k) {
                emu::text::CodeGrid back = emu::text::parse_image_string(expect_strings[k]);
                EXPECT_EQ(back.h, grids[k].h);
                EXPECT_EQ(back.w, grids[k].w);
                EXPECT_EQ(back.codes, grids[k].codes);
            }

            emu::text::Prompts built = emu::text::build_prompts(p.at("template").get<std::string>(),
                                                                p.at("unc_template").get<std::string>(),
                                                                p.at("question").get<std::string>(), expect_strings);
            EXPECT_EQ(built.prompt, p.at("prompt").get<std::string>());
            EXPECT_EQ(built.unc_prompt, p.at("unc_prompt").get<std::string>());
            std::vector<TokenId> ids = tok.encode(built.prompt);
            std::vector<TokenId> unc_ids = tok.encode(built.unc_prompt);
            EXPECT_EQ(ids, ids_of(p.at("prompt_ids")));
            EXPECT_EQ(unc_ids, ids_of(p.at("unc_prompt_ids")));
            EXPECT_EQ(tok.decode(ids), built.prompt);

            // The images come back out of both token streams, in order and canonical.
            for (const auto* stream : {&ids, &unc_ids}) {
                auto found = emu::text::find_images(*stream, tok);
                ASSERT_EQ(found.size(), grids.size());
                for (std::size_t k = 0; k < grids.size(); ++k) {
                    EXPECT_TRUE(found[k].ok) << found[k].error;
                    EXPECT_EQ(found[k].grid.h, grids[k].h);
                    EXPECT_EQ(found[k].grid.w, grids[k].w);
                    EXPECT_EQ(found[k].grid.codes, grids[k].codes);
                    EXPECT_EQ(found[k].header_h, grids[k].h);
                    EXPECT_EQ(found[k].header_w, grids[k].w);
                    EXPECT_TRUE(found[k].warnings.empty()) << found[k].warnings[0];
                }
            }
        }
    }
}

}  // namespace
