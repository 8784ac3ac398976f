// split: x cut into consecutive pieces of `sizes` along `axis` (negative counts from the end), one
// output per piece: the op's outputs are variadic ("ys..."), their number that of `sizes`. Any
// dtype (a copy). Gradient: the concat of the pieces' dys; a piece that gets no gradient
// contributes zeros (then each dy is zero-padded back to x's shape and those are summed).
#include "graph/op.h"
#include "ops/kernels/strided_copy.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace {

struct SplitAttrs {
  Ints sizes;
  std::int64_t axis = 0;
  template <class V> void fields(V& v) {
    v.required("sizes", sizes);
    v("axis", axis);
  }
};

std::int64_t resolved_axis(std::int64_t axis, std::int64_t rank) { return axis < 0 ? axis + rank : axis; }

}  // namespace

std::vector<Value> split(Value x, Ints sizes, std::int64_t axis) {
  return x.graph().add_node("split", {x}, write_attrs(SplitAttrs{std::move(sizes), axis}));
}

void register_split(OpRegistry& registry) {
  registry.add(define_op<SplitAttrs>({
      .name = "split",
      .doc = "Cuts x into consecutive pieces of `sizes` along `axis` (negative counts from the end); one output per "
             "piece, the sizes summing to the axis' extent.",
      .inputs = {"x"},
      .outputs = {"ys..."},
      .examples = {{.label = "channels_three_pieces", .attrs = {{"sizes", Ints{1, 3, 2}}, {"axis", std::int64_t{1}}},
                    .inputs = {{.shape = {2, 6, 3, 3}}}},
                   {.label = "last_axis_negative", .attrs = {{"sizes", Ints{2, 2}}, {"axis", std::int64_t{-1}}},
                    .inputs = {{.shape = {3, 4}}}},
                   {.label = "one_piece", .attrs = {{"sizes", Ints{5}}}, .inputs = {{.shape = {5, 2}}}},
                   {.label = "empty_piece", .attrs = {{"sizes", Ints{0, 3}}, {"axis", std::int64_t{1}}}, .inputs = {{.shape = {2, 3}}}}},
      .infer = [](const SplitAttrs& a, InferContext& c) {
        const Shape& x = c.shape(0);
        const auto rank = static_cast<std::int64_t>(x.size());
        if (rank == 0) c.fail("x is a scalar; split cuts along an axis of a rank >= 1 input");
        if (a.axis < -rank || a.axis >= rank) c.fail("attribute 'axis' = ", a.axis, " is out of range for rank ", rank);
        if (a.sizes.empty()) c.fail("attribute 'sizes' is empty: split makes at least one piece");
        const std::int64_t axis = resolved_axis(a.axis, rank);
        std::int64_t total = 0;
        std::vector<TensorType> pieces;
        for (std::int64_t size : a.sizes) {
          if (size < 0 || size > x[axis]) c.fail("attribute 'sizes' = ", to_string(a.sizes), " has a size ", size, " outside [0, ", x[axis], "]");
          total += size;
          Shape piece = x;
          piece[axis] = size;
          pieces.push_back({c.dtype(0), piece});
        }
        if (total != x[axis])
          c.fail("attribute 'sizes' = ", to_string(a.sizes), " sums to ", total, ", but axis ", axis, " has extent ", x[axis]);
        return pieces;
      },
      .forward = [](const SplitAttrs& a, KernelContext& k) {
        const Tensor& x = k.input(0);
        const std::int64_t axis = resolved_axis(a.axis, x.rank());
        const std::vector<std::int64_t> xs = kernels::row_major_strides(x.shape());
        const std::size_t size = dtype_size(x.dtype());
        std::int64_t offset = 0;  // elements of x before this piece's block
        for (int i = 0; i < k.num_outputs(); ++i) {
          Tensor& y = k.output(i);
          kernels::strided_copy({y.shape(), xs, kernels::row_major_strides(y.shape())},
                                static_cast<const std::byte*>(x.raw()) + offset * size, y.raw(), size);
          offset += y.shape()[axis] * xs[axis];
        }
      },
      .grad = [](const SplitAttrs& a, GradContext& g) {
        const Shape x = g.shape(0);
        const std::int64_t axis = resolved_axis(a.axis, static_cast<std::int64_t>(x.size()));
        const std::size_t pieces = a.sizes.size();
        std::vector<Value> dys;
        for (std::size_t i = 0; i < pieces; ++i)
          if (g.dy(static_cast<int>(i)).valid()) dys.push_back(g.dy(static_cast<int>(i)));
        if (dys.size() == pieces) return std::vector{concat(dys, axis)};
        // Some pieces get no gradient: each dy padded back to x's shape with zeros, summed in order.
        Value sum;
        std::int64_t begin = 0;
        for (std::size_t i = 0; i < pieces; ++i) {
          const Value dy = g.dy(static_cast<int>(i));
          if (dy.valid()) {
            Ints pads(2 * x.size(), 0);
            pads[axis] = begin;
            pads[x.size() + axis] = x[axis] - begin - a.sizes[i];
            const Value padded = pad(dy, pads);
            sum = sum.valid() ? add(sum, padded) : padded;
          }
          begin += a.sizes[i];
        }
        return std::vector{sum};
      },
  }));
}

}  // namespace dagrad::ops
