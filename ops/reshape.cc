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
  }));
}

}  // namespace dagrad::ops
