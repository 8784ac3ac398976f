// Batch norm's run loops (ops/kernels/channel_runs.h) on every instruction-set path the CPU has,
// bitwise against a plain scalar reference of the documented arithmetic: eight lanes (element i in
// lane i % 8) combined pairwise, affine values rounded to T where the separate ops store them.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "ops/kernels/channel_runs.h"
#include "ops/kernels/cpu_isa.h"

namespace dagrad::kernels {
namespace {

struct ForcedIsa {
  explicit ForcedIsa(Isa isa) : previous(active_isa()) { force_isa(isa); }
  ~ForcedIsa() { force_isa(previous); }
  Isa previous;
};

template <class Term> double reference_lanes(std::int64_t n, const Term& term) {
  double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (std::int64_t i = 0; i < n; ++i) lanes[i % 8] += term(i);
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

template <class T> std::vector<T> values(std::int64_t n, std::uint64_t seed, bool with_zeros) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<T>(static_cast<double>(seed >> 11) / 9007199254740992.0 * 4.0 - 2.0);
    if (with_zeros && (seed >> 60) == 0) x = (seed >> 59) & 1 ? T(0) : -T(0);
  }
  if (with_zeros && n > 3) v[3] = std::numeric_limits<T>::quiet_NaN();  // relu and its mask: 0
  return v;
}

template <class T> bool same_bits(T a, T b) { return std::memcmp(&a, &b, sizeof a) == 0; }

template <class T> void check_path(Isa isa) {
  ForcedIsa forced(isa);
  const ChannelRuns<T>& runs = channel_runs<T>();
  for (std::int64_t n : {1, 7, 8, 9, 16, 23, 49, 196, 784}) {
    const std::vector<T> x = values<T>(n, 1 + n, false), dy = values<T>(n, 2 + n, false);
    const std::vector<T> relu_y = values<T>(n, 3 + n, true), residual = values<T>(n, 4 + n, true);
    const double mean = 0.125, invstd = 1.75, scale = -0.625, shift = 0.3;
    const std::string where = std::string(isa_name(isa)) + " n " + std::to_string(n);

    EXPECT_TRUE(same_bits(runs.sum(n, x.data()), reference_lanes(n, [&](std::int64_t i) { return double(x[i]); }))) << where;
    EXPECT_TRUE(same_bits(runs.squared_deviations(n, x.data(), mean), reference_lanes(n, [&](std::int64_t i) {
                            const double d = double(x[i]) - mean;
                            return d * d;
                          })))
        << where;
    for (bool masked : {false, true}) {
      auto g = [&](std::int64_t i) { return masked ? (relu_y[i] > 0 ? double(dy[i]) : 0.0) : double(dy[i]); };
      double sum_g = 0, sum_g_xhat = 0;
      runs.gradient_sums(n, x.data(), dy.data(), masked ? relu_y.data() : nullptr, mean, invstd, sum_g, sum_g_xhat);
      EXPECT_TRUE(same_bits(sum_g, reference_lanes(n, g))) << where << " masked " << masked;
      EXPECT_TRUE(same_bits(sum_g_xhat, reference_lanes(n, [&](std::int64_t i) { return g(i) * (double(x[i]) - mean) * invstd; })))
          << where << " masked " << masked;
      std::vector<T> dx(static_cast<std::size_t>(n));
      runs.input_gradient(n, x.data(), dy.data(), masked ? relu_y.data() : nullptr, dx.data(), 0.7, -0.2, mean, 0.05);
      for (std::int64_t i = 0; i < n; ++i)
        EXPECT_TRUE(same_bits(dx[i], static_cast<T>(0.7 * g(i) + -0.2 * (double(x[i]) - mean) + 0.05))) << where << " i " << i;
      runs.input_gradient(n, nullptr, dy.data(), masked ? relu_y.data() : nullptr, dx.data(), 0.7, 0, 0, 0);
      for (std::int64_t i = 0; i < n; ++i)
        EXPECT_TRUE(same_bits(dx[i], static_cast<T>(g(i) * 0.7))) << where << " inference i " << i;
    }
    for (bool with_residual : {false, true})
      for (bool relu : {false, true}) {
        std::vector<T> y(static_cast<std::size_t>(n));
        runs.normalize(n, x.data(), with_residual ? residual.data() : nullptr, relu, y.data(), scale, shift);
        for (std::int64_t i = 0; i < n; ++i) {
          T expect = static_cast<T>(double(x[i]) * scale + shift);  // batch_norm's y
          if (with_residual) expect = expect + residual[i];         // add, in T
          if (relu) expect = expect > 0 ? expect : T(0);            // relu, in T
          EXPECT_TRUE(same_bits(y[i], expect)) << where << " residual " << with_residual << " relu " << relu << " i " << i;
        }
      }
  }
}

TEST(ChannelRuns, EveryPathIsBitwiseThePlainReference) {
  int paths = 0;
  for (Isa isa : {Isa::baseline, Isa::avx2, Isa::avx512}) {
    if (!isa_supported(isa)) continue;
    ++paths;
    check_path<float>(isa);
    check_path<double>(isa);
  }
  EXPECT_GE(paths, 1);
}

}  // namespace
}  // namespace dagrad::kernels
