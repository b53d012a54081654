#include "emu/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "emu/core/error.h"

namespace emu {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, ": not a regular file");
    }
    std::shared_ptr<MappedFile> file(new MappedFile());
    file->path_ = path;
    file->size_ = static_cast<std::size_t>(st.st_size);
    if (file->size_ > 0) {
        void* p = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int err = errno;
            ::close(fd);
            fail(path, ": cannot map: ", std::strerror(err));
        }
        file->data_ = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);
    return file;
}

MappedFile::~MappedFile() {
    if (data_) munmap(const_cast<std::uint8_t*>(data_), size_);
}

std::string read_text_file(const std::string& path) {
    // Configs, vocabularies and metrics are small; a bound keeps a wrong path such as
    // /dev/zero from reading forever. Pipes are allowed (emu tokenize --file /dev/stdin).
    constexpr std::size_t kMaxBytes = std::size_t(256) << 20;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) fail(path, ": is a folder, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open");
    std::string text;
    char chunk[1 << 16];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
        text.append(chunk, std::size_t(in.gcount()));
        if (text.size() > kMaxBytes) fail(path, ": larger than 256 MiB, too large for a text file read whole");
    }
    if (in.bad()) fail(path, ": read error");
    return text;
}

}  // namespace emu
