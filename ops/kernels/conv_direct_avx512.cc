// The direct convolution's AVX-512 tiles (see conv_direct_tiles.h). 32 zmm registers hold tiles of
// 24 accumulators with their operands, which the 16 ymm registers of AVX2 could not (its 3 x 32
// filter-lane tile spilled). Every tile keeps its operands in registers with an empty asm: GCC
// otherwise folds a load (or an embedded broadcast) into each FMA that uses it, and the tile
// becomes load-bound.
#include "ops/kernels/conv_direct_tiles.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <utility>

// GCC takes the target for every function below through its pragma; clang through its
// attribute pragma (it ignores GCC target pragmas and would reject the intrinsics).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

namespace dagrad::kernels::direct {
namespace {

constexpr std::int64_t kLanes = 16;

// Pixel lanes, forward: Filters x Vectors accumulators of 16 pixels. 8 x 3 (48 pixels) measured
// 5-10% faster than 4 x 6 (96 pixels) on resnet_ref's 28-wide layers and ResNet-18's stem.
constexpr std::int64_t kForwardFilters = 8;
constexpr std::int64_t kForwardVectors = 3;
// Pixel lanes, filter gradient: Filters x Taps accumulators.
constexpr std::int64_t kGradientFilters = 8;
constexpr std::int64_t kGradientTaps = 3;
// Filter lanes: up to 24 rows x 16 filters, or 12 rows x 32 filters.
constexpr std::int64_t kLaneRows = 24;
constexpr std::int64_t kWideLaneRows = 12;

// Sums of 16 lanes in one fixed order (a pairwise tree).
float lane_sum(__m512 v) {
  alignas(64) float l[kLanes];
  _mm512_store_ps(l, v);
  float s[8];
  for (int i = 0; i < 8; ++i) s[i] = l[2 * i] + l[2 * i + 1];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

template <int Filters, int Vectors>
[[gnu::noinline]] void forward_tile(const float* in, const std::int64_t* offset, std::int64_t taps, const float* w,
                                    std::int64_t ldw, float* out, std::int64_t ldo) {
  __m512 acc[Filters][Vectors];
#pragma GCC unroll 8
  for (auto& row : acc)
#pragma GCC unroll 8
    for (auto& a : row) a = _mm512_setzero_ps();
  for (std::int64_t k = 0; k < taps; ++k, w += ldw) {
    const float* row = in + offset[k];
    __m512 xv[Vectors];
#pragma GCC unroll 8
    for (int v = 0; v < Vectors; ++v) {
      xv[v] = _mm512_loadu_ps(row + v * kLanes);
      asm("" : "+v"(xv[v]));
    }
#pragma GCC unroll 8
    for (int r = 0; r < Filters; ++r) {
      __m512 wv = _mm512_set1_ps(w[r]);
      asm("" : "+v"(wv));
#pragma GCC unroll 8
      for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_fmadd_ps(wv, xv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < Filters; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < Vectors; ++v) _mm512_storeu_ps(out + r * ldo + v * kLanes, acc[r][v]);
}

template <int Filters, int Taps>
[[gnu::noinline]] void gradient_tile(const float* dy, std::int64_t ldd, const float* in, const std::int64_t* offset,
                                     std::int64_t pixels, float* dw, std::int64_t ldw, std::int64_t rows, std::int64_t cols) {
  __m512 acc[Filters][Taps];
#pragma GCC unroll 8
  for (auto& row : acc)
#pragma GCC unroll 8
    for (auto& a : row) a = _mm512_setzero_ps();
  const float* x[Taps];
#pragma GCC unroll 8
  for (int v = 0; v < Taps; ++v) x[v] = in + offset[v];
  for (std::int64_t p = 0; p < pixels; p += kLanes) {
    __m512 xv[Taps];
#pragma GCC unroll 8
    for (int v = 0; v < Taps; ++v) {
      xv[v] = _mm512_loadu_ps(x[v] + p);
      asm("" : "+v"(xv[v]));
    }
#pragma GCC unroll 8
    for (int r = 0; r < Filters; ++r) {
      __m512 dv = _mm512_loadu_ps(dy + r * ldd + p);
      asm("" : "+v"(dv));
#pragma GCC unroll 8
      for (int v = 0; v < Taps; ++v) acc[r][v] = _mm512_fmadd_ps(dv, xv[v], acc[r][v]);
    }
  }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t v = 0; v < cols; ++v) dw[r * ldw + v] += lane_sum(acc[r][v]);
}

template <int Rows, int Vectors>
[[gnu::noinline]] void lane_tile_rows(const float* in, const std::int64_t* row_at, const std::int64_t* step_at,
                                      std::int64_t steps, const float* vectors, std::int64_t ld, float* out,
                                      std::int64_t ldo, bool accumulate) {
  __m512 acc[Rows][Vectors];
#pragma GCC unroll 32
  for (auto& row : acc)
#pragma GCC unroll 4
    for (auto& a : row) a = _mm512_setzero_ps();
  const float* x[Rows];
#pragma GCC unroll 32
  for (int r = 0; r < Rows; ++r) x[r] = in + row_at[r];
  for (std::int64_t t = 0; t < steps; ++t, vectors += ld) {
    __m512 vv[Vectors];
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) {
      vv[v] = _mm512_loadu_ps(vectors + v * kLanes);
      asm("" : "+v"(vv[v]));
    }
    const std::int64_t o = step_at[t];
#pragma GCC unroll 32
    for (int r = 0; r < Rows; ++r) {
      __m512 xv = _mm512_set1_ps(x[r][o]);
      if constexpr (Vectors > 1) asm("" : "+v"(xv));  // one broadcast for the row's vectors
#pragma GCC unroll 4
      for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_fmadd_ps(xv, vv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < Vectors; ++v) {
      float* target = out + r * ldo + v * kLanes;
      _mm512_storeu_ps(target, accumulate ? _mm512_add_ps(_mm512_loadu_ps(target), acc[r][v]) : acc[r][v]);
    }
}

// Any row count up to MaxRows: the full tile or a shorter one for the last rows (no padding).
template <int Vectors, int MaxRows, std::size_t... R>
void lane_tile_any(std::int64_t rows, const float* in, const std::int64_t* row_at, const std::int64_t* step_at,
                   std::int64_t steps, const float* vectors, std::int64_t ld, float* out, std::int64_t ldo, bool accumulate,
                   std::index_sequence<R...>) {
  using Tile = void (*)(const float*, const std::int64_t*, const std::int64_t*, std::int64_t, const float*, std::int64_t,
                        float*, std::int64_t, bool);
  static constexpr Tile tiles[] = {lane_tile_rows<static_cast<int>(R) + 1, Vectors>...};
  tiles[rows - 1](in, row_at, step_at, steps, vectors, ld, out, ldo, accumulate);
}

void lane_tile(std::int64_t rows, const float* in, const std::int64_t* row_at, const std::int64_t* step_at,
               std::int64_t steps, const float* vectors, std::int64_t ld, float* out, std::int64_t ldo, bool accumulate) {
  lane_tile_any<1, kLaneRows>(rows, in, row_at, step_at, steps, vectors, ld, out, ldo, accumulate,
                              std::make_index_sequence<kLaneRows>());
}
void wide_lane_tile(std::int64_t rows, const float* in, const std::int64_t* row_at, const std::int64_t* step_at,
                    std::int64_t steps, const float* vectors, std::int64_t ld, float* out, std::int64_t ldo, bool accumulate) {
  lane_tile_any<2, kWideLaneRows>(rows, in, row_at, step_at, steps, vectors, ld, out, ldo, accumulate,
                                  std::make_index_sequence<kWideLaneRows>());
}

constexpr Tiles kAvx512Tiles{
    .forward_filters = kForwardFilters,
    .forward_pixels = kForwardVectors * kLanes,
    .forward = forward_tile<kForwardFilters, kForwardVectors>,
    .gradient_filters = kGradientFilters,
    .gradient_taps = kGradientTaps,
    .lanes = kLanes,
    .gradient = gradient_tile<kGradientFilters, kGradientTaps>,
    .lane_filters = kLanes,
    .lane_rows = kLaneRows,
    .lane_row_multiple = 1,
    .lane = lane_tile,
    .wide_lane_filters = 2 * kLanes,
    .wide_lane_rows = kWideLaneRows,
    .wide_lane = wide_lane_tile,
};

}  // namespace
}  // namespace dagrad::kernels::direct

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// Outside the target region: called from baseline code on any CPU.
const dagrad::kernels::direct::Tiles* dagrad::kernels::direct::avx512_tiles() { return &kAvx512Tiles; }

#else
namespace dagrad::kernels::direct {
const Tiles* avx512_tiles() { return nullptr; }
}  // namespace dagrad::kernels::direct
#endif
