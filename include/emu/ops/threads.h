// One knob for every parallel kernel: OpenMP loops and OpenBLAS share the count.
#pragma once

namespace emu::ops {

// n <= 0 keeps the default (all cores, or OMP_NUM_THREADS).
void set_num_threads(int n);
int num_threads();

}  // namespace emu::ops
