#pragma once
// Depthwise convolution (groups == C, each filter reads one channel) with a 3x3 window: a
// memory-bound kernel of its own, because im2col + GEMM has nothing to reuse when each output
// pixel is 9 multiply-adds of one channel. conv.cc dispatches to it when it applies.
#include "graph/op.h"
#include "ops/kernels/conv.h"

namespace dagrad::kernels {

// Whether the depthwise kernels take this geometry: groups == C, 3x3, any stride, pad and
// dilation that conv_geometry accepted, any channel multiplier (F = C * m).
bool depthwise3x3_applies(const ConvGeometry& g);

// y = x (*) w (+ bias), then the epilogue (see conv_forward), for a geometry where
// depthwise3x3_applies. Parallel over (image, filter) output planes; bitwise the same for any thread
// count, and the same bits with or without AVX-512.
template <class T>
void depthwise3x3_forward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                          const ChannelEpilogue* epilogue);

// dx = the adjoint in x of depthwise3x3_forward's convolution, applied to dy: per input plane, a
// stride-1 convolution of dy (spread out by the stride, zero-padded) with the flipped filters of its
// channel, summed over the multiplier's filters in order. Parallel over (image, channel) planes.
template <class T> void depthwise3x3_backward_input(const ConvGeometry& g, const T* dy, const T* w, T* dx);

// dw [F,1,3,3] = the sum over images and output pixels of dy times the input under each tap, in an
// order fixed by the shape (per filter: images, rows, 16 column lanes, then the lanes in order).
// Parallel over filters; bitwise the same for any thread count.
template <class T> void depthwise3x3_backward_filter(const ConvGeometry& g, const T* x, const T* dy, T* dw);

}  // namespace dagrad::kernels
