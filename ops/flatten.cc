// flatten: [N, d1, d2, ...] -> [N, d1 * d2 * ...] (the bridge from convolutions to dense layers).
// Gradient: reshape dy back to x's shape.
#include <cstring>

#include "graph/op.h"
#include "ops/ops.h"

namespace dagrad::ops {

Value flatten(Value x) { return x.graph().add_node("flatten", {x})[0]; }

void register_flatten(OpRegistry& registry) {
  registry.add(define_op<NoAttrs>({
      .name = "flatten",
      .doc = "Keeps the first dim and merges all the others: [N, ...] -> [N, prod(...)].",
      .inputs = {"x"},
      .examples = {{.label = "nchw", .inputs = {{.shape = {2, 3, 2, 2}}}},
                   {.label = "rank1", .inputs = {{.shape = {4}}}}},
      .infer = [](const NoAttrs&, InferContext& c) {
        const Shape& x = c.shape(0);
        if (x.empty()) c.fail("flatten needs rank >= 1, got a scalar");
        Shape rest(x.begin() + 1, x.end());
        return std::vector{TensorType{c.dtype(0), {x[0], element_count(rest)}}};
      },
      .forward = [](const NoAttrs&, KernelContext& k) {
        if (k.input(0).nbytes()) std::memcpy(k.output(0).raw(), k.input(0).raw(), k.input(0).nbytes());
      },
      .grad = [](const NoAttrs&, GradContext& g) { return std::vector{reshape(g.dy(), g.shape(0))}; },
  }));
}

}  // namespace dagrad::ops
