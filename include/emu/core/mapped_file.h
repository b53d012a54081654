// Read-only memory mapping of a whole file: weights are used in place, never copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace emu {

class MappedFile {
public:
    // Maps `path` read-only; throws Error naming the file when it cannot.
    static std::shared_ptr<MappedFile> open(const std::string& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    MappedFile() = default;
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    std::string path_;
};

// Reads a whole (small) file into a string; throws Error naming the file.
std::string read_text_file(const std::string& path);

}  // namespace emu
