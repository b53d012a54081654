#include "emu/tensor/tensor.h"

#include <cstring>
#include <limits>
#include <sstream>

#include "emu/core/error.h"

namespace emu {

std::uint64_t shape_numel(const Shape& shape) {
    std::uint64_t n = 1;
    for (std::int64_t d : shape) {
        if (d < 0) fail("negative dimension in shape ", shape_str(shape));  // not check(): built only on failure
        if (d != 0 && n > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(d))
            fail("shape ", shape_str(shape), " overflows");
        n *= std::uint64_t(d);
    }
    return n;
}

std::string shape_str(const Shape& shape) {
    std::ostringstream out;
    out << '[';
    for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
    out << ']';
    return out.str();
}

static Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    std::int64_t s = 1;
    for (int i = int(shape.size()) - 1; i >= 0; --i) {
        strides[i] = s;
        s *= shape[i];
    }
    return strides;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
    Tensor t;
    std::size_t bytes = dtype_bytes(dtype, shape_numel(shape));
    std::shared_ptr<std::uint8_t[]> buf(new std::uint8_t[bytes > 0 ? bytes : 1]());
    t.dtype_ = dtype;
    t.strides_ = contiguous_strides(shape);
    t.shape_ = std::move(shape);
    t.data_ = buf.get();
    t.owner_ = std::shared_ptr<const void>(buf, buf.get());
    t.owned_ = true;
    return t;
}

Tensor Tensor::view(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner) {
    Tensor t;
    shape_numel(shape);  // validates
    t.dtype_ = dtype;
    t.strides_ = contiguous_strides(shape);
    t.shape_ = std::move(shape);
    t.data_ = data;
    t.owner_ = std::move(owner);
    return t;
}

Tensor Tensor::from_f32(Shape shape, const std::vector<float>& values) {
    check(shape_numel(shape) == values.size(), "from_f32: shape ", shape_str(shape), " needs ",
          shape_numel(shape), " values, got ", values.size());
    Tensor t = zeros(DType::F32, std::move(shape));
    std::memcpy(t.raw_mut(), values.data(), values.size() * sizeof(float));
    return t;
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

void* Tensor::raw_mut() {
    check(owned_, "tensor is a read-only view");
    return const_cast<void*>(data_);
}

Tensor Tensor::reshaped(Shape shape) const {
    check(is_contiguous(), "reshape of a non-contiguous tensor");
    check(shape_numel(shape) == numel(), "cannot reshape ", shape_str(shape_), " to ", shape_str(shape));
    Tensor t = *this;
    t.strides_ = contiguous_strides(shape);
    t.shape_ = std::move(shape);
    return t;
}

double Tensor::item(std::uint64_t i) const {
    switch (dtype_) {
        case DType::F32: return data<float>()[i];
        case DType::F16: return f16_to_f32(data<std::uint16_t>()[i]);
        case DType::BF16: return bf16_to_f32(data<std::uint16_t>()[i]);
        case DType::I32: return data<std::int32_t>()[i];
        case DType::I64: return double(data<std::int64_t>()[i]);
        case DType::U8: return data<std::uint8_t>()[i];
        case DType::Q8_0: {
            const std::uint8_t* block = data<std::uint8_t>() + (i / kQ8BlockElems) * dtype_info(dtype_).block_bytes;
            std::uint16_t scale;
            std::memcpy(&scale, block, 2);
            return f16_to_f32(scale) * double(std::int8_t(block[2 + i % kQ8BlockElems]));
        }
    }
    fail("unknown dtype");
}

Tensor Tensor::to_f32() const { return to(DType::F32); }

std::vector<float> Tensor::f32_values() const {
    Tensor t = to_f32();
    const float* p = t.data<float>();
    return std::vector<float>(p, p + t.numel());
}

Tensor Tensor::to(DType target) const {
    check(is_contiguous(), "conversion of a non-contiguous tensor");
    check(target != DType::Q8_0, "conversion to Q8_0 is done by the quantizer, not Tensor::to");
    Tensor out = zeros(target, shape_);
    std::uint64_t n = numel();
    if (target == dtype_) {
        std::memcpy(out.raw_mut(), data_, nbytes());
        return out;
    }
    if (dtype_ == DType::BF16 && target == DType::F32) {  // the hot case: loop without a switch
        const std::uint16_t* src = data<std::uint16_t>();
        float* dst = out.data_mut<float>();
        for (std::uint64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
        return out;
    }
    for (std::uint64_t i = 0; i < n; ++i) {
        double v = item(i);
        switch (target) {
            case DType::F32: out.data_mut<float>()[i] = float(v); break;
            case DType::F16: out.data_mut<std::uint16_t>()[i] = f32_to_f16(float(v)); break;
            case DType::BF16: out.data_mut<std::uint16_t>()[i] = f32_to_bf16(float(v)); break;
            case DType::I32: out.data_mut<std::int32_t>()[i] = std::int32_t(v); break;
            case DType::I64: out.data_mut<std::int64_t>()[i] = std::int64_t(v); break;
            case DType::U8: out.data_mut<std::uint8_t>()[i] = std::uint8_t(v); break;
            case DType::Q8_0: break;
        }
    }
    return out;
}

}  // namespace emu
