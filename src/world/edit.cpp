#include "emu/world/edit.h"

#include <array>

#include "emu/core/error.h"
#include "emu/world/language.h"

namespace emu::world {
namespace {

constexpr std::array<const char*, kEditKindCount> kEditNames{"add",    "remove", "move",   "recolour",
                                                             "resize", "swap",   "combine"};

std::vector<const Object*> editable(const Scene& s) {
    std::vector<const Object*> out;
    for (const auto& o : s.objects)
        if (!o.agent) out.push_back(&o);
    return out;
}

bool adjacent(int c0, int r0, int c1, int r1) { return std::abs(c0 - c1) + std::abs(r0 - r1) == 1; }

Direction direction_between(int c0, int r0, int c1, int r1) {
    if (c1 < c0) return Direction::Left;
    if (c1 > c0) return Direction::Right;
    return r1 < r0 ? Direction::Up : Direction::Down;
}

// "in the top left corner" -> "to the top left corner".
std::string destination_phrase(int col, int row, Rng& rng) {
    std::string p = cell_phrase(col, row, rng);
    return "to " + p.substr(p.find("the"));
}

std::string step_phrase(Direction d, Rng& rng) {
    const std::string name = direction_name(d);
    switch (rng.below(4)) {
        case 0: return "one step " + name;
        case 1: return d == Direction::Left || d == Direction::Right ? "one cell to the " + name : "one cell " + name;
        case 2: return name + " by one cell";
        default: return name;
    }
}

// Where a new object goes: an absolute cell, or "directly above the red circle" when a
// neighbour makes that exact.
std::string placement_phrase(const Scene& scene, int col, int row, Rng& rng) {
    if (rng.chance(0.35)) {
        std::vector<std::pair<const Object*, Relation>> anchors;
        for (const Object* o : editable(scene)) {
            if (!adjacent(o->col, o->row, col, row)) continue;
            Relation r = o->col > col ? Relation::LeftOf
                         : o->col < col ? Relation::RightOf
                         : o->row > row ? Relation::Above
                                        : Relation::Below;
            anchors.emplace_back(o, r);
        }
        if (!anchors.empty()) {
            auto [o, r] = anchors[rng.below(anchors.size())];
            const std::string lead = rng.chance(0.5) ? "directly " : "just ";
            return lead + relation_phrase(r, rng) + " " + refer(scene, *o, rng);
        }
    }
    return cell_phrase(col, row, rng);
}

}  // namespace

const char* edit_kind_name(EditKind k) { return kEditNames.at(std::size_t(k)); }

EditKind edit_kind_from_name(const std::string& name) {
    for (int i = 0; i < kEditKindCount; ++i)
        if (name == kEditNames[std::size_t(i)]) return EditKind(i);
    fail("unknown edit kind '", name, "'");
}

Object random_object(int col, int row, Rng& rng) {
    Object o;
    o.shape = Shape(rng.below(kShapeCount));
    o.colour = Colour(rng.below(kObjectColourCount));
    o.size = rng.chance(0.5) ? Size::Small : Size::Large;
    o.col = col;
    o.row = row;
    o.jx = rng.range(-kMaxJitter, kMaxJitter);
    o.jy = rng.range(-kMaxJitter, kMaxJitter);
    return o;
}

Scene apply_edit(const Scene& scene, const Edit& e, const Scene* second) {
    Scene out = scene;
    auto need = [&](int c, int r) -> Object& {
        Object* o = out.at(c, r);
        check(o != nullptr && !o->agent, edit_kind_name(e.kind), " edit: no object at cell (", c, ",", r, ")");
        return *o;
    };
    switch (e.kind) {
        case EditKind::Add: {
            check(out.in_grid(e.col, e.row) && !out.at(e.col, e.row), "add edit: cell (", e.col, ",", e.row,
                  ") is not free");
            Object o = e.object;
            o.col = e.col;
            o.row = e.row;
            out.objects.push_back(o);
            break;
        }
        case EditKind::Remove: {
            need(e.col, e.row);
            std::erase_if(out.objects, [&](const Object& o) { return o.col == e.col && o.row == e.row; });
            break;
        }
        case EditKind::Move: {
            check(out.in_grid(e.to_col, e.to_row) && !out.at(e.to_col, e.to_row), "move edit: destination (",
                  e.to_col, ",", e.to_row, ") is not free");
            Object& o = need(e.col, e.row);
            o.col = e.to_col;
            o.row = e.to_row;
            break;
        }
        case EditKind::Recolour: need(e.col, e.row).colour = e.colour; break;
        case EditKind::Resize: need(e.col, e.row).size = e.size; break;
        case EditKind::Swap: {
            Object& a = need(e.col, e.row);
            Object& b = need(e.to_col, e.to_row);
            std::swap(a.col, b.col);
            std::swap(a.row, b.row);
            break;
        }
        case EditKind::Combine: {
            check(second != nullptr, "combine edit needs a second scene");
            for (const Object& o : second->objects) {
                check(!out.at(o.col, o.row), "combine edit: cell (", o.col, ",", o.row, ") is taken in both scenes");
                out.objects.push_back(o);
            }
            break;
        }
    }
    out.normalise();
    out.validate();
    return out;
}

std::optional<Edit> random_edit(const Scene& scene, int max_objects, Rng& rng, const std::vector<double>& weights) {
    const auto objs = editable(scene);
    const auto empty = scene.empty_cells();
    const int n = int(objs.size());
    std::vector<std::pair<const Object*, const Object*>> swappable;
    for (int i = 0; i < n; ++i)
        for (int k = i + 1; k < n; ++k) {
            const Object& a = *objs[std::size_t(i)];
            const Object& b = *objs[std::size_t(k)];
            if (a.shape != b.shape || a.colour != b.colour || a.size != b.size) swappable.emplace_back(&a, &b);
        }
    std::vector<double> w(kEditKindCount, 0.0);
    for (int k = 0; k < kEditKindCount - 1; ++k) w[std::size_t(k)] = weights.empty() ? 1.0 : weights.at(std::size_t(k));
    if (n >= max_objects || empty.empty()) w[int(EditKind::Add)] = 0;
    if (n < 2) w[int(EditKind::Remove)] = 0;
    if (n < 1 || empty.empty()) w[int(EditKind::Move)] = 0;
    if (n < 1) w[int(EditKind::Recolour)] = w[int(EditKind::Resize)] = 0;
    if (swappable.empty()) w[int(EditKind::Swap)] = 0;
    double total = 0;
    for (double x : w) total += x;
    if (total <= 0) return std::nullopt;
    double roll = rng.uniform() * total;
    int kind = 0;
    while (kind < kEditKindCount - 1 && roll >= w[std::size_t(kind)]) roll -= w[std::size_t(kind++)];
    while (w[std::size_t(kind)] <= 0) --kind;  // guards against rounding at the top end

    Edit e;
    e.kind = EditKind(kind);
    const Object* target = n ? objs[rng.below(std::size_t(n))] : nullptr;
    if (target) {
        e.col = target->col;
        e.row = target->row;
    }
    switch (e.kind) {
        case EditKind::Add: {
            auto [c, r] = empty[rng.below(empty.size())];
            e.col = c;
            e.row = r;
            e.object = random_object(c, r, rng);
            break;
        }
        case EditKind::Move: {
            std::vector<std::pair<int, int>> near;
            for (auto cell : empty)
                if (adjacent(target->col, target->row, cell.first, cell.second)) near.push_back(cell);
            auto [c, r] = (!near.empty() && rng.chance(0.5)) ? near[rng.below(near.size())]
                                                             : empty[rng.below(empty.size())];
            e.to_col = c;
            e.to_row = r;
            break;
        }
        case EditKind::Recolour: {
            Colour c;
            do c = Colour(rng.below(kObjectColourCount));
            while (c == target->colour);
            e.colour = c;
            break;
        }
        case EditKind::Resize: e.size = target->size == Size::Small ? Size::Large : Size::Small; break;
        case EditKind::Swap: {
            auto [a, b] = swappable[rng.below(swappable.size())];
            e.col = a->col;
            e.row = a->row;
            e.to_col = b->col;
            e.to_row = b->row;
            break;
        }
        default: break;
    }
    return e;
}

std::string edit_text(const Scene& scene, const Edit& e, EditVoice voice, Rng& rng) {
    const bool say = voice == EditVoice::Instruction;
    auto ref = [&](int c, int r) {
        const Object* o = scene.at(c, r);
        check(o != nullptr, "edit text: no object at cell (", c, ",", r, ")");
        return refer(scene, *o, rng);
    };
    auto one_of = [&](std::initializer_list<std::string> options) {
        std::vector<std::string> v(options);
        return v[rng.below(v.size())];
    };
    switch (e.kind) {
        case EditKind::Add: {
            const std::string np = noun_phrase(e.object.shape, e.object.colour, e.object.size, true, rng);
            const std::string where = placement_phrase(scene, e.col, e.row, rng);
            if (say) return one_of({"add", "put", "draw", "place"}) + " " + np + " " + where;
            return np + " " + one_of({"appears", "shows up", "is drawn", "arrives"}) + " " + where;
        }
        case EditKind::Remove: {
            const std::string r = ref(e.col, e.row);
            if (say) return one_of({"remove", "delete", "take away", "erase", "get rid of"}) + " " + r;
            return r + " " + one_of({"disappears", "vanishes", "is removed", "is taken away"});
        }
        case EditKind::Move: {
            const std::string r = ref(e.col, e.row);
            std::string where = adjacent(e.col, e.row, e.to_col, e.to_row) && rng.chance(0.6)
                                    ? step_phrase(direction_between(e.col, e.row, e.to_col, e.to_row), rng)
                                    : destination_phrase(e.to_col, e.to_row, rng);
            if (say) return one_of({"move", "move", "shift", "slide"}) + " " + r + " " + where;
            return r + " " + one_of({"moves", "slides", "goes"}) + " " + where;
        }
        case EditKind::Recolour: {
            const std::string r = ref(e.col, e.row);
            const std::string c = colour_word(e.colour, rng);
            if (say) {
                switch (rng.below(4)) {
                    case 0: return "make " + r + " " + c;
                    case 1: return "paint " + r + " " + c;
                    case 2: return "change the " + one_of({"colour", "color"}) + " of " + r + " to " + c;
                    default: return "turn " + r + " " + c;
                }
            }
            return r + " " + one_of({"turns", "becomes"}) + " " + c;
        }
        case EditKind::Resize: {
            const std::string r = ref(e.col, e.row);
            const bool grow = e.size == Size::Large;
            if (say) {
                if (rng.chance(0.6)) return "make " + r + " " + (grow ? one_of({"bigger", "larger"}) : "smaller");
                return (grow ? one_of({"enlarge", "grow"}) : std::string("shrink")) + " " + r;
            }
            return r + " " + (grow ? one_of({"grows", "gets bigger"}) : one_of({"shrinks", "gets smaller"}));
        }
        case EditKind::Swap: {
            const std::string a = ref(e.col, e.row), b = ref(e.to_col, e.to_row);
            if (say) {
                switch (rng.below(3)) {
                    case 0: return "swap " + a + " and " + b;
                    case 1: return "swap the positions of " + a + " and " + b;
                    default: return "let " + a + " and " + b + " trade places";
                }
            }
            return a + " and " + b + " " + one_of({"swap places", "trade places"});
        }
        case EditKind::Combine:
            if (say)
                return one_of({"put the shapes of the second image into the first one", "combine the two images",
                               "merge the two pictures into one, keeping the first background",
                               "add everything from the second picture to the first"});
            return "the two scenes merge into one";
    }
    return "";
}

nlohmann::json to_json(const Edit& e) {
    nlohmann::json j{{"kind", edit_kind_name(e.kind)}, {"col", e.col}, {"row", e.row}};
    switch (e.kind) {
        case EditKind::Add: j["object"] = to_json(e.object); break;
        case EditKind::Move:
        case EditKind::Swap:
            j["to_col"] = e.to_col;
            j["to_row"] = e.to_row;
            break;
        case EditKind::Recolour: j["colour"] = colour_name(e.colour); break;
        case EditKind::Resize: j["size"] = size_name(e.size); break;
        default: break;
    }
    return j;
}

Edit edit_from_json(const nlohmann::json& j) {
    Edit e;
    e.kind = edit_kind_from_name(j.at("kind").get<std::string>());
    e.col = j.value("col", 0);
    e.row = j.value("row", 0);
    e.to_col = j.value("to_col", 0);
    e.to_row = j.value("to_row", 0);
    if (j.contains("object")) e.object = object_from_json(j["object"]);
    if (j.contains("colour")) e.colour = colour_from_name(j["colour"].get<std::string>());
    if (j.contains("size")) e.size = size_from_name(j["size"].get<std::string>());
    return e;
}

}  // namespace emu::world
