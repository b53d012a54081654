// safetensors files: validated, memory-mapped, zero-copy reading; and writing.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "emu/core/mapped_file.h"
#include "emu/tensor/tensor.h"

namespace emu {

// One .safetensors file. Every tensor is a view into the mapping, which the
// tensors keep alive. The whole header is validated when the file is opened.
class SafetensorsFile {
public:
    static SafetensorsFile open(const std::string& path);

    const std::string& path() const { return path_; }
    const std::vector<std::string>& names() const { return names_; }  // in file order
    bool has(const std::string& name) const { return tensors_.count(name) != 0; }
    // Throws Error naming the file and the tensor when absent.
    const Tensor& get(const std::string& name) const;
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

private:
    std::string path_;
    std::shared_ptr<MappedFile> file_;
    std::vector<std::string> names_;
    std::map<std::string, Tensor> tensors_;
    std::map<std::string, std::string> metadata_;
};

// Writes tensors (any dtype, contiguous) in the order given.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A checkpoint that may be one file or a Hugging Face sharded set
// (model.safetensors.index.json + shards). `path` is a .safetensors file, an
// index .json, or a folder holding either.
class TensorStore {
public:
    static TensorStore open(const std::string& path);

    std::vector<std::string> names() const;  // sorted
    bool has(const std::string& name) const { return where_.count(name) != 0; }
    const Tensor& get(const std::string& name) const;
    // get() plus a shape check; the error names the tensor, expected and found shapes.
    const Tensor& get(const std::string& name, const Shape& expected_shape) const;
    const std::vector<SafetensorsFile>& files() const { return files_; }
    const std::string& source() const { return source_; }

private:
    std::string source_;
    std::vector<SafetensorsFile> files_;
    std::map<std::string, std::size_t> where_;  // tensor -> index in files_
};

}  // namespace emu
