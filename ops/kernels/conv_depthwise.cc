#include "ops/kernels/conv_depthwise.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "ops/kernels/cpu_isa.h"
#include "ops/kernels/parallel.h"

// The AVX-512 rows are compiled for AVX-512 whatever the build's -march (target pragmas around
// them, after every include, so that no library code is compiled for AVX-512) and run when
// active_isa() is avx512. Every path computes the same bits (see below), so the choice is speed only.
#if defined(__x86_64__)
#include <immintrin.h>
#define DAGRAD_DEPTHWISE_AVX512 1
#if defined(__clang__)  // clang ignores GCC's target pragmas; its attribute pragma does the same
#define DAGRAD_AVX512_BEGIN \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512dq,avx512vl\"))), apply_to = function)")
#define DAGRAD_AVX512_END _Pragma("clang attribute pop")
#else
#define DAGRAD_AVX512_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512dq,avx512vl\")")
#define DAGRAD_AVX512_END _Pragma("GCC pop_options")
#endif
#else
#define DAGRAD_DEPTHWISE_AVX512 0
#endif

namespace dagrad::kernels {
namespace {

bool avx512_active() { return DAGRAD_DEPTHWISE_AVX512 && active_isa() == Isa::avx512; }

// Every output is the zero-padded definition summed in tap order (row i, then column j), the first
// product starting the sum: acc = w00*x00, acc += w01*x01, ... A padded tap contributes w * 0, as
// in im2col + GEMM (an infinite weight gives NaN). Every path below computes exactly this, so a
// path without AVX-512 gives the same bits. The forward routes, by geometry:
//  - float32 on the AVX-512 path, stride 1, output the input's size, rows up to 64: plane_same_size, the
//    plane as one masked run from x to y (MobileNet's 56x56, 28x28, 14x14, 7x7 layers);
//  - float32 on the AVX-512 path, other strides 1 and 2: plane_direct, rows read straight from x with
//    masked edge vectors and unmasked interior vectors;
//  - otherwise (float64, other strides, paths without AVX-512): each input plane copied once into
//    a zero-padded buffer in cache, then loops with no borders (plane).

// Output pixels per parallel chunk (whole planes): a function of the shape only. Each plane's
// arithmetic does not depend on its chunk anyway; the grain just amortizes task overhead.
constexpr std::int64_t kChunkOutputs = 32768;

// The three input rows under one output row, in the zero-padded copy of the plane, and the filter.
template <class T> struct Rows {
  const T* r[3];
  const T* k;  // 9 taps, row-major
};

// Outputs [0, count) of one row (or of a flat run of rows, see plane): no bounds tests, the padding
// is in the rows. SW > 0 is the stride known at compile time, so that the loop vectorizes.
template <class T, int SW>
void row_plain(const Rows<T>& rows, std::int64_t sw_runtime, std::int64_t dw, std::int64_t count, T* __restrict out) {
  const std::int64_t sw = SW > 0 ? SW : sw_runtime;
  const T* k = rows.k;
  const T k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7], k8 = k[8];
  const T* __restrict a = rows.r[0];
  const T* __restrict b = rows.r[1];
  const T* __restrict c = rows.r[2];
  for (std::int64_t ox = 0; ox < count; ++ox) {
    const std::int64_t i = ox * sw;
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

#if DAGRAD_DEPTHWISE_AVX512
DAGRAD_AVX512_BEGIN
// Stride 1, 16 outputs per vector, multiply then add (never fused: the plain path's arithmetic),
// each tap one unaligned load. The tail uses masked loads and a masked store, which never touch
// memory past what they need. (Stride 2 with AVX-512 goes through plane_direct.)
void row_avx512(const Rows<float>& rows, std::int64_t dw, std::int64_t count, float* out) {
  __m512 k[9];
  for (int t = 0; t < 9; ++t) k[t] = _mm512_set1_ps(rows.k[t]);
  auto vector = [&](std::int64_t ox, __mmask16 m) {
    __m512 acc = _mm512_mul_ps(k[0], _mm512_maskz_loadu_ps(m, rows.r[0] + ox));
    for (int r = 0; r < 3; ++r)
      for (int j = 0; j < 3; ++j) {
        if (r == 0 && j == 0) continue;
        acc = _mm512_add_ps(acc, _mm512_mul_ps(k[3 * r + j], _mm512_maskz_loadu_ps(m, rows.r[r] + ox + j * dw)));
      }
    return acc;
  };
  std::int64_t ox = 0;
  for (; ox + 16 <= count; ox += 16) _mm512_storeu_ps(out + ox, vector(ox, 0xFFFF));
  if (ox < count) {
    const auto m = static_cast<__mmask16>((1u << (count - ox)) - 1);
    _mm512_mask_storeu_ps(out + ox, m, vector(ox, m));
  }
}

void copy_row_avx512(const float* in, std::int64_t count, float* out) {
  std::int64_t i = 0;
  for (; i + 16 <= count; i += 16) _mm512_storeu_ps(out + i, _mm512_loadu_ps(in + i));
  if (i < count) {
    const __mmask16 m = static_cast<__mmask16>((1u << (count - i)) - 1);
    _mm512_mask_storeu_ps(out + i, m, _mm512_maskz_loadu_ps(m, in + i));
  }
}
DAGRAD_AVX512_END
#endif

template <class T> void row(const Rows<T>& rows, std::int64_t sw, std::int64_t dw, std::int64_t count, T* out) {
#if DAGRAD_DEPTHWISE_AVX512
  if constexpr (std::is_same_v<T, float>) {
    if (sw == 1 && avx512_active()) return row_avx512(rows, dw, count, out);
  }
#endif
  if (sw == 1) return row_plain<T, 1>(rows, sw, dw, count, out);
  if (sw == 2) return row_plain<T, 2>(rows, sw, dw, count, out);
  row_plain<T, 0>(rows, sw, dw, count, out);
}

// Adds the bias and applies the epilogue to outputs of filter f while they are in cache: the same
// expressions as conv_forward's (T addition, then T(double(y) * scale + shift), then relu as y > 0 ? y : 0).
template <class T>
void finish(T* out, std::int64_t count, const T* bias, const ChannelEpilogue* epilogue, std::int64_t f) {
  if (bias) {
    const T b = bias[f];
    for (std::int64_t p = 0; p < count; ++p) out[p] += b;
  }
  if (!epilogue) return;
  if (epilogue->scale) {
    const double scale = epilogue->scale[f], shift = epilogue->shift[f];
    for (std::int64_t p = 0; p < count; ++p) out[p] = static_cast<T>(out[p] * scale + shift);
  }
  if (epilogue->activation == Activation::relu)
    for (std::int64_t p = 0; p < count; ++p) out[p] = out[p] > T(0) ? out[p] : T(0);
}

// Per-thread buffers that only grow (see scratch.h; these are this file's own).
template <class T, int Tag> T* buffer(std::int64_t count) {
  thread_local std::vector<T> v;
  if (static_cast<std::int64_t>(v.size()) < count) v.resize(static_cast<std::size_t>(count));
  return v.data();
}

// The zero-padded plane: rows of wp elements, hp rows, exactly as many as the outputs' taps reach.
struct Padded {
  std::int64_t hp, wp;
};
Padded padded_size(const ConvGeometry& g) {
  return {std::max(g.ph + g.h, (g.oh - 1) * g.sh + 2 * g.dh + 1), std::max(g.pw + g.w, (g.ow - 1) * g.sw + 2 * g.dw + 1)};
}

// out[0, count) = in[0, count): short rows, so no library call per row.
template <class T> void copy_row(const T* in, std::int64_t count, T* out) {
#if DAGRAD_DEPTHWISE_AVX512
  if constexpr (std::is_same_v<T, float>) {
    if (avx512_active()) return copy_row_avx512(in, count, out);
  }
#endif
  std::copy(in, in + count, out);
}

// Copies one input plane into the interior of the padded buffer, whose padding the chunk zeroed
// once: each input element is read from memory once, and the rows then have no borders to test.
template <class T> void pad_plane(const ConvGeometry& g, const Padded& p, const T* x, T* padded) {
  for (std::int64_t iy = 0; iy < g.h; ++iy) copy_row(x + iy * g.w, g.w, padded + (iy + g.ph) * p.wp + g.pw);
}

// Output rows no wider than this, at stride 1, are computed as one flat run over the padded plane
// (see plane): fewer, fuller vectors than one short masked row at a time.
constexpr std::int64_t kFlatWidth = 32;

// One output plane of filter f from its channel's padded plane.
template <class T>
void plane(const ConvGeometry& g, const Padded& p, const T* padded, const T* k, const T* bias,
           const ChannelEpilogue* epilogue, std::int64_t f, T* y) {
  if (g.sh == 1 && g.sw == 1 && g.ow <= kFlatWidth) {
    // Output (oy, ox) reads padded[(oy + i dh) wp + ox + j dw]: with q = oy wp + ox that is one
    // 1-D run over q, whose outputs at ox >= ow (the row's wrap into the next) are dropped.
    const std::int64_t run = (g.oh - 1) * p.wp + g.ow;
    T* flat = buffer<T, 1>(run);
    const Rows<T> rows{{padded, padded + g.dh * p.wp, padded + 2 * g.dh * p.wp}, k};
    row(rows, 1, g.dw, run, flat);
    for (std::int64_t oy = 0; oy < g.oh; ++oy) copy_row(flat + oy * p.wp, g.ow, y + oy * g.ow);
    finish(y, g.oh * g.ow, bias, epilogue, f);
    return;
  }
  for (std::int64_t oy = 0; oy < g.oh; ++oy) {
    const T* top = padded + oy * g.sh * p.wp;
    const Rows<T> rows{{top, top + g.dh * p.wp, top + 2 * g.dh * p.wp}, k};
    T* out = y + oy * g.ow;
    row(rows, g.sw, g.dw, g.ow, out);
    finish(out, g.ow, bias, epilogue, f);
  }
}

#if DAGRAD_DEPTHWISE_AVX512
DAGRAD_AVX512_BEGIN
// Lanes [a, b) of a 16-lane mask, the bounds clamped to [0, 16].
inline __mmask16 lanes(std::int64_t a, std::int64_t b) {
  a = std::clamp<std::int64_t>(a, 0, 16), b = std::clamp<std::int64_t>(b, 0, 16);
  return a >= b ? __mmask16(0) : static_cast<__mmask16>(((1u << b) - 1) & ~((1u << a) - 1));
}

// A float32 plane at stride 1 or 2 read straight from x, without a padded copy: the vectors whose
// taps all fall inside the plane load without masks; the few that touch the padding (the first and
// last of a row, the rows at the top and bottom) mask off, per tap, the lanes outside the plane,
// which then read 0 (and never touch memory) as in the padded definition.
template <int SW>
void plane_direct(const ConvGeometry& g, const __mmask16* edges, const float* x, const float* kernel, const float* bias,
                  const ChannelEpilogue* epilogue, std::int64_t f, float* y) {
  __m512 k[9];
  for (int t = 0; t < 9; ++t) k[t] = _mm512_set1_ps(kernel[t]);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const std::int64_t w = g.w, pw = g.pw, dw = g.dw;
  // Outputs [lo, hi) of a row have every tap inside it.
  const std::int64_t lo = std::min(g.ow, (pw + SW - 1) / SW);
  const std::int64_t right = w - 1 + pw - 2 * dw;  // the largest ox * SW whose right tap is inside
  const std::int64_t hi = std::max(lo, std::min(g.ow, right < 0 ? 0 : right / SW + 1));
  // Elements 0, 2, ..., 30 of the two loads (element 31 is never loaded: it may lie past the row).
  auto evens = [&](const float* p, __mmask16 m_lo, __mmask16 m_hi) {
    return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m_lo, p), even, _mm512_maskz_loadu_ps(m_hi, p + 16));
  };
  // 16 outputs from column p = ox * SW - pw on, every tap inside the plane: no masks.
  auto inner = [&](const float* const* rows, std::int64_t p) {
    __m512 acc = _mm512_setzero_ps();
    for (int r = 0; r < 3; ++r)
      for (int j = 0; j < 3; ++j) {
        const float* q = rows[r] + p + j * dw;
        const __m512 v = SW == 1 ? _mm512_loadu_ps(q) : evens(q, 0xFFFF, 0x7FFF);
        const __m512 product = _mm512_mul_ps(k[3 * r + j], v);
        acc = r == 0 && j == 0 ? product : _mm512_add_ps(acc, product);
      }
    return acc;
  };
  // `count` outputs from column p on, with the lanes of each tap outside [0, w), and the rows in
  // the padding (null), read as 0: the product w * 0 of the definition.
  // Vector v (outputs 16 v ...) with the lanes of tap column j that fall inside the row (edges[7 v + j],
  // and edges[7 v + 3 + j] for the second load at stride 2), and the rows in the padding (null),
  // read as 0: the product w * 0 of the definition. edges[7 v + 6] masks the store.
  auto edge = [&](const float* const* rows, std::int64_t vec) {
    const __mmask16* m = edges + 7 * vec;
    const std::int64_t p = 16 * vec * SW - pw;
    __m512 acc = _mm512_setzero_ps();
    for (int r = 0; r < 3; ++r)
      for (int j = 0; j < 3; ++j) {
        __m512 v = _mm512_setzero_ps();
        if (rows[r]) {
          const float* q = rows[r] + p + j * dw;  // masked lanes never touch memory
          v = SW == 1 ? _mm512_maskz_loadu_ps(m[j], q) : evens(q, m[j], m[3 + j]);
        }
        const __m512 product = _mm512_mul_ps(k[3 * r + j], v);
        acc = r == 0 && j == 0 ? product : _mm512_add_ps(acc, product);
      }
    return acc;
  };
  const std::int64_t vectors = (g.ow + 15) / 16;
  // Vectors [first, last) have every tap inside the row: outputs [lo, hi), and all 16 lanes.
  const std::int64_t first = std::min(vectors, (lo + 15) / 16), last = std::max(first, hi / 16);
  for (std::int64_t oy = 0; oy < g.oh; ++oy) {
    const float* rows[3];  // null in the padding
    bool inside = true;
    for (int r = 0; r < 3; ++r) {
      const std::int64_t iy = oy * g.sh - g.ph + r * g.dh;
      rows[r] = iy >= 0 && iy < g.h ? x + iy * w : nullptr;
      inside = inside && rows[r] != nullptr;
    }
    float* out = y + oy * g.ow;
    std::int64_t v = 0;
    if (inside) {
      for (; v < first; ++v) _mm512_mask_storeu_ps(out + 16 * v, edges[7 * v + 6], edge(rows, v));
      for (; v < last; ++v) _mm512_storeu_ps(out + 16 * v, inner(rows, 16 * v * SW - pw));
    }
    for (; v < vectors; ++v) _mm512_mask_storeu_ps(out + 16 * v, edges[7 * v + 6], edge(rows, v));
    finish(out, g.ow, bias, epilogue, f);
  }
}

// The masks plane_direct's edge vectors use, for every vector of an output row: a function of the
// geometry only, computed once per call.
template <int SW> void edge_masks(const ConvGeometry& g, __mmask16* edges) {
  const std::int64_t w = g.w;
  for (std::int64_t v = 0; v < (g.ow + 15) / 16; ++v) {
    const std::int64_t count = std::min<std::int64_t>(16, g.ow - 16 * v);
    __mmask16* m = edges + 7 * v;
    for (int j = 0; j < 3; ++j) {
      const std::int64_t start = 16 * v * SW - g.pw + j * g.dw;  // the input column of element 0
      if (SW == 1) {
        m[j] = lanes(-start, std::min(count, w - start)), m[3 + j] = 0;
      } else {
        const std::int64_t a = -start, b = std::min(2 * count - 1, w - start);  // elements [a, b)
        m[j] = lanes(a, b), m[3 + j] = lanes(a - 16, b - 16);
      }
    }
    m[6] = lanes(0, count);
  }
}

// A stride-1 plane whose output has the input's size (pads adding up to the dilated window, as in
// MobileNet): output q = oy * W + ox reads x at q + (i dh - ph) W + (j dw - pw) for tap (i, j), so
// the whole plane is one run of full vectors straight from x and into y, with per-lane masks for
// the taps that fall in the padding (read as 0; they never touch memory). No row edges, no copy:
// small planes (7x7, 14x14) no longer pay per-row costs.
// Rows up to 64 (MobileNet's 56x56 too, 25% faster than plane_direct); wider rows keep
// plane_direct, whose interior vectors need no masks and which needs no table of masks.
constexpr std::int64_t kSameSizeWidth = 64;
bool same_size_stride1(const ConvGeometry& g) {
  return g.sh == 1 && g.sw == 1 && g.oh == g.h && g.ow == g.w && g.ow <= kSameSizeWidth;
}

// masks[10 v + t]: the lanes of vector v (outputs 16 v ...) whose tap t lies inside the plane;
// masks[10 v + 9]: the lanes that are outputs. A function of the geometry only, kept per calling
// thread for the last geometry it saw (a network calls each layer's shape again and again).
const __mmask16* same_size_masks(const ConvGeometry& g) {
  thread_local std::vector<__mmask16> table;
  thread_local std::int64_t key[6] = {-1, -1, -1, -1, -1, -1};
  const std::int64_t now[6] = {g.h, g.w, g.ph, g.pw, g.dh, g.dw};
  if (std::equal(now, now + 6, key)) return table.data();
  const std::int64_t pixels = g.oh * g.ow;
  table.assign(static_cast<std::size_t>(10 * ((pixels + 15) / 16)), __mmask16(0));
  __mmask16* masks = table.data();
  for (std::int64_t oy = 0, q = 0; oy < g.oh; ++oy)
    for (std::int64_t ox = 0; ox < g.ow; ++ox, ++q) {
      __mmask16* m = masks + 10 * (q / 16);
      const auto lane = static_cast<__mmask16>(1u << (q % 16));
      for (int t = 0; t < 9; ++t) {
        const std::int64_t iy = oy - g.ph + (t / 3) * g.dh, ix = ox - g.pw + (t % 3) * g.dw;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) m[t] |= lane;
      }
      m[9] |= lane;
    }
  std::copy(now, now + 6, key);
  return masks;
}

