#include "emu/io/pickle.h"

#include <cstring>
#include <limits>
#include <map>

#include "emu/core/error.h"

namespace emu::pickle {

namespace {

using Kind = Value::Kind;

// Bounds that no real state_dict pickle comes close to; they keep a hostile
// pickle from exhausting memory through the stack or the memo.
constexpr std::size_t kMaxStack = 1u << 20;
constexpr std::size_t kMaxMemo = 1u << 22;
constexpr int kMaxDims = 64;

struct StorageType {
    const char* name;
    DType dtype;
};
// torch's legacy typed-storage names, still what torch.save writes for tensors.
// Double and bool storages have no dtype of ours; they are rejected with a clear message.
const StorageType kStorageTypes[] = {
    {"FloatStorage", DType::F32}, {"HalfStorage", DType::F16}, {"BFloat16Storage", DType::BF16},
    {"IntStorage", DType::I32},   {"LongStorage", DType::I64}, {"ByteStorage", DType::U8},
};

const char* kAllowedGlobals[] = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
};

ValuePtr make(Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    return v;
}

class Unpickler {
public:
    Unpickler(const std::uint8_t* data, std::size_t size, std::string source)
        : p_(data), end_(data + size), source_(std::move(source)) {}

    ValuePtr run() {
        while (true) {
            std::uint8_t op = u8();
            switch (op) {
                case 0x80: u8(); break;                       // PROTO
                case 0x95: bytes(8); break;                   // FRAME (protocol 4)
                case '.': {                                   // STOP
                    check_stack(1, "STOP");
                    check(marks_.empty(), source_, ": pickle ends inside a MARK");
                    return stack_.back();
                }
                case '(': marks_.push_back(stack_.size()); break;  // MARK
                case 'N': push(make(Kind::None)); break;
                case 0x88: push_bool(true); break;
                case 0x89: push_bool(false); break;
                case 'K': push_int(u8()); break;              // BININT1
                case 'M': push_int(le(2)); break;             // BININT2
                case 'J': push_int(std::int32_t(le(4))); break;  // BININT
                case 0x8a: push_int(long1(u8())); break;      // LONG1
                case 'G': push_float(); break;                // BINFLOAT
                case 'X': push_string(Kind::String, le(4)); break;  // BINUNICODE
                case 0x8c: push_string(Kind::String, u8()); break;  // SHORT_BINUNICODE
                case 'T': push_string(Kind::String, le(4)); break;  // BINSTRING
                case 'U': push_string(Kind::String, u8()); break;   // SHORT_BINSTRING
                case 'B': push_string(Kind::Bytes, le(4)); break;   // BINBYTES
                case 'C': push_string(Kind::Bytes, u8()); break;    // SHORT_BINBYTES
                case ')': push(make(Kind::Tuple)); break;     // EMPTY_TUPLE
                case 0x85: tuple_n(1); break;
                case 0x86: tuple_n(2); break;
                case 0x87: tuple_n(3); break;
                case 't': push(collect_from_mark(Kind::Tuple)); break;  // TUPLE
                case ']': push(make(Kind::List)); break;      // EMPTY_LIST
                case 'l': push(collect_from_mark(Kind::List)); break;   // LIST
                case '}': push(make(Kind::Dict)); break;      // EMPTY_DICT
                case 'a': append(1); break;                   // APPEND
                case 'e': append_mark(); break;               // APPENDS
                case 's': setitems(2); break;                 // SETITEM
                case 'u': setitems_mark(); break;             // SETITEMS
                case 'q': memo_put(u8()); break;              // BINPUT
                case 'r': memo_put(le(4)); break;             // LONG_BINPUT
                case 0x94: memo_put(memo_.size()); break;     // MEMOIZE
                case 'h': memo_get(u8()); break;              // BINGET
                case 'j': memo_get(le(4)); break;             // LONG_BINGET
                case 'c': global(); break;                    // GLOBAL
                case 'Q': persistent_id(); break;             // BINPERSID
                case 'R': reduce(); break;                    // REDUCE
                case 'b': build(); break;                     // BUILD
                case '0': check_stack(1, "POP"); stack_.pop_back(); break;
                default:
                    fail(source_, ": pickle opcode 0x", hex(op), " at byte ", offset() - 1,
                         " is not allowed in a checkpoint");
            }
        }
    }

private:
    const std::uint8_t* p_;
    const std::uint8_t* end_;
    const std::uint8_t* begin_ = p_;
    std::string source_;
    std::vector<ValuePtr> stack_;
    std::vector<std::size_t> marks_;
    std::map<std::uint64_t, ValuePtr> memo_;

