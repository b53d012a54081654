// A typed n-dimensional array: owning, or a view over memory someone else keeps
// alive (a mapped file). Strides are in elements; contiguous row-major by default.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "emu/tensor/dtype.h"

namespace emu {

using Shape = std::vector<std::int64_t>;

// Number of elements of a shape; throws Error on negative dims or overflow.
std::uint64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);

class Tensor {
public:
    Tensor() = default;

    // A new zero-filled contiguous tensor.
    static Tensor zeros(DType dtype, Shape shape);
    // A view over `data`; `owner` keeps the memory alive (may be null for borrowed memory).
    static Tensor view(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner);
    // A contiguous F32 tensor from values.
    static Tensor from_f32(Shape shape, const std::vector<float>& values);

    DType dtype() const { return dtype_; }
    const Shape& shape() const { return shape_; }
    const Shape& strides() const { return strides_; }
    int ndim() const { return int(shape_.size()); }
    std::int64_t dim(int i) const { return shape_.at(i < 0 ? i + ndim() : i); }
    std::uint64_t numel() const { return shape_numel(shape_); }
    std::size_t nbytes() const { return dtype_bytes(dtype_, numel()); }
    bool defined() const { return data_ != nullptr || numel() == 0; }
    bool is_contiguous() const;

    const void* raw() const { return data_; }
    // Mutable access: only owning tensors are writable.
    void* raw_mut();
    template <typename T> const T* data() const { return static_cast<const T*>(data_); }
    template <typename T> T* data_mut() { return static_cast<T*>(raw_mut()); }

    // Same data, another shape with the same element count (contiguous only).
    Tensor reshaped(Shape shape) const;
    // A contiguous F32 copy, converting from any float or integer dtype.
    Tensor to_f32() const;
    std::vector<float> f32_values() const;
    // A contiguous copy converted to dtype (F32, F16, BF16, I32, I64, U8 targets).
    Tensor to(DType dtype) const;
    // Element i of a contiguous tensor as double (float and integer dtypes).
    double item(std::uint64_t i) const;

private:
    DType dtype_ = DType::F32;
    Shape shape_, strides_;
    const void* data_ = nullptr;
    std::shared_ptr<const void> owner_;
    bool owned_ = false;
};

}  // namespace emu
