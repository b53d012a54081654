#include "emu/tensor/dtype.h"

#include <limits>

#include "emu/core/error.h"

namespace emu {

namespace {
const DTypeInfo kInfo[] = {
    {"F32", 1, 4}, {"F16", 1, 2}, {"BF16", 1, 2}, {"I32", 1, 4},
    {"I64", 1, 8}, {"U8", 1, 1},  {"Q8_0", kQ8BlockElems, 2 + kQ8BlockElems},
};
}

const DTypeInfo& dtype_info(DType t) { return kInfo[static_cast<int>(t)]; }

bool parse_dtype(const std::string& name, DType* out) {
    for (int i = 0; i < int(sizeof(kInfo) / sizeof(kInfo[0])); ++i) {
        if (name == kInfo[i].name) {
            *out = static_cast<DType>(i);
            return true;
        }
    }
    return false;
}

std::size_t dtype_bytes(DType t, std::uint64_t elements) {
    const DTypeInfo& info = dtype_info(t);
    check(elements % info.block_elems == 0, "element count ", elements, " is not a multiple of the ",
          info.name, " block size ", info.block_elems);
    std::uint64_t blocks = elements / info.block_elems;
    check(blocks <= std::numeric_limits<std::size_t>::max() / info.block_bytes, "tensor of ", elements,
          " ", info.name, " elements is too large");
    return std::size_t(blocks * info.block_bytes);
}

}  // namespace emu
