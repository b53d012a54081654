// t2i: a caption and one picture. The caption states a T2iSpec (what must be true of
// the picture); the sampled scene is one picture that satisfies it.
#include <algorithm>

#include "emu/core/error.h"
#include "emu/world/edit.h"
#include "emu/world/tasks.h"

namespace emu::world {
namespace {

struct KindWeight {
    const char* name;
    double weight;
};
// GenEval's prompt families, plus "scene" (every object placed) which teaches layout.
constexpr KindWeight kKinds[] = {{"single_object", 0.15}, {"colors", 0.10},   {"two_object", 0.15},
                                 {"color_attr", 0.10},    {"counting", 0.15}, {"position", 0.15},
                                 {"scene", 0.20}};

std::string entity_phrase(const T2iEntity& e, Rng& rng) {
    if (e.count == 1) {
        std::string p = noun_phrase(e.shape, e.colour, e.size, true, rng);
        if (e.cell) p += " " + cell_phrase(e.cell->first, e.cell->second, rng);
        return p;
    }
    std::string p = count_word(e.count, rng) + " ";
    if (e.size) p += size_word(*e.size, rng) + " ";
    return p + colour_word(e.colour, rng) + " " + shape_word(e.shape, true, rng);
}

std::string background_suffix(const T2iSpec& spec, Rng& rng) {
    if (!spec.background) return "";
    const std::string bg = colour_word(*spec.background, rng);
    return rng.chance(0.5) ? " on " + article_for(bg) + " " + bg + " background" : " on " + bg;
}

// Distinct objects (no two share colour and shape) so every entity is identifiable.
std::vector<Object> distinct_objects(int n, bool distinct_colours_and_shapes, Rng& rng) {
    std::vector<std::pair<int, int>> cells;
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) cells.emplace_back(c, r);
    rng.shuffle(cells);
    std::vector<Object> out;
    while (int(out.size()) < n) {
        Object o = random_object(cells[out.size()].first, cells[out.size()].second, rng);
        bool clash = false;
        for (const Object& x : out) {
            if (distinct_colours_and_shapes ? (x.colour == o.colour || x.shape == o.shape)
                                            : (x.colour == o.colour && x.shape == o.shape))
                clash = true;
        }
        if (!clash) out.push_back(o);
    }
    return out;
}

T2iEntity entity_of(const Object& o) { return {o.shape, o.colour, std::nullopt, 1, std::nullopt}; }

}  // namespace

nlohmann::json to_json(const T2iSpec& s) {
    nlohmann::json ents = nlohmann::json::array(), rels = nlohmann::json::array();
    for (const auto& e : s.entities) {
        nlohmann::json j{{"shape", shape_name(e.shape)}, {"colour", colour_name(e.colour)}, {"count", e.count}};
        if (e.size) j["size"] = size_name(*e.size);
        if (e.cell) j["cell"] = {e.cell->first, e.cell->second};
        ents.push_back(j);
    }
    for (const auto& r : s.relations) rels.push_back({{"a", r.a}, {"relation", relation_name(r.relation)}, {"b", r.b}});
    nlohmann::json j{{"entities", ents}, {"relations", rels}};
    if (s.background) j["background"] = colour_name(*s.background);
    return j;
}

T2iSpec t2i_spec_from_json(const nlohmann::json& j) {
    T2iSpec s;
    for (const auto& e : j.at("entities")) {
        T2iEntity x{shape_from_name(e.at("shape").get<std::string>()), colour_from_name(e.at("colour").get<std::string>()),
                    std::nullopt, e.value("count", 1), std::nullopt};
        check(x.count >= 1 && x.count <= 81, "t2i entity count ", x.count, " is out of range");
        if (e.contains("size")) x.size = size_from_name(e["size"].get<std::string>());
        if (e.contains("cell")) x.cell = std::make_pair(e["cell"].at(0).get<int>(), e["cell"].at(1).get<int>());
        s.entities.push_back(x);
    }
    for (const auto& r : j.value("relations", nlohmann::json::array())) {
        T2iRelation x{r.at("a").get<int>(), r.at("b").get<int>(), relation_from_name(r.at("relation").get<std::string>())};
        check(x.a >= 0 && x.b >= 0 && x.a < int(s.entities.size()) && x.b < int(s.entities.size()),
              "t2i relation refers to a missing entity");
        s.relations.push_back(x);
    }
    if (j.contains("background")) s.background = colour_from_name(j["background"].get<std::string>());
    return s;
}

