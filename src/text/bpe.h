// tiktoken's byte-pair merge: repeatedly join the adjacent pair whose concatenation has the
// lowest rank (leftmost on ties) until no adjacent concatenation is a token.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "byte_map.h"

namespace emu::text {

// Appends the ranks of `piece` (at least 2 bytes, not itself a token). Every single byte
// must be in `ranks`. Quadratic scan for short pieces (fast in practice), a heap with lazy
// deletion for long ones, so adversarial inputs stay O(n log n).
void bpe_merge(std::string_view piece, const ByteMap& ranks, std::vector<std::int32_t>& out);

// The two strategies, exposed so tests can check them against each other.
void bpe_merge_scan(std::string_view piece, const ByteMap& ranks, std::vector<std::int32_t>& out);
void bpe_merge_heap(std::string_view piece, const ByteMap& ranks, std::vector<std::int32_t>& out);

}  // namespace emu::text
