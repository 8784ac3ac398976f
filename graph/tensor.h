#pragma once
// Dense row-major tensors of float32, float64 and int64 (labels), with checked element counts.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "graph/error.h"

namespace dagrad {

enum class DType : std::uint8_t { f32 = 0, f64 = 1, i64 = 2 };
using Shape = std::vector<std::int64_t>;

const char* dtype_name(DType dtype);
DType dtype_from_name(const std::string& name);  // throws on unknown names
std::size_t dtype_size(DType dtype);
bool is_float(DType dtype);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::i64; }

// Number of elements; throws Error naming the shape on a negative dim or int64 overflow.
std::int64_t element_count(const Shape& shape);
// Byte count of numel elements of dtype, with overflow checks.
std::int64_t byte_count(const Shape& shape, DType dtype);
std::string to_string(const Shape& shape);  // "[64,3,32,32]"

// Tensor storage allocated so far in this process (count and bytes, each allocation rounded up
// to 64 bytes), for checking that steady-state runs allocate only what they return.
struct TensorAllocationStats {
  std::int64_t allocations = 0;
  std::int64_t bytes = 0;
};
TensorAllocationStats tensor_allocation_stats();

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);  // zero-filled
  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  template <class T> static Tensor from(Shape shape, const std::vector<T>& values);
  static Tensor scalar(DType dtype, double value);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int axis) const;  // negative axes count from the end
  std::int64_t numel() const { return numel_; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel_) * dtype_size(dtype_); }
  bool defined() const { return data_ != nullptr || numel_ == 0; }

  template <class T> std::span<T> data();
  template <class T> std::span<const T> data() const;
  void* raw() { return data_.get(); }
  const void* raw() const { return data_.get(); }

  // Same bytes under a new shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // Element-wise conversion (f32 <-> f64 <-> i64).
  Tensor to(DType dtype) const;
  // Reads element i as double, whatever the dtype (for tests and statistics).
  double at(std::int64_t i) const;
  void fill(double value);

 private:
  struct FreeDeleter { void operator()(std::byte* p) const; };
  void check_dtype(DType wanted) const;

  DType dtype_ = DType::f32;
  Shape shape_;
  std::int64_t numel_ = 0;
  std::unique_ptr<std::byte[], FreeDeleter> data_;
};

bool bitwise_equal(const Tensor& a, const Tensor& b);

// Named tensors: a model's parameters, its state, or the feeds of a run.
using TensorMap = std::map<std::string, Tensor>;

// The first NaN or infinity of a float tensor as "<name>[<flat row-major index>] = <value>"
// ("stage1.block0.bn1.running_var[3] = inf", values "nan", "inf", "-inf"); nullopt when every
// element is finite or the tensor is not float.
std::optional<std::string> first_non_finite(const std::string& name, const Tensor& tensor);
// The same over a map, in name order: the first tensor with a non-finite element.
std::optional<std::string> first_non_finite(const TensorMap& tensors);

// Calls f.template operator()<T>() with T = float or double; throws for other dtypes.
template <class F> decltype(auto) dispatch_float(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: return f.template operator()<float>();
    case DType::f64: return f.template operator()<double>();
    default: fail("expected a float32 or float64 tensor, got ", dtype_name(dtype));
  }
}

template <class T> std::span<T> Tensor::data() {
  check_dtype(dtype_of<T>());
  return {reinterpret_cast<T*>(data_.get()), static_cast<std::size_t>(numel_)};
}
template <class T> std::span<const T> Tensor::data() const {
  check_dtype(dtype_of<T>());
  return {reinterpret_cast<const T*>(data_.get()), static_cast<std::size_t>(numel_)};
}
template <class T> Tensor Tensor::from(Shape shape, const std::vector<T>& values) {
  Tensor t(dtype_of<T>(), std::move(shape));
  if (static_cast<std::int64_t>(values.size()) != t.numel())
    fail("Tensor::from: ", values.size(), " values for shape ", to_string(t.shape()));
  std::copy(values.begin(), values.end(), t.data<T>().begin());
  return t;
}

}  // namespace dagrad
