#include "emu/world/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "emu/core/error.h"
#include "emu/world/parse.h"

namespace emu::world {
namespace {

std::vector<const Object*> plain_objects(const Scene& s) {
    std::vector<const Object*> out;
    for (const auto& o : s.objects)
        if (!o.agent) out.push_back(&o);
    return out;
}

bool cell_matches(const Scene& p, const Scene& t, int c, int r) {
    const Object* a = p.at(c, r);
    const Object* b = t.at(c, r);
    return (!a && !b) || (a && b && a->same_content(*b));
}

// Explore: the viewport's top-left world cell before and after step k.
std::pair<int, int> viewport(const Sample& truth, std::size_t k) {
    const nlohmann::json& v = truth.truth.at("viewports");
    check(v.is_array() && k < v.size() && v[k].is_array() && v[k].size() == 2 && v[k][0].is_number_integer() &&
              v[k][1].is_number_integer(),
          "explore sample ", truth.index, ": viewports must list [x, y] for the start and every step");
    return {v[k][0].get<int>(), v[k][1].get<int>()};
}

// Explore frame k right where the previous view overlaps it (after a one-cell pan, all but
// the newly uncovered strip). The strip holds cells no prompt frame shows when the model sees
// only the last frame, so no model can be sure of the whole frame; this part it can.
bool carried_view_matches(const Sample& truth, std::size_t k, const Scene& predicted) {
    const Scene& t = truth.outputs[k].scene;
    const auto [px, py] = viewport(truth, k);
    const auto [cx, cy] = viewport(truth, k + 1);
    if (predicted.background != t.background) return false;
    for (int r = 0; r < t.rows; ++r)
        for (int c = 0; c < t.cols; ++c) {
            const int wx = cx + c, wy = cy + r;
            const bool seen_before = wx >= px && wx < px + t.cols && wy >= py && wy < py + t.rows;
            if (seen_before && !cell_matches(predicted, t, c, r)) return false;
        }
    return true;
}

std::vector<CheckResult> all_failed(const Sample& truth) {
    std::vector<CheckResult> out;
    switch (truth.task) {
        case Task::T2I: {
            const T2iSpec spec = t2i_spec_from_json(truth.truth.at("spec"));
            Scene empty;
            for (auto& c : t2i_checks(spec, empty)) out.push_back({c.category, false});
            out.push_back({"all/" + truth.kind, false});
            break;
        }
        default: break;
    }
    return out;
}

}  // namespace

const char* headline_category(Task task) {
    switch (task) {
        case Task::T2I: return "all";
        case Task::X2I: return "edit";
        default: return "frame";
    }
}

std::vector<CheckResult> t2i_checks(const T2iSpec& spec, const Scene& scene) {
    const auto objs = plain_objects(scene);
    std::vector<CheckResult> out;
    int total = 0;
    std::vector<int> colour_want(kColourCount, 0), shape_want(kShapeCount, 0);
    std::vector<int> colour_got(kColourCount, 0), shape_got(kShapeCount, 0);
    for (const auto& e : spec.entities) {
        total += e.count;
        colour_want[std::size_t(e.colour)] += e.count;
        shape_want[std::size_t(e.shape)] += e.count;
    }
    for (const Object* o : objs) {
        ++colour_got[std::size_t(o->colour)];
        ++shape_got[std::size_t(o->shape)];
    }
    const bool count_ok = int(objs.size()) == total;
    const bool colour_ok = colour_want == colour_got;
    const bool shape_ok = shape_want == shape_got;

    // Binding: each (colour, shape) group has exactly its stated number of objects, all of
    // the stated size; with the total right there is nothing else in the picture.
    bool binding_ok = count_ok;
    std::map<std::pair<int, int>, int> group_want;
    for (const auto& e : spec.entities) group_want[{int(e.colour), int(e.shape)}] += e.count;
    for (const auto& e : spec.entities) {
        int n = 0;
        for (const Object* o : objs)
            if (o->colour == e.colour && o->shape == e.shape) {
                ++n;
                if (e.size && o->size != *e.size) binding_ok = false;
            }
        if (n != group_want[{int(e.colour), int(e.shape)}]) binding_ok = false;
    }

    // Size: the stated (shape, size) pairs are all present, whatever their colour.
    bool any_size = false, size_ok = true;
    std::map<std::pair<int, int>, int> size_want, size_got;
    for (const auto& e : spec.entities)
        if (e.size) {
            any_size = true;
            size_want[{int(e.shape), int(*e.size)}] += e.count;
        }
    for (const Object* o : objs) ++size_got[{int(o->shape), int(o->size)}];
    for (const auto& [k, n] : size_want)
        if (size_got[k] < n) size_ok = false;

    bool any_position = !spec.relations.empty(), position_ok = true;
    auto matches = [&](const T2iEntity& e) {
        std::vector<const Object*> v;
        for (const Object* o : objs)
            if (o->colour == e.colour && o->shape == e.shape) v.push_back(o);
        return v;
    };
    for (const auto& e : spec.entities) {
        if (!e.cell) continue;
        any_position = true;
        bool found = false;
        for (const Object* o : matches(e)) found |= o->col == e.cell->first && o->row == e.cell->second;
        position_ok &= found;
    }
    for (const auto& r : spec.relations) {
        bool found = false;
        for (const Object* a : matches(spec.entities.at(std::size_t(r.a))))
            for (const Object* b : matches(spec.entities.at(std::size_t(r.b))))
                found |= relation_holds(r.relation, a->col, a->row, b->col, b->row);
        position_ok &= found;
    }
    const bool background_ok = !spec.background || scene.background == *spec.background;

    out.push_back({"count", count_ok});
    out.push_back({"colour", colour_ok});
    out.push_back({"shape", shape_ok});
    if (any_size) out.push_back({"size", size_ok});
    if (any_position) out.push_back({"position", position_ok});
    out.push_back({"binding", binding_ok});
    if (spec.background) out.push_back({"background", background_ok});
    out.push_back({"all", count_ok && colour_ok && shape_ok && binding_ok && (!any_size || size_ok) &&
                              (!any_position || position_ok) && background_ok});
    return out;
}

std::vector<CheckResult> score_sample(const Sample& truth, const std::vector<std::optional<Scene>>& predicted) {
    check(predicted.size() == truth.outputs.size(), "sample ", truth.index, " expects ", truth.outputs.size(),
          " pictures, got ", predicted.size());
    std::vector<CheckResult> out;
    switch (truth.task) {
        case Task::T2I: {
            if (!predicted[0]) return all_failed(truth);
            out = t2i_checks(t2i_spec_from_json(truth.truth.at("spec")), *predicted[0]);
            out.push_back({"all/" + truth.kind, out.back().pass});
            return out;
        }
        case Task::X2I: {
            const Scene& src = truth.inputs.at(0);
            const Scene& target = truth.outputs[0].scene;
            bool change = false, preserve = false;
            if (predicted[0]) {
                const Scene& p = *predicted[0];
                const auto changed = differing_cells(src, target);
                change = true;
                preserve = p.background == target.background;
                for (int r = 0; r < target.rows; ++r)
                    for (int c = 0; c < target.cols; ++c) {
                        const bool is_changed = std::find(changed.begin(), changed.end(), std::make_pair(c, r)) != changed.end();
                        const bool ok = cell_matches(p, target, c, r);
                        (is_changed ? change : preserve) &= ok;
                    }
            }
            out.push_back({"edit", change && preserve});
            out.push_back({"change", change});
            out.push_back({"preserve", preserve});
            out.push_back({"edit/" + truth.kind, change && preserve});
            return out;
        }
        default: break;
    }
    // Sequences: every frame against the true state of the world at that step.
    bool all_ok = true;
    const nlohmann::json* tags = nullptr;
    if (truth.task == Task::Explore && truth.truth.contains("revisit")) tags = &truth.truth["revisit"];
    if (truth.task == Task::Vla && truth.truth.contains("events")) tags = &truth.truth["events"];
    for (std::size_t k = 0; k < truth.outputs.size(); ++k) {
        const bool ok = predicted[k] && same_content(*predicted[k], truth.outputs[k].scene);
        all_ok &= ok;
        out.push_back({"frame", ok});
        out.push_back({str("step", k + 1), ok});
        std::string tag = truth.kind;
        if (tags && k < tags->size()) {
            const auto& t = (*tags)[k];
            tag = t.is_boolean() ? (t.get<bool>() ? "revisit" : "new") : t.get<std::string>();
        }
        out.push_back({"frame/" + tag, ok});
        if (truth.task == Task::Explore && truth.truth.contains("viewports"))
            out.push_back({"carried", predicted[k] && carried_view_matches(truth, k, *predicted[k])});
    }
    out.push_back({"sequence", all_ok});
    return out;
}

std::vector<CheckResult> score_images(const Sample& truth, const std::vector<std::optional<Image>>& predicted) {
    check(predicted.size() == truth.outputs.size(), "sample ", truth.index, " expects ", truth.outputs.size(),
          " pictures, got ", predicted.size());
    std::vector<std::optional<Scene>> scenes;
    for (std::size_t k = 0; k < predicted.size(); ++k) {
        if (!predicted[k]) {
            scenes.emplace_back();
            continue;
        }
        ParseOptions opt;
        opt.cols = truth.outputs[k].scene.cols;
        opt.rows = truth.outputs[k].scene.rows;
        try {
            scenes.emplace_back(parse_image(*predicted[k], opt));
        } catch (const Error&) {
            scenes.emplace_back();  // too small to hold the grid: a wrong picture, not a broken run
        }
    }
    return score_sample(truth, scenes);
}

void Report::add(const std::vector<CheckResult>& checks) {
    ++samples_;
    for (const auto& c : checks) {
        Tally& t = tallies_[c.category];
        ++t.total;
        t.passed += c.pass;
    }
}

double Report::accuracy() const {
    auto it = tallies_.find(headline_category(task_));
    return it == tallies_.end() ? 0.0 : it->second.rate();
}

std::string Report::table() const {
    std::string out = str("ShapesWorld ", task_name(task_), ": ", samples_, " samples\n");
    char line[160];
    std::snprintf(line, sizeof line, "  %-22s %9s %9s %9s\n", "category", "passed", "total", "accuracy");
    out += line;
    // Headline first, then the plain categories, then the per-kind breakdowns.
    std::vector<std::string> names;
    names.push_back(headline_category(task_));
    for (const auto& [name, t] : tallies_)
        if (name != names[0] && name.find('/') == std::string::npos) names.push_back(name);
    for (const auto& [name, t] : tallies_)
        if (name.find('/') != std::string::npos) names.push_back(name);
    for (const auto& name : names) {
        auto it = tallies_.find(name);
        if (it == tallies_.end()) continue;
        std::snprintf(line, sizeof line, "  %-22s %9ld %9ld %8.2f%%\n", name.c_str(), it->second.passed,
                      it->second.total, 100.0 * it->second.rate());
        out += line;
    }
    return out;
}

nlohmann::ordered_json Report::json() const {
    auto round4 = [](double x) { return std::round(x * 1e4) / 1e4; };
    nlohmann::ordered_json cats = nlohmann::ordered_json::object();
    for (const auto& [name, t] : tallies_) cats[name] = round4(t.rate());
    nlohmann::ordered_json j;
    j["task"] = task_name(task_);
    j["n"] = samples_;
    j["accuracy"] = round4(accuracy());
    j["categories"] = cats;
    return j;
}

}  // namespace emu::world
