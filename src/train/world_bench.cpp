#include "emu/world/world_png.h"
#include "emu/train/world_bench.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include "emu/core/error.h"
#include "emu/train/data.h"
#include "emu/world/render.h"

namespace emu::train {

namespace {


// Generates the answer of one layout; returns its pictures in order.
std::vector<world::Image> generate_pictures(const gen::Generator& generator, gen::GenerationSettings settings,
                                            const SequenceLayout& layout, const world::WorldConfig& world,
                                            WorldBenchResult& result) {
    settings.task = layout.task;
    settings.template_text = layout.template_text;
    settings.uncond_template = layout.uncond_template;
    std::vector<gen::ReferenceImage> refs;
    for (const world::Scene& scene : layout.prompt_images) {
        gen::ReferenceImage ref;
        ref.pixels = world::to_io_image(world::render(scene, world.width, world.height));
        refs.push_back(ref);
    }
    auto t = std::chrono::steady_clock::now();
    gen::GenerationResult r = generator.generate(settings, layout.question, refs);
    result.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    result.passes += r.passes;
    result.images += std::int64_t(r.images.size());
    std::vector<world::Image> out;
    for (const Image& img : r.images) out.push_back(world::from_io_image(img));
    return out;
}

}  // namespace

WorldBenchResult run_world_bench(const gen::Generator& generator, const gen::GenerationSettings& settings,
                                 const WorldBenchOptions& options,
                                 const std::function<void(int done, int total)>& progress) {
    std::vector<int> indices = options.indices;
    if (indices.empty()) {
        check(options.n > 0, "the bench needs at least one sample, got ", options.n);
        for (int i = 0; i < options.n; ++i) indices.push_back(i);
    }
    for (int i : indices) check(i >= 0, "sample indices must not be negative, got ", i);
    const int count = int(indices.size());
    check(options.jobs >= 1, "the bench needs at least one job, got ", options.jobs);
    check(generator.vq() != nullptr, "the bench needs the vision tokenizer to decode pictures (--vq)");
    settings.validate();  // bad settings fail here, before any sample runs
    // Each sample is generated and scored on its own (own counters, own pictures), so
    // samples can run side by side; they are added to the report in order.
    struct PerSample {
        WorldBenchResult counts{world::Task::T2I};
        std::vector<world::CheckResult> checks;
        bool correct = false;  // every check passed
        std::optional<GalleryEntry> gallery;
    };
    std::vector<PerSample> per(static_cast<std::size_t>(count));
    int done = 0;
    // An exception must not leave the parallel region (that would be std::terminate): each
    // sample keeps its own and the first is rethrown after the loop.
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(count));
#pragma omp parallel for schedule(dynamic, 1) num_threads(options.jobs) if (options.jobs > 1)
    for (int q = 0; q < count; ++q) try {
        PerSample& P = per[std::size_t(q)];
        const int i = indices[std::size_t(q)];
        const world::Sample sample = world::sample_task(options.task, options.world, options.seed, i);
        std::vector<std::optional<world::Image>> predicted(sample.outputs.size());
        if (options.task == world::Task::Explore || options.task == world::Task::Vla) {
            for (std::size_t j = 0; j < sample.outputs.size(); ++j) {
                auto pics = generate_pictures(generator, settings, layout_step(sample, j, options.history), options.world,
                                              P.counts);
                if (!pics.empty()) predicted[j] = pics.front();
            }
        } else {
            LayoutOptions layout_options;
            auto pics = generate_pictures(generator, settings,
                                          layout_sample(sample, layout_options, options.seed + std::uint64_t(i)),
                                          options.world, P.counts);
            for (std::size_t j = 0; j < pics.size() && j < predicted.size(); ++j) predicted[j] = pics[j];
        }
        P.checks = world::score_images(sample, predicted);
        P.correct = std::all_of(P.checks.begin(), P.checks.end(), [](const world::CheckResult& c) { return c.pass; });
        if (q < options.gallery) {
            GalleryEntry e;
            e.prompt = sample.prompt;
            for (const world::Scene& scene : sample.inputs)
                e.inputs.push_back(world::render(scene, options.world.width, options.world.height));
            e.outputs = predicted;
            e.correct = P.correct;
            P.gallery = std::move(e);
        }
        if (progress) {
#pragma omp critical(world_bench_progress)
            progress(++done, count);
        }
    } catch (...) {
        errors[std::size_t(q)] = std::current_exception();
    }
    for (const std::exception_ptr& e : errors)
        if (e) std::rethrow_exception(e);
    WorldBenchResult result(options.task);
    for (int q = 0; q < count; ++q) {
        PerSample& P = per[std::size_t(q)];
        result.report.add(P.checks);
        if (P.correct) result.all_correct.push_back(indices[std::size_t(q)]);
        result.images += P.counts.images;
        result.passes += P.counts.passes;
        result.seconds += P.counts.seconds;
        if (P.gallery) result.gallery.push_back(std::move(*P.gallery));
    }
    return result;
}

world::Image gallery_picture(const std::vector<GalleryEntry>& entries) {
    constexpr int kPad = 4, kBar = 3;
    int cell_w = 0, cell_h = 0, cols = 0;
    for (const GalleryEntry& e : entries) {
        int c = int(e.inputs.size() + e.outputs.size()) + (e.inputs.empty() ? 0 : 1);
        cols = std::max(cols, c);
        for (const auto& img : e.inputs) cell_w = std::max(cell_w, img.width), cell_h = std::max(cell_h, img.height);
        for (const auto& img : e.outputs)
            if (img) cell_w = std::max(cell_w, img->width), cell_h = std::max(cell_h, img->height);
    }
    check(!entries.empty() && cell_w > 0, "the gallery has no pictures");
    const int row_h = cell_h + kBar + kPad;
    world::Image out(kPad + cols * (cell_w + kPad), kPad + int(entries.size()) * row_h);
    std::fill(out.rgb.begin(), out.rgb.end(), std::uint8_t(255));
    for (std::size_t r = 0; r < entries.size(); ++r) {
        const GalleryEntry& e = entries[r];
        const int y0 = kPad + int(r) * row_h;
        int col = 0;
        for (const auto& img : e.inputs) world::paste(out, img, kPad + (col++) * (cell_w + kPad), y0);
        if (!e.inputs.empty()) ++col;  // the gap between what the model saw and what it made
        for (const auto& img : e.outputs) {
            const int x0 = kPad + (col++) * (cell_w + kPad);
            if (img) world::paste(out, *img, x0, y0);
            else world::fill_rect(out, x0, y0, cell_w, cell_h, {0, 0, 0});  // no picture came out
            const std::array<std::uint8_t, 3> verdict = e.correct ? std::array<std::uint8_t, 3>{40, 170, 40}
                                                                  : std::array<std::uint8_t, 3>{220, 40, 40};
            world::fill_rect(out, x0, y0 + cell_h, cell_w, kBar, verdict);
        }
    }
    return out;
}

}  // namespace emu::train
