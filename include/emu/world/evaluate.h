// Scores predicted pictures against a sample's truth, GenEval-style per category.
//   t2i      count, colour, shape, size*, position*, binding, background*, all (+ all/<kind>)
//            (* only for samples whose caption states it)
//   x2i      edit = change (the requested cells now match) and preserve (everything else,
//            background included, is unchanged); edit/<kind>
//   story, explore, vla   frame (each predicted frame shows the true state), sequence
//            (every frame right), frame/<kind or event>, step<k>
// The headline accuracy is "all" for t2i, "edit" for x2i and "frame" otherwise.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/world/image.h"
#include "emu/world/tasks.h"

namespace emu::world {

struct CheckResult {
    std::string category;
    bool pass;
};

// predicted[k] is the parsed k-th output picture, nullopt when it is missing (a failure).
std::vector<CheckResult> score_sample(const Sample& truth, const std::vector<std::optional<Scene>>& predicted);

// Parses each picture with the grid of the truth frame it stands for, then scores it.
std::vector<CheckResult> score_images(const Sample& truth, const std::vector<std::optional<Image>>& predicted);

// The T2iSpec checks on one scene (used by score_sample, exposed for benches and tests).
std::vector<CheckResult> t2i_checks(const T2iSpec& spec, const Scene& scene);

const char* headline_category(Task task);

struct Tally {
    long passed = 0, total = 0;
    double rate() const { return total ? double(passed) / double(total) : 0.0; }
};

class Report {
public:
    explicit Report(Task task) : task_(task) {}
    void add(const std::vector<CheckResult>& checks);  // one sample's checks
    Task task() const { return task_; }
    long samples() const { return samples_; }
    double accuracy() const;  // the headline category's rate
    const std::map<std::string, Tally>& categories() const { return tallies_; }
    std::string table() const;  // readable, one row per category
    // {"task":..., "n":..., "accuracy":..., "categories":{name: rate}}, keys in that order
    nlohmann::ordered_json json() const;

private:
    Task task_;
    long samples_ = 0;
    std::map<std::string, Tally> tallies_;
};

}  // namespace emu::world
