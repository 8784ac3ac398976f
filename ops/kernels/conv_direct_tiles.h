#pragma once
// The register tiles of the direct convolution, one set per instruction set (conv_direct_avx2.cc,
// conv_direct_avx512.cc). The driver (conv_direct.cc, compiled for the x86-64 baseline) lays the
// image out, picks the set for active_isa() and loops over tiles of the sizes the set declares.
//
// The tile files compile their functions under `#pragma GCC target(...)` after every include, not
// with per-file -m flags: a whole file built with -mavx512f would also compile the inline library
// code it instantiates (std::vector, std::fill, scratch buffers) for AVX-512, and the linker keeps
// one copy of each such function for the whole library, possibly that one, on any CPU.
#include <cstdint>

namespace dagrad::kernels::direct {

struct Tiles {
  // Pixel lanes, forward: out[r * ldo + 0..pixels) = sum over taps k, in order, of
  // w[k * ldw + r] * in[offset[k] + 0..pixels), for r < filters.
  std::int64_t forward_filters, forward_pixels;
  void (*forward)(const float* in, const std::int64_t* offset, std::int64_t taps, const float* w, std::int64_t ldw,
                  float* out, std::int64_t ldo);
  // Pixel lanes, filter gradient: dw[r * ldw + v] += sum over p in [0, pixels) (a multiple of
  // `lanes`) of dy[r * ldd + p] * in[offset[v] + p], each lane summed apart in p order and the lanes
  // added in a fixed tree; r < rows <= gradient_filters, v < cols <= gradient_taps.
  std::int64_t gradient_filters, gradient_taps, lanes;
  void (*gradient)(const float* dy, std::int64_t ldd, const float* in, const std::int64_t* offset, std::int64_t pixels,
                   float* dw, std::int64_t ldw, std::int64_t rows, std::int64_t cols);
  // Filter lanes: for rows r < `rows` and filters [0, lane_filters),
  //   out[r * ldo + f] (+)= sum over t in [0, steps), in order, of in[row_at[r] + step_at[t]] * vectors[t * ld + f].
  // The forward pass takes rows = output pixels, steps = taps, vectors = packed filters; the
  // filter gradient takes rows = taps, steps = output pixels, vectors = dy as [pixel][filter].
  // `rows` is at most lane_rows and a multiple of lane_row_multiple (callers pad to it).
  std::int64_t lane_filters, lane_rows, lane_row_multiple;
  void (*lane)(std::int64_t rows, const float* in, const std::int64_t* row_at, const std::int64_t* step_at,
               std::int64_t steps, const float* vectors, std::int64_t ld, float* out, std::int64_t ldo, bool accumulate);
  // A second filter-lane tile for F a multiple of wide_lane_filters (fewer rows, more filters per
  // row; null when the set has none).
  std::int64_t wide_lane_filters, wide_lane_rows;
  decltype(lane) wide_lane;
};

// Null where the compiler cannot target the set (non-x86 builds).
const Tiles* avx2_tiles();
const Tiles* avx512_tiles();

}  // namespace dagrad::kernels::direct