void plane_same_size(const ConvGeometry& g, const __mmask16* masks, const float* x, const float* kernel,
                     const float* bias, const ChannelEpilogue* epilogue, std::int64_t f, float* y) {
  __m512 k[9];
  std::int64_t offset[9];
  for (int t = 0; t < 9; ++t) {
    k[t] = _mm512_set1_ps(kernel[t]);
    offset[t] = ((t / 3) * g.dh - g.ph) * g.w + (t % 3) * g.dw - g.pw;
  }
  const std::int64_t pixels = g.oh * g.ow;
  for (std::int64_t v = 0; 16 * v < pixels; ++v) {
    const __mmask16* m = masks + 10 * v;
    const float* q = x + 16 * v;
    __m512 acc = _mm512_mul_ps(k[0], _mm512_maskz_loadu_ps(m[0], q + offset[0]));
    for (int t = 1; t < 9; ++t) acc = _mm512_add_ps(acc, _mm512_mul_ps(k[t], _mm512_maskz_loadu_ps(m[t], q + offset[t])));
    _mm512_mask_storeu_ps(y + 16 * v, m[9], acc);
  }
  finish(y, pixels, bias, epilogue, f);
}
DAGRAD_AVX512_END
#endif

// Whether a float32 plane at this geometry goes through plane_direct (else through a padded copy).
template <class T> bool direct(const ConvGeometry& g) {
#if DAGRAD_DEPTHWISE_AVX512
  if constexpr (std::is_same_v<T, float>) return avx512_active() && !(g.sh == 1 && g.sw == 1 && g.ow <= kFlatWidth) && (g.sw == 1 || g.sw == 2);
#endif
  (void)g;
  return false;
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
  // multiplier they share one padded copy of its plane.
#if DAGRAD_DEPTHWISE_AVX512
  if constexpr (std::is_same_v<T, float>) {
    if (avx512_active() && same_size_stride1(g)) {
      const __mmask16* masks = same_size_masks(g);  // the calling thread's; chunk bodies only read it
      parallel_chunks(planes, grain, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t p = begin; p < end; ++p) {
          const std::int64_t n = p / g.f, f = p % g.f;
          plane_same_size(g, masks, x + (n * g.c + f / multiplier) * in_plane, w + f * 9, bias, epilogue, f,
                          y + p * pixels);
        }
      });
      return;
    }
    if (direct<T>(g)) {
      // The calling thread's (see scratch.h): chunk bodies only read it.
      __mmask16* edges = buffer<__mmask16, 2>(7 * ((g.ow + 15) / 16));
      if (g.sw == 1) edge_masks<1>(g, edges);
      else edge_masks<2>(g, edges);
      parallel_chunks(planes, grain, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t p = begin; p < end; ++p) {
          const std::int64_t n = p / g.f, f = p % g.f;
          const float* in = x + (n * g.c + f / multiplier) * in_plane;
          if (g.sw == 1) plane_direct<1>(g, edges, in, w + f * 9, bias, epilogue, f, y + p * pixels);
          else plane_direct<2>(g, edges, in, w + f * 9, bias, epilogue, f, y + p * pixels);
        }
      });
      return;
    }
  }
