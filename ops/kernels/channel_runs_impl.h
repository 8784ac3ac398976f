#pragma once
// The loops of channel_runs.h, included by one file per instruction set under that set's target
// pragma, after defining DAGRAD_VECTOR_BYTES, the width of its registers (16 baseline, 32 AVX2,
// 64 AVX-512). Everything here has internal linkage (an anonymous namespace), so each file keeps its
// own copies and no CPU ever runs another path's code through a shared inline copy.
//
// Sums run in eight interleaved double lanes (element i goes to lane i % 8), combined pairwise at
// the end: one chain of dependent adds would be bound by the add latency, and the order depends
// only on the length, never on threads or the ISA. A term is written once, as a generic lambda over
// an accessor `at`: at(p) is element i of array p as a double, or the elements i .. i+L-1 as one
// register of L doubles, so the full blocks of 8 run as vector code (GCC's vector extensions:
// plain IEEE arithmetic per element, no contraction under -ffp-contract=off) and the tail as
// scalars, with the same arithmetic. Vectors are never wider than the registers: GCC lowers wider
// ones through memory (measured: the AVX2 path's sums ran 3x slower than its baseline) and turns
// their comparisons into scalar code.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ops/kernels/channel_runs.h"

#if !defined(DAGRAD_VECTOR_BYTES)
#error "define DAGRAD_VECTOR_BYTES (the file's register width in bytes) before including channel_runs_impl.h"
#endif

