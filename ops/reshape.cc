// reshape: the same elements under a new shape (one dim may be -1). Gradient: reshape back.
#include <cstring>

#include "graph/op.h"
#include "ops/kernels/shape_attrs.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::TargetShapeAttrs;

Value reshape(Value x, Shape shape) {
  return x.graph().add_node("reshape", {x}, write_attrs(TargetShapeAttrs{std::move(shape)}))[0];
}

void register_reshape(OpRegistry& registry) {
  registry.add(define_op<TargetShapeAttrs>({
      .name = "reshape",
      .doc = "Reinterprets x with a new shape of the same element count; one dim may be -1.",
      .inputs = {"x"},
      .examples = {{.label = "infer_dim", .attrs = {{"shape", std::vector<std::int64_t>{3, -1}}}, .inputs = {{.shape = {2, 3, 2}}}},
                   {.label = "explicit", .attrs = {{"shape", std::vector<std::int64_t>{4, 1, 3}}}, .inputs = {{.shape = {2, 6}}}}},
      .infer = [](const TargetShapeAttrs& a, InferContext& c) {
        Shape out = a.shape;
        int unknown = -1;
        std::int64_t known = 1;
        for (std::size_t i = 0; i < out.size(); ++i) {
          if (out[i] == -1) {
            if (unknown >= 0) c.fail("shape ", to_string(a.shape), " has more than one -1");
            unknown = static_cast<int>(i);
          } else if (out[i] < 0) {
            c.fail("shape ", to_string(a.shape), " has a negative dim");
          } else {
            known = element_count({known, out[i]});
          }
        }
        std::int64_t n = element_count(c.shape(0));
        if (unknown >= 0) {
          if (known == 0 || n % known != 0) c.fail("cannot reshape ", n, " elements to ", to_string(a.shape));
          out[unknown] = n / known;
        }
        if (element_count(out) != n) c.fail("cannot reshape ", to_string(c.shape(0)), " to ", to_string(a.shape));
        return std::vector{TensorType{c.dtype(0), out}};
      },
      .forward = [](const TargetShapeAttrs&, KernelContext& k) {
        if (k.input(0).nbytes()) std::memcpy(k.output(0).raw(), k.input(0).raw(), k.input(0).nbytes());
      },
      .grad = [](const TargetShapeAttrs&, GradContext& g) { return std::vector{reshape(g.dy(), g.shape(0))}; },
      // A reshape that moves the batch out of dim 0 mixes images (sums after it would not be canonical).
      .batch_reduction = [](const kernels::TargetShapeAttrs& a, const BatchContext& b) {
        (void)a;
        const Shape& x = b.infer.shape(0);
        // Which output dim carries the batch is unknown once dim 0 changes: no promise then.
        if (!b.batched[0] || x.empty()) return BatchReduction::none;
        if (a.shape.empty()) return BatchReduction::non_canonical;
        std::int64_t first = a.shape[0];
        if (first == -1) {  // the -1 is dim 0: the elements over the product of the others
          std::int64_t others = 1;
          for (std::size_t i = 1; i < a.shape.size(); ++i) others *= a.shape[i];
          first = others > 0 ? element_count(x) / others : -1;
        }
        return first == x[0] ? BatchReduction::none : BatchReduction::non_canonical;
      },
  }));
}

}  // namespace dagrad::ops
