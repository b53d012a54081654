#include "emu/io/torch_checkpoint.h"

#include "emu/core/error.h"

namespace emu {

std::map<std::string, Tensor> load_torch_checkpoint(const std::string& path) {
    fail(path, ": torch checkpoints are not supported yet");
}

}  // namespace emu