namespace dagrad::kernels {

// GCC notes that vectors wider than the baseline's registers would pass differently between
// functions; these never cross a call (everything inlines into the table's functions). It gives the
// note where it emits the functions, at the end of the file, so the setting stays on for the files
// that include this header (only channel_runs*.cc).
#pragma GCC diagnostic ignored "-Wpsabi"
namespace {
namespace channel_runs_detail {

constexpr int kBytes = DAGRAD_VECTOR_BYTES;
constexpr int kLanes = 8;
constexpr int kWidth = kBytes / 8;          // doubles per register
constexpr int kParts = kLanes / kWidth;     // registers per block of 8 lanes
static_assert(kWidth >= 2 && kLanes % kWidth == 0);

using dvec = double __attribute__((vector_size(kBytes)));
// kWidth values of T: floats are converted to doubles register by register.
using fvec = float __attribute__((vector_size(kBytes / 2)));
template <class T> using tvec = std::conditional_t<sizeof(T) == sizeof(float), fvec, dvec>;

template <class T> tvec<T> load_t(const T* p) {
  tvec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T> dvec load_d(const T* p) {
  if constexpr (sizeof(T) == sizeof(float))
    return __builtin_convertvector(load_t(p), dvec);
  else
    return load_t(p);
}

// Elements i .. i+kWidth-1 of an array, as doubles.
struct VectorAt {
  std::int64_t i;
  template <class T> dvec operator()(const T* p) const { return load_d(p + i); }
};
// Element i of an array, as a double.
struct ScalarAt {
  std::int64_t i;
  template <class T> double operator()(const T* p) const { return static_cast<double>(p[i]); }
};

// c > 0 ? v : 0 per element (relu_grad's select, and relu with c = v), in registers or scalars.
template <class V> V positive_select(V c, V v) {
  if constexpr (std::is_arithmetic_v<V>) {
    return c > 0 ? v : V(0);
  } else {
    const V zero = {};
    return c > zero ? v : zero;
  }
}

double pairwise(const double (&l)[kLanes]) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

// Lane l of the registers acc[0 .. kParts) is acc[l / kWidth][l % kWidth].
void to_lanes(const dvec (&acc)[kParts], double (&lanes)[kLanes]) { std::memcpy(lanes, acc, sizeof lanes); }

// sum over i in [0, n) of term(at_i).
template <class Term> double lane_sum(std::int64_t n, const Term& term) {
  dvec acc[kParts] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kParts; ++k) acc[k] += term(VectorAt{i + k * kWidth});
  double lanes[kLanes];
  to_lanes(acc, lanes);
  for (int l = 0; i < n; ++i, ++l) lanes[l] += term(ScalarAt{i});
  return pairwise(lanes);
}

// Two sums in one sweep (each with its own lanes): term(at, first, second) adds to both.
template <class Term> void lane_sum2(std::int64_t n, const Term& term, double& first, double& second) {
  dvec a[kParts] = {}, b[kParts] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kParts; ++k) term(VectorAt{i + k * kWidth}, a[k], b[k]);
  double la[kLanes], lb[kLanes];
  to_lanes(a, la);
  to_lanes(b, lb);
  for (int l = 0; i < n; ++i, ++l) term(ScalarAt{i}, la[l], lb[l]);
  first = pairwise(la);
  second = pairwise(lb);
}

// out[i] = T(value(at_i)) for i in [0, n): an elementwise map computed in double.
template <class T, class Value> void lane_map(std::int64_t n, T* out, const Value& value) {
  std::int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) {
    const tvec<T> v = __builtin_convertvector(value(VectorAt{i}), tvec<T>);
    std::memcpy(out + i, &v, sizeof v);
  }
  for (; i < n; ++i) out[i] = static_cast<T>(value(ScalarAt{i}));
}

template <class T> double sum(std::int64_t n, const T* x) {
  return lane_sum(n, [x](auto at) { return at(x); });
}

template <class T> double squared_deviations(std::int64_t n, const T* x, double mean) {
  return lane_sum(n, [x, mean](auto at) {
    const auto d = at(x) - mean;
    return d * d;
  });
}

template <class T, bool kMasked>
void gradient_sums_of(std::int64_t n, const T* x, const T* dy, const T* relu_y, double mean, double invstd, double& sum_g,
                      double& sum_g_xhat) {
  lane_sum2(
      n,
      [=](auto at, auto& a_g, auto& a_g_xhat) {
        const auto g = [&] {
          if constexpr (kMasked)
            return positive_select(at(relu_y), at(dy));
          else
            return at(dy);
        }();
        a_g += g;
        a_g_xhat += g * (at(x) - mean) * invstd;
      },
      sum_g, sum_g_xhat);
}

template <class T>
void gradient_sums(std::int64_t n, const T* x, const T* dy, const T* relu_y, double mean, double invstd, double& sum_g,
                   double& sum_g_xhat) {
  if (relu_y)
    gradient_sums_of<T, true>(n, x, dy, relu_y, mean, invstd, sum_g, sum_g_xhat);
  else
    gradient_sums_of<T, false>(n, x, dy, relu_y, mean, invstd, sum_g, sum_g_xhat);
}

template <class T, bool kResidual, bool kRelu>
void normalize_of(std::int64_t n, const T* x, const T* residual, T* y, double scale, double shift) {
  if constexpr (!kResidual && !kRelu) {
    lane_map(n, y, [=](auto at) { return at(x) * scale + shift; });
  } else {
    // The affine value rounded to T (batch norm's stored y), then the sum and relu in T.
    std::int64_t i = 0;
    for (; i + kWidth <= n; i += kWidth) {
      tvec<T> v = __builtin_convertvector(VectorAt{i}(x) * scale + shift, tvec<T>);
      if constexpr (kResidual) v = v + load_t(residual + i);
      if constexpr (kRelu) v = positive_select(v, v);
      std::memcpy(y + i, &v, sizeof v);
    }
    for (; i < n; ++i) {
      T v = static_cast<T>(static_cast<double>(x[i]) * scale + shift);
      if constexpr (kResidual) v = v + residual[i];
      if constexpr (kRelu) v = positive_select(v, v);
      y[i] = v;
    }
  }
}

template <class T>
void normalize(std::int64_t n, const T* x, const T* residual, bool relu, T* y, double scale, double shift) {
  if (residual)
    relu ? normalize_of<T, true, true>(n, x, residual, y, scale, shift)
         : normalize_of<T, true, false>(n, x, residual, y, scale, shift);
  else
    relu ? normalize_of<T, false, true>(n, x, residual, y, scale, shift)
         : normalize_of<T, false, false>(n, x, residual, y, scale, shift);
}

template <class T, bool kMasked>
void input_gradient_of(std::int64_t n, const T* x, const T* dy, const T* relu_y, T* dx, double k_dy, double k_x, double mean,
                       double k_0) {
  auto gradient = [=](auto at) {
    if constexpr (kMasked)
      return positive_select(at(relu_y), at(dy));
    else
      return at(dy);
  };
  if (x)
    lane_map(n, dx, [=](auto at) { return k_dy * gradient(at) + k_x * (at(x) - mean) + k_0; });
  else
    lane_map(n, dx, [=](auto at) { return gradient(at) * k_dy; });
}

template <class T>
void input_gradient(std::int64_t n, const T* x, const T* dy, const T* relu_y, T* dx, double k_dy, double k_x, double mean,
                    double k_0) {
  if (relu_y)
    input_gradient_of<T, true>(n, x, dy, relu_y, dx, k_dy, k_x, mean, k_0);
  else
    input_gradient_of<T, false>(n, x, dy, relu_y, dx, k_dy, k_x, mean, k_0);
}

template <class T> constexpr ChannelRuns<T> make() {
  return {&sum<T>, &squared_deviations<T>, &gradient_sums<T>, &normalize<T>, &input_gradient<T>};
}

}  // namespace channel_runs_detail
}  // namespace

}  // namespace dagrad::kernels
