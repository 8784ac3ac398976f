// The direct convolution's AVX2 + FMA tiles (see conv_direct_tiles.h): 16 ymm registers.
#include "ops/kernels/conv_direct_tiles.h"

#if defined(__x86_64__)
#include <immintrin.h>

// GCC takes the target for every function below through its pragma; clang through its
// attribute pragma (it ignores GCC target pragmas and would reject the intrinsics).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace dagrad::kernels::direct {
namespace {

constexpr std::int64_t kLanes = 8;
// Pixel lanes: 4 filters x 24 pixels, 12 accumulators.
constexpr std::int64_t kTileFilters = 4;
constexpr std::int64_t kTileVectors = 3;
constexpr std::int64_t kTilePixels = kTileVectors * kLanes;
// Filter lanes: 6 output pixels (or taps) x 16 filters, 12 accumulators plus 2 filter vectors and a
// broadcast: 3 x 32 would need 17 registers, and the spilled accumulator made it 2.5x slower.
constexpr std::int64_t kLaneTileRows = 6;
constexpr std::int64_t kLaneVectors = 2;

// Sums of 8 lanes in one fixed order.
float lane_sum(__m256 v) {
  alignas(32) float l[kLanes];
  _mm256_store_ps(l, v);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

// Not inlined: in the caller, GCC spills the 12 accumulators (measured 3x slower).
[[gnu::noinline]] void forward_tile(const float* in, const std::int64_t* offset, std::int64_t taps, const float* w,
                                    std::int64_t ldw, float* out, std::int64_t ldo) {
  __m256 acc[kTileFilters][kTileVectors];
#pragma GCC unroll 4
  for (auto& row : acc)
#pragma GCC unroll 3
    for (auto& a : row) a = _mm256_setzero_ps();
  for (std::int64_t k = 0; k < taps; ++k, w += ldw) {
    const float* row = in + offset[k];
    __m256 xv[kTileVectors];
#pragma GCC unroll 3
    for (std::int64_t v = 0; v < kTileVectors; ++v) {
      xv[v] = _mm256_loadu_ps(row + v * kLanes);
      // Keep the vector in a register: otherwise GCC folds the load into each of the 4 FMAs
      // that use it, and the tile becomes load-bound (measured 1.5x slower).
      asm("" : "+x"(xv[v]));
    }
#pragma GCC unroll 4
    for (std::int64_t r = 0; r < kTileFilters; ++r) {
      const __m256 wv = _mm256_broadcast_ss(w + r);
#pragma GCC unroll 3
      for (std::int64_t v = 0; v < kTileVectors; ++v) acc[r][v] = _mm256_fmadd_ps(wv, xv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 4
  for (std::int64_t r = 0; r < kTileFilters; ++r)
#pragma GCC unroll 3
    for (std::int64_t v = 0; v < kTileVectors; ++v) _mm256_storeu_ps(out + r * ldo + v * kLanes, acc[r][v]);
}

[[gnu::noinline]] void gradient_tile(const float* dy, std::int64_t ldd, const float* in, const std::int64_t* offset,
                                     std::int64_t pixels, float* dw, std::int64_t ldw, std::int64_t rows, std::int64_t cols) {
  __m256 acc[kTileFilters][kTileVectors];
#pragma GCC unroll 4
  for (auto& row : acc)
#pragma GCC unroll 3
    for (auto& a : row) a = _mm256_setzero_ps();
  const float* x0 = in + offset[0];
  const float* x1 = in + offset[1];
  const float* x2 = in + offset[2];
  for (std::int64_t p = 0; p < pixels; p += kLanes) {
    __m256 xv[kTileVectors] = {_mm256_loadu_ps(x0 + p), _mm256_loadu_ps(x1 + p), _mm256_loadu_ps(x2 + p)};
#pragma GCC unroll 3
    for (auto& v : xv) asm("" : "+x"(v));  // in registers, not reloaded per FMA (see forward_tile)
#pragma GCC unroll 4
    for (std::int64_t r = 0; r < kTileFilters; ++r) {
      __m256 dv = _mm256_loadu_ps(dy + r * ldd + p);
      asm("" : "+x"(dv));
#pragma GCC unroll 3
      for (std::int64_t v = 0; v < kTileVectors; ++v) acc[r][v] = _mm256_fmadd_ps(dv, xv[v], acc[r][v]);
    }
  }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t v = 0; v < cols; ++v) dw[r * ldw + v] += lane_sum(acc[r][v]);
}

[[gnu::noinline]] void lane_tile(std::int64_t, const float* in, const std::int64_t* row_at, const std::int64_t* step_at,
                                 std::int64_t steps, const float* vectors, std::int64_t ld, float* out, std::int64_t ldo,
                                 bool accumulate) {
  __m256 acc[kLaneTileRows][kLaneVectors];
#pragma GCC unroll 6
  for (auto& row : acc)
#pragma GCC unroll 2
    for (auto& a : row) a = _mm256_setzero_ps();
  const float* x[kLaneTileRows];
#pragma GCC unroll 6
  for (std::int64_t r = 0; r < kLaneTileRows; ++r) x[r] = in + row_at[r];
  for (std::int64_t t = 0; t < steps; ++t, vectors += ld) {
    __m256 vv[kLaneVectors];
#pragma GCC unroll 2
    for (std::int64_t v = 0; v < kLaneVectors; ++v) {
      vv[v] = _mm256_loadu_ps(vectors + v * kLanes);
      asm("" : "+x"(vv[v]));  // in a register, not reloaded per FMA (see forward_tile)
    }
    const std::int64_t o = step_at[t];
#pragma GCC unroll 6
    for (std::int64_t r = 0; r < kLaneTileRows; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x[r] + o);
#pragma GCC unroll 2
      for (std::int64_t v = 0; v < kLaneVectors; ++v) acc[r][v] = _mm256_fmadd_ps(xv, vv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 6
  for (std::int64_t r = 0; r < kLaneTileRows; ++r)
#pragma GCC unroll 2
    for (std::int64_t v = 0; v < kLaneVectors; ++v) {
      float* target = out + r * ldo + v * kLanes;
      _mm256_storeu_ps(target, accumulate ? _mm256_add_ps(_mm256_loadu_ps(target), acc[r][v]) : acc[r][v]);
    }
}

constexpr Tiles kAvx2Tiles{
    .forward_filters = kTileFilters,
    .forward_pixels = kTilePixels,
    .forward = forward_tile,
    .gradient_filters = kTileFilters,
    .gradient_taps = kTileVectors,
    .lanes = kLanes,
    .gradient = gradient_tile,
    .lane_filters = kLaneVectors * kLanes,
    .lane_rows = kLaneTileRows,
    .lane_row_multiple = kLaneTileRows,
    .lane = lane_tile,
    .wide_lane_filters = 0,
    .wide_lane_rows = 0,
    .wide_lane = nullptr,
};

}  // namespace
}  // namespace dagrad::kernels::direct

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// Outside the target region: called from baseline code on any CPU.
const dagrad::kernels::direct::Tiles* dagrad::kernels::direct::avx2_tiles() { return &kAvx2Tiles; }

#else
namespace dagrad::kernels::direct {
const Tiles* avx2_tiles() { return nullptr; }
}  // namespace dagrad::kernels::direct
#endif
