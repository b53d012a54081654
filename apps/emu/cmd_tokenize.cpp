// emu tokenize / emu detokenize: the Emu3.5 text tokenizer from the command line.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "emu/core/error.h"
#include "emu/core/mapped_file.h"
#include "emu/io/config.h"
#include "emu/text/tokenizer.h"

namespace emu::cli {
namespace {

int run_tokenize(const std::vector<std::string>& argv) {
    Args args(argv, {"tokenizer", "text", "file"}, {"json", "ordinary"});
    check(args.positional().empty(), "usage: emu tokenize --tokenizer DIR (--text T | --file F) [--json]");
    check(args.has("text") != args.has("file"), "give exactly one of --text and --file");
    auto tok = text::Tokenizer::load(args.require("tokenizer"));
    std::string input = args.has("text") ? args.get("text", "") : read_text_file(args.get("file", ""));
    std::vector<text::TokenId> ids = args.has("ordinary") ? tok.encode_ordinary(input) : tok.encode(input);
    if (args.has("json")) {
        nlohmann::json j;
        j["ids"] = ids;
        std::printf("%s\n", j.dump().c_str());
        return 0;
    }
    std::string line;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i) line += ',';
        line += std::to_string(ids[i]);
    }
    std::printf("%s\n", line.c_str());
    return 0;
}

std::vector<text::TokenId> parse_ids(const std::string& s) {
    std::vector<text::TokenId> ids;
    std::string trimmed = s;
    if (!trimmed.empty() && trimmed.front() == '[') {
        const nlohmann::json j = parse_json_text(trimmed, "--ids");
        check(j.is_array(), "--ids: expected a JSON list of integers");
        for (const auto& v : j) {
            if (!v.is_number_integer()) fail("--ids: ", v.dump(), " is not an integer");
            long long n = v.get<long long>();
            check(n >= INT32_MIN && n <= INT32_MAX, "--ids: ", n, " is out of range");
            ids.push_back(static_cast<text::TokenId>(n));
        }
        return ids;
    }
    if (trimmed.empty()) return ids;
    for (long long n : parse_int_list(trimmed)) {
        check(n >= INT32_MIN && n <= INT32_MAX, "--ids: ", n, " is out of range");
        ids.push_back(static_cast<text::TokenId>(n));
    }
    return ids;
}

int run_detokenize(const std::vector<std::string>& argv) {
    Args args(argv, {"tokenizer", "ids"}, {"skip-special", "json"});
    check(args.positional().empty(), "usage: emu detokenize --tokenizer DIR --ids 1,2,3 [--skip-special] [--json]");
    auto tok = text::Tokenizer::load(args.require("tokenizer"));
    std::vector<text::TokenId> ids = parse_ids(args.require("ids"));
    std::string text = tok.decode(ids, args.has("skip-special"));
    if (args.has("json")) {
        nlohmann::json j;
        j["text"] = text;
        std::printf("%s\n", j.dump().c_str());
        return 0;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
    return 0;
}

Register reg_tok{"tokenize",
                 "--tokenizer DIR (--text T | --file F) [--json] [--ordinary]  text -> Emu3.5 token ids "
                 "(--ordinary: no NFC, <|...|> stays text)",
                 run_tokenize};
Register reg_detok{"detokenize",
                   "--tokenizer DIR --ids 1,2,3 [--skip-special] [--json]  token ids -> text (invalid UTF-8 "
                   "becomes U+FFFD)",
                   run_detokenize};

}  // namespace
}  // namespace emu::cli
