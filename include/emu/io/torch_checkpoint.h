// PyTorch zip checkpoints (torch.save output) read without Python: the zip through
// libzip, the pickle through a restricted unpickler that only rebuilds tensors and
// containers of them. Nothing in a pickle is ever executed.
#pragma once
#include <map>
#include <string>

#include "emu/tensor/tensor.h"

namespace emu {

// Returns the state_dict (unwrapping a top-level {"state_dict": ...} when present),
// tensor name -> owning contiguous tensor. Throws Error naming the file on anything
// unexpected: a global other than those torch uses for tensors, truncated data,
// storages too small for their views, entries claiming sizes beyond the file.
std::map<std::string, Tensor> load_torch_checkpoint(const std::string& path);

}  // namespace emu
