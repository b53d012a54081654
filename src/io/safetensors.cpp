#include "emu/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "emu/core/error.h"
#include "emu/io/config.h"

namespace emu {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Headers of real checkpoints are well under a few MB; refuse absurd ones early.
constexpr std::uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr std::size_t kMaxDims = 64;  // torch allows 64; a forged header may claim millions

std::uint64_t read_u64_le(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    SafetensorsFile f;
    f.path_ = path;
    f.file_ = MappedFile::open(path);
    const std::uint64_t size = f.file_->size();
    check(size >= 8, path, ": not a safetensors file (", size, " bytes, shorter than the 8-byte header length)");
    const std::uint64_t header_len = read_u64_le(f.file_->data());
    check(header_len <= size - 8, path, ": header length ", header_len, " runs past the end of the file (",
          size, " bytes)");
    check(header_len <= kMaxHeaderBytes, path, ": header length ", header_len, " is implausibly large");
    const char* header_begin = reinterpret_cast<const char*>(f.file_->data() + 8);
    const json header = parse_json_text(std::string_view(header_begin, header_len), path + " (header)");
    check(header.is_object(), path, ": header is not a JSON object");

    const std::uint8_t* data_begin = f.file_->data() + 8 + header_len;
    const std::uint64_t data_size = size - 8 - header_len;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
    std::vector<std::string> span_names;
    std::shared_ptr<const void> owner(f.file_, f.file_->data());

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const json& entry = it.value();
        if (name == "__metadata__") {
            check(entry.is_object(), path, ": __metadata__ is not an object");
            for (auto m = entry.begin(); m != entry.end(); ++m) {
                check(m.value().is_string(), path, ": __metadata__ value '", m.key(), "' is not a string");
                f.metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        auto bad = [&](const std::string& why) { fail(path, ": tensor '", name, "': ", why); };
        if (!entry.is_object()) bad("entry is not an object");
        if (!entry.contains("dtype") || !entry["dtype"].is_string()) bad("missing dtype");
        if (!entry.contains("shape") || !entry["shape"].is_array()) bad("missing shape");
        if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
            bad("data_offsets must be [begin, end]");
        DType dtype;
        const std::string dtype_name = entry["dtype"].get<std::string>();
        if (!parse_dtype(dtype_name, &dtype)) bad("unknown dtype '" + dtype_name + "'");
        if (entry["shape"].size() > kMaxDims) bad(str("shape has ", entry["shape"].size(), " dimensions, more than ", kMaxDims));
        Shape shape;
        for (const json& d : entry["shape"]) {
            if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers");
            std::uint64_t v = d.get<std::uint64_t>();
            if (v > std::uint64_t(INT64_MAX)) bad("dimension too large");
            shape.push_back(std::int64_t(v));
        }
        const json& offs = entry["data_offsets"];
        if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned()) bad("data_offsets must be non-negative integers");
        std::uint64_t begin = offs[0].get<std::uint64_t>(), end = offs[1].get<std::uint64_t>();
        if (begin > end) bad("data_offsets begin > end");
        if (end > data_size) bad(str("data_offsets [", begin, ", ", end, "] run past the data section (", data_size, " bytes)"));
        std::uint64_t expected_bytes;
        try {
            expected_bytes = dtype_bytes(dtype, shape_numel(shape));
        } catch (const Error& e) {
            bad(e.what());
        }
        if (expected_bytes != end - begin)
            bad(str(dtype_name, " ", shape_str(shape), " needs ", expected_bytes, " bytes but data_offsets span ",
                    end - begin));
        spans.emplace_back(begin, end);
        span_names.push_back(name);
        f.names_.push_back(name);
        f.tensors_[name] = Tensor::view(dtype, shape, data_begin + begin, owner);
    }
    // No two tensors may share bytes.
    std::vector<std::size_t> order(spans.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return spans[a] < spans[b]; });
    for (std::size_t i = 1; i < order.size(); ++i) {
        const auto& prev = spans[order[i - 1]];
        const auto& cur = spans[order[i]];
        if (cur.first < prev.second && cur.second > cur.first && prev.second > prev.first)
            fail(path, ": tensor '", span_names[order[i]], "' overlaps tensor '", span_names[order[i - 1]], "'");
    }
    return f;
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) fail(path_, ": no tensor named '", name, "'");
    return it->second;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        check(name != "__metadata__", path, ": '__metadata__' is not a valid tensor name");
        check(!header.contains(name), path, ": duplicate tensor name '", name, "'");
        check(t.is_contiguous(), path, ": tensor '", name, "' is not contiguous");
        std::uint64_t n = t.nbytes();
        header[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text = header.dump();
    while ((text.size() + 8) % 8 != 0) text.push_back(' ');
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        check(bool(out), path, ": cannot open for writing");
        std::uint64_t len = text.size();
        std::uint8_t len_bytes[8];
        for (int i = 0; i < 8; ++i) len_bytes[i] = std::uint8_t(len >> (8 * i));
        out.write(reinterpret_cast<const char*>(len_bytes), 8);
        out.write(text.data(), std::streamsize(text.size()));
        for (const auto& [name, t] : tensors) out.write(static_cast<const char*>(t.raw()), std::streamsize(t.nbytes()));
        check(bool(out), path, ": write failed");
    }
    fs::rename(tmp, path);
}

