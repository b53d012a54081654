#include "emu/text/prompt.h"

#include "emu/core/error.h"
#include "emu/text/special_tokens.h"

namespace emu::text {

std::string format_question(std::string_view tmpl, std::string_view question) {
    std::string out;
    out.reserve(tmpl.size() + question.size());
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
        char c = tmpl[i];
        if (c == '{') {
            if (i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
                out += '{';
                ++i;
                continue;
            }
            std::size_t close = tmpl.find('}', i + 1);
            check(close != std::string_view::npos, "prompt template: unmatched '{' at offset ", i);
            std::string_view field = tmpl.substr(i + 1, close - i - 1);
            check(field == "question" || field == "question!s" || field == "question:",
                  "prompt template: unsupported field {", field, "} (only {question} is filled in)");
            out += question;
            i = close;
        } else if (c == '}') {
            check(i + 1 < tmpl.size() && tmpl[i + 1] == '}', "prompt template: single '}' at offset ", i);
            out += '}';
            ++i;
        } else {
            out += c;
        }
    }
    return out;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    check(!from.empty(), "replace_all: empty search string");
    std::string out;
    std::size_t pos = 0;
    while (true) {
        std::size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
    out.append(text.substr(pos));
    return out;
}

Prompts build_prompts(std::string_view tmpl, std::string_view unc_template, std::string_view question,
                      const std::vector<std::string>& image_strings) {
    Prompts p;
    p.prompt = format_question(tmpl, question);
    if (image_strings.empty()) {
        p.unc_prompt = std::string(unc_template);
        return p;
    }
    std::string images;
    for (const auto& s : image_strings) images += s;
    p.prompt = replace_all(p.prompt, kImagePlaceholder, images);
    p.unc_prompt = replace_all(unc_template, kImagePlaceholder, images);
    return p;
}

}  // namespace emu::text
