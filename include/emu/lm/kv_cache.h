// Keys (after RoPE) and values of one sequence, for every layer, in F32,
// allocated once for a fixed number of slots. Slot t holds position t's entries
// unless the caller chose other RoPE positions.
#pragma once
#include <cstdint>
#include <memory>

#include "emu/lm/config.h"

namespace emu::lm {

class KvCache {
public:
    KvCache() = default;
    // Throws Error when capacity is not positive or the cache would not fit in memory.
    KvCache(const Config& cfg, std::int64_t capacity);

    static std::uint64_t bytes_for(const Config& cfg, std::int64_t capacity);

    std::int64_t capacity() const { return capacity_; }
    std::int64_t length() const { return length_; }
    std::uint64_t bytes() const;
    // Drops entries after `length` (rollback, e.g. to redo a block); cannot grow.
    void truncate(std::int64_t length);
    void clear() { length_ = 0; }

    std::int64_t layers() const { return layers_; }
    std::int64_t kv_heads() const { return kv_heads_; }
    std::int64_t head_dim() const { return head_dim_; }
    // [kv_heads][capacity][head_dim] for one layer.
    float* keys(std::int64_t layer) { return data_.get() + (layer * 2) * layer_stride(); }
    float* values(std::int64_t layer) { return data_.get() + (layer * 2 + 1) * layer_stride(); }
    const float* keys(std::int64_t layer) const { return data_.get() + (layer * 2) * layer_stride(); }
    const float* values(std::int64_t layer) const { return data_.get() + (layer * 2 + 1) * layer_stride(); }

    // Used by the transformer after writing new slots.
    void set_length(std::int64_t length);

private:
    std::int64_t layer_stride() const { return kv_heads_ * capacity_ * head_dim_; }
    std::int64_t layers_ = 0, kv_heads_ = 0, head_dim_ = 0, capacity_ = 0, length_ = 0;
    std::unique_ptr<float[]> data_;
};

}  // namespace emu::lm
