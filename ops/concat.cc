// concat: the inputs joined along `axis` (negative counts from the end); every other dim and the
// dtype equal. Any dtype (a copy). Gradient: a slice of dy per input.
#include <string>

#include "graph/op.h"
#include "ops/kernels/strided_copy.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {
struct ConcatAttrs {
  std::int64_t axis = 0;
  template <class V> void fields(V& v) { v.required("axis", axis); }
};

// The axis of a rank-`rank` result; fails through c when out of range.
std::int64_t resolved_axis(std::int64_t axis, std::int64_t rank, const InferContext* c) {
  if (axis < -rank || axis >= rank) {
    if (c) c->fail("attribute 'axis' = ", axis, " is out of range for rank ", rank);
    fail("concat: attribute 'axis' = ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}
}  // namespace

Value concat(std::vector<Value> xs, std::int64_t axis) {
  if (xs.empty()) fail("concat: needs at least one input, got none");
  return xs.front().graph().add_node("concat", xs, write_attrs(ConcatAttrs{axis}))[0];
}

void register_concat(OpRegistry& registry) {
  registry.add(define_op<ConcatAttrs>({
      .name = "concat",
      .doc = "Joins its inputs (one or more, of one dtype) along `axis` (negative counts from the end); "
             "all other dims must be equal.",
      .inputs = {"xs..."},
      .examples = {{.label = "channels_nchw", .attrs = {{"axis", std::int64_t{1}}},
                    .inputs = {{.shape = {2, 3, 4, 4}}, {.shape = {2, 1, 4, 4}}, {.shape = {2, 2, 4, 4}}}},
                   {.label = "first_axis", .attrs = {{"axis", std::int64_t{0}}}, .inputs = {{.shape = {2, 3}}, {.shape = {4, 3}}}},
                   {.label = "last_axis_negative", .attrs = {{"axis", std::int64_t{-1}}}, .inputs = {{.shape = {3, 2, 2}}, {.shape = {3, 2, 5}}}},
                   {.label = "middle_negative", .attrs = {{"axis", std::int64_t{-2}}}, .inputs = {{.shape = {2, 1, 3}}, {.shape = {2, 4, 3}}}},
                   {.label = "single_input", .attrs = {{"axis", std::int64_t{1}}}, .inputs = {{.shape = {2, 3}}}},
                   {.label = "empty_piece", .attrs = {{"axis", std::int64_t{1}}}, .inputs = {{.shape = {2, 0, 3}}, {.shape = {2, 2, 3}}}},
                   {.label = "many_inputs", .attrs = {{"axis", std::int64_t{0}}},
                    .inputs = std::vector<ExampleInput>(12, ExampleInput{.shape = {1, 3}})},
                   {.label = "rank1", .attrs = {{"axis", std::int64_t{0}}}, .inputs = {{.shape = {3}}, {.shape = {1}}, {.shape = {2}}}}},
      .infer = [](const ConcatAttrs& a, InferContext& c) {
        const Shape& first = c.shape(0);
        if (first.empty()) c.fail("input 0 is a scalar; concat joins along an axis of rank >= 1 inputs");
        const std::int64_t axis = resolved_axis(a.axis, static_cast<std::int64_t>(first.size()), &c);
        Shape y = first;
        for (int i = 1; i < c.num_inputs(); ++i) {
          if (c.dtype(i) != c.dtype(0))
            c.fail("input ", i, " is ", dtype_name(c.dtype(i)), " but input 0 is ", dtype_name(c.dtype(0)));
          const Shape& s = c.shape(i);
          bool same = s.size() == first.size();
          for (std::size_t d = 0; same && d < s.size(); ++d) same = static_cast<std::int64_t>(d) == axis || s[d] == first[d];
          if (!same)
            c.fail("input ", i, " has shape ", to_string(s), " but input 0 has ", to_string(first), ": every dim but axis ", axis,
                   " must be equal");
          y[axis] += s[axis];
        }
        return std::vector{TensorType{c.dtype(0), y}};
      },
      .forward = [](const ConcatAttrs& a, KernelContext& k) {
        Tensor& y = k.output(0);
        const std::int64_t axis = resolved_axis(a.axis, y.rank(), nullptr);
        const std::vector<std::int64_t> ys = kernels::row_major_strides(y.shape());
        const std::size_t size = dtype_size(y.dtype());
        std::int64_t offset = 0;  // elements of y before this input's block
        for (int i = 0; i < k.num_inputs(); ++i) {
          const Tensor& x = k.input(i);
          kernels::strided_copy({x.shape(), kernels::row_major_strides(x.shape()), ys}, x.raw(),
                                static_cast<std::byte*>(y.raw()) + offset * size, size);
          offset += x.shape()[axis] * ys[axis];
        }
      },
      .grad = [](const ConcatAttrs& a, GradContext& g) {
        const std::int64_t axis = resolved_axis(a.axis, g.dy().rank(), nullptr);
        std::vector<Value> grads(g.num_inputs());
        std::int64_t begin = 0;
        for (int i = 0; i < g.num_inputs(); ++i) {
          const std::int64_t end = begin + g.shape(i)[axis];
          if (g.needs(i)) grads[i] = slice(g.dy(), {begin}, {end}, {axis});
          begin = end;
        }
        return grads;
      },
  }));
}

}  // namespace dagrad::ops