    static std::string hex(std::uint8_t b) {
        const char* d = "0123456789abcdef";
        return {d[b >> 4], d[b & 15]};
    }
    std::size_t offset() const { return std::size_t(p_ - begin_); }
    const std::uint8_t* bytes(std::uint64_t n) {
        check(n <= std::uint64_t(end_ - p_), source_, ": pickle truncated at byte ", offset());
        const std::uint8_t* at = p_;
        p_ += n;
        return at;
    }
    std::uint8_t u8() { return *bytes(1); }
    std::uint64_t le(int n) {
        const std::uint8_t* b = bytes(n);
        std::uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
        return v;
    }
    std::int64_t long1(int n) {
        check(n <= 8, source_, ": integer of ", n, " bytes is too large");
        if (n == 0) return 0;
        const std::uint8_t* b = bytes(n);
        std::uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
        if (n < 8 && (b[n - 1] & 0x80)) v |= ~0ull << (8 * n);  // sign-extend
        return std::int64_t(v);
    }
    void push(ValuePtr v) {
        check(stack_.size() < kMaxStack, source_, ": pickle stack too deep");
        stack_.push_back(std::move(v));
    }
    void check_stack(std::size_t n, const char* op) {
        std::size_t floor = marks_.empty() ? 0 : marks_.back();
        check(stack_.size() >= floor + n, source_, ": ", op, " on a stack that is too short");
    }
    ValuePtr pop() {
        check_stack(1, "pop");
        ValuePtr v = stack_.back();
        stack_.pop_back();
        return v;
    }
    void push_bool(bool b) {
        auto v = make(Kind::Bool);
        std::const_pointer_cast<Value>(v)->b = b;
        push(v);
    }
    void push_int(std::int64_t i) {
        auto v = std::make_shared<Value>();
        v->kind = Kind::Int;
        v->i = i;
        push(v);
    }
    void push_float() {
        const std::uint8_t* b = bytes(8);
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];  // big-endian
        auto v = std::make_shared<Value>();
        v->kind = Kind::Float;
        std::memcpy(&v->f, &bits, 8);
        push(v);
    }
    void push_string(Kind kind, std::uint64_t n) {
        const std::uint8_t* b = bytes(n);
        auto v = std::make_shared<Value>();
        v->kind = kind;
        v->s.assign(reinterpret_cast<const char*>(b), n);
        push(v);
    }
    std::vector<ValuePtr> pop_to_mark() {
        check(!marks_.empty(), source_, ": pickle uses a MARK that was never set");
        std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<ValuePtr> items(stack_.begin() + long(m), stack_.end());
        stack_.resize(m);
        return items;
    }
    ValuePtr collect_from_mark(Kind kind) {
        auto v = std::make_shared<Value>();
        v->kind = kind;
        v->items = pop_to_mark();
        return v;
    }
    void tuple_n(int n) {
        check_stack(n, "TUPLE");
        auto v = std::make_shared<Value>();
        v->kind = Kind::Tuple;
        v->items.assign(stack_.end() - n, stack_.end());
        stack_.resize(stack_.size() - n);
        push(v);
    }
    // Containers are built in place: they are still only referenced by the stack/memo.
    Value& mutable_top(Kind expected, const char* op) {
        check_stack(1, op);
        check(stack_.back()->kind == expected, source_, ": ", op, " applied to a ", kind_name(stack_.back()->kind));
        return const_cast<Value&>(*stack_.back());
    }
    void append(int) {
        ValuePtr item = pop();
        mutable_top(Kind::List, "APPEND").items.push_back(item);
    }
    void append_mark() {
        std::vector<ValuePtr> items = pop_to_mark();
        Value& list = mutable_top(Kind::List, "APPENDS");
        list.items.insert(list.items.end(), items.begin(), items.end());
    }
    void setitems(int) {
        ValuePtr value = pop(), key = pop();
        Value& dict = mutable_top(Kind::Dict, "SETITEM");
        dict.items.push_back(key);
        dict.items.push_back(value);
    }
    void setitems_mark() {
        std::vector<ValuePtr> items = pop_to_mark();
        check(items.size() % 2 == 0, source_, ": SETITEMS with an odd number of items");
        Value& dict = mutable_top(Kind::Dict, "SETITEMS");
        dict.items.insert(dict.items.end(), items.begin(), items.end());
    }
    void memo_put(std::uint64_t index) {
        check_stack(1, "PUT");
        check(memo_.size() < kMaxMemo || memo_.count(index), source_, ": pickle memo too large");
        memo_[index] = stack_.back();
    }
    void memo_get(std::uint64_t index) {
        auto it = memo_.find(index);
        check(it != memo_.end(), source_, ": pickle reads memo entry ", index, " that was never written");
        push(it->second);
    }
    std::string line() {
        const std::uint8_t* start = p_;
        while (p_ < end_ && *p_ != '\n') ++p_;
        check(p_ < end_, source_, ": pickle truncated inside GLOBAL");
        std::string s(reinterpret_cast<const char*>(start), std::size_t(p_ - start));
        ++p_;
        return s;
    }
    void global() {
        std::string module = line(), name = line();
        std::string full = module + "." + name;
        auto v = std::make_shared<Value>();
        if (module == "torch") {
            for (const auto& st : kStorageTypes) {
                if (name == st.name) {
                    v->kind = Kind::Global;
                    v->s = full;
                    v->tensor.dtype = st.dtype;
                    push(v);
                    return;
                }
            }
        }
        for (const char* allowed : kAllowedGlobals) {
            if (full == allowed) {
                v->kind = Kind::Global;
                v->s = full;
                push(v);
                return;
            }
        }
        fail(source_, ": checkpoint pickle references '", full,
             "', which is not allowed (only tensors and containers of them are read; nothing is executed)");
    }
    static bool is_storage_type(const Value& v) { return v.kind == Kind::Global && v.s.rfind("torch.", 0) == 0 && v.s.find("Storage") != std::string::npos; }
    std::int64_t as_int(const ValuePtr& v, const char* what) {
        check(v->kind == Kind::Int, source_, ": ", what, " is a ", kind_name(v->kind), ", expected an integer");
        return v->i;
    }
    void persistent_id() {
        ValuePtr pid = pop();
        check(pid->kind == Kind::Tuple && pid->items.size() == 5 && pid->items[0]->kind == Kind::String &&
                  pid->items[0]->s == "storage",
              source_, ": unsupported persistent id (expected ('storage', type, key, location, numel))");
        const Value& type = *pid->items[1];
        check(is_storage_type(type), source_, ": persistent id names a storage type that is not allowed");
        check(pid->items[2]->kind == Kind::String, source_, ": storage key is not a string");
        auto v = std::make_shared<Value>();
        v->kind = Kind::Storage;
        v->tensor.storage_key = pid->items[2]->s;
        v->tensor.dtype = type.tensor.dtype;
        v->tensor.storage_numel = as_int(pid->items[4], "storage size");
        check(v->tensor.storage_numel >= 0, source_, ": negative storage size");
        push(v);
    }
    std::vector<std::int64_t> int_tuple(const ValuePtr& v, const char* what) {
        check(v->kind == Kind::Tuple, source_, ": tensor ", what, " is not a tuple");
        check(v->items.size() <= std::size_t(kMaxDims), source_, ": tensor has too many dimensions");
        std::vector<std::int64_t> out;
        for (const auto& item : v->items) out.push_back(as_int(item, what));
        return out;
    }
    void reduce() {
        ValuePtr args = pop(), callable = pop();
        check(callable->kind == Kind::Global, source_, ": REDUCE calls a ", kind_name(callable->kind),
              ", not an allowed global");
        check(args->kind == Kind::Tuple, source_, ": REDUCE arguments are not a tuple");
        const std::string& fn = callable->s;
        if (fn == "collections.OrderedDict") {
            check(args->items.empty(), source_, ": OrderedDict built with arguments is not supported");
            push(make(Kind::Dict));
        } else if (fn == "torch._utils._rebuild_tensor_v2") {
            check(args->items.size() >= 4, source_, ": _rebuild_tensor_v2 needs (storage, offset, size, stride, ...)");
            const ValuePtr& storage = args->items[0];
            check(storage->kind == Kind::Storage, source_, ": _rebuild_tensor_v2's first argument is not a storage");
            auto v = std::make_shared<Value>();
            v->kind = Kind::Tensor;
            v->tensor = storage->tensor;
            v->tensor.offset = as_int(args->items[1], "storage offset");
            v->tensor.shape = int_tuple(args->items[2], "size");
            v->tensor.stride = int_tuple(args->items[3], "stride");
            check(v->tensor.shape.size() == v->tensor.stride.size(), source_, ": tensor size and stride differ in length");
            push(v);
        } else if (fn == "torch._utils._rebuild_parameter") {
            check(!args->items.empty() && args->items[0]->kind == Kind::Tensor, source_,
                  ": _rebuild_parameter without a tensor");
            push(args->items[0]);
        } else {
            fail(source_, ": REDUCE of a storage type is not allowed");
        }
    }
    void build() {
        pop();  // the state: OrderedDict's _metadata, tensor hooks; carries no weights
        check_stack(1, "BUILD");
    }
};

}  // namespace

Value::~Value() {
    std::vector<ValuePtr> pending = std::move(items);
    while (!pending.empty()) {
        ValuePtr v = std::move(pending.back());
        pending.pop_back();
        // The last owner takes the children first, so v's own destructor finds none.
        if (v.use_count() == 1) {
            std::vector<ValuePtr>& children = const_cast<Value&>(*v).items;
            for (ValuePtr& c : children) pending.push_back(std::move(c));
            children.clear();
        }
    }
}

const char* kind_name(Value::Kind kind) {
    switch (kind) {
        case Kind::None: return "None";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::String: return "str";
        case Kind::Bytes: return "bytes";
        case Kind::Tuple: return "tuple";
        case Kind::List: return "list";
        case Kind::Dict: return "dict";
        case Kind::Global: return "global";
        case Kind::Storage: return "storage";
        case Kind::Tensor: return "tensor";
    }
    return "?";
}

ValuePtr unpickle(const std::uint8_t* data, std::size_t size, const std::string& source) {
    return Unpickler(data, size, source).run();
}

}  // namespace emu::pickle
