// reduce_sum: sums x over `axes` (negative axes count from the end), keeping them as size-1 dims
// when keepdims. Gradient: dy reshaped to the keepdims shape, broadcast back to x's shape.
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct ReduceSumAttrs {
  std::vector<std::int64_t> axes;
  bool keepdims = false;
  template <class V> void fields(V& v) {
    v.required("axes", axes);
    v("keepdims", keepdims);
  }
};

// Which dims of a rank-`rank` tensor are reduced; fails on out-of-range or repeated axes.
std::vector<bool> reduced_dims(const std::vector<std::int64_t>& axes, int rank, const InferContext* c) {
  std::vector<bool> reduced(rank, false);
  for (std::int64_t axis : axes) {
    std::int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) {
      if (c) c->fail("axis ", axis, " is out of range for rank ", rank);
      fail("reduce_sum: axis ", axis, " is out of range for rank ", rank);
    }
    if (reduced[a]) {
      if (c) c->fail("axis ", axis, " is repeated in axes");
      fail("reduce_sum: axis ", axis, " is repeated in axes");
    }
    reduced[a] = true;
  }
  return reduced;
}

Shape reduced_shape(const Shape& x, const std::vector<bool>& reduced, bool keepdims) {
  Shape out;
  for (std::size_t d = 0; d < x.size(); ++d) {
    if (!reduced[d]) out.push_back(x[d]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}
}  // namespace

Value reduce_sum(Value x, std::vector<std::int64_t> axes, bool keepdims) {
  return x.graph().add_node("reduce_sum", {x}, write_attrs(ReduceSumAttrs{std::move(axes), keepdims}))[0];
}

void register_reduce_sum(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<ReduceSumAttrs>({
      .name = "reduce_sum",
      .doc = "Sums x over `axes` (negative axes count from the end); keepdims keeps them as size 1.",
      .inputs = {"x"},
      .examples = {{.label = "nchw_bias", .attrs = {{"axes", Ints{0, 2, 3}}}, .inputs = {{.shape = {2, 3, 4, 5}}}},
                   {.label = "last_keepdims", .attrs = {{"axes", Ints{-1}}, {"keepdims", true}}, .inputs = {{.shape = {3, 4}}}},
                   {.label = "nchw_bias_keepdims", .attrs = {{"axes", Ints{0, 2, 3}}, {"keepdims", true}}, .inputs = {{.shape = {2, 3, 4, 5}}}},
                   {.label = "last_negative", .attrs = {{"axes", Ints{-1}}}, .inputs = {{.shape = {3, 4}}}},
                   {.label = "first", .attrs = {{"axes", Ints{0}}}, .inputs = {{.shape = {3, 4, 2}}}},
                   {.label = "middle_keepdims", .attrs = {{"axes", Ints{1}}, {"keepdims", true}}, .inputs = {{.shape = {3, 4, 2}}}},
                   {.label = "all", .attrs = {{"axes", Ints{0, 1, 2}}}, .inputs = {{.shape = {2, 3, 4}}}},
                   {.label = "unordered_axes", .attrs = {{"axes", Ints{2, 0}}, {"keepdims", true}}, .inputs = {{.shape = {2, 3, 4}}}},
                   {.label = "none", .attrs = {{"axes", Ints{}}}, .inputs = {{.shape = {2, 3}}}}},
      .infer = [](const ReduceSumAttrs& a, InferContext& c) {
        c.expect_float(0);
        std::vector<bool> reduced = reduced_dims(a.axes, static_cast<int>(c.shape(0).size()), &c);
        return std::vector{TensorType{c.dtype(0), reduced_shape(c.shape(0), reduced, a.keepdims)}};
      },
      .forward = [](const ReduceSumAttrs& a, KernelContext& k) {
        dispatch_float(k.input(0).dtype(), [&]<class T>() {
          const Tensor& tx = k.input(0);
          const Shape& shape = tx.shape();
          const int rank = tx.rank();
          std::vector<bool> reduced = reduced_dims(a.axes, rank, nullptr);
          std::vector<std::int64_t> stride(rank, 1);
          for (int d = rank - 2; d >= 0; --d) stride[d] = stride[d + 1] * shape[d + 1];

          // Offsets (in x) of the reduced elements relative to an output's first one, in row-major order
          // of the reduced dims: every output sums its terms in this one fixed order.
          std::vector<std::int64_t> terms{0};
          for (int d = 0; d < rank; ++d) {
            if (!reduced[d]) continue;
            std::vector<std::int64_t> next;
            next.reserve(terms.size() * shape[d]);
            for (std::int64_t base : terms)
              for (std::int64_t i = 0; i < shape[d]; ++i) next.push_back(base + i * stride[d]);
            terms = std::move(next);
          }
          std::vector<int> kept;
          for (int d = 0; d < rank; ++d)
            if (!reduced[d]) kept.push_back(d);

          const T* x = tx.data<T>().data();
          T* y = k.output(0).data<T>().data();
          const std::int64_t outputs = k.output(0).numel();
          const std::int64_t count = static_cast<std::int64_t>(terms.size());
          const std::int64_t grain = std::max<std::int64_t>(1, kernels::kElementwiseGrain / std::max<std::int64_t>(1, count));
          kernels::parallel_chunks(outputs, grain, [&](std::int64_t s, std::int64_t e) {
            for (std::int64_t o = s; o < e; ++o) {
              std::int64_t base = 0, rest = o;
              for (int j = static_cast<int>(kept.size()) - 1; j >= 0; --j) {
                std::int64_t extent = shape[kept[j]];
                base += (rest % extent) * stride[kept[j]];
                rest /= extent;
              }
              T sum = 0;
              for (std::int64_t t = 0; t < count; ++t) sum += x[base + terms[t]];
              y[o] = sum;
            }
          });
        });
      },
      .grad = [](const ReduceSumAttrs& a, GradContext& g) {
        // A copy: g.shape() refers into the graph's value list, which the reshape below may reallocate.
        const Shape x_shape = g.shape(0);
        Shape kept_shape = reduced_shape(x_shape, reduced_dims(a.axes, static_cast<int>(x_shape.size()), nullptr), true);
        Value dy = g.dy().shape() == kept_shape ? g.dy() : reshape(g.dy(), kept_shape);
        return std::vector{dy.shape() == x_shape ? dy : broadcast_to(dy, x_shape)};
      },
      // Summing over dim 0 of a batch: in index order, not the canonical one (batch_sum is).
      .batch_reduction = [](const ReduceSumAttrs& a, const BatchContext& b) {
        const auto rank = static_cast<std::int64_t>(b.infer.shape(0).size());
        for (std::int64_t axis : a.axes)
          if (b.batched[0] && (axis == 0 || axis + rank == 0)) return BatchReduction::non_canonical;
        return BatchReduction::none;
      },
  }));
}

}  // namespace dagrad::ops
