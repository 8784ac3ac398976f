#include "ops/kernels/conv_direct.h"

#include <algorithm>

#include "ops/kernels/scratch.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DAGRAD_DIRECT_CONV 1
#else
#define DAGRAD_DIRECT_CONV 0
#endif

namespace dagrad::kernels::direct {
namespace {

constexpr std::int64_t kTileFilters = 4;
constexpr std::int64_t kLanes = 8;
constexpr std::int64_t kTileVectors = 3;
constexpr std::int64_t kTilePixels = kTileVectors * kLanes;
// Pixel lanes pay only on rows this wide: narrower ones waste the discarded padding columns
// (2 * pad of every WP) and a partial last tile. Filter lanes waste nothing but need 16 filters.
// Measured on the reference ResNet (bench/dagrad_bench_kernels, 1 thread): the forward pass is
// faster in pixel lanes on 28-wide maps (78 against 69 GFLOP/s) and in filter lanes on 14- and
// 7-wide ones (77 against 68, 71 against 56 through im2col); the filter gradient is faster in filter
// lanes everywhere except the 1-channel stem, whose 9 taps are too few for a tile of 6.
constexpr std::int64_t kMinOutputWidth = 12;
constexpr std::int64_t kPixelLanesPreferredWidth = 16;
constexpr std::int64_t kMinFilterLaneTaps = 16;
// The tiles stream every tap's filter values once per tile, so the filters ([C*KH*KW][F]) must
// stay in L2; sgemm's cache blocking wins beyond that (ResNet-18's 128- to 512-channel layers ran
// 1.5x slower direct than through im2col + sgemm).
constexpr std::int64_t kMaxFilterElements = std::int64_t{1} << 16;
// Filter-lane tiles: 6 output pixels (or taps) x 16 filters, 12 accumulators plus 2 filter vectors
// and a broadcast: 3 x 32 would need 17 registers, and the spilled accumulator made it 2.5x slower.
constexpr std::int64_t kLaneTilePixels = 6;
constexpr std::int64_t kLaneTileFilters = 2 * kLanes;
constexpr std::int64_t kLaneVectors = kLaneTileFilters / kLanes;

std::int64_t round_up(std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; }

// The image zero-padded and split into SH x SW phase planes of HQ x WQ pixels: plane (a, b) of
// channel c holds padded[y * SH + a][x * SW + b] at (y, x). Kernel tap (c, i, j) of output pixel
// (oy, ox) is then plane (i % SH, j % SW) at (oy + i / SH, ox + j / SW): with pixels numbered
// p = oy * WQ + ox, every tap is a constant offset from p, for any stride. With stride 1 this is
// the plain padded image.
struct Layout {
  std::int64_t hq, wq, plane, channel;  // plane = HQ * WQ, channel = SH * SW * plane
};
Layout layout_of(const ConvGeometry& g) {
  const std::int64_t hq = (g.h + 2 * g.ph + g.sh - 1) / g.sh, wq = (g.w + 2 * g.pw + g.sw - 1) / g.sw;
  return {hq, wq, hq * wq, g.sh * g.sw * hq * wq};
}

// The phase planes of one image, plus zeroed slack: a tile starting at a pixel of the output grid
// (OH rows of WQ) reads at most KW + kTilePixels past the last plane.
const float* split_image(const ConvGeometry& g, const Layout& d, const float* x) {
  const std::int64_t total = g.c * d.channel + g.kw + kTilePixels;
  float* planes = scratch<float, 3>(total);
  std::fill(planes, planes + total, 0.0f);
  for (std::int64_t c = 0; c < g.c; ++c)
    for (std::int64_t y = 0; y < g.h; ++y) {
      const float* in = x + (c * g.h + y) * g.w;
      const std::int64_t py = y + g.ph;
      float* out = planes + c * d.channel + (py % g.sh) * g.sw * d.plane + (py / g.sh) * d.wq;
      if (g.sw == 1) {
        std::copy(in, in + g.w, out + g.pw);
      } else {
        std::int64_t phase = g.pw % g.sw, column = g.pw / g.sw;  // of padded column ix + PW
        for (std::int64_t ix = 0; ix < g.w; ++ix) {
          out[phase * d.plane + column] = in[ix];
          if (++phase == g.sw) phase = 0, ++column;
        }
      }
    }
  return planes;
}

// The offset of tap k = (c, i, j) from its output pixel, for taps padded up to a multiple of
// `multiple` (the extra taps read plane 0 and their results are dropped).
const std::int64_t* tap_offsets(const ConvGeometry& g, const Layout& d, std::int64_t multiple) {
  const std::int64_t taps = g.patch_size(), padded = round_up(taps, multiple);
  std::int64_t* offset = scratch<std::int64_t, 0>(padded);
  for (std::int64_t c = 0, k = 0; c < g.c; ++c)
    for (std::int64_t i = 0; i < g.kh; ++i)
      for (std::int64_t j = 0; j < g.kw; ++j)
        offset[k++] = c * d.channel + ((i % g.sh) * g.sw + j % g.sw) * d.plane + (i / g.sh) * d.wq + j / g.sw;
  std::fill(offset + taps, offset + padded, 0);
  return offset;
}

// The input corner (tap (0, 0, 0) offset) of every output pixel, padded to a multiple of
// kLaneTilePixels by repeating the last pixel (whose extra results are dropped).
const std::int64_t* pixel_bases(const ConvGeometry& g, const Layout& d) {
  const std::int64_t pixels = g.out_pixels(), padded = round_up(pixels, kLaneTilePixels);
  std::int64_t* base = scratch<std::int64_t, 1>(padded);
  for (std::int64_t oy = 0, p = 0; oy < g.oh; ++oy)
    for (std::int64_t ox = 0; ox < g.ow; ++ox) base[p++] = oy * d.wq + ox;
  std::fill(base + pixels, base + padded, base[pixels - 1]);
  return base;
}

#if DAGRAD_DIRECT_CONV
// Sums of 8 lanes in one fixed order.
float lane_sum(__m256 v) {
  alignas(32) float l[kLanes];
  _mm256_store_ps(l, v);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

// out[r][0..24) = sum over taps k of w[k * ldw + r] * in[offset[k] + 0..24), in tap order.
// Not inlined: in the caller, GCC spills the 12 accumulators (measured 3x slower).
[[gnu::noinline]] void forward_tile(const float* in, const std::int64_t* offset, std::int64_t taps, const float* w, std::int64_t ldw,
                  float* out, std::int64_t ldo) {
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

// acc[r][v] = sum over p in [0, pixels) of dy[r * ldd + p] * in[offset[v] + p], lanes kept apart.
[[gnu::noinline]] void filter_tile(const float* dy, std::int64_t ldd, const float* in, const std::int64_t* offset, std::int64_t pixels,
                 float* dw, std::int64_t ldw, std::int64_t rows, std::int64_t cols) {
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

// Filter lanes, the one tile both passes use: for 6 rows r and the 16 lanes,
//   out[r][0..16) (+)= sum over t in [0, steps) of in[row_at[r] + step_at[t]] * vectors[t * ld + 0..16),
// in t order. The forward pass takes rows = output pixels (row_at = their input corners),
// steps = taps and vectors = packed filters; the filter gradient takes rows = taps,
// steps = output pixels and vectors = dy transposed to [pixel][filter].
[[gnu::noinline]] void lane_tile(const float* in, const std::int64_t* row_at, const std::int64_t* step_at,
                                 std::int64_t steps, const float* vectors, std::int64_t ld, float* out,
                                 std::int64_t ldo, bool accumulate) {
  __m256 acc[kLaneTilePixels][kLaneVectors];
#pragma GCC unroll 6
  for (auto& row : acc)
#pragma GCC unroll 2
    for (auto& a : row) a = _mm256_setzero_ps();
  const float* x[kLaneTilePixels];
#pragma GCC unroll 6
  for (std::int64_t r = 0; r < kLaneTilePixels; ++r) x[r] = in + row_at[r];
  for (std::int64_t t = 0; t < steps; ++t, vectors += ld) {
    __m256 vv[kLaneVectors];
#pragma GCC unroll 2
    for (std::int64_t v = 0; v < kLaneVectors; ++v) {
      vv[v] = _mm256_loadu_ps(vectors + v * kLanes);
      asm("" : "+x"(vv[v]));  // in a register, not reloaded per FMA (see forward_tile)
    }
    const std::int64_t o = step_at[t];
#pragma GCC unroll 6
    for (std::int64_t r = 0; r < kLaneTilePixels; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x[r] + o);
#pragma GCC unroll 2
      for (std::int64_t v = 0; v < kLaneVectors; ++v) acc[r][v] = _mm256_fmadd_ps(xv, vv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 6
  for (std::int64_t r = 0; r < kLaneTilePixels; ++r)
#pragma GCC unroll 2
    for (std::int64_t v = 0; v < kLaneVectors; ++v) {
      float* target = out + r * ldo + v * kLanes;
      _mm256_storeu_ps(target, accumulate ? _mm256_add_ps(_mm256_loadu_ps(target), acc[r][v]) : acc[r][v]);
    }
}
#endif

}  // namespace

namespace {
bool direct_possible(const ConvGeometry& g) {
  // 1x1 kernels have too few taps per tile to pay for the phase split (measured 2x slower than a
  // strided im2col + sgemm on the reference ResNet's 1x1 stride-2 shortcuts).
  return DAGRAD_DIRECT_CONV && g.c > 0 && g.f > 0 && g.oh > 0 && g.ow > 0 && g.kh * g.kw > 1 &&
         g.patch_size() * g.f <= kMaxFilterElements;
}
bool filter_lanes_fit(const ConvGeometry& g) { return g.f % kLaneTileFilters == 0; }
}  // namespace

Method forward_method(const ConvGeometry& g) {
  if (!direct_possible(g)) return Method::none;
  if (g.ow >= kPixelLanesPreferredWidth) return Method::pixel_lanes;
  if (filter_lanes_fit(g)) return Method::filter_lanes;
  return g.ow >= kMinOutputWidth ? Method::pixel_lanes : Method::none;
}

Method filter_gradient_method(const ConvGeometry& g) {
  if (!direct_possible(g)) return Method::none;
  if (filter_lanes_fit(g) && g.patch_size() >= kMinFilterLaneTaps) return Method::filter_lanes;
  return g.ow >= kMinOutputWidth ? Method::pixel_lanes : Method::none;
}

namespace {
std::int64_t filter_multiple(const ConvGeometry& g) {
  return forward_method(g) == Method::filter_lanes ? kLaneTileFilters : kTileFilters;
}
}  // namespace

std::int64_t packed_filter_size(const ConvGeometry& g) { return g.patch_size() * round_up(g.f, filter_multiple(g)); }

void pack_filters(const ConvGeometry& g, const float* w, float* packed) {
  const std::int64_t taps = g.patch_size(), filters = round_up(g.f, filter_multiple(g));
  for (std::int64_t k = 0; k < taps; ++k)
    for (std::int64_t f = 0; f < filters; ++f) packed[k * filters + f] = f < g.f ? w[f * taps + k] : 0.0f;
}

void forward_packed([[maybe_unused]] const ConvGeometry& g, [[maybe_unused]] const float* x,
                    [[maybe_unused]] const float* packed, [[maybe_unused]] float* y_image) {
#if DAGRAD_DIRECT_CONV
  const Layout d = layout_of(g);
  const float* in = split_image(g, d, x);
  const std::int64_t* offset = tap_offsets(g, d, 1);
  const std::int64_t taps = g.patch_size(), filters = round_up(g.f, filter_multiple(g));
  if (forward_method(g) == Method::filter_lanes) {
    // Output pixels x filters, then transposed to [F, OH, OW].
    const std::int64_t pixels = g.out_pixels(), padded = round_up(pixels, kLaneTilePixels);
    const std::int64_t* base = pixel_bases(g, d);
    float* out = scratch<float, 4>(padded * filters);
    for (std::int64_t f0 = 0; f0 < filters; f0 += kLaneTileFilters)
      for (std::int64_t p = 0; p < padded; p += kLaneTilePixels)
        lane_tile(in, base + p, offset, taps, packed + f0, filters, out + p * filters + f0, filters, false);
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t p = 0; p < pixels; ++p) y_image[f * pixels + p] = out[p * filters + f];
    return;
  }
  const std::int64_t grid = g.oh * d.wq, ldo = round_up(grid, kTilePixels);
  float* out = scratch<float, 4>(kTileFilters * ldo);
  for (std::int64_t f0 = 0; f0 < g.f; f0 += kTileFilters) {
    for (std::int64_t p = 0; p < grid; p += kTilePixels)
      forward_tile(in + p, offset, taps, packed + f0, filters, out + p, ldo);
    for (std::int64_t r = 0; r < std::min(kTileFilters, g.f - f0); ++r)
      for (std::int64_t oy = 0; oy < g.oh; ++oy) {
        const float* src = out + r * ldo + oy * d.wq;
        std::copy(src, src + g.ow, y_image + ((f0 + r) * g.oh + oy) * g.ow);
      }
  }
#endif
}

void backward_filter([[maybe_unused]] const ConvGeometry& g, [[maybe_unused]] const float* x,
                     [[maybe_unused]] const float* dy, [[maybe_unused]] std::int64_t images,
                     [[maybe_unused]] float* dw) {
#if DAGRAD_DIRECT_CONV
  const Layout d = layout_of(g);
  const std::int64_t taps = g.patch_size(), pixels = g.out_pixels(), in_size = g.c * g.h * g.w;
  if (filter_gradient_method(g) == Method::filter_lanes) {
    // dw transposed, [taps (padded to 6)][F], summed over the images' pixels in order in 16-filter
    // lanes (no horizontal sums), then transposed into dw.
    const std::int64_t padded_taps = round_up(taps, kLaneTilePixels), padded_pixels = round_up(pixels, kLaneTilePixels);
    float* dwt = scratch<float, 8>(padded_taps * g.f);
    std::fill(dwt, dwt + padded_taps * g.f, 0.0f);
    float* dyt = scratch<float, 4>(padded_pixels * g.f);
    const std::int64_t* offset = tap_offsets(g, d, kLaneTilePixels);
    const std::int64_t* base = pixel_bases(g, d);
    for (std::int64_t n = 0; n < images; ++n) {
      const float* in = split_image(g, d, x + n * in_size);
      const float* dyn = dy + n * g.f * pixels;
      for (std::int64_t p = 0; p < pixels; ++p)
        for (std::int64_t f = 0; f < g.f; ++f) dyt[p * g.f + f] = dyn[f * pixels + p];
      std::fill(dyt + pixels * g.f, dyt + padded_pixels * g.f, 0.0f);  // the repeated pixels add 0
      for (std::int64_t f0 = 0; f0 < g.f; f0 += kLaneTileFilters)
        for (std::int64_t k0 = 0; k0 < padded_taps; k0 += kLaneTilePixels)
          lane_tile(in, offset + k0, base, padded_pixels, dyt + f0, g.f, dwt + k0 * g.f + f0, g.f, true);
    }
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t k = 0; k < taps; ++k) dw[f * taps + k] = dwt[k * g.f + f];
    return;
  }
  std::fill(dw, dw + g.f * taps, 0.0f);
  // dy on the output grid (rows of WQ), zero in the discarded columns so they add nothing.
  const std::int64_t grid = g.oh * d.wq, ldd = round_up(grid, kLanes), filters = round_up(g.f, kTileFilters);
  float* dyp = scratch<float, 4>(filters * ldd);
  const std::int64_t* offset = tap_offsets(g, d, kTileVectors);
  for (std::int64_t n = 0; n < images; ++n) {
    const float* in = split_image(g, d, x + n * in_size);
    std::fill(dyp, dyp + filters * ldd, 0.0f);
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t oy = 0; oy < g.oh; ++oy) {
        const float* src = dy + (n * g.f + f) * pixels + oy * g.ow;
        std::copy(src, src + g.ow, dyp + f * ldd + oy * d.wq);
      }
    for (std::int64_t f0 = 0; f0 < g.f; f0 += kTileFilters)
      for (std::int64_t k0 = 0; k0 < taps; k0 += kTileVectors)
        filter_tile(dyp + f0 * ldd, ldd, in, offset + k0, ldd, dw + f0 * taps + k0, taps,
                    std::min(kTileFilters, g.f - f0), std::min(kTileVectors, taps - k0));
  }
#endif
}

}  // namespace dagrad::kernels::direct
