#pragma once
// The raw op DSL: one function per op, each implemented in ops/<op>.cc beside the op's definition.
// Layers that create parameters (conv2d with a fresh filter, batch norm with its statistics) are in
// models/layers.h; these functions only wire existing values.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace dagrad::ops {

using Int2 = std::array<std::int64_t, 2>;
using Ints = std::vector<std::int64_t>;

// ---- elementwise -----------------------------------------------------------------------------
Value relu(Value x);
Value relu_grad(Value y, Value dy);            // dy * (y > 0)
Value sigmoid(Value x);
Value sigmoid_grad(Value y, Value dy);         // dy * y * (1 - y)
Value tanh(Value x);
Value tanh_grad(Value y, Value dy);            // dy * (1 - y^2)
Value add(Value a, Value b);                   // numpy broadcasting (right-aligned)
Value mul(Value a, Value b);                   // numpy broadcasting
Value scale(Value x, double factor);           // x * factor
Value sub(Value a, Value b);                   // numpy broadcasting
Value div(Value a, Value b);                   // numpy broadcasting
Value neg(Value x);                            // -x
Value exp(Value x);
Value log(Value x);                            // natural logarithm
Value sqrt(Value x);
// clip, leaky_relu, elu, hardswish, silu and their gradients: ops/clip.h, leaky_relu.h, elu.h, ...

// ---- shapes and reductions -------------------------------------------------------------------
Value sum_to(Value x, Shape shape);            // sums broadcast dims away: the adjoint of broadcast_to
Value broadcast_to(Value x, Shape shape);
Value reduce_sum(Value x, std::vector<std::int64_t> axes, bool keepdims = false);
Value reshape(Value x, Shape shape);           // one dim may be -1
Value flatten(Value x);                        // [N, ...] -> [N, prod(...)]
Value reduce_mean(Value x, Ints axes, bool keepdims = false);
Value reduce_max(Value x, Ints axes, bool keepdims = false);
// Sums x over the batch (dim 0) and, per image, over `axes` (dims >= 1) in the canonical batch
// order (ops/kernels/batch_groups.h): the gradient of a bias over a batch.
Value batch_sum(Value x, Ints axes = {});
Value squeeze(Value x, Ints axes);             // drops size-1 dims (a reshape node)
Value unsqueeze(Value x, Ints axes);           // inserts size-1 dims at axes of the result (a reshape node)
Value concat(std::vector<Value> xs, std::int64_t axis);  // all other dims equal
// Elements starts[i] <= k < ends[i] along axes[i] (negative indices count from the end, ends clamp
// as in numpy); axes empty: 0, 1, ... in order.
Value slice(Value x, Ints starts, Ints ends, Ints axes = {});
std::vector<Value> split(Value x, Ints sizes, std::int64_t axis);  // sizes sum to the axis' extent
Value transpose(Value x, Ints perm);           // y.shape[i] = x.shape[perm[i]]
enum class PadMode { constant, reflect, edge };
// pads: {begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}} (ONNX's order), one pair per dim of x.
Value pad(Value x, Ints pads, PadMode mode = PadMode::constant, double value = 0);

// ---- linear ----------------------------------------------------------------------------------
// 2-D, or batched: [..., M, K] x [..., K, N] with numpy broadcasting over the batch dims.
Value matmul(Value a, Value b, bool transpose_a = false, bool transpose_b = false);
Value dense(Value x, Value w, Value bias = {}); // x[N,K] w[K,M] + bias[M]
Value dense_grad_weight(Value x, Value dy);    // x^T dy [K,M] summed over the batch in the canonical order

// ---- convolution (NCHW / NCL; filters [F,C/groups,KH,KW] / [F,C/groups,K]) ------------------
// Everything but x, w and bias. pad has one value per spatial dim (both sides) or two
// ({top, left, bottom, right}; conv1d {left, right}), as an attribute too.
struct ConvOptions {
  Ints stride;                                 // empty: 1 per spatial dim
  Ints pad;                                    // empty: 0
  Ints dilation;                               // empty: 1
  std::int64_t groups = 1;                     // groups == C: depthwise (F = C * multiplier)
};
Value conv2d(Value x, Value w, Value bias = {}, Int2 stride = {1, 1}, Int2 pad = {0, 0});
Value conv2d(Value x, Value w, Value bias, const ConvOptions& options);
Value conv2d_grad_input(Value dy, Value w, Shape x_shape, Int2 stride, Int2 pad);
Value conv2d_grad_input(Value dy, Value w, Shape x_shape, const ConvOptions& options);
Value conv2d_grad_filter(Value x, Value dy, Shape w_shape, Int2 stride, Int2 pad);
Value conv2d_grad_filter(Value x, Value dy, Shape w_shape, const ConvOptions& options);
Value conv1d(Value x, Value w, Value bias = {}, std::int64_t stride = 1, std::int64_t pad = 0);
Value conv1d(Value x, Value w, Value bias, const ConvOptions& options);
// The adjoint of conv2d in x, with a bias: x [N,C,H,W], w [C,F/groups,KH,KW] (PyTorch's layout),
// output [N,F,(H-1)*stride - pad_begin - pad_end + dilation*(KH-1) + output_padding + 1, ...].
Value conv_transpose2d(Value x, Value w, Value bias, const ConvOptions& options, Int2 output_padding = {0, 0});

