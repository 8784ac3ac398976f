// dense: y = x w + bias, x [N,K], w [K,M], optional bias [M] (a fully connected layer).
// Gradients: dx = dy w^T, dw = x^T dy (dense_grad_weight), dbias = dy summed over the batch
// (batch_sum); both sums over the batch follow the canonical order of ops/kernels/batch_groups.h.
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/batch_groups.h"
#include "ops/kernels/gemm.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value dense(Value x, Value w, Value bias) {
  std::vector<Value> inputs = {x, w};
  if (bias) inputs.push_back(bias);
  return x.graph().add_node("dense", inputs)[0];
}

void register_dense(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "dense",
      .doc = "Fully connected layer: y[N,M] = x[N,K] w[K,M] + bias[M] (bias optional).",
      .inputs = {"x", "w", "bias?"},
      .examples = {{.label = "bias", .inputs = {{.shape = {3, 4}}, {.shape = {4, 5}}, {.shape = {5}}}},
                   {.label = "no_bias", .inputs = {{.shape = {2, 6}}, {.shape = {6, 3}}}},
                   {.label = "single_output", .inputs = {{.shape = {4, 3}}, {.shape = {3, 1}}, {.shape = {1}}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        c.expect_rank(0, 2);
        c.expect_rank(1, 2);
        c.expect_same_dtype(0, 1);
        const Shape& x = c.shape(0);
        const Shape& w = c.shape(1);
        if (x[1] != w[0])
          c.fail("x ", to_string(x), " has ", x[1], " features but w ", to_string(w), " expects ", w[0]);
        if (c.num_inputs() == 3) {
          c.expect_same_dtype(0, 2);
          if (c.shape(2) != Shape{w[1]})
            c.fail("bias must have shape [", w[1], "] to match w ", to_string(w), ", got ", to_string(c.shape(2)));
        }
        return std::vector{TensorType{c.dtype(0), {x[0], w[1]}}};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Tensor& tx = k.input(0);
          const Tensor& tw = k.input(1);
          Tensor& ty = k.output(0);
          const std::int64_t n = tx.dim(0), kk = tx.dim(1), m = tw.dim(1);
          const T* x = tx.data<T>().data();
          const T* w = tw.data<T>().data();
          const T* bias = k.num_inputs() == 3 ? k.input(2).data<T>().data() : nullptr;
          T* y = ty.data<T>().data();
          // Row blocks of one canonical group of images (batch_groups.h), aligned: BLAS rounds a
          // row differently with its place in the block, so blocks fixed by the batch size would
          // give a slice of the batch other bits than the whole batch (and any block size other
          // bits per thread count).
          const std::int64_t rows = kernels::kImagesPerGroup;
          kernels::parallel_chunks(n, rows, [&](std::int64_t s, std::int64_t e) {
            kernels::gemm<T>(false, false, e - s, m, kk, T(1), x + s * kk, kk, w, m, T(0), y + s * m, m);
            if (bias)
              for (std::int64_t i = s; i < e; ++i)
                for (std::int64_t j = 0; j < m; ++j) y[i * m + j] += bias[j];
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) {
        Value x = g.input(0), w = g.input(1), dy = g.dy();
        std::vector<Value> grads(g.num_inputs());
        if (g.needs(0)) grads[0] = matmul(dy, w, false, true);
        // The two sums over the batch in the canonical order (a slice of the batch gives a subtree).
        if (g.needs(1)) grads[1] = dense_grad_weight(x, dy);
        if (g.num_inputs() == 3 && g.needs(2)) grads[2] = batch_sum(dy);
        return grads;
      },
      .flops = [](const NoAttrs&, const FlopContext& c) {
        return c.product({2, c.output(0)[0], c.output(0)[1], c.input(0)[1]});
      },
  }));
}

}  // namespace dagrad::ops
