#include "emu/world/world_png.h"
#include "emu/train/world_bench.h"

#include <chrono>

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
    check(options.n > 0, "the bench needs at least one sample, got ", options.n);
    check(generator.vq() != nullptr, "the bench needs the vision tokenizer to decode pictures (--vq)");
    WorldBenchResult result(options.task);
    for (int i = 0; i < options.n; ++i) {
        const world::Sample sample = world::sample_task(options.task, options.world, options.seed, i);
        std::vector<std::optional<world::Image>> predicted(sample.outputs.size());
        if (options.task == world::Task::Explore || options.task == world::Task::Vla) {
            for (std::size_t j = 0; j < sample.outputs.size(); ++j) {
                auto pics = generate_pictures(generator, settings, layout_step(sample, j, options.history), options.world,
                                              result);
                if (!pics.empty()) predicted[j] = pics.front();
            }
        } else {
            LayoutOptions layout_options;
            auto pics = generate_pictures(generator, settings, layout_sample(sample, layout_options, options.seed + std::uint64_t(i)),
                                          options.world, result);
            for (std::size_t j = 0; j < pics.size() && j < predicted.size(); ++j) predicted[j] = pics[j];
        }
        result.report.add(world::score_images(sample, predicted));
        if (progress) progress(i + 1, options.n);
    }
    return result;
}

}  // namespace emu::train
