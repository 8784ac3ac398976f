#pragma once
// Double-precision sums and maps in a fixed order that vectorizes: eight interleaved lanes (element
// i goes to lane i % 8) combined pairwise at the end. One long chain of dependent adds would be
// bound by the add latency; the order depends only on the length, never on threads or the ISA.
//
// A term is written once, as a generic lambda over an accessor `at`: at(p) is element i of the
// array p as a double, or elements i .. i+7 as a vector of 8 doubles, so that the full blocks run
// as vector code (GCC's vector extensions: plain IEEE arithmetic per element, no FMA contraction
// under -ffp-contract=off) and the tail as scalars, with the same arithmetic. Whole blocks of 8
// were left to the auto-vectorizer before, which kept most of it scalar (measured: batch norm's
// sums ran at a few scalar ops per element).
#include <cstdint>
#include <cstring>

namespace dagrad::kernels {

// Internal linkage: a file compiled for another ISA (per-ISA kernels) gets its own copies, never a
// shared inline copy built for a CPU it may not run on. The vector arguments never cross a call
// boundary (everything here inlines), so GCC's note that they would pass differently without
// AVX-512 does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
namespace {

// Eight doubles; the AVX-512 register width, four SSE2 registers in a baseline build.
using f64x8 = double __attribute__((vector_size(64)));
using f32x8 = float __attribute__((vector_size(32)));
using i64x8 = std::int64_t __attribute__((vector_size(64)));

namespace lanes_detail {
template <class T> inline f64x8 load8(const T* p) {
  if constexpr (sizeof(T) == sizeof(float)) {
    f32x8 v;
    std::memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, f64x8);
  } else {
    f64x8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
}
template <class T> inline void store8(T* p, f64x8 v) {
  if constexpr (sizeof(T) == sizeof(float)) {
    const f32x8 r = __builtin_convertvector(v, f32x8);
    std::memcpy(p, &r, sizeof r);
  } else {
    std::memcpy(p, &v, sizeof v);
  }
}
inline double pairwise(const double (&l)[8]) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
}  // namespace lanes_detail

// Elements i .. i+7 of an array, as doubles.
struct VectorAt {
  std::int64_t i;
  template <class T> f64x8 operator()(const T* p) const { return lanes_detail::load8(p + i); }
};
// Element i of an array, as a double.
struct ScalarAt {
  std::int64_t i;
  template <class T> double operator()(const T* p) const { return static_cast<double>(p[i]); }
};

// v where y > 0, else 0: relu_grad's select, per element (y and v from the same accessor).
inline double where_positive(double y, double v) { return y > 0 ? v : 0.0; }
// Compared in pairs: GCC splits wide vector arithmetic into the registers a build has, but turns a
// comparison wider than them into scalar code (seen in batch norm's masked gradient: 3x slower).
inline f64x8 where_positive(f64x8 y, f64x8 v) {
  using f64x2 = double __attribute__((vector_size(16)));
  f64x2 ys[4], vs[4];
  std::memcpy(ys, &y, sizeof ys);
  std::memcpy(vs, &v, sizeof vs);
  const f64x2 zero = {};
  for (int k = 0; k < 4; ++k) vs[k] = ys[k] > zero ? vs[k] : zero;
  std::memcpy(&v, vs, sizeof v);
  return v;
}

// v rounded to T and back: where a separate op would have stored an intermediate result in T.
template <class T> inline double round_to(double v) { return static_cast<double>(static_cast<T>(v)); }
template <class T> inline f64x8 round_to(f64x8 v) {
  if constexpr (sizeof(T) == sizeof(float))
    return __builtin_convertvector(__builtin_convertvector(v, f32x8), f64x8);
  else
    return v;
}

// sum over i in [0, n) of term(at_i), where term returns a double (or a vector for a VectorAt).
template <class Term> double lane_sum(std::int64_t n, const Term& term) {
  f64x8 acc = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc += term(VectorAt{i});
  double lanes[8];
  std::memcpy(lanes, &acc, sizeof lanes);
  for (int l = 0; i < n; ++i, ++l) lanes[l] += term(ScalarAt{i});
  return lanes_detail::pairwise(lanes);
}

// Two sums in one sweep (each with its own lanes): term(at, first, second) adds to both.
template <class Term> void lane_sum2(std::int64_t n, const Term& term, double& first, double& second) {
  f64x8 a = {}, b = {};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) term(VectorAt{i}, a, b);
  double la[8], lb[8];
  std::memcpy(la, &a, sizeof la);
  std::memcpy(lb, &b, sizeof lb);
  for (int l = 0; i < n; ++i, ++l) term(ScalarAt{i}, la[l], lb[l]);
  first = lanes_detail::pairwise(la);
  second = lanes_detail::pairwise(lb);
}

// out[i] = T(value(at_i)) for i in [0, n): an elementwise map computed in double.
template <class T, class Value> void lane_map(std::int64_t n, T* out, const Value& value) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) lanes_detail::store8(out + i, value(VectorAt{i}));
  for (; i < n; ++i) out[i] = static_cast<T>(value(ScalarAt{i}));
}

}  // namespace
#pragma GCC diagnostic pop

}  // namespace dagrad::kernels
