// Prompt assembly exactly as inference.py does it, as pure string functions:
//   prompt     = template.format(question=question)
//   with images: prompt and unc_prompt get every "<|IMAGE|>" replaced by the image strings
//   concatenated; without images the unconditional template is used unchanged.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace emu::text {

// Python's str.format(question=...) on a template: "{question}" (also "{question!s}" and
// "{question:}") is substituted, "{{" and "}}" become "{" and "}". Any other field, or an
// unmatched brace, throws Error (Python raises KeyError/ValueError there).
std::string format_question(std::string_view tmpl, std::string_view question);

// Python's str.replace(from, to) for a non-empty `from`: every non-overlapping occurrence,
// left to right.
std::string replace_all(std::string_view text, std::string_view from, std::string_view to);

struct Prompts {
    std::string prompt;      // conditional
    std::string unc_prompt;  // unconditional (classifier-free guidance)
};

// `image_strings` empty means "no reference image" (inference.py's reference_image is None).
Prompts build_prompts(std::string_view tmpl, std::string_view unc_template, std::string_view question,
                      const std::vector<std::string>& image_strings);

}  // namespace emu::text
