#include "emu/io/torch_checkpoint.h"

#include <zip.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "emu/core/error.h"
#include "emu/io/pickle.h"

namespace emu {

namespace {

using pickle::Value;
using pickle::ValuePtr;

struct ZipCloser {
    void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;

class Archive {
public:
    explicit Archive(const std::string& path) : path_(path) {
        std::error_code ec;
        file_size_ = std::filesystem::file_size(path, ec);
        check(!ec, path, ": cannot read: ", ec.message());
        int err = 0;
        zip_ = ZipPtr(zip_open(path.c_str(), ZIP_RDONLY, &err));
        if (!zip_) {
            zip_error_t ze;
            zip_error_init_with_code(&ze, err);
            std::string msg = zip_error_strerror(&ze);
            zip_error_fini(&ze);
            fail(path, ": not a torch zip checkpoint (", msg, ")");
        }
    }

    // The folder inside the zip that holds data.pkl ("model", "archive", ...).
    std::string find_prefix() const {
        std::string prefix;
        bool found = false;
        zip_int64_t n = zip_get_num_entries(zip_.get(), 0);
        for (zip_int64_t i = 0; i < n; ++i) {
            const char* name = zip_get_name(zip_.get(), zip_uint64_t(i), 0);
            if (!name) continue;
            std::string s = name;
            const std::string tail = "data.pkl";
            if (s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0 &&
                (s.size() == tail.size() || s[s.size() - tail.size() - 1] == '/')) {
                check(!found, path_, ": more than one data.pkl in the archive");
                found = true;
                prefix = s.substr(0, s.size() - tail.size());
            }
        }
        check(found, path_, ": no data.pkl in the archive (not a torch.save zip checkpoint)");
        return prefix;
    }

    // Reads one entry whole. Its size must be plausible: never more than the archive
    // itself (torch.save stores entries uncompressed), so a forged size cannot make
    // us allocate more than the file.
    std::vector<std::uint8_t> read(const std::string& name) const {
        zip_stat_t st;
        zip_stat_init(&st);
        check(zip_stat(zip_.get(), name.c_str(), 0, &st) == 0, path_, ": archive has no entry '", name, "'");
        check((st.valid & ZIP_STAT_SIZE) != 0, path_, ": entry '", name, "' has no size");
        check(st.size <= file_size_, path_, ": entry '", name, "' claims ", st.size, " bytes, more than the file (",
              file_size_, " bytes)");
        zip_file_t* f = zip_fopen(zip_.get(), name.c_str(), 0);
        check(f != nullptr, path_, ": cannot open entry '", name, "': ", zip_strerror(zip_.get()));
        std::vector<std::uint8_t> data(st.size);
        zip_int64_t got = st.size ? zip_fread(f, data.data(), st.size) : 0;
        zip_fclose(f);
        check(got == zip_int64_t(st.size), path_, ": entry '", name, "' is truncated or corrupt");
        return data;
    }