#endif
  const Padded size = padded_size(g);
  parallel_chunks(planes, grain, [&](std::int64_t begin, std::int64_t end) {
    T* padded = buffer<T, 0>(size.hp * size.wp);
    std::fill(padded, padded + size.hp * size.wp, T(0));  // the padding, never written after
    std::int64_t padded_plane = -1;  // the input plane (n * C + c) in `padded`
    for (std::int64_t p = begin; p < end; ++p) {
      const std::int64_t n = p / g.f, f = p % g.f, in = n * g.c + f / multiplier;
      if (in != padded_plane) pad_plane(g, size, x + in * in_plane, padded), padded_plane = in;
      plane(g, size, padded, w + f * 9, bias, epilogue, f, y + p * pixels);
    }
  });
}

template <class T> void depthwise3x3_backward_input(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
  const std::int64_t planes = g.n * g.c, pixels = g.oh * g.ow, in_plane = g.h * g.w, multiplier = g.f / g.c;
  if (planes == 0 || in_plane == 0) return;
  // dx (iy, ix) = sum over taps (i, j) of w (i, j) * s (iy + ph - i dh, ix + pw - j dw), where s is dy
  // spread out by the stride (dy (oy, ox) at (oy sh, ox sw), zeros between and around). Held at an
  // offset of (2 dh, 2 dw), with t = 2 - i that is s' (iy + ph + t dh, ix + pw + u dw) times the
  // flipped tap: a stride-1 forward row over s'.
  const std::int64_t sh_rows = g.h + g.ph + 2 * g.dh, sw_cols = g.w + g.pw + 2 * g.dw;
  // The dy entries that land in s' (the others only meet the padding).
  const std::int64_t rows_in = std::min(g.oh, (sh_rows - 2 * g.dh - 1) / g.sh + 1);
  const std::int64_t cols_in = std::min(g.ow, (sw_cols - 2 * g.dw - 1) / g.sw + 1);
  const std::int64_t grain = std::max<std::int64_t>(1, kChunkOutputs / (in_plane * multiplier));
  parallel_chunks(planes, grain, [&](std::int64_t begin, std::int64_t end) {
    T* spread = buffer<T, 0>(sh_rows * sw_cols);
    std::fill(spread, spread + sh_rows * sw_cols, T(0));  // every entry but dy's stays zero
    T* sum = buffer<T, 1>(g.w);
    for (std::int64_t p = begin; p < end; ++p) {
      const std::int64_t n = p / g.c, c = p % g.c;
      T* dxp = dx + p * in_plane;
      for (std::int64_t k = 0; k < multiplier; ++k) {
        const std::int64_t f = c * multiplier + k;
        const T* d = dy + (n * g.f + f) * pixels;
        for (std::int64_t oy = 0; oy < rows_in; ++oy) {
          T* out = spread + (oy * g.sh + 2 * g.dh) * sw_cols + 2 * g.dw;
          if (g.sw == 1) copy_row(d + oy * g.ow, cols_in, out);
          else
            for (std::int64_t ox = 0; ox < cols_in; ++ox) out[ox * g.sw] = d[oy * g.ow + ox];
        }
        T flipped[9];
        for (int t = 0; t < 9; ++t) flipped[t] = w[f * 9 + 8 - t];
        for (std::int64_t iy = 0; iy < g.h; ++iy) {
          const T* top = spread + (iy + g.ph) * sw_cols + g.pw;
          const Rows<T> rows{{top, top + g.dh * sw_cols, top + 2 * g.dh * sw_cols}, flipped};
          T* out = dxp + iy * g.w;
          if (k == 0) {
            row(rows, 1, g.dw, g.w, out);
          } else {
            row(rows, 1, g.dw, g.w, sum);
            for (std::int64_t i = 0; i < g.w; ++i) out[i] += sum[i];
          }
        }
      }
    }
  });
}

