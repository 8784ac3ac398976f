#include "ops/kernels/conv_direct.h"

#include <algorithm>

#include "graph/error.h"
#include "ops/kernels/conv_direct_tiles.h"
#include "ops/kernels/cpu_isa.h"
#include "ops/kernels/scratch.h"

namespace dagrad::kernels::direct {
namespace {

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
// Zeroed floats after the phase planes: a tile starting on the output grid reads at most KW + its
// pixel count past the last plane (see split_image), and no set's tile is wider than this.
constexpr std::int64_t kMaxTilePixels = 128;

std::int64_t round_up(std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; }

// The tiles of the active instruction set, or null on the baseline (no direct kernels).
const Tiles* active_tiles() {
  switch (active_isa()) {
    case Isa::avx512: return avx512_tiles();
    case Isa::avx2: return avx2_tiles();
    case Isa::baseline: return nullptr;
  }
  return nullptr;
}

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

// The phase planes of one image, plus zeroed slack: pixel p < OH * WQ plus tap (i, j)'s offset
// stays below the plane's end plus j / SW (HQ >= OH + (KH - 1) / SH), so a tile of P pixels on the
// output grid reads at most KW + P past the last plane.
const float* split_image(const ConvGeometry& g, const Layout& d, const float* x) {
  const std::int64_t total = g.c * d.channel + g.kw + kMaxTilePixels;
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
// `multiple` by repeating the last pixel (whose extra results are dropped).
const std::int64_t* pixel_bases(const ConvGeometry& g, const Layout& d, std::int64_t multiple) {
  const std::int64_t pixels = g.out_pixels(), padded = round_up(pixels, multiple);
  std::int64_t* base = scratch<std::int64_t, 1>(padded);
  for (std::int64_t oy = 0, p = 0; oy < g.oh; ++oy)
    for (std::int64_t ox = 0; ox < g.ow; ++ox) base[p++] = oy * d.wq + ox;
  std::fill(base + pixels, base + padded, base[pixels - 1]);
  return base;
}

// The filter-lane tile for F filters: the wide one where F is a multiple of its width.
struct LaneTile {
  std::int64_t filters, rows, row_multiple;
  decltype(Tiles::lane) run;
};
LaneTile lane_tile_for(const Tiles& t, const ConvGeometry& g) {
  if (t.wide_lane && g.f % t.wide_lane_filters == 0) return {t.wide_lane_filters, t.wide_lane_rows, t.lane_row_multiple, t.wide_lane};
  return {t.lane_filters, t.lane_rows, t.lane_row_multiple, t.lane};
}

bool direct_possible(const Tiles* t, const ConvGeometry& g) {
  // 1x1 kernels have too few taps per tile to pay for the phase split (measured 2x slower than a
  // strided im2col + sgemm on the reference ResNet's 1x1 stride-2 shortcuts).
  return t && g.c > 0 && g.f > 0 && g.oh > 0 && g.ow > 0 && g.kh * g.kw > 1 && g.patch_size() * g.f <= kMaxFilterElements;
}
bool filter_lanes_fit(const Tiles& t, const ConvGeometry& g) { return g.f % t.lane_filters == 0; }

Method forward_method_for(const Tiles* t, const ConvGeometry& g) {
  if (!direct_possible(t, g)) return Method::none;
  if (g.ow >= kPixelLanesPreferredWidth) return Method::pixel_lanes;
  if (filter_lanes_fit(*t, g)) return Method::filter_lanes;
  return g.ow >= kMinOutputWidth ? Method::pixel_lanes : Method::none;
}

std::int64_t filter_multiple(const Tiles& t, const ConvGeometry& g) {
  return forward_method_for(&t, g) == Method::filter_lanes ? lane_tile_for(t, g).filters : t.forward_filters;
}

}  // namespace

Method forward_method(const ConvGeometry& g) { return forward_method_for(active_tiles(), g); }

Method filter_gradient_method(const ConvGeometry& g) {
  const Tiles* t = active_tiles();
  if (!direct_possible(t, g)) return Method::none;
  if (filter_lanes_fit(*t, g) && g.patch_size() >= kMinFilterLaneTaps) return Method::filter_lanes;
  return g.ow >= kMinOutputWidth ? Method::pixel_lanes : Method::none;
}

std::int64_t packed_filter_size(const ConvGeometry& g) {
  const Tiles* t = active_tiles();
  return t ? g.patch_size() * round_up(g.f, filter_multiple(*t, g)) : 0;
}

void pack_filters(const ConvGeometry& g, const float* w, float* packed) {
  const Tiles* t = active_tiles();
  if (!t) fail("direct convolution: no direct kernels on ", isa_name(active_isa()));
  const std::int64_t taps = g.patch_size(), filters = round_up(g.f, filter_multiple(*t, g));
  for (std::int64_t k = 0; k < taps; ++k)
    for (std::int64_t f = 0; f < filters; ++f) packed[k * filters + f] = f < g.f ? w[f * taps + k] : 0.0f;
}

void forward_packed(const ConvGeometry& g, const float* x, const float* packed, float* y_image) {
  const Tiles* t = active_tiles();
  const Method method = forward_method_for(t, g);
  if (method == Method::none) fail("direct convolution: no direct forward kernel for this geometry on ", isa_name(active_isa()));
  const Layout d = layout_of(g);
  const float* in = split_image(g, d, x);
  const std::int64_t* offset = tap_offsets(g, d, 1);
  const std::int64_t taps = g.patch_size(), filters = round_up(g.f, filter_multiple(*t, g));
  if (method == Method::filter_lanes) {
    // Output pixels x filters, then transposed to [F, OH, OW].
    const LaneTile tile = lane_tile_for(*t, g);
    const std::int64_t pixels = g.out_pixels(), padded = round_up(pixels, tile.row_multiple);
    const std::int64_t* base = pixel_bases(g, d, tile.row_multiple);
    float* out = scratch<float, 4>(padded * filters);
    for (std::int64_t f0 = 0; f0 < filters; f0 += tile.filters)
      for (std::int64_t p = 0; p < padded; p += tile.rows)
        tile.run(std::min(tile.rows, padded - p), in, base + p, offset, taps, packed + f0, filters, out + p * filters + f0,
                 filters, false);
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t p = 0; p < pixels; ++p) y_image[f * pixels + p] = out[p * filters + f];
    return;
  }
  const std::int64_t grid = g.oh * d.wq, ldo = round_up(grid, t->forward_pixels);
  float* out = scratch<float, 4>(t->forward_filters * ldo);
  for (std::int64_t f0 = 0; f0 < g.f; f0 += t->forward_filters) {
    for (std::int64_t p = 0; p < grid; p += t->forward_pixels) t->forward(in + p, offset, taps, packed + f0, filters, out + p, ldo);
    for (std::int64_t r = 0; r < std::min(t->forward_filters, g.f - f0); ++r)
      for (std::int64_t oy = 0; oy < g.oh; ++oy) {
        const float* src = out + r * ldo + oy * d.wq;
        std::copy(src, src + g.ow, y_image + ((f0 + r) * g.oh + oy) * g.ow);
      }
  }
}

void backward_filter(const ConvGeometry& g, const float* x, const float* dy, std::int64_t images, float* dw) {
  const Tiles* t = active_tiles();
  const Method method = filter_gradient_method(g);
  if (method == Method::none) fail("direct convolution: no direct filter-gradient kernel for this geometry on ", isa_name(active_isa()));
  const Layout d = layout_of(g);
  const std::int64_t taps = g.patch_size(), pixels = g.out_pixels(), in_size = g.c * g.h * g.w;
  if (method == Method::filter_lanes) {
    // dw transposed, [taps][F], summed over the images' pixels in order in filter lanes (no
    // horizontal sums), then transposed into dw.
    const LaneTile tile = lane_tile_for(*t, g);
    const std::int64_t padded_taps = round_up(taps, tile.row_multiple);
    float* dwt = scratch<float, 8>(padded_taps * g.f);
    std::fill(dwt, dwt + padded_taps * g.f, 0.0f);
    float* dyt = scratch<float, 4>(pixels * g.f);
    const std::int64_t* offset = tap_offsets(g, d, tile.row_multiple);
    const std::int64_t* base = pixel_bases(g, d, 1);
    for (std::int64_t n = 0; n < images; ++n) {
      const float* in = split_image(g, d, x + n * in_size);
      const float* dyn = dy + n * g.f * pixels;
      for (std::int64_t p = 0; p < pixels; ++p)
        for (std::int64_t f = 0; f < g.f; ++f) dyt[p * g.f + f] = dyn[f * pixels + p];
      for (std::int64_t f0 = 0; f0 < g.f; f0 += tile.filters)
        for (std::int64_t k0 = 0; k0 < padded_taps; k0 += tile.rows)
          tile.run(std::min(tile.rows, padded_taps - k0), in, offset + k0, base, pixels, dyt + f0, g.f, dwt + k0 * g.f + f0,
                   g.f, true);
    }
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t k = 0; k < taps; ++k) dw[f * taps + k] = dwt[k * g.f + f];
    return;
  }
  std::fill(dw, dw + g.f * taps, 0.0f);
  // dy on the output grid (rows of WQ), zero in the discarded columns so they add nothing.
  const std::int64_t grid = g.oh * d.wq, ldd = round_up(grid, t->lanes), filters = round_up(g.f, t->gradient_filters);
  float* dyp = scratch<float, 4>(filters * ldd);
  const std::int64_t* offset = tap_offsets(g, d, t->gradient_taps);
  for (std::int64_t n = 0; n < images; ++n) {
    const float* in = split_image(g, d, x + n * in_size);
    std::fill(dyp, dyp + filters * ldd, 0.0f);
    for (std::int64_t f = 0; f < g.f; ++f)
      for (std::int64_t oy = 0; oy < g.oh; ++oy) {
        const float* src = dy + (n * g.f + f) * pixels + oy * g.ow;
        std::copy(src, src + g.ow, dyp + f * ldd + oy * d.wq);
      }
    for (std::int64_t f0 = 0; f0 < g.f; f0 += t->gradient_filters)
      for (std::int64_t k0 = 0; k0 < taps; k0 += t->gradient_taps)
        t->gradient(dyp + f0 * ldd, ldd, in, offset + k0, ldd, dw + f0 * taps + k0, taps,
                    std::min(t->gradient_filters, g.f - f0), std::min(t->gradient_taps, taps - k0));
  }
}

}  // namespace dagrad::kernels::direct
