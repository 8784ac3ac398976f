#pragma once
// Direct float32 convolution with no im2col matrix. The image is copied once, zero-padded and (for
// stride S > 1) split into S x S phase planes, so that kernel tap (c, i, j) of every output pixel
// p is a constant offset from p: one contiguous vector load per tap and 8 or 16 pixels. Output
// pixels are taken on a grid as wide as a phase plane (the columns past OW are discarded), and a
// register tile (AVX2: 4 filters x 24 pixels; AVX-512: 8 filters x 48 pixels) sums the taps in
// (c, i, j) order. On narrow maps (7x7) that grid wastes too much, so filters go in the lanes
// instead (AVX2: 6 pixels x 16 filters; AVX-512: 24 x 16 or 12 x 32): no waste, and for the filter
// gradient no horizontal sums. Chosen over im2col + sgemm by measurement on the reference ResNet's
// 28- and 14-wide layers (bench/dagrad_bench_kernels), where writing the 9x larger im2col matrix
// cost as much as the product itself.
//
// The tiles exist per instruction set (conv_direct_tiles.h) and the one active_isa() names runs
// (cpu_isa.h): on the x86-64 baseline every method is `none` and convolutions take im2col + sgemm.
// Results are deterministic for a given path; different paths sum in different lane orders.
#include <cstdint>

#include "ops/kernels/conv.h"

namespace dagrad::kernels::direct {

enum class Method {
  none,          // no AVX2/FMA on the active path, or im2col + sgemm is faster for this geometry
  pixel_lanes,   // output pixels in the vector lanes: wide maps
  filter_lanes,  // filters in the lanes: F a multiple of 16
};
// The kernel each pass gets for a geometry on the active path, chosen by measurement; 1x1 kernels
// always stay on im2col + sgemm. The functions below fail() for a geometry whose method is none.
Method forward_method(const ConvGeometry& g);
Method filter_gradient_method(const ConvGeometry& g);

// Filters repacked as [C*KH*KW][F rounded up to the tile], the layout the forward tiles read.
std::int64_t packed_filter_size(const ConvGeometry& g);
void pack_filters(const ConvGeometry& g, const float* w, float* packed);
// y = x (*) w for one image (x [C,H,W], y [F,OH,OW]) from the packed filters.
void forward_packed(const ConvGeometry& g, const float* x, const float* packed, float* y_image);

// dw [F, C*KH*KW] = the sum over `images` consecutive images of dy (*) x: each entry sums the
// images in order, and within one the output pixels in a fixed lane order.
void backward_filter(const ConvGeometry& g, const float* x, const float* dy, std::int64_t images, float* dw);

}  // namespace dagrad::kernels::direct