std::string t2i_caption(const T2iSpec& spec, const std::string& kind, Rng& rng) {
    std::vector<std::string> phrases;
    for (const auto& e : spec.entities) phrases.push_back(entity_phrase(e, rng));
    const std::string bg = background_suffix(spec, rng);
    auto lead = [&]() -> std::string {
        switch (rng.below(5)) {
            case 0: return "a picture of ";
            case 1: return "an image of ";
            case 2: return "there is ";
            default: return "";
        }
    };
    if (kind == "position" && spec.relations.size() == 1 && spec.entities.size() == 2) {
        const T2iRelation& r = spec.relations[0];
        const std::string a = phrases[std::size_t(r.a)], b = phrases[std::size_t(r.b)];
        if (rng.chance(0.3)) return sentence(b + " with " + a + " " + relation_phrase(r.relation, rng) + " it" + bg);
        return sentence(lead() + a + " " + relation_phrase(r.relation, rng) + " " + b + bg);
    }
    if (kind == "counting") {
        std::string p = phrases[0];
        if (rng.chance(0.3)) p = "there are " + p;
        return sentence(p + bg);
    }
    if (kind == "colors" && rng.chance(0.5)) {
        const T2iEntity& e = spec.entities[0];
        const std::string shape = shape_word(e.shape, false, rng);
        return sentence(article_for(shape) + " " + shape + " that is " + colour_word(e.colour, rng) + bg);
    }
    if (kind == "scene" && spec.background && rng.chance(0.5)) {
        const std::string c = colour_word(*spec.background, rng);
        return sentence(article_for(c) + " " + c + " background with " + join_list(phrases, rng));
    }
    std::string list = phrases.size() == 2 && rng.chance(0.3) ? phrases[0] + " together with " + phrases[1]
                                                              : join_list(phrases, rng);
    return sentence(lead() + list + bg);
}

Sample sample_t2i(const WorldConfig& config, Rng& rng) {
    double total = 0;
    for (const auto& k : kKinds) total += k.weight;
    double roll = rng.uniform() * total;
    std::string kind = kKinds[0].name;
    for (const auto& k : kKinds) {
        if (roll < k.weight) {
            kind = k.name;
            break;
        }
        roll -= k.weight;
    }

    Scene scene;
    scene.background = rng.pick(background_colours());
    T2iSpec spec;
    double bg_chance = 0.4;
    if (kind == "single_object" || kind == "colors") {
        Object o = distinct_objects(1, false, rng)[0];
        scene.objects.push_back(o);
        T2iEntity e = entity_of(o);
        if (kind == "single_object") {
            if (rng.chance(0.7)) e.size = o.size;
            if (rng.chance(0.5)) e.cell = std::make_pair(o.col, o.row);
        }
        spec.entities.push_back(e);
    } else if (kind == "two_object" || kind == "color_attr" || kind == "position") {
        scene.objects = distinct_objects(2, kind == "color_attr", rng);
        for (const Object& o : scene.objects) {
            T2iEntity e = entity_of(o);
            if (kind != "color_attr" && rng.chance(kind == "position" ? 0.3 : 0.5)) e.size = o.size;
            spec.entities.push_back(e);
        }
        if (kind == "position") {
            const Object &a = scene.objects[0], &b = scene.objects[1];
            std::vector<Relation> holds;
            for (Relation r : {Relation::LeftOf, Relation::RightOf, Relation::Above, Relation::Below})
                if (relation_holds(r, a.col, a.row, b.col, b.row)) holds.push_back(r);
            spec.relations.push_back({0, 1, rng.pick(holds)});
        }
    } else if (kind == "counting") {
        const int n = rng.range(2, config.max_objects);
        Object proto = distinct_objects(1, false, rng)[0];
        std::vector<std::pair<int, int>> cells = scene.empty_cells();
        rng.shuffle(cells);
        for (int i = 0; i < n; ++i) {
            Object o = proto;
            o.col = cells[std::size_t(i)].first;
            o.row = cells[std::size_t(i)].second;
            o.jx = rng.range(-kMaxJitter, kMaxJitter);
            o.jy = rng.range(-kMaxJitter, kMaxJitter);
            scene.objects.push_back(o);
        }
        T2iEntity e = entity_of(proto);
        e.count = n;
        if (rng.chance(0.5)) e.size = proto.size;
        spec.entities.push_back(e);
    } else {  // scene: everything stated
        scene.objects = distinct_objects(rng.range(1, config.max_objects), false, rng);
        for (const Object& o : scene.objects) {
            T2iEntity e = entity_of(o);
            e.size = o.size;
            e.cell = std::make_pair(o.col, o.row);
            spec.entities.push_back(e);
        }
        bg_chance = 0.8;
    }
    if (rng.chance(bg_chance)) spec.background = scene.background;
    scene.normalise();

    Sample s;
    s.kind = kind;
    s.prompt = t2i_caption(spec, kind, rng);
    s.outputs.push_back({"", scene});
    s.truth = {{"spec", to_json(spec)}};
    return s;
}

}  // namespace emu::world
