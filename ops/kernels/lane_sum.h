#pragma once
// Double-precision sums in a fixed order that the compiler can vectorize: eight interleaved lanes
// (element i goes to lane i % 8) combined pairwise at the end. One long chain of dependent adds
// would be bound by the add latency; the order depends only on the length, never on threads.
#include <cstdint>

namespace dagrad::kernels {

// sum over i in [0, n) of term(i), where term returns a double.
template <class Term> double lane_sum(std::int64_t n, const Term& term) {
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += term(i + l);
  for (int l = 0; i < n; ++i, ++l) lanes[l] += term(i);
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

// Two sums in one sweep (each with its own lanes), for kernels that need both.
template <class Term> void lane_sum2(std::int64_t n, const Term& term, double& first, double& second) {
  double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) term(i + l, a[l], b[l]);
  for (int l = 0; i < n; ++i, ++l) term(i, a[l], b[l]);
  first = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  second = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
}

}  // namespace dagrad::kernels
