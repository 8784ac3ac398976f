#include "graph/tensor.h"

#include <algorithm>
#include <bit>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace dagrad {

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
  }
  return "invalid";
}

DType dtype_from_name(const std::string& name) {
  if (name == "f32" || name == "float32") return DType::f32;
  if (name == "f64" || name == "float64") return DType::f64;
  if (name == "i64" || name == "int64") return DType::i64;
  fail("unknown dtype '", name, "' (expected f32, f64 or i64)");
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
  }
  fail("invalid dtype ", static_cast<int>(dtype));
}

bool is_float(DType dtype) { return dtype == DType::f32 || dtype == DType::f64; }

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::int64_t element_count(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) fail("negative dimension in shape ", to_string(shape));
    if (d != 0 && n > INT64_MAX / d) fail("element count of shape ", to_string(shape), " overflows int64");
    n *= d;
  }
  return n;
}

std::int64_t byte_count(const Shape& shape, DType dtype) {
  std::int64_t n = element_count(shape);
  auto size = static_cast<std::int64_t>(dtype_size(dtype));
  if (n > INT64_MAX / size) fail("byte count of shape ", to_string(shape), " overflows int64");
  return n * size;
}

void Tensor::FreeDeleter::operator()(std::byte* p) const { std::free(p); }

namespace {
std::atomic<std::int64_t> g_tensor_allocations{0}, g_tensor_allocated_bytes{0};

std::byte* allocate_zeroed(std::size_t bytes) {
  // 64-byte alignment suits AVX-512 loads and keeps rows off shared cache lines.
  std::size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) return nullptr;
  g_tensor_allocations.fetch_add(1, std::memory_order_relaxed);
  g_tensor_allocated_bytes.fetch_add(static_cast<std::int64_t>(rounded), std::memory_order_relaxed);
  auto* p = static_cast<std::byte*>(std::aligned_alloc(64, rounded));
  if (!p) fail("out of memory allocating ", bytes, " bytes for a tensor");
  std::memset(p, 0, rounded);
  return p;
}
}  // namespace

TensorAllocationStats tensor_allocation_stats() {
  return {g_tensor_allocations.load(std::memory_order_relaxed), g_tensor_allocated_bytes.load(std::memory_order_relaxed)};
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  std::int64_t bytes = byte_count(shape_, dtype_);
  numel_ = element_count(shape_);
  data_.reset(allocate_zeroed(static_cast<std::size_t>(bytes)));
}

Tensor::Tensor(const Tensor& other) : dtype_(other.dtype_), shape_(other.shape_), numel_(other.numel_) {
  data_.reset(allocate_zeroed(other.nbytes()));
  if (numel_) std::memcpy(data_.get(), other.data_.get(), nbytes());
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) *this = Tensor(other);
  return *this;
}

Tensor Tensor::scalar(DType dtype, double value) {
  Tensor t(dtype, {});
  t.fill(value);
  return t;
}

std::int64_t Tensor::dim(int axis) const {
  int r = rank();
  int a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r) fail("axis ", axis, " out of range for shape ", to_string(shape_));
  return shape_[a];
}

void Tensor::check_dtype(DType wanted) const {
  if (dtype_ != wanted) fail("tensor of dtype ", dtype_name(dtype_), " accessed as ", dtype_name(wanted));
}

Tensor Tensor::reshaped(Shape shape) const {
  if (element_count(shape) != numel_)
    fail("cannot reshape ", to_string(shape_), " to ", to_string(shape), ": element counts differ");
  Tensor t(*this);
  t.shape_ = std::move(shape);
  return t;
}

double Tensor::at(std::int64_t i) const {
  if (i < 0 || i >= numel_) fail("element index ", i, " out of range for shape ", to_string(shape_));
  switch (dtype_) {
    case DType::f32: return data<float>()[i];
    case DType::f64: return data<double>()[i];
    case DType::i64: return static_cast<double>(data<std::int64_t>()[i]);
  }
  return 0;
}

void Tensor::fill(double value) {
  switch (dtype_) {
    case DType::f32: std::fill(data<float>().begin(), data<float>().end(), static_cast<float>(value)); break;
    case DType::f64: std::fill(data<double>().begin(), data<double>().end(), value); break;
    case DType::i64:
      std::fill(data<std::int64_t>().begin(), data<std::int64_t>().end(), static_cast<std::int64_t>(value));
      break;
  }
}

Tensor Tensor::to(DType dtype) const {
  Tensor out(dtype, shape_);
  auto convert = [&]<class From>(std::span<const From> src) {
    switch (dtype) {
      case DType::f32: std::transform(src.begin(), src.end(), out.data<float>().begin(), [](From v) { return static_cast<float>(v); }); break;
      case DType::f64: std::transform(src.begin(), src.end(), out.data<double>().begin(), [](From v) { return static_cast<double>(v); }); break;
      case DType::i64: std::transform(src.begin(), src.end(), out.data<std::int64_t>().begin(), [](From v) { return static_cast<std::int64_t>(v); }); break;
    }
  };
  switch (dtype_) {
    case DType::f32: convert(data<float>()); break;
    case DType::f64: convert(data<double>()); break;
    case DType::i64: convert(data<std::int64_t>()); break;
  }
  return out;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

std::optional<std::string> first_non_finite(const std::string& name, const Tensor& tensor) {
  if (!is_float(tensor.dtype())) return std::nullopt;
  return dispatch_float(tensor.dtype(), [&]<class T>() -> std::optional<std::string> {
    std::span<const T> values = tensor.data<T>();
    // A first pass tests only the exponent bits, which vectorizes (the trainer scans every gradient
    // each step); the element-wise search runs only after a hit.
    using Bits = std::conditional_t<std::is_same_v<T, float>, std::uint32_t, std::uint64_t>;
    constexpr Bits exponent = static_cast<Bits>(std::is_same_v<T, float> ? 0x7f800000ULL : 0x7ff0000000000000ULL);
    bool any = false;
    for (const T v : values) any |= (std::bit_cast<Bits>(v) & exponent) == exponent;
    if (!any) return std::nullopt;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const T v = values[i];
      if (std::isfinite(v)) continue;
      const char* text = std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
      return name + "[" + std::to_string(i) + "] = " + text;
    }
    return std::nullopt;
  });
}

std::optional<std::string> first_non_finite(const TensorMap& tensors) {
  for (const auto& [name, tensor] : tensors)
    if (auto found = first_non_finite(name, tensor)) return found;
  return std::nullopt;
}

}  // namespace dagrad
