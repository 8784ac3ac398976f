// transpose: y.shape[i] = x.shape[perm[i]], y[..., j_i, ...] = x[..., j at position perm[i], ...].
// Any dtype (a copy). Gradient: transpose by the inverse permutation. The kernel is the strided
// copy, tiled when the last dim moves (NCHW <-> NHWC, matrix transposes).
#include <string>

#include "graph/op.h"
#include "ops/kernels/strided_copy.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct TransposeAttrs {
  Ints perm;
  template <class V> void fields(V& v) { v.required("perm", perm); }
};

Ints inverse(const Ints& perm) {
  Ints inv(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<std::int64_t>(i);
  return inv;
}
}  // namespace

Value transpose(Value x, Ints perm) {
  return x.graph().add_node("transpose", {x}, write_attrs(TransposeAttrs{std::move(perm)}))[0];
}

void register_transpose(OpRegistry& registry) {
  registry.add(define_op<TransposeAttrs>({
      .name = "transpose",
      .doc = "Permutes the dims of x: y.shape[i] = x.shape[perm[i]] (perm lists every dim once).",
      .inputs = {"x"},
      .examples = {{.label = "matrix", .attrs = {{"perm", Ints{1, 0}}}, .inputs = {{.shape = {3, 5}}}},
                   {.label = "nchw_to_nhwc", .attrs = {{"perm", Ints{0, 2, 3, 1}}}, .inputs = {{.shape = {2, 3, 4, 5}}}},
                   {.label = "nhwc_to_nchw", .attrs = {{"perm", Ints{0, 3, 1, 2}}}, .inputs = {{.shape = {2, 4, 5, 3}}}},
                   {.label = "last_two", .attrs = {{"perm", Ints{0, 1, 3, 2}}}, .inputs = {{.shape = {2, 2, 3, 4}}}},
                   {.label = "large_tiles", .attrs = {{"perm", Ints{1, 0}}}, .inputs = {{.shape = {37, 70}}}},
                   {.label = "outer_only", .attrs = {{"perm", Ints{1, 0, 2}}}, .inputs = {{.shape = {3, 4, 5}}}},
                   {.label = "reverse", .attrs = {{"perm", Ints{2, 1, 0}}}, .inputs = {{.shape = {2, 3, 4}}}},
                   {.label = "identity", .attrs = {{"perm", Ints{0, 1}}}, .inputs = {{.shape = {2, 3}}}},
                   {.label = "size_one_dims", .attrs = {{"perm", Ints{2, 0, 3, 1}}}, .inputs = {{.shape = {1, 3, 1, 4}}}},
                   {.label = "empty", .attrs = {{"perm", Ints{1, 0}}}, .inputs = {{.shape = {0, 3}}}},
                   {.label = "scalar", .attrs = {{"perm", Ints{}}}, .inputs = {{.shape = {}}}}},
      .infer = [](const TransposeAttrs& a, InferContext& c) {
        const Shape& x = c.shape(0);
        std::vector<bool> seen(x.size(), false);
        bool valid = a.perm.size() == x.size();
        for (std::size_t i = 0; valid && i < a.perm.size(); ++i) {
          const std::int64_t p = a.perm[i];
          valid = p >= 0 && p < static_cast<std::int64_t>(x.size()) && !seen[p];
          if (valid) seen[p] = true;
        }
        if (!valid)
          c.fail("attribute 'perm' = ", to_string(a.perm), " is not a permutation of the dims of a rank-", x.size(), " input");
        Shape y(x.size());
        for (std::size_t i = 0; i < y.size(); ++i) y[i] = x[a.perm[i]];
        return std::vector{TensorType{c.dtype(0), y}};
      },
      .forward = [](const TransposeAttrs& a, KernelContext& k) {
        const Tensor& x = k.input(0);
        const std::vector<std::int64_t> xs = kernels::row_major_strides(x.shape());
        kernels::StridedLayout layout{k.output(0).shape(), {}, kernels::row_major_strides(k.output(0).shape())};
        for (std::int64_t p : a.perm) layout.src.push_back(xs[p]);
        kernels::strided_copy(layout, x.raw(), k.output(0).raw(), dtype_size(x.dtype()));
      },
      .grad = [](const TransposeAttrs& a, GradContext& g) { return std::vector{transpose(g.dy(), inverse(a.perm))}; },
      // Moving the batch out of dim 0: sums after it would not be canonical.
      .batch_reduction = [](const TransposeAttrs& a, const BatchContext& b) {
        return b.batched[0] && !a.perm.empty() && a.perm[0] != 0 ? BatchReduction::non_canonical : BatchReduction::none;
      },
  }));
}

}  // namespace dagrad::ops
