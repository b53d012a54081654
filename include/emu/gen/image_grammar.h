// The structure rules of generated images, as the official logits processor applies
// them step by step (spec 5.4): a header "h*w" (forced, repeated or digit-constrained),
// IMG, rows of visual tokens with EOL at row ends, EOI after the last row; visual ids
// are forbidden in text. It also says when the unconditional context must advance and
// when classifier-free guidance applies. No model calls happen here.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace emu::gen {

using TokenId = std::int32_t;

// What the grammar needs to know about a vocabulary.
struct ImageTokenIds {
    TokenId boi = -1, eoi = -1, img = -1, eol = -1;
    TokenId first_visual = -1;  // id of visual code 0
    std::int32_t n_visual = 0;  // codes first_visual .. first_visual + n_visual - 1
    std::array<TokenId, 10> digits{};  // ids of "0".."9"
    TokenId star = -1;                 // id of "*"
    std::int32_t vocab_size = 0;

    bool is_visual(TokenId id) const { return id >= first_visual && id < first_visual + n_visual; }
    // Token ids of the header text "h*w" (digit by digit, as the tokenizer splits numbers).
    std::vector<TokenId> header_ids(int h, int w) const;
    // Parses header ids back to (h, w); throws Error when they do not spell "h*w".
    std::pair<int, int> parse_header(std::span<const TokenId> ids) const;
    void validate() const;  // throws Error naming what the vocabulary lacks
};

struct GridSize {
    int h = 0, w = 0;  // in tokens
};

// What to do for the token about to be generated.
struct StepPlan {
    bool image_mode = false;    // sample with the image parameters (differential sampling)
    bool feed_uncond = false;   // append the last token to the unconditional context and run it
    bool guided = false;        // combine with the unconditional logits (CFG) before masking
    bool visual_only = false;   // allow only visual ids
    bool text_only = false;     // forbid visual ids
    std::vector<TokenId> only;  // when non-empty: allow exactly these ids
    bool forced() const { return only.size() == 1; }
};

class ImageGrammar {
public:
    // `target`: a preset size, or none for "auto". `force_same_size`: later images keep the
    // first image's size. `uncond_prompt`: the unconditional prompt ids; a reference image in
    // it fixes the size of generated images, as officially.
    ImageGrammar(ImageTokenIds ids, std::optional<GridSize> target, bool force_same_size,
                 std::span<const TokenId> uncond_prompt);

    // Feeds the prompt (without planning steps); call once before the first step.
    void start(std::span<const TokenId> prompt);
    // Accounts for `last` (the token just appended: the prompt's last one at the first
    // step) and plans the next token.
    StepPlan step(TokenId last);
    // Applies the plan's masks to scores over the vocabulary (after guidance).
    void constrain(const StepPlan& plan, std::span<float> scores) const;

    bool in_image() const { return in_image_; }
    std::optional<GridSize> size() const;
    int images_started() const { return image_nums_; }
    const ImageTokenIds& ids() const { return ids_; }

private:
    void parse_size_from(std::span<const TokenId> header);
    StepPlan plan_image_step(TokenId last);

    ImageTokenIds ids_;
    bool force_same_;
    bool in_image_ = false, in_visual_ = false, first_in_image_ = true;
    std::optional<int> height_, width_;
    std::vector<TokenId> hw_tokens_;  // the last image header, repeated when sizes are kept
    std::vector<TokenId> header_;     // tokens between BOI and IMG of the current image
    std::int64_t since_boi_ = 0, since_img_ = 0;  // positions since the last BOI / IMG
    int image_nums_ = 0;
};

}  // namespace emu::gen
