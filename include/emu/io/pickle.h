// A restricted unpickler for the subset of pickle that torch.save writes for a
// state_dict. It builds plain values; "calls" are only ever interpreted for a fixed
// allow-list of globals (tensor rebuilding, OrderedDict) and nothing is executed.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "emu/tensor/dtype.h"

namespace emu::pickle {

struct Value;
using ValuePtr = std::shared_ptr<const Value>;

// A tensor as the pickle describes it: which storage, and the view into it.
struct TensorRef {
    std::string storage_key;
    DType dtype;
    std::int64_t storage_numel;
    std::int64_t offset;
    std::vector<std::int64_t> shape, stride;
};

struct Value {
    enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor };
    Kind kind = Kind::None;
    bool b = false;
    std::int64_t i = 0;
    double f = 0;
    std::string s;                // String, Bytes; Global: "module.name"
    std::vector<ValuePtr> items;  // Tuple, List; Dict: key, value, key, value...
    TensorRef tensor;             // Storage (key, dtype, numel) and Tensor

    Value() = default;
    Value(const Value&) = default;
    Value& operator=(const Value&) = default;
    // Frees nested containers with a loop instead of recursion, so a forged pickle nesting a
    // million tuples cannot overflow the stack when it is dropped.
    ~Value();
};

// Parses `data` (a whole pickle). Throws Error prefixed with `source` on any opcode
// or global outside the allowed subset, malformed structure or truncation.
ValuePtr unpickle(const std::uint8_t* data, std::size_t size, const std::string& source);

const char* kind_name(Value::Kind kind);

}  // namespace emu::pickle
