// English for ShapesWorld: words with synonyms, noun phrases, positions, relations and
// referring expressions. Every choice among synonyms/templates is drawn from the Rng, so
// texts vary but are reproducible from the seed.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "emu/core/rng.h"
#include "emu/world/scene.h"

namespace emu::world {

std::string shape_word(Shape s, bool plural, Rng& rng);
std::string colour_word(Colour c, Rng& rng);
std::string size_word(Size s, Rng& rng);
std::string count_word(int n, Rng& rng);  // "three" or "3"
// "a" or "an" for the word that follows.
std::string article_for(const std::string& next_word);

// "a large red circle" (with_article) or "large red circle"; size omitted when not given.
std::string noun_phrase(Shape shape, Colour colour, std::optional<Size> size, bool with_article, Rng& rng);

// Absolute position of a cell of the 3x3 grid: "in the top left corner", "at the top",
// "in the centre", "on the left" ... (always names exactly one cell).
std::string cell_phrase(int col, int row, Rng& rng);

// Relations between two objects; each is true exactly when the grid says so.
enum class Relation { LeftOf, RightOf, Above, Below };
const char* relation_name(Relation r);
Relation relation_from_name(const std::string& name);
bool relation_holds(Relation r, int col_a, int row_a, int col_b, int row_b);
std::string relation_phrase(Relation r, Rng& rng);  // "to the left of", "above", ...

// The shortest description that picks this object out of the scene ("the red circle",
// "the small red circle", "the red circle in the top left"), sometimes longer for variety.
std::string refer(const Scene& scene, const Object& o, Rng& rng);

// One-cell directions (used by moves, explore and vla actions).
enum class Direction { Left, Right, Up, Down };
const char* direction_name(Direction d);
Direction direction_from_name(const std::string& name);
int direction_dx(Direction d);
int direction_dy(Direction d);

// Capitalises the first letter and ends with a full stop if there is no end mark.
std::string sentence(const std::string& text);
// "a, b and c".
std::string join_list(const std::vector<std::string>& items, Rng& rng);

}  // namespace emu::world
