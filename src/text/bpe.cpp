#include "bpe.h"

#include <climits>
#include <queue>

#include "emu/core/error.h"

namespace emu::text {
namespace {

constexpr std::int32_t kNoRank = INT32_MAX;
constexpr std::size_t kScanMaxBytes = 128;

std::int32_t rank_or_none(const ByteMap& ranks, const char* p, std::size_t a, std::size_t b) {
    std::int32_t r = ranks.find(p + a, b - a);
    return r < 0 ? kNoRank : r;
}

void emit(const ByteMap& ranks, const char* p, std::size_t a, std::size_t b, std::vector<std::int32_t>& out) {
    std::int32_t r = ranks.find(p + a, b - a);
    // Only single bytes (checked at load) and merged tokens reach here.
    if (r < 0) fail("BPE: byte sequence of length ", b - a, " has no rank (vocabulary lacks a single byte)");
    out.push_back(r);
}

}  // namespace

void bpe_merge_scan(std::string_view piece, const ByteMap& ranks, std::vector<std::int32_t>& out) {
    struct Part {
        std::uint32_t start;
        std::int32_t rank;  // rank of this part joined with the next one
    };
    thread_local std::vector<Part> parts;
    const char* p = piece.data();
    std::size_t n = piece.size();
    parts.resize(n + 1);
    for (std::size_t i = 0; i <= n; ++i) parts[i] = {static_cast<std::uint32_t>(i), kNoRank};
    for (std::size_t i = 0; i + 2 <= n; ++i) parts[i].rank = rank_or_none(ranks, p, i, i + 2);
    std::size_t len = n + 1;
    while (len > 2) {
        std::int32_t best = kNoRank;
        std::size_t at = 0;
        for (std::size_t i = 0; i + 1 < len; ++i) {
            if (parts[i].rank < best) {
                best = parts[i].rank;
                at = i;
            }
        }
        if (best == kNoRank) break;
        // parts[at] absorbs parts[at+1]; refresh the two pair ranks that changed.
        parts[at].rank = at + 3 < len ? rank_or_none(ranks, p, parts[at].start, parts[at + 3].start) : kNoRank;
        if (at > 0) parts[at - 1].rank = rank_or_none(ranks, p, parts[at - 1].start, parts[at + 2].start);
        parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at + 1));
        --len;
    }
    for (std::size_t i = 0; i + 1 < len; ++i) emit(ranks, p, parts[i].start, parts[i + 1].start, out);
}

void bpe_merge_heap(std::string_view piece, const ByteMap& ranks, std::vector<std::int32_t>& out) {
    const char* p = piece.data();
    const std::uint32_t n = static_cast<std::uint32_t>(piece.size());
    // Parts are named by their start byte; next/prev link the live ones.
    std::vector<std::uint32_t> next(n), prev(n);
    std::vector<bool> alive(n, true);
    for (std::uint32_t i = 0; i < n; ++i) {
        next[i] = i + 1;
        prev[i] = i == 0 ? 0 : i - 1;
    }
    struct Cand {
        std::int32_t rank;
        std::uint32_t left, mid, end;  // the pair [left, mid) + [mid, end)
        bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    auto push = [&](std::uint32_t left, std::uint32_t mid, std::uint32_t end) {
        std::int32_t r = ranks.find(p + left, end - left);
        if (r >= 0) heap.push({r, left, mid, end});
    };
    for (std::uint32_t i = 0; i + 2 <= n; ++i) push(i, i + 1, i + 2);
    while (!heap.empty()) {
        Cand c = heap.top();
        heap.pop();
        // Stale when either side has changed since the candidate was pushed.
        if (!alive[c.left] || next[c.left] != c.mid || !alive[c.mid] || next[c.mid] != c.end) continue;
        alive[c.mid] = false;
        next[c.left] = c.end;
        if (c.end < n) {
            prev[c.end] = c.left;
            push(c.left, c.end, next[c.end]);
        }
        if (c.left > 0) push(prev[c.left], c.left, c.end);
    }
    for (std::uint32_t i = 0; i < n; i = next[i]) emit(ranks, p, i, next[i], out);
}

void bpe_merge(std::string_view piece, const ByteMap& ranks, std::vector<std::int32_t>& out) {
    if (piece.size() <= kScanMaxBytes)
        bpe_merge_scan(piece, ranks, out);
    else
        bpe_merge_heap(piece, ranks, out);
}

}  // namespace emu::text
