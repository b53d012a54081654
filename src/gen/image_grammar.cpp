#include "emu/gen/image_grammar.h"

#include <limits>

#include "emu/core/error.h"

namespace emu::gen {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
}

std::vector<TokenId> ImageTokenIds::header_ids(int h, int w) const {
    std::vector<TokenId> out;
    for (char c : std::to_string(h)) out.push_back(digits[c - '0']);
    out.push_back(star);
    for (char c : std::to_string(w)) out.push_back(digits[c - '0']);
    return out;
}

std::pair<int, int> ImageTokenIds::parse_header(std::span<const TokenId> header) const {
    std::string text;
    for (TokenId id : header) {
        char c = 0;
        if (id == star) c = '*';
        for (int d = 0; d < 10; ++d)
            if (id == digits[d]) c = char('0' + d);
        check(c != 0, "image header holds token ", id, ", which is neither a digit nor '*'");
        text.push_back(c);
    }
    auto at = text.find('*');
    check(at != std::string::npos && at > 0 && at + 1 < text.size() && text.find('*', at + 1) == std::string::npos &&
              text.size() <= 12,
          "image header '", text, "' is not of the form h*w");
    int h = std::stoi(text.substr(0, at)), w = std::stoi(text.substr(at + 1));
    check(h > 0 && w > 0, "image header '", text, "' has a zero side");
    return {h, w};
}

void ImageTokenIds::validate() const {
    check(boi >= 0 && eoi >= 0 && img >= 0 && eol >= 0, "vocabulary lacks the image markers (BOI, EOI, IMG, EOL)");
    check(first_visual >= 0 && n_visual > 0, "vocabulary has no visual tokens: it cannot generate images");
    check(star >= 0, "vocabulary cannot spell '*' for image headers");
    for (TokenId d : digits) check(d >= 0, "vocabulary cannot spell digits for image headers");
    check(first_visual + std::int64_t(n_visual) <= vocab_size, "visual tokens run past the model vocabulary (",
          first_visual, " + ", n_visual, " > ", vocab_size, ")");
}

ImageGrammar::ImageGrammar(ImageTokenIds ids, std::optional<GridSize> target, bool force_same_size,
                           std::span<const TokenId> uncond_prompt)
    : ids_(std::move(ids)), force_same_(force_same_size) {
    ids_.validate();
    if (target) {
        check(target->h > 0 && target->w > 0, "image size must be positive, got ", target->h, "x", target->w);
        height_ = target->h;
        width_ = target->w;
    }
    // A reference image in the unconditional prompt fixes the size of what is generated.
    std::int64_t last_boi = -1, last_img = -1;
    for (std::size_t i = 0; i < uncond_prompt.size(); ++i) {
        if (uncond_prompt[i] == ids_.boi) last_boi = std::int64_t(i);
        if (uncond_prompt[i] == ids_.img) last_img = std::int64_t(i);
    }
    if (last_img >= 0) {
        check(last_boi >= 0 && last_boi < last_img, "unconditional prompt has an image token without an image start");
        parse_size_from(uncond_prompt.subspan(std::size_t(last_boi) + 1, std::size_t(last_img - last_boi - 1)));
        first_in_image_ = false;
    }
}

void ImageGrammar::parse_size_from(std::span<const TokenId> header) {
    if (height_ && width_ && force_same_) return;
    hw_tokens_.assign(header.begin(), header.end());
    auto [h, w] = ids_.parse_header(header);
    height_ = h;
    width_ = w;
}

std::optional<GridSize> ImageGrammar::size() const {
    if (height_ && width_) return GridSize{*height_, *width_};
    return std::nullopt;
}

void ImageGrammar::start(std::span<const TokenId> prompt) {
    // Positions relative to the last BOI/IMG; the prompt of a fresh request normally has
    // no open image, but a prompt may end inside one (continuing a partial image).
    for (std::size_t i = 0; i + 1 < prompt.size(); ++i) {
        TokenId t = prompt[i];
        ++since_boi_;
        ++since_img_;
        if (t == ids_.boi) {
            in_image_ = true;
            since_boi_ = 0;
            header_.clear();
        } else if (t == ids_.eoi) {
            in_image_ = in_visual_ = false;
        } else if (t == ids_.img && in_image_) {
            in_visual_ = true;
            since_img_ = 0;
        } else if (in_image_ && !in_visual_) {
            header_.push_back(t);
        }
    }
}

