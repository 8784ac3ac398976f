#pragma once
// Direct float32 convolution with no im2col matrix. The image is copied once, zero-padded and (for
// stride S > 1) split into S x S phase planes, so that kernel tap (c, i, j) of every output pixel
// p is a constant offset from p: one contiguous vector load per tap and 8 pixels. Output pixels are
// taken on a grid as wide as a phase plane (the columns past OW are discarded). A register tile of
// 4 filters x 24 pixels (12 AVX2 accumulators) sums the taps in (c, i, j) order. Chosen over
// im2col + sgemm by measurement on the reference ResNet's 28- and 14-wide layers
// (bench/dagrad_bench_kernels), where writing the 9x larger im2col matrix cost as much as the
// product itself.
#include <cstdint>

#include "ops/kernels/conv.h"

namespace dagrad::kernels::direct {

// Whether this build has the kernels (AVX2 and FMA) and they pay for the geometry: output rows wide
// enough that the discarded columns stay a small share, and a kernel larger than 1x1.
bool applies(const ConvGeometry& g);

// y = x (*) w for one image (x [C,H,W], y [F,OH,OW]); w is the filter tensor [F,C,KH,KW].
// Packs the filters per call (they are small next to the image).
void forward(const ConvGeometry& g, const float* x, const float* w, float* y_image);

// Filters repacked as [C*KH*KW][F rounded up to 4], the layout the forward tile broadcasts from.
std::int64_t packed_filter_size(const ConvGeometry& g);
void pack_filters(const ConvGeometry& g, const float* w, float* packed);
void forward_packed(const ConvGeometry& g, const float* x, const float* packed, float* y_image);

// dw += dy (*) x for one image, dw [F, C*KH*KW]: each entry is the sum over output pixels p of
// dy[f][p] times the input under tap (c, i, j) of p, kept in 8 lanes and added up in a fixed order.
void backward_filter_accumulate(const ConvGeometry& g, const float* x, const float* dy_image, float* dw);

}  // namespace dagrad::kernels::direct
