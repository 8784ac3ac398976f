#include "ops/kernels/conv_depthwise.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "ops/kernels/parallel.h"

namespace dagrad::kernels {
namespace {

// Every output is the zero-padded definition summed in tap order (row i, then column j), the first
// product starting the sum: acc = w00*x00, acc += w01*x01, ... The vector interior, the scalar
// borders and the plain path all compute exactly this, so a build without AVX-512 gives the same
// bits, and a padded tap contributes w * 0 as it does in im2col + GEMM (an infinite weight gives NaN).

// Output pixels per parallel chunk (whole planes): a function of the shape only. Each plane's
// arithmetic does not depend on its chunk anyway; the grain just amortizes task overhead.
constexpr std::int64_t kChunkOutputs = 32768;

// A row of zeros standing in for the kernel rows that fall in the top or bottom padding, so that
// the interior loop never tests rows. Only grows; never written after it is zeroed.
template <class T> const T* zero_row(std::int64_t w) {
  thread_local std::vector<T> zeros;
  if (static_cast<std::int64_t>(zeros.size()) < w) zeros.resize(static_cast<std::size_t>(w), T(0));
  return zeros.data();
}

// The three input rows under one output row (a zero row in the padding), and the filter.
template <class T> struct Rows {
  const T* r[3];
  const T* k;  // 9 taps, row-major
};

// Outputs [lo, hi) whose taps all fall inside the row: no bounds tests. SW > 0 is the stride known
// at compile time (so that the plain loop vectorizes with unit or constant stride).
template <class T, int SW>
void interior_plain(const Rows<T>& rows, const ConvGeometry& g, std::int64_t lo, std::int64_t hi, T* __restrict out) {
  const std::int64_t sw = SW > 0 ? SW : g.sw, dw = g.dw, pw = g.pw;
  const T* k = rows.k;
  const T k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7], k8 = k[8];
  const T* __restrict a = rows.r[0];
  const T* __restrict b = rows.r[1];
  const T* __restrict c = rows.r[2];
  for (std::int64_t ox = lo; ox < hi; ++ox) {
    const std::int64_t i = ox * sw - pw;
    T acc = k0 * a[i];
    acc += k1 * a[i + dw];
    acc += k2 * a[i + 2 * dw];
    acc += k3 * b[i];
    acc += k4 * b[i + dw];
    acc += k5 * b[i + 2 * dw];
    acc += k6 * c[i];
    acc += k7 * c[i + dw];
    acc += k8 * c[i + 2 * dw];
    out[ox] = acc;
  }
}

#if defined(__AVX512F__)
// 16 outputs per vector, multiply then add (never fused: the plain path's arithmetic). Stride 1
// reads each tap as one unaligned load; stride 2 gathers the even elements of two loads with one
// permute. Tails use masked loads and stores, which never touch memory past the row.
template <int SW>
void interior_avx512(const Rows<float>& rows, const ConvGeometry& g, std::int64_t lo, std::int64_t hi, float* out) {
  static_assert(SW == 1 || SW == 2);
  const std::int64_t dw = g.dw, pw = g.pw;
  __m512 k[9];
  for (int t = 0; t < 9; ++t) k[t] = _mm512_set1_ps(rows.k[t]);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  auto tap = [&](const float* p, __mmask16 m_lo, __mmask16 m_hi) {
    if constexpr (SW == 1) {
      (void)m_hi;
      return _mm512_maskz_loadu_ps(m_lo, p);
    } else {
      // Elements 0, 2, ..., 30 of p: the first load holds 0..15, the second 16..30 (never 31,
      // which may lie past the row).
      return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m_lo, p), even, _mm512_maskz_loadu_ps(m_hi, p + 16));
    }
  };
  auto vector = [&](std::int64_t ox, __mmask16 m_lo, __mmask16 m_hi) {
    const std::int64_t i = ox * SW - pw;  // >= 0 in the interior
    __m512 acc = _mm512_mul_ps(k[0], tap(rows.r[0] + i, m_lo, m_hi));
    for (int r = 0; r < 3; ++r)
      for (int j = 0; j < 3; ++j) {
        if (r == 0 && j == 0) continue;
        acc = _mm512_add_ps(acc, _mm512_mul_ps(k[3 * r + j], tap(rows.r[r] + i + j * dw, m_lo, m_hi)));
      }
    return acc;
  };
  std::int64_t ox = lo;
  const __mmask16 full = 0xFFFF, full_hi = SW == 1 ? 0 : 0x7FFF;
  for (; ox + 16 <= hi; ox += 16) _mm512_storeu_ps(out + ox, vector(ox, full, full_hi));
  if (ox < hi) {
    const std::int64_t left = hi - ox;  // 1..15 outputs
    const __mmask16 m_out = static_cast<__mmask16>((1u << left) - 1);
    __mmask16 m_lo = m_out, m_hi = 0;
    if constexpr (SW == 2) {
      const std::int64_t span = 2 * left - 1;  // input elements 0 .. 2 (left - 1)
      m_lo = static_cast<__mmask16>(span >= 16 ? 0xFFFF : (1u << span) - 1);
      m_hi = static_cast<__mmask16>(span > 16 ? (1u << (span - 16)) - 1 : 0);
    }
    _mm512_mask_storeu_ps(out + ox, m_out, vector(ox, m_lo, m_hi));
  }
}
#endif

