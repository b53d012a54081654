#include "emu/world/dataset.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "emu/core/error.h"
#include "emu/core/log.h"
#include "emu/io/config.h"
#include "emu/world/render.h"
#include "emu/world/world_png.h"

namespace fs = std::filesystem;

namespace emu::world {

SamplePictures render_sample(const Sample& sample, int width, int height) {
    SamplePictures out;
    for (const auto& s : sample.inputs) out.inputs.push_back(render(s, width, height));
    for (const auto& f : sample.outputs) out.outputs.push_back(render(f.scene, width, height));
    return out;
}

std::string input_image_name(int index, int k) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%06d_in%d.png", index, k);
    return buf;
}

std::string output_image_name(int index, int k) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%06d_out%d.png", index, k);
    return buf;
}

std::vector<Sample> write_dataset(const std::string& dir, Task task, const WorldConfig& config, std::uint64_t seed,
                                  int n) {
    config.validate();
    check(n >= 0 && n <= 10000000, "--n ", n, " is out of range");
    std::error_code ec;
    fs::create_directories(dir, ec);
    check(fs::is_directory(dir), "cannot create folder ", dir);
    {
        std::ofstream meta(fs::path(dir) / "world.json");
        meta << nlohmann::json{{"task", task_name(task)}, {"seed", seed}, {"n", n}, {"config", to_json(config)}}.dump(2)
             << "\n";
        check(bool(meta), "cannot write ", (fs::path(dir) / "world.json").string());
    }
    const fs::path jsonl = fs::path(dir) / "samples.jsonl";
    std::ofstream out(jsonl);
    check(bool(out), "cannot write ", jsonl.string());
    std::vector<Sample> samples;
    Progress progress(str("world sample ", task_name(task)), n);
    for (int i = 0; i < n; ++i) {
        Sample s = sample_task(task, config, seed, i);
        nlohmann::json j = to_json(s);
        const SamplePictures pics = render_sample(s, config.width, config.height);
        for (std::size_t k = 0; k < s.inputs.size(); ++k) {
            const std::string name = input_image_name(i, int(k));
            write_png((fs::path(dir) / name).string(), pics.inputs[k]);
            j["inputs"][k]["image"] = name;
        }
        for (std::size_t k = 0; k < s.outputs.size(); ++k) {
            const std::string name = output_image_name(i, int(k));
            write_png((fs::path(dir) / name).string(), pics.outputs[k]);
            j["outputs"][k]["image"] = name;
        }
        if (task == Task::Explore) {
            const Scene world = scene_from_json(s.truth.at("world"));
            const char* fmt = "%06d_world.png";
            char buf[48];
            std::snprintf(buf, sizeof buf, fmt, i);
            write_png((fs::path(dir) / buf).string(),
                      render(world, config.width * world.cols / 3, config.height * world.rows / 3));
        }
        out << j.dump() << "\n";
        samples.push_back(std::move(s));
        progress.update(i + 1);
    }
    progress.finish();
    check(bool(out), "cannot write ", jsonl.string());
    return samples;
}

std::vector<Sample> read_samples(const std::string& jsonl_path) {
    std::ifstream in(jsonl_path);
    check(bool(in), "cannot open ", jsonl_path);
    std::vector<Sample> out;
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            out.push_back(sample_from_json(parse_json_text(line, "the sample")));
        } catch (const std::exception& e) {
            fail(jsonl_path, " line ", line_no, ": ", e.what());
        }
    }
    return out;
}

FolderScore evaluate_folder(Task task, const std::string& pred_dir, const std::string& truth_path) {
    check(fs::is_directory(pred_dir), "predictions folder ", pred_dir, " does not exist");
    std::string jsonl = truth_path;
    if (fs::is_directory(jsonl)) jsonl = (fs::path(jsonl) / "samples.jsonl").string();
    const std::vector<Sample> samples = read_samples(jsonl);
    check(!samples.empty(), jsonl, " holds no samples");
    FolderScore score{Report(task), 0};
    for (const Sample& s : samples) {
        check(s.task == task, jsonl, ": sample ", s.index, " is a ", task_name(s.task), " sample, not ",
              task_name(task));
        std::vector<std::optional<Image>> preds;
        for (std::size_t k = 0; k < s.outputs.size(); ++k) {
            const fs::path p = fs::path(pred_dir) / output_image_name(s.index, int(k));
            if (!fs::exists(p)) {
                ++score.missing;
                preds.emplace_back();
                continue;
            }
            try {
                preds.emplace_back(read_png(p.string()));
            } catch (const Error& e) {
                log_warn(e.what());
                ++score.missing;
                preds.emplace_back();
            }
        }
        score.report.add(score_images(s, preds));
    }
    return score;
}

}  // namespace emu::world
