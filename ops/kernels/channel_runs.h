#pragma once
// The inner loops of batch norm and its gradient: one contiguous run of H*W values of one image and
// channel at a time, compiled once per instruction set (channel_runs_avx2.cc, _avx512.cc, and the
// baseline in channel_runs.cc) and chosen by active_isa(). Every path computes the same bits: the
// arithmetic is written once (channel_runs_impl.h) in double-precision lanes of fixed order
// (channel_runs_impl.h), plain IEEE operations with no contraction, so the ISA changes the speed only.
#include <cstdint>

namespace dagrad::kernels {

template <class T> struct ChannelRuns {
  // sum of x[i], and of (x[i] - mean)^2, as lane_sum does.
  double (*sum)(std::int64_t n, const T* x);
  double (*squared_deviations)(std::int64_t n, const T* x, double mean);
  // With g = dy, or relu_grad(relu_y, dy) when relu_y is not null: sum of g and of
  // g * (x - mean) * invstd, as lane_sum2 does.
  void (*gradient_sums)(std::int64_t n, const T* x, const T* dy, const T* relu_y, double mean, double invstd,
                        double& sum_g, double& sum_g_xhat);
  // y = T(x * scale + shift); with `residual`, + residual rounded to T (add); with `relu`, relu:
  // the separate ops' arithmetic.
  void (*normalize)(std::int64_t n, const T* x, const T* residual, bool relu, T* y, double scale, double shift);
  // Training: dx = T(k_dy * g + k_x * (x - mean) + k_0); inference (x null): dx = T(g * k_dy).
  void (*input_gradient)(std::int64_t n, const T* x, const T* dy, const T* relu_y, T* dx, double k_dy, double k_x,
                         double mean, double k_0);
};

// The active path's loops.
template <class T> const ChannelRuns<T>& channel_runs();

}  // namespace dagrad::kernels
