// ShapesWorld scenes: a background colour and flat-coloured shapes on a grid of cells.
// A scene is abstract (cells, not pixels); render.h draws it at any canvas size.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace emu::world {

enum class Shape : std::uint8_t { Circle, Square, Triangle, Diamond, Cross, Ring };
inline constexpr int kShapeCount = 6;

// Object colours come first. White and gray are the backgrounds; black is only the vla
// agent. (A black background was dropped: blurred edges of red or orange on black are
// indistinguishable from brown.)
enum class Colour : std::uint8_t { Red, Orange, Yellow, Green, Cyan, Blue, Purple, Pink, Brown, White, Gray, Black };
inline constexpr int kObjectColourCount = 9;
inline constexpr int kColourCount = 12;

enum class Size : std::uint8_t { Small, Large };

struct Rgb {
    std::uint8_t r, g, b;
};

const char* shape_name(Shape s);
const char* colour_name(Colour c);
const char* size_name(Size s);
Rgb colour_rgb(Colour c);
Shape shape_from_name(const std::string& name);    // throws Error on unknown names
Colour colour_from_name(const std::string& name);  // throws Error on unknown names
Size size_from_name(const std::string& name);      // throws Error on unknown names
bool is_object_colour(Colour c);
// Backgrounds a scene may use (white, gray).
const std::vector<Colour>& background_colours();

// Jitter moves an object off its cell centre by a few steps of kJitterUnit cells, so
// pictures vary without objects ever leaving their cell.
inline constexpr int kMaxJitter = 2;
inline constexpr double kJitterUnit = 0.02;

struct Object {
    Shape shape = Shape::Circle;
    Colour colour = Colour::Red;
    Size size = Size::Small;
    int col = 0, row = 0;      // grid cell
    int jx = 0, jy = 0;        // jitter steps in [-kMaxJitter, kMaxJitter]
    bool agent = false;        // the vla agent marker (drawn black; shape/colour/size unused)

    // Equal content, ignoring jitter (what the evaluator can and must recover).
    bool same_content(const Object& o) const;
};

struct Scene {
    int cols = 3, rows = 3;
    Colour background = Colour::White;
    std::vector<Object> objects;  // at most one per cell

    // The object in a cell, or nullptr.
    const Object* at(int col, int row) const;
    Object* at(int col, int row);
    bool in_grid(int col, int row) const { return col >= 0 && row >= 0 && col < cols && row < rows; }
    // Empty cells in row-major order.
    std::vector<std::pair<int, int>> empty_cells() const;
    const Object* agent() const;
    // Sorts objects row-major so equal scenes have equal object lists.
    void normalise();
    // Throws Error if cells repeat, lie outside the grid, or jitter is out of range.
    void validate() const;
};

// Same background and the same content in every cell (jitter ignored).
bool same_content(const Scene& a, const Scene& b);
// Cells whose content differs, row-major, as (col,row) pairs.
std::vector<std::pair<int, int>> differing_cells(const Scene& a, const Scene& b);

nlohmann::json to_json(const Object& o);
nlohmann::json to_json(const Scene& s);
Object object_from_json(const nlohmann::json& j);
Scene scene_from_json(const nlohmann::json& j);

// "large red circle" / "agent": for messages and the readable dump.
std::string describe(const Object& o);

}  // namespace emu::world
