#include "emu/ops/isa.h"

#include <atomic>

#include "linear_kernels.h"

namespace emu::ops {
namespace {
std::atomic<int> g_forced{-1};

Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return detail::amx_available()                    ? Isa::Amx
               : __builtin_cpu_supports("avx512bf16") ? Isa::Avx512Bf16
                                                      : Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return Isa::Avx2;
#endif
    return Isa::Portable;
}
}  // namespace

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::Amx: return "avx512+amx";
        case Isa::Avx512Bf16: return "avx512+bf16";
        case Isa::Avx512: return "avx512";
        case Isa::Avx2: return "avx2";
        default: return "portable";
    }
}

bool isa_supported(Isa isa) {
    static const Isa best = detect();
    return int(isa) <= int(best);
}

Isa active_isa() {
    static const Isa best = detect();
    int forced = g_forced.load();
    if (forced >= 0 && forced < int(best)) return Isa(forced);
    return best;
}

void force_isa(Isa isa) { g_forced.store(int(isa)); }
void clear_forced_isa() { g_forced.store(-1); }

}  // namespace emu::ops