    std::uintmax_t file_size() const { return file_size_; }

private:
    std::string path_;
    std::uintmax_t file_size_ = 0;
    ZipPtr zip_;
};

// Copies a (possibly strided) view of a storage into a new contiguous tensor.
Tensor materialize(const pickle::TensorRef& ref, const std::vector<std::uint8_t>& storage, const std::string& where) {
    const std::size_t elem = dtype_info(ref.dtype).block_bytes;
    check(std::uint64_t(ref.storage_numel) <= storage.size() / elem, where, ": storage holds ", storage.size() / elem,
          " elements, the pickle claims ", ref.storage_numel);
    check(ref.offset >= 0, where, ": negative storage offset");
    Shape shape(ref.shape.begin(), ref.shape.end());
    std::uint64_t numel = shape_numel(shape);
    // A view never holds more elements than its storage: torch.save writes weights whole,
    // and a broadcast (stride 0) view could otherwise ask for any amount of memory.
    check(numel <= std::uint64_t(ref.storage_numel), where, ": view ", shape_str(shape), " has ", numel,
          " elements, more than its storage of ", ref.storage_numel);
    // Highest element index the view touches; must stay inside the storage. Every step is
    // checked for overflow, so forged strides cannot wrap around to a small number.
    std::uint64_t last = std::uint64_t(ref.offset);
    for (std::size_t d = 0; d < shape.size(); ++d) {
        check(ref.stride[d] >= 0, where, ": negative stride");
        if (shape[d] == 0) numel = 0;
        const std::uint64_t extent = std::uint64_t(shape[d] > 0 ? shape[d] - 1 : 0);
        std::uint64_t reach = 0;
        check(!__builtin_mul_overflow(extent, std::uint64_t(ref.stride[d]), &reach) &&
                  !__builtin_add_overflow(last, reach, &last),
              where, ": stride overflows");
    }
    check(numel == 0 || last < std::uint64_t(ref.storage_numel), where, ": view ", shape_str(shape), " at offset ",
          ref.offset, " reaches past its storage of ", ref.storage_numel, " elements");
    Tensor out = Tensor::zeros(ref.dtype, shape);
    std::uint8_t* dst = out.data_mut<std::uint8_t>();
    std::vector<std::int64_t> index(shape.size(), 0);
    for (std::uint64_t i = 0; i < numel; ++i) {
        std::uint64_t src = std::uint64_t(ref.offset);
        for (std::size_t d = 0; d < shape.size(); ++d) src += std::uint64_t(index[d]) * std::uint64_t(ref.stride[d]);
        std::memcpy(dst + i * elem, storage.data() + src * elem, elem);
        for (int d = int(shape.size()) - 1; d >= 0; --d) {
            if (++index[d] < shape[d]) break;
            index[d] = 0;
        }
    }
    return out;
}

const ValuePtr* dict_get(const Value& dict, const std::string& key) {
    for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2)
        if (dict.items[i]->kind == Value::Kind::String && dict.items[i]->s == key) return &dict.items[i + 1];
    return nullptr;
}

}  // namespace

std::map<std::string, Tensor> load_torch_checkpoint(const std::string& path) {
    Archive archive(path);
    const std::string prefix = archive.find_prefix();
    std::vector<std::uint8_t> pkl = archive.read(prefix + "data.pkl");
    ValuePtr root = pickle::unpickle(pkl.data(), pkl.size(), path + " (data.pkl)");
    check(root->kind == Value::Kind::Dict, path, ": checkpoint holds a ", pickle::kind_name(root->kind),
          ", expected a state_dict");
    if (const ValuePtr* inner = dict_get(*root, "state_dict")) {
        check((*inner)->kind == Value::Kind::Dict, path, ": 'state_dict' entry is not a dict");
        root = *inner;
    }
    std::map<std::string, std::vector<std::uint8_t>> storages;
    std::map<std::string, Tensor> out;
    // Many keys may view one storage (tied weights); a forged pickle repeating one large view
    // thousands of times must not turn a small file into gigabytes.
    const std::uint64_t max_bytes = 4 * archive.file_size() + (1u << 20);
    std::uint64_t total_bytes = 0;
    for (std::size_t i = 0; i + 1 < root->items.size(); i += 2) {
        const Value& key = *root->items[i];
        const Value& value = *root->items[i + 1];
        if (value.kind != Value::Kind::Tensor) continue;  // non-tensor entries carry no weights
        check(key.kind == Value::Kind::String, path, ": state_dict key is a ", pickle::kind_name(key.kind));
        const std::string& key_name = value.tensor.storage_key;
        check(key_name.find('/') == std::string::npos && key_name.find("..") == std::string::npos, path,
              ": storage key '", key_name, "' is not a plain name");
        auto it = storages.find(key_name);
        if (it == storages.end()) it = storages.emplace(key_name, archive.read(prefix + "data/" + key_name)).first;
        Tensor t = materialize(value.tensor, it->second, path + ": tensor '" + key.s + "'");
        total_bytes += t.nbytes();
        check(total_bytes <= max_bytes, path, ": its tensors add up to more than ", max_bytes,
              " bytes, four times the file; refusing a checkpoint that repeats its views");
        out[key.s] = std::move(t);
    }
    return out;
}

}  // namespace emu
