#include "ops/kernels/max_pool.h"

#include <limits>
#include <type_traits>

#include "ops/kernels/cpu_isa.h"

// The AVX2 cells are compiled for AVX2 whatever the build's -march (target attributes) and run
// when active_isa() has AVX2: one binary for every x86-64.
#if defined(__x86_64__)
#include <immintrin.h>
#define DAGRAD_VECTOR_MAX_POOL 1
#define DAGRAD_AVX2 __attribute__((target("avx2")))
#else
#define DAGRAD_VECTOR_MAX_POOL 0
#endif

namespace dagrad::kernels {
namespace {

template <class T> void scalar_cell(const PoolGeometry& g, const T* plane, std::int64_t oh, std::int64_t ow, T* y,
                                    std::int64_t* indices) {
  const std::int64_t i = window_argmax(plane, g, oh, ow), cell = oh * g.out_w + ow;
  y[cell] = i >= 0 ? plane[i] : -std::numeric_limits<T>::infinity();
  if (indices) indices[cell] = i;
}

#if DAGRAD_VECTOR_MAX_POOL
// 8 input values starting at `at`, `stride` (1 or 2) apart.
DAGRAD_AVX2 inline __m256 load_strided(const float* at, std::int64_t stride) {
  if (stride == 1) return _mm256_loadu_ps(at);
  const __m256 a = _mm256_loadu_ps(at), b = _mm256_loadu_ps(at + 8);
  const __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)));
}

// Output cells (oh, ow0 .. ow0 + 8), whose windows are all inside the plane.
DAGRAD_AVX2 void vector_cells(const PoolGeometry& g, const float* plane, std::int64_t oh, std::int64_t ow0, float* y,
                  std::int64_t* indices) {
  const std::int64_t top = oh * g.stride[0] - g.pad[0], left = ow0 * g.stride[1] - g.pad[1];
  const __m256i lane_offsets = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                  _mm256_set1_epi32(static_cast<int>(g.stride[1])));
  __m256 best = _mm256_setzero_ps();
  __m256i best_at = _mm256_setzero_si256();
  for (std::int64_t kh = 0; kh < g.window[0]; ++kh)
    for (std::int64_t kw = 0; kw < g.window[1]; ++kw) {
      const std::int64_t first = (top + kh * g.dilation[0]) * g.in_w + left + kw * g.dilation[1];  // lane 0's cell
      const __m256 v = load_strided(plane + first, g.stride[1]);
      const __m256i at = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(first)), lane_offsets);
      if (kh == 0 && kw == 0) {
        best = v, best_at = at;
        continue;
      }
      // v > best, or v is NaN and best is not: the scalar rule, so ties keep the first maximum.
      const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ),
                                       _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
      best = _mm256_blendv_ps(best, v, take);
      best_at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(best_at), _mm256_castsi256_ps(at), take));
    }
  const std::int64_t cell = oh * g.out_w + ow0;
  _mm256_storeu_ps(y + cell, best);
  if (!indices) return;
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(indices + cell), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(best_at)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(indices + cell + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(best_at, 1)));
}
#endif

}  // namespace

template <class T> void max_pool_plane(const PoolGeometry& g, const T* plane, T* y, std::int64_t* indices) {
  [[maybe_unused]] const bool avx2 = active_isa() != Isa::baseline;
  for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
    std::int64_t ow = 0;
#if DAGRAD_VECTOR_MAX_POOL
    if constexpr (std::is_same_v<T, float>) {
      const std::int64_t top = oh * g.stride[0] - g.pad[0];
      const bool rows_inside = top >= 0 && top + (g.window[0] - 1) * g.dilation[0] < g.in_h;
      const bool vectorizable = (g.stride[1] == 1 || g.stride[1] == 2) && g.in_plane() < (std::int64_t{1} << 30);
      if (avx2 && rows_inside && vectorizable) {
        // Scalar cells until the window's left edge is inside, vectors while 8 windows (and the
        // 16-wide loads of stride 2) stay inside, scalar for the rest.
        for (; ow < g.out_w && ow * g.stride[1] - g.pad[1] < 0; ++ow) scalar_cell(g, plane, oh, ow, y, indices);
        auto last_read = [&](std::int64_t first_ow) {  // one past the last column 8 cells read
          return (first_ow + 7) * g.stride[1] - g.pad[1] + (g.window[1] - 1) * g.dilation[1] + 1 + (g.stride[1] == 2 ? 8 : 0);
        };
        for (; ow + 8 <= g.out_w && last_read(ow) <= g.in_w; ow += 8) vector_cells(g, plane, oh, ow, y, indices);
      }
    }
#endif
    for (; ow < g.out_w; ++ow) scalar_cell(g, plane, oh, ow, y, indices);
  }
}

template void max_pool_plane<float>(const PoolGeometry&, const float*, float*, std::int64_t*);
template void max_pool_plane<double>(const PoolGeometry&, const double*, double*, std::int64_t*);

}  // namespace dagrad::kernels