StepPlan ImageGrammar::step(TokenId last) {
    ++since_boi_;
    ++since_img_;
    StepPlan plan;
    if (last == ids_.boi) {
        in_image_ = true;
        since_boi_ = 0;
        header_.clear();
    }
    if (last == ids_.eoi) {
        in_image_ = in_visual_ = false;
        plan.feed_uncond = true;  // the unconditional context sees EOI; its output is unused
    }
    if (in_image_) return plan_image_step(last);
    plan.text_only = true;
    return plan;
}

StepPlan ImageGrammar::plan_image_step(TokenId last) {
    StepPlan plan;
    plan.image_mode = true;
    plan.feed_uncond = true;
    if (!in_visual_ && last != ids_.img) {
        if (last != ids_.boi) header_.push_back(last);
        const std::int64_t hw_idx = since_boi_ + 1;  // 1 for the token right after BOI
        if (height_ && width_) {
            std::vector<TokenId> hw = ids_.header_ids(*height_, *width_);
            plan.only = {hw_idx <= std::int64_t(hw.size()) ? hw[std::size_t(hw_idx - 1)] : ids_.img};
        } else if (first_in_image_ || !force_same_) {
            // Auto size: two-digit height and width, each in [10, 99].
            if (hw_idx == 1 || hw_idx == 4) {
                plan.only.assign(ids_.digits.begin() + 1, ids_.digits.end());
            } else if (hw_idx == 2 || hw_idx == 5) {
                plan.only.assign(ids_.digits.begin(), ids_.digits.end());
            } else if (hw_idx == 3) {
                plan.only = {ids_.star};
            } else {
                plan.only = {ids_.img};
            }
        } else {
            plan.only = {hw_idx <= std::int64_t(hw_tokens_.size()) ? hw_tokens_[std::size_t(hw_idx - 1)] : ids_.img};
        }
        return plan;
    }
    if (last == ids_.img) {
        in_visual_ = true;
        since_img_ = 0;
        ++image_nums_;
        if ((first_in_image_ || !force_same_) && !(height_ && width_)) parse_size_from(header_);
        first_in_image_ = false;
        check(height_ && width_, "image size unknown at the first visual token");
        plan.guided = true;
        plan.visual_only = true;
        return plan;
    }
    const std::int64_t vis_idx = since_img_ + 1;  // 1-based position after IMG
    const std::int64_t row = *width_ + 1;
    if (vis_idx == std::int64_t(*height_) * row) {
        plan.only = {ids_.eoi};
    } else if (vis_idx % row == 0) {
        plan.only = {ids_.eol};
    } else {
        plan.guided = true;
        plan.visual_only = true;
    }
    return plan;
}

void ImageGrammar::constrain(const StepPlan& plan, std::span<float> scores) const {
    check(scores.size() == std::size_t(ids_.vocab_size), "scores have ", scores.size(), " entries, vocabulary has ",
          ids_.vocab_size);
    if (!plan.only.empty()) {
        std::vector<float> keep;
        for (TokenId id : plan.only) keep.push_back(scores[std::size_t(id)]);
        std::fill(scores.begin(), scores.end(), kNegInf);
        for (std::size_t i = 0; i < plan.only.size(); ++i) {
            // A forced token stays possible even when the model gave it -inf.
            float v = keep[i];
            scores[std::size_t(plan.only[i])] = v == kNegInf ? 0.0f : v;
        }
        return;
    }
    const std::size_t v0 = std::size_t(ids_.first_visual), v1 = v0 + std::size_t(ids_.n_visual);
    if (plan.visual_only) {
        for (std::size_t i = 0; i < scores.size(); ++i)
            if (i < v0 || i >= v1) scores[i] = kNegInf;
    } else if (plan.text_only) {
        // As officially: every id from the first visual token up is masked in text.
        std::fill(scores.begin() + long(v0), scores.end(), kNegInf);
    }
}

}  // namespace emu::gen
