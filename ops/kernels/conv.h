#pragma once
// Convolution kernels shared by conv2d, conv1d and their backward ops: im2col + GEMM, one batch
// image per parallel chunk. A 1-D convolution is the 2-D one with H = KH = 1.
#include <cstdint>
#include <span>
#include <vector>

#include "graph/op.h"

namespace dagrad::kernels {

struct ConvGeometry {
  std::int64_t n = 0, c = 0, h = 1, w = 0;  // input [N,C,H,W]
  std::int64_t f = 0, kh = 1, kw = 0;       // filter [F,C/groups,KH,KW]
  std::int64_t sh = 1, sw = 1;              // stride
  std::int64_t ph = 0, pw = 0;              // zero padding before (top, left)
  std::int64_t ph_end = 0, pw_end = 0;      // zero padding after (bottom, right)
  std::int64_t dh = 1, dw = 1;              // dilation: filter taps are dh (dw) cells apart
  std::int64_t groups = 1;                  // channels and filters split into this many groups
  std::int64_t oh = 1, ow = 0;              // output [N,F,OH,OW]

  std::int64_t group_channels() const { return c / groups; }  // input channels each filter reads
  std::int64_t group_filters() const { return f / groups; }   // filters of each group
  bool depthwise() const { return groups == c && groups > 1; }  // one input channel per group

  std::int64_t patch_size() const { return group_channels() * kh * kw; }  // rows of a group's im2col matrix
  std::int64_t out_pixels() const { return oh * ow; }                      // its columns
  std::int64_t padded_h() const { return h + ph + ph_end; }
  std::int64_t padded_w() const { return w + pw + pw_end; }
  // A 1x1, stride-1, unpadded convolution reads x itself as its im2col matrix.
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && ph_end == 0 && pw_end == 0;
  }
  // What the direct kernels (conv_direct.h) and the transposed-input-gradient trick assume: one
  // group, no dilation, the same padding on both sides.
  bool plain() const { return groups == 1 && dh == 1 && dw == 1 && ph == ph_end && pw == pw_end; }
};


// A convolution's options, one value per spatial dim (as many as stride.size()): pad has one value
// per dim (both sides) or two ({begin..., end...}, ONNX's order); empty dilation means 1.
struct ConvSpec {
  std::span<const std::int64_t> stride, pad, dilation;
  std::int64_t groups = 1;
};

// The attributes conv2d, its backward ops and conv_transpose2d share (files before groups and
// dilation stored only stride and pad, two values each: they mean the same).
struct Conv2dParams {
  std::vector<std::int64_t> stride{1, 1};
  std::vector<std::int64_t> pad{0, 0};  // 2 values (both sides) or 4 ([top,left,bottom,right])
  std::vector<std::int64_t> dilation{1, 1};
  std::int64_t groups = 1;
  template <class V> void fields(V& v) {
    v("stride", stride);
    v("pad", pad);
    v("dilation", dilation);
    v("groups", groups);
  }
  ConvSpec spec() const { return {.stride = stride, .pad = pad, .dilation = dilation, .groups = groups}; }
  // Fails through c unless stride and dilation have 2 values each (pad's count conv_geometry checks).
  void check_lengths(const InferContext& c) const;
};

}  // namespace dagrad::kernels

namespace dagrad::ops {
struct ConvOptions;
}

namespace dagrad::kernels {

// The DSL's options as 2-D attributes (empty lists: the defaults) and back.
Conv2dParams conv2d_params(const ops::ConvOptions& options);
ops::ConvOptions conv_options(const Conv2dParams& params);

// Validates a convolution of x [N,C,spatial...] by a filter [F,C/groups,kernel...] with one
// (conv1d) or two (conv2d) spatial dims and returns its geometry. Failures go through c.fail and
// name the offending attribute and dims. The shapes may come from attributes (the backward ops).
ConvGeometry conv_geometry(const InferContext& c, const Shape& x, const Shape& w, const ConvSpec& spec);
ConvGeometry conv_geometry(const InferContext& c, const Shape& x, const Shape& w, std::span<const std::int64_t> stride,
                           std::span<const std::int64_t> pad);

// The geometry of shapes that conv_geometry already accepted (kernels, after shape inference).
ConvGeometry conv_geometry(const Shape& x, const Shape& w, const ConvSpec& spec);
ConvGeometry conv_geometry(const Shape& x, const Shape& w, std::span<const std::int64_t> stride,
                           std::span<const std::int64_t> pad);

// The output shape [N,F,OH,OW], or [N,F,OW] for one spatial dim.
Shape conv_output_shape(const ConvGeometry& g, int spatial_dims);


// The kernels a float32 forward or filter-gradient pass takes: by measurement (automatic), or
// forced, so that tests cover both paths whatever the shapes and a build where one is never taken
// cannot pass silently. Forcing direct on a geometry the direct kernels cannot run (a build
// without AVX2/FMA, a 1x1 filter) throws. Process-wide; set it only while no convolution runs.
// automatic: each pass takes the fastest kernel measured for its geometry; the others force one
// (a pass the forced kernel cannot compute is an error, except winograd, which leaves the
// geometries it does not cover on the automatic choice).
enum class ConvPath { automatic, direct, im2col, winograd };
void set_conv_path_for_testing(ConvPath path);

// y = x (*) w (+ bias per filter when bias is not null), then the epilogue (graph/op.h) per filter
// when not null: y = T(double(y) * scale[f] + shift[f]), then the activation.
template <class T> void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y);
template <class T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y, const ChannelEpilogue* epilogue);
// dx = the adjoint of the convolution in x, applied to dy.
template <class T> void conv_backward_input(const ConvGeometry& g, const T* dy, const T* w, T* dx);
// dw = sum over images of dy_n * im2col(x_n)^T in the canonical batch order (batch_groups.h): a
// partial per group of images, the partials combined in the fixed tree, whatever the thread count.
template <class T> void conv_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw);

}  // namespace dagrad::kernels
