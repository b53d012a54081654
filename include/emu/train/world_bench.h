// Measures a model on held-out ShapesWorld samples: each sample's prompt is laid out
// exactly as in training (train::layout_sample / layout_step), the model generates, and
// the world's evaluator scores the pictures against the truth. explore and vla are
// scored frame by frame: each step is generated from the true frames before it.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "emu/gen/generator.h"
#include "emu/world/evaluate.h"
#include "emu/world/tasks.h"

namespace emu::train {

struct WorldBenchOptions {
    world::Task task = world::Task::T2I;
    int n = 100;                 // samples 0..n-1, unless `indices` names them
    std::uint64_t seed = 1000;   // held-out: training seeds differ
    world::WorldConfig world;
    int history = 1;             // explore/vla frames shown, as in training
    int gallery = 0;             // keep the pictures of the first `gallery` samples
    int jobs = 1;                // samples generated side by side (each on one thread)
    std::vector<int> indices;    // if not empty: exactly these sample indices (n is unused)
};

// One sample of the gallery: the prompt, the pictures shown to the model, what it made.
struct GalleryEntry {
    std::string prompt;
    std::vector<world::Image> inputs;
    std::vector<std::optional<world::Image>> outputs;
    bool correct = false;  // every check of the sample passed
};

struct WorldBenchResult {
    world::Report report;
    std::int64_t images = 0;     // generated pictures
    std::int64_t passes = 0;     // transformer forward calls in all
    double seconds = 0;          // generation and decoding, summed over samples (one generation's own time)
    std::vector<GalleryEntry> gallery;
    std::vector<int> all_correct;  // indices of the samples whose every check passed
    double seconds_per_image() const { return images ? seconds / double(images) : 0.0; }
    double passes_per_image() const { return images ? double(passes) / double(images) : 0.0; }
    explicit WorldBenchResult(world::Task task) : report(task) {}
};

// `settings.task` is replaced per sample by the template set the layout uses.
WorldBenchResult run_world_bench(const gen::Generator& generator, const gen::GenerationSettings& settings,
                                 const WorldBenchOptions& options,
                                 const std::function<void(int done, int total)>& progress = {});

// A picture of the gallery: one row per sample, its inputs, a gap, then its outputs (a
// missing output stays black), with a green or red bar under the outputs for right or wrong.
world::Image gallery_picture(const std::vector<GalleryEntry>& entries);

}  // namespace emu::train
