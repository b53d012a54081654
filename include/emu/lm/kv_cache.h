// Keys (after RoPE) and values of one sequence, for every layer, allocated once
// for a fixed number of slots. F32 by default (exact); BF16 halves the memory
// (keys and values rounded to bf16 as the official bf16 runtime stores them).
// Slot t holds position t's entries unless the caller chose other RoPE positions.
#pragma once
#include <cstdint>
#include <memory>

#include "emu/lm/config.h"
#include "emu/tensor/dtype.h"

namespace emu::lm {

class KvCache {
public:
    KvCache() = default;
    // Throws Error when capacity is not positive, the dtype is not F32/BF16, or
    // the cache cannot be allocated.
    KvCache(const Config& cfg, std::int64_t capacity, DType dtype = DType::F32);

    static std::uint64_t bytes_for(const Config& cfg, std::int64_t capacity, DType dtype = DType::F32);

    std::int64_t capacity() const { return capacity_; }
    std::int64_t length() const { return length_; }
    DType dtype() const { return dtype_; }
    std::uint64_t bytes() const;
    // Drops entries after `length` (rollback, e.g. to redo a block); cannot grow.
    void truncate(std::int64_t length);
    void clear() { length_ = 0; }

    std::int64_t layers() const { return layers_; }
    std::int64_t kv_heads() const { return kv_heads_; }
    std::int64_t head_dim() const { return head_dim_; }
    // [kv_heads][capacity][head_dim] of dtype() for one layer.
    void* keys(std::int64_t layer) { return data_.get() + (layer * 2) * layer_bytes(); }
    void* values(std::int64_t layer) { return data_.get() + (layer * 2 + 1) * layer_bytes(); }
    const void* keys(std::int64_t layer) const { return data_.get() + (layer * 2) * layer_bytes(); }
    const void* values(std::int64_t layer) const { return data_.get() + (layer * 2 + 1) * layer_bytes(); }

    // Used by the transformer after writing new slots.
    void set_length(std::int64_t length);

private:
    std::int64_t layer_bytes() const {
        return kv_heads_ * capacity_ * head_dim_ * std::int64_t(dtype_ == DType::F32 ? 4 : 2);
    }
    std::int64_t layers_ = 0, kv_heads_ = 0, head_dim_ = 0, capacity_ = 0, length_ = 0;
    DType dtype_ = DType::F32;
    std::unique_ptr<std::uint8_t[]> data_;
};

}  // namespace emu::lm
