// ShapesWorld folders on disk: what `emu world sample` writes and `emu world eval` reads.
//
//   DIR/world.json     {"task", "seed", "n", "config"}: how the folder was made
//   DIR/samples.jsonl  one sample per line (see docs/world.md): task, index, kind, prompt,
//                      inputs [{image, scene}], outputs [{text, image, scene}], truth
//   DIR/NNNNNN_inK.png   input picture K of sample NNNNNN (x2i, explore, vla)
//   DIR/NNNNNN_outK.png  output picture K (the truth; the name a prediction must use)
//   DIR/NNNNNN_world.png explore only: the whole world, for people to look at
//
// A predictions folder holds NNNNNN_outK.png files named exactly like the truth outputs
// (any size; they are parsed at their own resolution). A missing file scores as wrong.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "emu/world/evaluate.h"
#include "emu/world/tasks.h"

namespace emu::world {

std::string input_image_name(int index, int k);
std::string output_image_name(int index, int k);

// Draws samples [0, n) and writes the folder. Returns the samples written.
std::vector<Sample> write_dataset(const std::string& dir, Task task, const WorldConfig& config, std::uint64_t seed,
                                  int n);

// Reads a samples.jsonl; errors name the file and line.
std::vector<Sample> read_samples(const std::string& jsonl_path);

struct FolderScore {
    Report report;
    long missing = 0;  // predicted pictures not found or unreadable
};

// Scores pred_dir's pictures against the samples in truth_path (a samples.jsonl, or a
// folder holding one). Every sample must be of `task`.
FolderScore evaluate_folder(Task task, const std::string& pred_dir, const std::string& truth_path);

}  // namespace emu::world