TensorStore TensorStore::open(const std::string& path) {
    TensorStore store;
    store.source_ = path;
    fs::path p(path);
    check(fs::exists(p), path, ": no such file or folder");
    fs::path index;
    std::vector<fs::path> shard_files;
    if (fs::is_directory(p)) {
        if (fs::exists(p / "model.safetensors.index.json")) {
            index = p / "model.safetensors.index.json";
        } else if (fs::exists(p / "model.safetensors")) {
            shard_files.push_back(p / "model.safetensors");
        } else {
            for (const auto& e : fs::directory_iterator(p))
                if (e.path().extension() == ".safetensors") shard_files.push_back(e.path());
            std::sort(shard_files.begin(), shard_files.end());
            check(!shard_files.empty(), path, ": folder has no .safetensors file or index");
        }
    } else if (p.extension() == ".json") {
        index = p;
    } else {
        shard_files.push_back(p);
    }

    if (!index.empty()) {
        const json j = load_json_file(index.string());
        check(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), index.string(),
              ": no weight_map object");
        std::map<std::string, std::size_t> shard_index;
        std::map<std::string, std::string> wanted;  // tensor -> shard
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            check(it.value().is_string(), index.string(), ": weight_map entry '", it.key(), "' is not a string");
            std::string shard = it.value().get<std::string>();
            check(shard.find('/') == std::string::npos && shard != ".." && !shard.empty(), index.string(),
                  ": shard name '", shard, "' must be a plain file name");
            wanted[it.key()] = shard;
            if (!shard_index.count(shard)) {
                shard_index[shard] = store.files_.size();
                store.files_.push_back(SafetensorsFile::open((index.parent_path() / shard).string()));
            }
        }
        for (const auto& [name, shard] : wanted) {
            const SafetensorsFile& f = store.files_[shard_index[shard]];
            check(f.has(name), index.string(), ": tensor '", name, "' is mapped to ", shard, " which does not have it");
            store.where_[name] = shard_index[shard];
        }
        return store;
    }
    for (const fs::path& f : shard_files) {
        store.files_.push_back(SafetensorsFile::open(f.string()));
        for (const std::string& name : store.files_.back().names()) {
            check(!store.where_.count(name), f.string(), ": tensor '", name, "' also appears in another file");
            store.where_[name] = store.files_.size() - 1;
        }
    }
    return store;
}

std::vector<std::string> TensorStore::names() const {
    std::vector<std::string> out;
    for (const auto& [name, idx] : where_) out.push_back(name);
    return out;
}

const Tensor& TensorStore::get(const std::string& name) const {
    auto it = where_.find(name);
    if (it == where_.end()) fail(source_, ": missing tensor '", name, "'");
    return files_[it->second].get(name);
}

const Tensor& TensorStore::get(const std::string& name, const Shape& expected_shape) const {
    const Tensor& t = get(name);
    check(t.shape() == expected_shape, source_, ": tensor '", name, "' has shape ", shape_str(t.shape()),
          ", expected ", shape_str(expected_shape));
    return t;
}

}  // namespace emu
