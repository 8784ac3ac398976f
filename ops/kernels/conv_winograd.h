#pragma once
// Winograd convolution F(m x m, 3 x 3) for float32, stride-1, 3x3, undilated, ungrouped layers
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). Each m x m output
// tile is A^T [ (G g G^T) (.) (B^T d B) ] A, summed over input channels, where d is the
// (m + 2) x (m + 2) input tile: in the transform domain the sum over channels of the (m + 2)^2
// elementwise products is (m + 2)^2 matrix products [F x C] x [C x tiles], run through
// single-threaded OpenBLAS sgemm. Multiplies per output fall from 9 to (m + 2)^2 / m^2 of them:
// 4 for F(2x2) (2.25x fewer), 2.25 for F(4x4) (4x fewer).
//
// Transforms are plain loops with a fixed operation order (the build uses -ffp-contract=off), so
// results are the same at every vector width; filter transforms run in double. Chunks of output
// tile rows depend on the shapes only, so results are bitwise identical for any thread count.
//
// Error against a float64 direct convolution (tests/kernels_conv_winograd_test.cc), relative to
// the largest sum of |terms| in an output plane: F(2x2) 2e-7, the same as the direct and im2col
// float32 kernels; F(4x4) 4e-6, about 20x more (its transform constants 1/6, 4, 5 and 8 amplify
// rounding), which exceeds the op tests' float32 tolerance: use F(4x4) only where that is known
// to be acceptable. F(2x2) is the default.
#include <cstdint>

#include "graph/op.h"
#include "ops/kernels/conv.h"

namespace dagrad::kernels::winograd {

// The output tile: F(2x2, 3x3) with 4x4 input tiles, or F(4x4, 3x3) with 6x6 input tiles.
enum class Tile { f2x2 = 2, f4x4 = 4 };

// Whether these kernels compute the geometry: 3x3 filter, stride 1, dilation 1, one group, any
// zero padding (each side its own), at least one output pixel. Float32 only (the caller's check).
bool applies(const ConvGeometry& g);

// y = x (*) w, x [N,C,H,W], w [F,C,3,3], y [N,F,OH,OW]; then, as conv_forward does, + bias[f]
// when bias is not null and the epilogue (graph/op.h) when not null. The filters are transformed
// once per call on the calling thread; chunks of output tile rows run in parallel. Fails (Error)
// when !applies(g).
void forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
             const ChannelEpilogue* epilogue = nullptr, Tile tile = Tile::f2x2);

// dx = the input gradient of y = x (*) w for dy [N,F,OH,OW]: the stride-1 forward convolution of dy
// with the filters flipped in space and transposed in channels, padded by 2 - pad on each side
// (a negative padding crops). Parallel like forward.
void backward_input(const ConvGeometry& g, const float* dy, const float* w, float* dx, Tile tile = Tile::f2x2);

// dw [F,C,3,3] = the filter gradient summed over `images` consecutive images starting at x and dy
// (x [images,C,H,W], dy [images,F,OH,OW]; g.n is ignored). Runs on the calling thread only and
// uses no TBB, so a caller may run one image group per parallel chunk: the result depends only
// on these images (their transform-domain products accumulated in image order, one fixed order
// set by the shapes), never on other groups or the thread count.
void backward_filter(const ConvGeometry& g, const float* x, const float* dy, std::int64_t images, float* dw,
                     Tile tile = Tile::f2x2);

// dw for the whole batch g.n in the canonical batch reduction (batch_groups.h): one partial per
// group of kImagesPerGroup images (backward_filter above, groups in parallel), combined in the
// fixed pairwise tree. The same value as a caller that reduces backward_filter's group results
// with tree_combine.
void backward_filter_batch(const ConvGeometry& g, const float* x, const float* dy, float* dw, Tile tile = Tile::f2x2);

}  // namespace dagrad::kernels::winograd
