#include "emu/lm/kv_cache.h"

#include <new>

#include "emu/core/error.h"

namespace emu::lm {

std::uint64_t KvCache::bytes_for(const Config& cfg, std::int64_t capacity, DType dtype) {
    return std::uint64_t(cfg.num_hidden_layers) * 2 * std::uint64_t(cfg.num_key_value_heads) *
           std::uint64_t(capacity) * std::uint64_t(cfg.head_dim) * (dtype == DType::F32 ? 4 : 2);
}

KvCache::KvCache(const Config& cfg, std::int64_t capacity, DType dtype)
    : layers_(cfg.num_hidden_layers), kv_heads_(cfg.num_key_value_heads), head_dim_(cfg.head_dim),
      capacity_(capacity), dtype_(dtype) {
    check(dtype == DType::F32 || dtype == DType::BF16, "kv cache: dtype ", dtype_name(dtype),
          " is not supported (F32 or BF16)");
    check(capacity > 0 && capacity <= (std::int64_t(1) << 24), "kv cache: context length ", capacity,
          " is out of range");
    std::uint64_t bytes = bytes_for(cfg, capacity, dtype);
    check(bytes < (std::uint64_t(1) << 42), "kv cache of ", bytes, " bytes is too large");
    // Uninitialised on purpose: pages are only touched when slots are written.
    data_.reset(new (std::nothrow) std::uint8_t[bytes]);
    check(data_ != nullptr, "kv cache: cannot allocate ", bytes, " bytes for ", capacity, " positions");
}

std::uint64_t KvCache::bytes() const { return std::uint64_t(layers_) * 2 * std::uint64_t(layer_bytes()); }

void KvCache::truncate(std::int64_t length) {
    check(length >= 0 && length <= length_, "kv cache: cannot truncate length ", length_, " to ", length);
    length_ = length;
}

void KvCache::set_length(std::int64_t length) {
    check(length >= 0 && length <= capacity_, "kv cache: length ", length, " exceeds capacity ", capacity_);
    length_ = length;
}

}  // namespace emu::lm
