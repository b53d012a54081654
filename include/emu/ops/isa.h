// Which SIMD fast paths this CPU can run, detected at run time so one binary
// works on older machines; tests force each level to compare it with Portable.
#pragma once

namespace emu::ops {

// Avx512Bf16 = AVX-512 with the BF16 dot product (vdpbf16ps: AMD Zen 4, Intel Cooper Lake);
// Amx = AVX-512 plus AMX tiles (bf16). Both run the products of BF16 operands in
// ops::linear and the trainers' backward (linear.h says when).
enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3, Amx = 4 };

const char* isa_name(Isa isa);
// The best level the CPU supports (capped by a forced level, if any).
Isa active_isa();
bool isa_supported(Isa isa);
// Caps the level used by every kernel; used by tests and benchmarks.
void force_isa(Isa isa);
void clear_forced_isa();

}  // namespace emu::ops
