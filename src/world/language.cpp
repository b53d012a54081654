#include "emu/world/language.h"

#include <cctype>

#include "emu/core/error.h"

namespace emu::world {
namespace {

const std::vector<std::vector<std::string>>& shape_synonyms() {
    static const std::vector<std::vector<std::string>> s{
        {"circle", "disc", "disk"}, {"square", "box", "block"}, {"triangle"},
        {"diamond", "rhombus"},     {"cross", "plus sign"},     {"ring", "donut", "hoop"}};
    return s;
}

std::string plural_of(const std::string& w) {
    if (w == "cross") return "crosses";
    if (w == "box") return "boxes";
    if (w == "rhombus") return "rhombuses";
    if (w == "plus sign") return "plus signs";
    return w + "s";
}

}  // namespace

std::string shape_word(Shape s, bool plural, Rng& rng) {
    const auto& options = shape_synonyms()[std::size_t(s)];
    // The canonical word stays the most frequent so a small vocabulary learns it well.
    const std::string& w = rng.chance(0.6) ? options[0] : rng.pick(options);
    return plural ? plural_of(w) : w;
}

std::string colour_word(Colour c, Rng& rng) {
    switch (c) {
        case Colour::Purple: return rng.chance(0.7) ? "purple" : "violet";
        case Colour::Cyan: return rng.chance(0.7) ? "cyan" : "turquoise";
        case Colour::Gray: return rng.chance(0.7) ? "gray" : "grey";
        default: return colour_name(c);
    }
}

std::string size_word(Size s, Rng& rng) {
    static const std::vector<std::string> small{"small", "small", "little", "tiny"};
    static const std::vector<std::string> large{"large", "large", "big"};
    return s == Size::Small ? rng.pick(small) : rng.pick(large);
}

std::string count_word(int n, Rng& rng) {
    static const char* words[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    if (n >= 0 && n <= 9 && rng.chance(0.8)) return words[n];
    return std::to_string(n);
}

std::string article_for(const std::string& next_word) {
    if (next_word.empty()) return "a";
    char c = char(std::tolower(static_cast<unsigned char>(next_word[0])));
    return (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') ? "an" : "a";
}

std::string noun_phrase(Shape shape, Colour colour, std::optional<Size> size, bool with_article, Rng& rng) {
    std::string words;
    if (size) words = size_word(*size, rng) + " ";
    words += colour_word(colour, rng) + " " + shape_word(shape, false, rng);
    return with_article ? article_for(words) + " " + words : words;
}

std::string cell_phrase(int col, int row, Rng& rng) {
    check(col >= 0 && col < 3 && row >= 0 && row < 3, "cell (", col, ",", row, ") is not on the 3x3 grid");
    if (col == 1 && row == 1) {
        static const std::vector<std::string> v{"in the centre", "in the center", "in the middle", "at the centre"};
        return rng.pick(v);
    }
    const bool upper = rng.chance(0.25);
    const std::string vert = row == 0 ? (upper ? "upper" : "top") : row == 2 ? (upper ? "lower" : "bottom") : "middle";
    const std::string horiz = col == 0 ? "left" : col == 2 ? "right" : "centre";
    if (col != 1 && row != 1) {  // corner
        switch (rng.below(3)) {
            case 0: return "in the " + vert + " " + horiz + " corner";
            case 1: return "in the " + vert + " " + horiz;
            default: return "at the " + vert + " " + horiz;
        }
    }
    if (col == 1) {  // top or bottom edge, centred
        const std::string edge = row == 0 ? "top" : "bottom";
        switch (rng.below(3)) {
            case 0: return "at the " + edge;
            case 1: return "at the " + edge + " centre";
            default: return "in the " + edge + " middle";
        }
    }
    switch (rng.below(3)) {  // left or right edge, middle row
        case 0: return "on the " + horiz;
        case 1: return "on the " + horiz + " side";
        default: return "at the middle " + horiz;
    }
}

const char* relation_name(Relation r) {
    switch (r) {
        case Relation::LeftOf: return "left_of";
        case Relation::RightOf: return "right_of";
        case Relation::Above: return "above";
        case Relation::Below: return "below";
    }
    return "?";
}

Relation relation_from_name(const std::string& name) {
    for (Relation r : {Relation::LeftOf, Relation::RightOf, Relation::Above, Relation::Below})
        if (name == relation_name(r)) return r;
    fail("unknown relation '", name, "'");
}

bool relation_holds(Relation r, int col_a, int row_a, int col_b, int row_b) {
    switch (r) {
        case Relation::LeftOf: return col_a < col_b;
        case Relation::RightOf: return col_a > col_b;
        case Relation::Above: return row_a < row_b;
        case Relation::Below: return row_a > row_b;
    }
    return false;
}

std::string relation_phrase(Relation r, Rng& rng) {
    static const std::vector<std::string> left{"to the left of", "to the left of", "left of", "on the left of"};
    static const std::vector<std::string> right{"to the right of", "to the right of", "right of", "on the right of"};
    static const std::vector<std::string> above{"above", "above", "over"};
    static const std::vector<std::string> below{"below", "below", "under", "beneath"};
    switch (r) {
        case Relation::LeftOf: return rng.pick(left);
        case Relation::RightOf: return rng.pick(right);
        case Relation::Above: return rng.pick(above);
        case Relation::Below: return rng.pick(below);
    }
    return "";
}

std::string refer(const Scene& scene, const Object& o, Rng& rng) {
    if (o.agent) return "the agent";
    int same_shape = 0, same_cs = 0, same_scs = 0;
    for (const Object& x : scene.objects) {
        if (x.agent || (x.col == o.col && x.row == o.row)) continue;
        same_shape += x.shape == o.shape;
        same_cs += x.shape == o.shape && x.colour == o.colour;
        same_scs += x.shape == o.shape && x.colour == o.colour && x.size == o.size;
    }
    const bool grid3 = scene.cols == 3 && scene.rows == 3;
    const double roll = rng.uniform();
    if (same_shape == 0 && roll < 0.15) return "the " + shape_word(o.shape, false, rng);
    if (same_cs == 0 && roll < 0.75) return "the " + noun_phrase(o.shape, o.colour, std::nullopt, false, rng);
    if (same_scs == 0 && (roll < 0.9 || !grid3)) return "the " + noun_phrase(o.shape, o.colour, o.size, false, rng);
    check(grid3, "cannot refer to an object by position outside the 3x3 grid");
    return "the " + noun_phrase(o.shape, o.colour, std::nullopt, false, rng) + " " + cell_phrase(o.col, o.row, rng);
}

const char* direction_name(Direction d) {
    switch (d) {
        case Direction::Left: return "left";
        case Direction::Right: return "right";
        case Direction::Up: return "up";
        case Direction::Down: return "down";
    }
    return "?";
}

Direction direction_from_name(const std::string& name) {
    for (Direction d : {Direction::Left, Direction::Right, Direction::Up, Direction::Down})
        if (name == direction_name(d)) return d;
    fail("unknown direction '", name, "'");
}

int direction_dx(Direction d) { return d == Direction::Left ? -1 : d == Direction::Right ? 1 : 0; }
int direction_dy(Direction d) { return d == Direction::Up ? -1 : d == Direction::Down ? 1 : 0; }

std::string sentence(const std::string& text) {
    if (text.empty()) return text;
    std::string s = text;
    s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
    char last = s.back();
    if (last != '.' && last != '!' && last != '?') s += '.';
    return s;
}

std::string join_list(const std::vector<std::string>& items, Rng& rng) {
    if (items.empty()) return "";
    if (items.size() == 1) return items[0];
    std::string out;
    for (std::size_t i = 0; i + 1 < items.size(); ++i) out += (i ? ", " : "") + items[i];
    // Oxford comma sometimes, as people write both.
    out += (items.size() > 2 && rng.chance(0.3)) ? ", and " : " and ";
    return out + items.back();
}

}  // namespace emu::world
