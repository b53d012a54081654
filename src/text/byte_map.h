// Open-addressing hash map from byte strings to ids. Keys are views into storage the owner
// keeps alive and unmoved; lookups by (pointer, length) need no allocation, which is what
// byte-pair merging does millions of times per second.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace emu::text {

inline std::uint64_t hash_bytes(const char* p, std::size_t n) {
    std::uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        std::uint64_t v;
        std::memcpy(&v, p, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    if (n) {
        std::uint64_t v = 0;
        std::memcpy(&v, p, n);
        h = (h ^ v) * 0x94D049BB133111EBull;
    }
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    return h;
}

class ByteMap {
public:
    void reserve(std::size_t n) {
        std::size_t cap = 16;
        while (cap < n * 2) cap <<= 1;
        slots_.assign(cap, Slot{});
        mask_ = cap - 1;
        size_ = 0;
    }

    // Returns false (and changes nothing) when the key is already present.
    bool insert(std::string_view key, std::int32_t value) {
        if ((size_ + 1) * 2 > slots_.size()) grow();
        std::size_t i = hash_bytes(key.data(), key.size()) & mask_;
        while (slots_[i].ptr) {
            if (equal(slots_[i], key.data(), key.size())) return false;
            i = (i + 1) & mask_;
        }
        slots_[i] = Slot{key.data(), static_cast<std::uint32_t>(key.size()), value};
        ++size_;
        return true;
    }

    // The id of the key, or -1.
    std::int32_t find(const char* p, std::size_t n) const {
        if (slots_.empty()) return -1;
        std::size_t i = hash_bytes(p, n) & mask_;
        while (slots_[i].ptr) {
            if (equal(slots_[i], p, n)) return slots_[i].value;
            i = (i + 1) & mask_;
        }
        return -1;
    }
    std::int32_t find(std::string_view key) const { return find(key.data(), key.size()); }
    std::size_t size() const { return size_; }

private:
    struct Slot {
        const char* ptr = nullptr;
        std::uint32_t len = 0;
        std::int32_t value = -1;
    };
    static bool equal(const Slot& s, const char* p, std::size_t n) {
        return s.len == n && std::memcmp(s.ptr, p, n) == 0;
    }
    void grow() {
        std::vector<Slot> old = std::move(slots_);
        reserve(old.empty() ? 8 : old.size());
        for (const Slot& s : old)
            if (s.ptr) insert(std::string_view(s.ptr, s.len), s.value);
    }

    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

}  // namespace emu::text
