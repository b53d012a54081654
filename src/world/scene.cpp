#include "emu/world/scene.h"

#include <algorithm>

#include "emu/core/error.h"

namespace emu::world {
namespace {

constexpr std::array<const char*, kShapeCount> kShapeNames{"circle", "square", "triangle", "diamond", "cross", "ring"};
constexpr std::array<const char*, kColourCount> kColourNames{"red",    "orange", "yellow", "green", "cyan",  "blue",
                                                             "purple", "pink",   "brown",  "white", "gray", "black"};
// Chosen so every pair is at least ~100 apart in RGB (test_world_scene checks it): a
// tokenizer's colour drift stays far inside the nearest-colour decision boundary.
constexpr std::array<Rgb, kColourCount> kColourRgb{{{215, 30, 40},
                                                     {250, 130, 0},
                                                     {245, 230, 40},
                                                     {40, 170, 60},
                                                     {40, 210, 220},
                                                     {30, 70, 220},
                                                     {130, 40, 200},
                                                     {245, 120, 200},
                                                     {125, 70, 30},
                                                     {245, 245, 245},
                                                     {140, 140, 140},
                                                     {20, 20, 20}}};

}  // namespace

const char* shape_name(Shape s) { return kShapeNames.at(std::size_t(s)); }
const char* colour_name(Colour c) { return kColourNames.at(std::size_t(c)); }
const char* size_name(Size s) { return s == Size::Small ? "small" : "large"; }
Rgb colour_rgb(Colour c) { return kColourRgb.at(std::size_t(c)); }
bool is_object_colour(Colour c) { return int(c) < kObjectColourCount; }

Shape shape_from_name(const std::string& name) {
    for (int i = 0; i < kShapeCount; ++i)
        if (name == kShapeNames[std::size_t(i)]) return Shape(i);
    fail("unknown shape '", name, "'");
}

Colour colour_from_name(const std::string& name) {
    for (int i = 0; i < kColourCount; ++i)
        if (name == kColourNames[std::size_t(i)]) return Colour(i);
    fail("unknown colour '", name, "'");
}

Size size_from_name(const std::string& name) {
    if (name == "small") return Size::Small;
    if (name == "large") return Size::Large;
    fail("unknown size '", name, "'");
}

const std::vector<Colour>& background_colours() {
    static const std::vector<Colour> all{Colour::White, Colour::Gray};
    return all;
}

bool Object::same_content(const Object& o) const {
    if (col != o.col || row != o.row || agent != o.agent) return false;
    if (agent) return true;
    return shape == o.shape && colour == o.colour && size == o.size;
}

const Object* Scene::at(int col, int row) const {
    for (const auto& o : objects)
        if (o.col == col && o.row == row) return &o;
    return nullptr;
}

Object* Scene::at(int col, int row) {
    for (auto& o : objects)
        if (o.col == col && o.row == row) return &o;
    return nullptr;
}

std::vector<std::pair<int, int>> Scene::empty_cells() const {
    std::vector<std::pair<int, int>> out;
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
            if (!at(c, r)) out.emplace_back(c, r);
    return out;
}

const Object* Scene::agent() const {
    for (const auto& o : objects)
        if (o.agent) return &o;
    return nullptr;
}

void Scene::normalise() {
    std::sort(objects.begin(), objects.end(),
              [](const Object& a, const Object& b) { return a.row != b.row ? a.row < b.row : a.col < b.col; });
}

void Scene::validate() const {
    check(cols > 0 && rows > 0 && cols <= 64 && rows <= 64, "scene grid ", cols, "x", rows, " is out of range");
    int agents = 0;
    for (std::size_t i = 0; i < objects.size(); ++i) {
        const Object& o = objects[i];
        check(in_grid(o.col, o.row), "object ", i, " at cell (", o.col, ",", o.row, ") lies outside the ", cols, "x",
              rows, " grid");
        check(std::abs(o.jx) <= kMaxJitter && std::abs(o.jy) <= kMaxJitter, "object ", i, " jitter out of range");
        check(o.agent || is_object_colour(o.colour), "object ", i, " has background colour ", colour_name(o.colour));
        agents += o.agent;
        for (std::size_t k = 0; k < i; ++k)
            check(objects[k].col != o.col || objects[k].row != o.row, "two objects share cell (", o.col, ",", o.row,
                  ")");
    }
    check(agents <= 1, "a scene has at most one agent");
}

std::vector<std::pair<int, int>> differing_cells(const Scene& a, const Scene& b) {
    std::vector<std::pair<int, int>> out;
    int cols = std::max(a.cols, b.cols), rows = std::max(a.rows, b.rows);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const Object* x = a.at(c, r);
            const Object* y = b.at(c, r);
            bool same = (!x && !y) || (x && y && x->same_content(*y));
            if (!same) out.emplace_back(c, r);
        }
    return out;
}

bool same_content(const Scene& a, const Scene& b) {
    return a.cols == b.cols && a.rows == b.rows && a.background == b.background && differing_cells(a, b).empty();
}

nlohmann::json to_json(const Object& o) {
    nlohmann::json j;
    if (o.agent) {
        j["agent"] = true;
    } else {
        j["shape"] = shape_name(o.shape);
        j["colour"] = colour_name(o.colour);
        j["size"] = size_name(o.size);
    }
    j["col"] = o.col;
    j["row"] = o.row;
    j["jitter"] = {o.jx, o.jy};
    return j;
}

nlohmann::json to_json(const Scene& s) {
    nlohmann::json objs = nlohmann::json::array();
    for (const auto& o : s.objects) objs.push_back(to_json(o));
    return {{"cols", s.cols}, {"rows", s.rows}, {"background", colour_name(s.background)}, {"objects", objs}};
}

Object object_from_json(const nlohmann::json& j) {
    check(j.is_object(), "scene object is not a JSON object");
    Object o;
    o.agent = j.value("agent", false);
    if (!o.agent) {
        o.shape = shape_from_name(j.at("shape").get<std::string>());
        o.colour = colour_from_name(j.at("colour").get<std::string>());
        o.size = size_from_name(j.at("size").get<std::string>());
    } else {
        o.colour = Colour::Black;
    }
    o.col = j.at("col").get<int>();
    o.row = j.at("row").get<int>();
    if (j.contains("jitter")) {
        o.jx = j["jitter"].at(0).get<int>();
        o.jy = j["jitter"].at(1).get<int>();
    }
    return o;
}

Scene scene_from_json(const nlohmann::json& j) {
    check(j.is_object(), "scene is not a JSON object");
    Scene s;
    s.cols = j.value("cols", 3);
    s.rows = j.value("rows", 3);
    s.background = colour_from_name(j.at("background").get<std::string>());
    for (const auto& o : j.at("objects")) s.objects.push_back(object_from_json(o));
    s.validate();
    return s;
}

std::string describe(const Object& o) {
    if (o.agent) return "agent";
    return str(size_name(o.size), " ", colour_name(o.colour), " ", shape_name(o.shape));
}

}  // namespace emu::world