#if DAGRAD_DEPTHWISE_AVX512
DAGRAD_AVX512_BEGIN
// One output row's products added into the filter-gradient lanes: sums[t] lane l gets dy * x of
// tap t at the row's columns ox with ox % 16 == l, in column order, exactly as the plain loop adds
// them. Masked-off lanes load 0 from both, and acc + (+0) * (+0) leaves acc as it was.
template <int SW>
void filter_row_avx512(__m512* sums, const float* drow, const float* const* rows, std::int64_t ow, std::int64_t dw) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (std::int64_t ox = 0; ox < ow; ox += 16) {
    const std::int64_t count = std::min<std::int64_t>(16, ow - ox);
    const __mmask16 m = lanes(0, count);
    const __m512 d = _mm512_maskz_loadu_ps(m, drow + ox);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        const float* q = rows[i] + ox * SW + j * dw;
        __m512 v;
        if constexpr (SW == 1) {
          v = _mm512_maskz_loadu_ps(m, q);
        } else {
          const std::int64_t need = 2 * count - 1;  // elements 0, 2, ..., 2 (count - 1)
          v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lanes(0, need), q), even,
                                     _mm512_maskz_loadu_ps(lanes(0, need - 16), q + 16));
        }
        sums[3 * i + j] = _mm512_add_ps(sums[3 * i + j], _mm512_mul_ps(d, v));
      }
  }
}

