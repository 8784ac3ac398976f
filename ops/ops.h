#pragma once
// The raw op DSL: one function per op, each implemented in ops/<op>.cc beside the op's definition.
// Layers that create parameters (conv2d with a fresh filter, batch norm with its statistics) are in
// models/layers.h; these functions only wire existing values.
#include <array>
#include <cstdint>
#include <vector>

#include "graph/graph.h"

namespace dagrad::ops {

using Int2 = std::array<std::int64_t, 2>;

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

// ---- shapes and reductions -------------------------------------------------------------------
Value sum_to(Value x, Shape shape);            // sums broadcast dims away: the adjoint of broadcast_to
Value broadcast_to(Value x, Shape shape);
Value reduce_sum(Value x, std::vector<std::int64_t> axes, bool keepdims = false);
Value reshape(Value x, Shape shape);           // one dim may be -1
Value flatten(Value x);                        // [N, ...] -> [N, prod(...)]

// ---- linear ----------------------------------------------------------------------------------
Value matmul(Value a, Value b, bool transpose_a = false, bool transpose_b = false);  // 2-D
Value dense(Value x, Value w, Value bias = {}); // x[N,K] w[K,M] + bias[M]

// ---- convolution (NCHW / NCL; filters [F,C,KH,KW] / [F,C,K]) --------------------------------
Value conv2d(Value x, Value w, Value bias = {}, Int2 stride = {1, 1}, Int2 pad = {0, 0});
Value conv2d_grad_input(Value dy, Value w, Shape x_shape, Int2 stride, Int2 pad);
Value conv2d_grad_filter(Value x, Value dy, Shape w_shape, Int2 stride, Int2 pad);
Value conv1d(Value x, Value w, Value bias = {}, std::int64_t stride = 1, std::int64_t pad = 0);

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

// ---- normalization and regularization ---------------------------------------------------------
struct BatchNormOutputs {
  Value y, mean, invstd;                       // mean/invstd: batch statistics (training) or running ones
  Value running_mean, running_var;             // updated running statistics
};
// x: [N,C] or [N,C,H,W]; gamma, beta, running_mean, running_var: [C].
BatchNormOutputs batch_norm(Value x, Value gamma, Value beta, Value running_mean, Value running_var,
                            bool training, double momentum = 0.1, double eps = 1e-5);
// Returns {dx, dgamma, dbeta}.
std::vector<Value> batch_norm_grad(Value x, Value gamma, Value mean, Value invstd, Value dy, bool training);
struct DropoutOutputs { Value y, mask; };
DropoutOutputs dropout(Value x, double p, std::uint64_t seed, bool training);

// ---- classification -------------------------------------------------------------------------
Value softmax(Value x);                        // over the last axis
Value softmax_grad(Value y, Value dy);
Value log_softmax(Value x);
Value log_softmax_grad(Value y, Value dy);
Value softmax_cross_entropy(Value logits, Value labels);  // logits [N,K], labels i64 [N]; mean loss
Value softmax_cross_entropy_grad(Value logits, Value labels, Value dy);

}  // namespace dagrad::ops
