// dense_grad_weight: dw [K,M] = x^T dy for x [N,K], dy [N,M], the gradient of dense's weight,
// summed over the batch in the canonical order of ops/kernels/batch_groups.h: one GEMM per group of
// images (its images in order along the contraction), the groups' products combined in the fixed
// tree, so a run on an aligned slice of the batch computes a subtree of the whole batch's sum.
// Gradient (it is bilinear): dx = dy g^T, ddy = x g for the incoming gradient g [K,M].
#include "graph/op.h"
#include "ops/kernels/batch_groups.h"
#include "ops/kernels/gemm.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value dense_grad_weight(Value x, Value dy) { return x.graph().add_node("dense_grad_weight", {x, dy})[0]; }

void register_dense_grad_weight(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "dense_grad_weight",
      .doc = "Gradient of dense's weight: x[N,K]^T dy[N,M] -> [K,M], summed over the batch in the canonical order "
             "(groups of 4 images, a fixed tree): the same bits for any split of the batch.",
      .inputs = {"x", "dy"},
      .outputs = {"dw"},
      .examples = {{.label = "batch4", .inputs = {{.shape = {4, 3}}, {.shape = {4, 5}}}},
                   {.label = "three_groups", .inputs = {{.shape = {11, 2}}, {.shape = {11, 3}}}},
                   {.label = "one_image", .inputs = {{.shape = {1, 4}}, {.shape = {1, 2}}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        c.expect_float(0);
        c.expect_rank(0, 2);
        c.expect_rank(1, 2);
        c.expect_same_dtype(0, 1);
        if (c.shape(0)[0] != c.shape(1)[0])
          c.fail("x ", to_string(c.shape(0)), " and dy ", to_string(c.shape(1)), " must have the same batch (dim 0)");
        return std::vector{TensorType{c.dtype(0), {c.shape(0)[1], c.shape(1)[1]}}};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const std::int64_t n = k.input(0).dim(0), kk = k.input(0).dim(1), m = k.input(1).dim(1);
          const T* x = k.input(0).data<T>().data();
          const T* dy = k.input(1).data<T>().data();
          kernels::canonical_batch_sum<T>(n, kk * m, k.output(0).data<T>().data(),
                                          [&](std::int64_t first, std::int64_t count, T* node) {
            kernels::gemm<T>(true, false, kk, m, count, T(1), x + first * kk, kk, dy + first * m, m, T(0), node, m);
          });
        });
      },
      .grad = [](const NoAttrs&, GradContext& g) {
        std::vector<Value> grads(2);
        if (g.needs(0)) grads[0] = matmul(g.input(1), g.dy(), false, true);
        if (g.needs(1)) grads[1] = matmul(g.input(0), g.dy());
        return grads;
      },
      .flops = [](const NoAttrs&, const FlopContext& c) {
        return c.product({2, c.input(0)[0], c.input(0)[1], c.input(1)[1]});
      },
      .batch_reduction = [](const NoAttrs&, const BatchContext&) { return BatchReduction::canonical; },
  }));
}

}  // namespace dagrad::ops