// Filter f's tap sums over every image at stride 1 or 2, in 16 lanes: acc[t][l] as the plain
// loop in depthwise3x3_backward_filter adds them.
void filter_sums_avx512(const ConvGeometry& g, const Padded& size, const float* x, const float* dy, std::int64_t f,
                        float* padded, float (&acc)[9][16]) {
  const std::int64_t pixels = g.oh * g.ow, in_plane = g.h * g.w, multiplier = g.f / g.c;
  __m512 sums[9];
  for (int t = 0; t < 9; ++t) sums[t] = _mm512_setzero_ps();
  for (std::int64_t n = 0; n < g.n; ++n) {
    pad_plane(g, size, x + (n * g.c + f / multiplier) * in_plane, padded);
    const float* d = dy + (n * g.f + f) * pixels;
    for (std::int64_t oy = 0; oy < g.oh; ++oy) {
      const float* top = padded + oy * g.sh * size.wp;
      const float* rows[3] = {top, top + g.dh * size.wp, top + 2 * g.dh * size.wp};
      if (g.sw == 1) filter_row_avx512<1>(sums, d + oy * g.ow, rows, g.ow, g.dw);
      else filter_row_avx512<2>(sums, d + oy * g.ow, rows, g.ow, g.dw);
    }
  }
  for (int t = 0; t < 9; ++t) _mm512_storeu_ps(acc[t], sums[t]);
}
DAGRAD_AVX512_END
#endif