template <class T>
void interior(const Rows<T>& rows, const ConvGeometry& g, std::int64_t lo, std::int64_t hi, T* out) {
  if (lo >= hi) return;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (g.sw == 1) return interior_avx512<1>(rows, g, lo, hi, out);
    if (g.sw == 2) return interior_avx512<2>(rows, g, lo, hi, out);
  }
#endif
  if (g.sw == 1) return interior_plain<T, 1>(rows, g, lo, hi, out);
  if (g.sw == 2) return interior_plain<T, 2>(rows, g, lo, hi, out);
  interior_plain<T, 0>(rows, g, lo, hi, out);
}

// One output whose taps may fall in the left or right padding: a padded tap reads 0.
template <class T> T border(const Rows<T>& rows, const ConvGeometry& g, std::int64_t ox) {
  T acc(0);
  for (int r = 0; r < 3; ++r)
    for (int j = 0; j < 3; ++j) {
      const std::int64_t ix = ox * g.sw - g.pw + j * g.dw;
      const T v = ix >= 0 && ix < g.w ? rows.r[r][ix] : T(0);
      const T product = rows.k[3 * r + j] * v;
      acc = r == 0 && j == 0 ? product : acc + product;
    }
  return acc;
}

// Adds the bias and applies the epilogue to one output row, while it is in cache: the same
// expressions as conv_forward's (T addition, then T(double(y) * scale + shift), then relu as y > 0 ? y : 0).
template <class T>
void finish_row(T* out, std::int64_t count, const T* bias, const ChannelEpilogue* epilogue, std::int64_t f) {
  if (bias) {
    const T b = bias[f];
    for (std::int64_t p = 0; p < count; ++p) out[p] += b;
  }
  if (!epilogue) return;
  const double scale = epilogue->scale[f], shift = epilogue->shift[f];
  for (std::int64_t p = 0; p < count; ++p) out[p] = static_cast<T>(out[p] * scale + shift);
  if (epilogue->activation == Activation::relu)
    for (std::int64_t p = 0; p < count; ++p) out[p] = out[p] > T(0) ? out[p] : T(0);
}

// One output plane: filter f over its input channel's plane, row by row, so each input row is read
// from memory once and reused from cache by the (up to 3) output rows under it.
template <class T>
void plane(const ConvGeometry& g, const T* x, const T* k, const T* bias, const ChannelEpilogue* epilogue, std::int64_t f,
           T* y) {
  const T* zeros = zero_row<T>(g.w);
  // Columns [lo, hi) have all three taps inside the row; the others are borders.
  const std::int64_t lo = std::min(g.ow, (g.pw + g.sw - 1) / g.sw);
  const std::int64_t last = g.w - 1 + g.pw - 2 * g.dw;  // largest ox * sw with the right tap inside
  const std::int64_t hi = std::max(lo, std::min(g.ow, last < 0 ? 0 : last / g.sw + 1));
  Rows<T> rows{{}, k};
  for (std::int64_t oy = 0; oy < g.oh; ++oy) {
    for (int r = 0; r < 3; ++r) {
      const std::int64_t iy = oy * g.sh - g.ph + r * g.dh;
      rows.r[r] = iy >= 0 && iy < g.h ? x + iy * g.w : zeros;
    }
    T* out = y + oy * g.ow;
    for (std::int64_t ox = 0; ox < lo; ++ox) out[ox] = border(rows, g, ox);
    interior(rows, g, lo, hi, out);
    for (std::int64_t ox = hi; ox < g.ow; ++ox) out[ox] = border(rows, g, ox);
    finish_row(out, g.ow, bias, epilogue, f);
  }
}

}  // namespace

bool depthwise3x3_applies(const ConvGeometry& g) {
  return g.c > 0 && g.groups == g.c && g.f % g.c == 0 && g.kh == 3 && g.kw == 3 && g.sh >= 1 && g.sw >= 1 &&
         g.dh >= 1 && g.dw >= 1 && g.ph >= 0 && g.pw >= 0;
}

template <class T>
void depthwise3x3_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                          const ChannelEpilogue* epilogue) {
  const std::int64_t planes = g.n * g.f, pixels = g.oh * g.ow, in_plane = g.h * g.w, multiplier = g.f / g.c;
  if (planes == 0 || pixels == 0) return;
  const std::int64_t grain = std::max<std::int64_t>(1, kChunkOutputs / pixels);
  // Planes in (image, filter) order: the filters of one channel are adjacent, so with a channel
  // multiplier the input plane is still in cache for its second filter.
  parallel_chunks(planes, grain, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t p = begin; p < end; ++p) {
      const std::int64_t n = p / g.f, f = p % g.f, c = f / multiplier;
      plane(g, x + (n * g.c + c) * in_plane, w + f * 9, bias, epilogue, f, y + p * pixels);
    }
  });
}

template void depthwise3x3_forward<float>(const ConvGeometry&, const float*, const float*, const float*, float*,
                                          const ChannelEpilogue*);
template void depthwise3x3_forward<double>(const ConvGeometry&, const double*, const double*, const double*, double*,
                                           const ChannelEpilogue*);

}  // namespace dagrad::kernels
