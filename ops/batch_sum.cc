// batch_sum: y = x summed over the batch (dim 0) and, within each image, over `axes` (dims >= 1),
// in the canonical batch order of ops/kernels/batch_groups.h: per group of images one partial (the
// group's terms in image order, then each image's in row-major order of the reduced dims, summed
// in double), the partials combined in the fixed tree. A run on an aligned slice of the batch so
// computes a subtree of the whole batch's sum. It is the gradient of a bias (dense: axes {}, conv2d:
// axes {2, 3}). Gradient: dy reshaped with the reduced dims as 1, broadcast back to x's shape.
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/batch_groups.h"
#include "ops/kernels/reduce_axes.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct BatchSumAttrs {
  std::vector<std::int64_t> axes;  // reduced within each image, besides the batch dim 0
  template <class V> void fields(V& v) { v("axes", axes); }
};

// The per-image reduction as a Reduction of the batch dim and `axes` (checked by the shape rule).
kernels::Reduction summed_dims(const Shape& x, const BatchSumAttrs& a, const InferContext* c) {
  kernels::ReduceAttrs r{.axes = {0}, .keepdims = false};
  for (std::int64_t axis : a.axes) {
    const std::int64_t d = axis < 0 ? axis + static_cast<std::int64_t>(x.size()) : axis;
    if (d == 0) {
      if (c) c->fail("attribute 'axes' = ", to_string(a.axes), " names the batch dim 0, which batch_sum always sums");
      fail("batch_sum: axes name the batch dim 0");
    }
    r.axes.push_back(axis);
  }
  return kernels::Reduction(x, r, c);
}

template <class T> void forward(const BatchSumAttrs& a, KernelContext& k) {
  const Tensor& tx = k.input(0);
  const Shape& shape = tx.shape();
  const std::int64_t images = shape[0];
  // One image's reduction: the same walk with the batch dim of extent 1.
  Shape image_shape = shape;
  image_shape[0] = 1;
  const kernels::Reduction per_image = summed_dims(image_shape, a, nullptr);
  const std::int64_t image_size = images == 0 ? 0 : tx.numel() / images;
  const std::int64_t outputs = k.output(0).numel();
  const T* x = tx.data<T>().data();
  kernels::canonical_batch_sum<T>(images, outputs, k.output(0).data<T>().data(),
                                  [&](std::int64_t first, std::int64_t count, T* node) {
    per_image.for_each_output([&](std::int64_t o, std::int64_t base, const std::vector<std::int64_t>& terms) {
      double sum = 0;
      for (std::int64_t n = first; n < first + count; ++n) {
        const T* image = x + n * image_size + base;
        for (std::int64_t t : terms) sum += static_cast<double>(image[t]);
      }
      node[o] = static_cast<T>(sum);
    });
  });
}
}  // namespace

Value batch_sum(Value x, Ints axes) {
  return x.graph().add_node("batch_sum", {x}, write_attrs(BatchSumAttrs{std::move(axes)}))[0];
}

void register_batch_sum(OpRegistry& registry) {
  registry.add(define_op<BatchSumAttrs>({
      .name = "batch_sum",
      .doc = "Sums x over the batch dim 0 and, per image, over `axes` (dims >= 1) in the canonical batch order "
             "(groups of 4 images, a fixed tree): the gradient of a bias, the same bits for any split of the batch.",
      .inputs = {"x"},
      .examples = {{.label = "dense_bias", .inputs = {{.shape = {4, 5}}}},
                   {.label = "conv_bias", .attrs = {{"axes", Ints{2, 3}}}, .inputs = {{.shape = {3, 2, 3, 2}}}},
                   {.label = "three_groups", .attrs = {{"axes", Ints{-1}}}, .inputs = {{.shape = {11, 3, 2}}}},
                   {.label = "one_image", .inputs = {{.shape = {1, 3}}}}},
      .infer = [](const BatchSumAttrs& a, InferContext& c) {
        c.expect_float(0);
        if (c.shape(0).empty()) c.fail("x must have a batch dim, got a scalar");
        return std::vector{TensorType{c.dtype(0), summed_dims(c.shape(0), a, &c).out}};
      },
      .forward = [](const BatchSumAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() { forward<T>(a, k); });
      },
      .grad = [](const BatchSumAttrs& a, GradContext& g) {
        const Shape x_shape = g.shape(0);  // a copy: the nodes added below may move the graph's values
        const Shape kept = summed_dims(x_shape, a, nullptr).kept;
        Value dy = g.dy().shape() == kept ? g.dy() : reshape(g.dy(), kept);
        return std::vector{dy.shape() == x_shape ? dy : broadcast_to(dy, x_shape)};
      },
      .batch_reduction = [](const BatchSumAttrs&, const BatchContext&) { return BatchReduction::canonical; },
  }));
}

}  // namespace dagrad::ops
