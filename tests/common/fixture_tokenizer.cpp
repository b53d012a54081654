#include "fixture_tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

namespace fs = std::filesystem;

namespace emu::test {

// case.json paths like "shared/emu35-tokenizer/emu3.tiktoken" are relative to the folder that
// holds shared/, i.e. two levels above the fixtures root (README "kind tokenizer").
std::string resolve_shared(const FixtureCase& c, const std::string& rel) {
    fs::path p(rel);
    if (p.is_absolute()) return rel;
    fs::path root = fs::absolute(fixtures_root());
    std::vector<fs::path> candidates = {root.parent_path().parent_path() / p, fs::path(c.dir).parent_path().parent_path() / p};
    const std::string prefix = "shared/";
    if (rel.rfind(prefix, 0) == 0) candidates.push_back(root.parent_path() / rel.substr(prefix.size()));
    for (const auto& cand : candidates)
        if (fs::is_regular_file(cand)) return cand.lexically_normal().string();
    ADD_FAILURE() << c.name << ": cannot find " << rel << " (tried " << candidates[0] << ")";
    return rel;
}

text::Tokenizer load_case_tokenizer(const FixtureCase& c) {
    std::string vocab = resolve_shared(c, c.info.at("vocab_file").get<std::string>());
    text::TokenizerFiles files = text::find_tokenizer_files(vocab);
    if (c.info.contains("special_tokens_file"))
        files.vision_tokens = resolve_shared(c, c.info["special_tokens_file"].get<std::string>());
    if (c.info.contains("pat_str")) files.pat_str = c.info["pat_str"].get<std::string>();
    return text::Tokenizer::load(files);
}

}  // namespace emu::test