// ---- pooling ---------------------------------------------------------------------------------
// Max pooling that saves each window's argmax for the gradient (op max_pool2d_with_indices).
Value max_pool2d(Value x, Int2 window, Int2 stride, Int2 pad = {0, 0});
// {y, indices}: indices [N,C,OH,OW] i64, the winning cell's index within its input plane.
std::vector<Value> max_pool2d_with_indices(Value x, Int2 window, Int2 stride, Int2 pad = {0, 0});
Value max_pool2d_with_indices_grad(Value indices, Value dy, Int2 window, Int2 stride, Int2 pad, Int2 input_size);
// The op max_pool2d without saved indices (its gradient searches the windows of x again); graphs
// saved before max_pool2d_with_indices use it.
Value max_pool2d_recomputing(Value x, Int2 window, Int2 stride, Int2 pad = {0, 0});
Value max_pool2d_grad(Value x, Value dy, Int2 window, Int2 stride, Int2 pad);
Value max_pool1d(Value x, std::int64_t window, std::int64_t stride, std::int64_t pad = 0);
Value avg_pool2d(Value x, Int2 window, Int2 stride, Int2 pad = {0, 0});  // zero padding counts
Value avg_pool2d_grad(Value dy, Shape x_shape, Int2 window, Int2 stride, Int2 pad);
Value global_avg_pool(Value x);                // [N,C,H,W] -> [N,C]
// The pooling options beyond window, stride and pad, as PyTorch names them.
struct PoolOptions {
  Int2 dilation = {1, 1};                      // max pooling only
  bool ceil_mode = false;                      // output extent rounds up (a last partial window)
  bool count_include_pad = true;               // average pooling: padding cells count in the divisor
};
Value max_pool2d(Value x, Int2 window, Int2 stride, Int2 pad, const PoolOptions& options);
Value avg_pool2d(Value x, Int2 window, Int2 stride, Int2 pad, const PoolOptions& options);
Value global_max_pool(Value x);                // [N,C,H,W] -> [N,C]
Value adaptive_avg_pool2d(Value x, Int2 output_size);  // PyTorch's windows: floor(i*H/OH) .. ceil((i+1)*H/OH)

// ---- normalization and regularization ---------------------------------------------------------
struct BatchNormOutputs {
  Value y, mean, invstd;                       // mean/invstd: batch statistics (training) or running ones
  Value running_mean, running_var;             // updated running statistics
};
// x: [N,C] or [N,C,H,W]; gamma, beta, running_mean, running_var: [C].
// running_var_unbiased: the running variance is updated with the unbiased batch variance (PyTorch)
// or, when false, the population variance (ONNX BatchNormalization's training form).
BatchNormOutputs batch_norm(Value x, Value gamma, Value beta, Value running_mean, Value running_var,
                            bool training, double momentum = 0.1, double eps = 1e-5, bool running_var_unbiased = true);
// Returns {dx, dgamma, dbeta}.
std::vector<Value> batch_norm_grad(Value x, Value gamma, Value mean, Value invstd, Value dy, bool training);
struct DropoutOutputs { Value y, mask; };
DropoutOutputs dropout(Value x, double p, std::uint64_t seed, bool training);

// ---- classification -------------------------------------------------------------------------
Value softmax(Value x, std::int64_t axis = -1);
Value softmax_grad(Value y, Value dy, std::int64_t axis = -1);
Value log_softmax(Value x, std::int64_t axis = -1);
Value log_softmax_grad(Value y, Value dy, std::int64_t axis = -1);
// logits [N,K], labels i64 [N]; the mean loss over the labels that are not ignore_index.
// label_smoothing e: the target is (1 - e) one-hot + e / K (PyTorch's definition).
struct CrossEntropyOptions {
  double label_smoothing = 0;
  std::int64_t ignore_index = -100;            // PyTorch's default
};
Value softmax_cross_entropy(Value logits, Value labels);
Value softmax_cross_entropy(Value logits, Value labels, const CrossEntropyOptions& options);
Value softmax_cross_entropy_grad(Value logits, Value labels, Value dy);
Value softmax_cross_entropy_grad(Value logits, Value labels, Value dy, const CrossEntropyOptions& options);
// ONNX NegativeLogLikelihoodLoss: log_probs [N,C] or [N,C,d1,...], labels i64 [N] or [N,d1,...],
// optional weight [C]; per label -weight[l] * log_probs[n,l,...] (0 for ignore_index). reduction
// "mean" divides the sum by the summed weights of the labels kept (0 when none), "sum" sums, "none"
// returns the per-label losses [N,d1,...]. SoftmaxCrossEntropyLoss = nll_loss(log_softmax(x, 1), ...).
struct NllLossOptions {
  std::string reduction = "mean";              // mean | sum | none
  std::int64_t ignore_index = -100;
};
Value nll_loss(Value log_probs, Value labels, Value weight = {}, const NllLossOptions& options = {});
// dlog_probs; dy is a scalar (mean, sum) or labels-shaped (none); weight may be invalid.
Value nll_loss_grad(Value log_probs, Value labels, Value dy, Value weight, const NllLossOptions& options);

}  // namespace dagrad::ops