template <class T> void depthwise3x3_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw) {
  const std::int64_t pixels = g.oh * g.ow, in_plane = g.h * g.w, multiplier = g.f / g.c;
  if (g.f == 0) return;
  constexpr int kLanes = 16;
  const Padded size = padded_size(g);
  const std::int64_t grain = std::max<std::int64_t>(1, kChunkOutputs / std::max<std::int64_t>(1, g.n * pixels));
  parallel_chunks(g.f, grain, [&](std::int64_t begin, std::int64_t end) {
    T* padded = buffer<T, 0>(size.hp * size.wp);
    std::fill(padded, padded + size.hp * size.wp, T(0));  // the padding, never written after
    for (std::int64_t f = begin; f < end; ++f) {
      // acc[t][l]: tap t's products at the output columns ox with ox % 16 == l, summed in order.
      T acc[9][kLanes] = {};
#if DAGRAD_DEPTHWISE_AVX512
      const bool summed = std::is_same_v<T, float> && (g.sw == 1 || g.sw == 2) && avx512_active();
      if constexpr (std::is_same_v<T, float>) {
        if (summed) filter_sums_avx512(g, size, x, dy, f, padded, acc);
      }
#else
      constexpr bool summed = false;
#endif
      for (std::int64_t n = 0; n < g.n && !summed; ++n) {
        pad_plane(g, size, x + (n * g.c + f / multiplier) * in_plane, padded);
        const T* d = dy + (n * g.f + f) * pixels;
        for (std::int64_t oy = 0; oy < g.oh; ++oy) {
          const T* drow = d + oy * g.ow;
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) {
              const T* in = padded + (oy * g.sh + i * g.dh) * size.wp + j * g.dw;
              T* a = acc[3 * i + j];
              std::int64_t ox = 0;
              for (; ox + kLanes <= g.ow; ox += kLanes)
                for (int l = 0; l < kLanes; ++l) a[l] += drow[ox + l] * in[(ox + l) * g.sw];
              for (int l = 0; ox + l < g.ow; ++l) a[l] += drow[ox + l] * in[(ox + l) * g.sw];
            }
        }
      }
      for (int t = 0; t < 9; ++t) {
        T total = acc[t][0];
        for (int l = 1; l < kLanes; ++l) total += acc[t][l];
        dw[f * 9 + t] = total;
      }
    }
  });
}

template void depthwise3x3_forward<float>(const ConvGeometry&, const float*, const float*, const float*, float*,
                                          const ChannelEpilogue*);
template void depthwise3x3_forward<double>(const ConvGeometry&, const double*, const double*, const double*, double*,
                                           const ChannelEpilogue*);
template void depthwise3x3_backward_input<float>(const ConvGeometry&, const float*, const float*, float*);
template void depthwise3x3_backward_input<double>(const ConvGeometry&, const double*, const double*, double*);
template void depthwise3x3_backward_filter<float>(const ConvGeometry&, const float*, const float*, float*);
template void depthwise3x3_backward_filter<double>(const ConvGeometry&, const double*, const double*, double*);

}  // namespace dagrad::kernels
