// Scene edits (add, remove, move, recolour, resize, swap, combine): the truth of x2i
// samples and of story/howto steps, with their instructions and narrations.
#pragma once
#include <optional>
#include <string>

#include "emu/core/rng.h"
#include "emu/world/scene.h"

namespace emu::world {

enum class EditKind { Add, Remove, Move, Recolour, Resize, Swap, Combine };
inline constexpr int kEditKindCount = 7;
const char* edit_kind_name(EditKind k);
EditKind edit_kind_from_name(const std::string& name);

struct Edit {
    EditKind kind = EditKind::Add;
    int col = 0, row = 0;        // the object edited (add: where the new one goes)
    int to_col = 0, to_row = 0;  // move: destination; swap: the other object
    Object object;               // add: the new object
    Colour colour = Colour::Red; // recolour: the new colour
    Size size = Size::Small;     // resize: the new size
};

// The scene after the edit; throws Error if the edit does not fit the scene.
// Combine takes the second scene: its objects join the first scene's (cells must be free).
Scene apply_edit(const Scene& scene, const Edit& edit, const Scene* second = nullptr);

// Draws an edit that is valid on the scene and keeps at most max_objects objects
// (Combine is never drawn here: it needs a second picture). nullopt if none fits.
// `weights` (kEditKindCount entries, Combine ignored) biases the kind; empty = uniform.
std::optional<Edit> random_edit(const Scene& scene, int max_objects, Rng& rng,
                                const std::vector<double>& weights = {});

// A random object colour/shape/size at a cell with random jitter.
Object random_object(int col, int row, Rng& rng);

enum class EditVoice {
    Instruction,  // "move the red circle to the top left"
    Narration,    // "the red circle moves to the top left"
};
// Text for an edit applied to `scene` (the scene before the edit).
std::string edit_text(const Scene& scene, const Edit& edit, EditVoice voice, Rng& rng);

nlohmann::json to_json(const Edit& e);
Edit edit_from_json(const nlohmann::json& j);

}  // namespace emu::world
