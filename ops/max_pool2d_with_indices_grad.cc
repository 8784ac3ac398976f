// max_pool2d_with_indices_grad: the backward of max_pool2d_with_indices. Adds each dy cell onto
// the input cell its saved index names; overlapping windows accumulate in row-major output order
// within a plane, so the sum is deterministic. An index outside the plane is an error, not a write.
// The window attributes (dilation and ceil_mode too) only check dy's shape against input_size.
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/pool.h"
#include "ops/ops.h"

namespace dagrad::ops {
using kernels::MaxPoolIndicesGradAttrs;

Value max_pool2d_with_indices_grad(Value indices, Value dy, Int2 window, Int2 stride, Int2 pad, Int2 input_size) {
  return dy.graph().add_node("max_pool2d_with_indices_grad", {indices, dy},
                             write_attrs(MaxPoolIndicesGradAttrs{{.window = window, .stride = stride, .pad = pad}, input_size}))[0];
}

void register_max_pool2d_with_indices_grad(OpRegistry& registry) {
  using Ints = std::vector<std::int64_t>;
  registry.add(define_op<MaxPoolIndicesGradAttrs>({
      .name = "max_pool2d_with_indices_grad",
      .doc = "Backward of max_pool2d_with_indices: dx [N,C,input_size] gets each dy cell at its saved index.",
      .inputs = {"indices", "dy"},
      .outputs = {"dx"},
      .examples = {{.label = "k3s1p1_overlap",
                    .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{1, 1}}, {"pad", Ints{1, 1}}, {"input_size", Ints{4, 5}}},
                    .inputs = {{.shape = {1, 2, 4, 5}, .dtype = DType::i64, .low = 0, .high = 20}, {.shape = {1, 2, 4, 5}}}},
                   // 7x9 pooled with window 3, dilation 2, pad 2 and ceil_mode: 4x4 outputs.
                   {.label = "dilation2_p2_ceil",
                    .attrs = {{"window", Ints{3, 3}}, {"stride", Ints{2, 3}}, {"pad", Ints{2, 2}}, {"input_size", Ints{7, 9}},
                              {"dilation", Ints{2, 2}}, {"ceil_mode", true}},
                    .inputs = {{.shape = {2, 1, 4, 4}, .dtype = DType::i64, .low = 0, .high = 63}, {.shape = {2, 1, 4, 4}}}}},
      .infer = [](const MaxPoolIndicesGradAttrs& a, InferContext& c) {
        c.expect_rank(1, 4);
        c.expect_float(1);
        if (c.dtype(0) != DType::i64) c.fail("indices must be i64, got ", dtype_name(c.dtype(0)));
        if (c.shape(0) != c.shape(1))
          c.fail("indices shape ", to_string(c.shape(0)), " must equal dy shape ", to_string(c.shape(1)));
        const Shape x{c.shape(1)[0], c.shape(1)[1], a.input_size[0], a.input_size[1]};
        if (a.input_size[0] < 0 || a.input_size[1] < 0) c.fail("input_size ", to_string(x), " has a negative dim");
        const Shape y = kernels::pool2d_output_shape(
            c, x, kernels::MaxPool2dAttrs{a.window, a.stride, a.pad, a.dilation, a.ceil_mode});
        if (c.shape(1) != y)
          c.fail("dy shape ", to_string(c.shape(1)), " must equal the pooled shape ", to_string(y), " of input ", to_string(x));
        return std::vector{TensorType{c.dtype(1), x}};
      },
      .forward = [](const MaxPoolIndicesGradAttrs& a, KernelContext& k) {
        dispatch_float(k.input(1).dtype(), [&]<class T>() {
          kernels::PoolGeometry g =
              kernels::pool_geometry(k.output(0).shape(), k.input(1).shape(), a.window, a.stride, a.pad, a.dilation);
          const std::int64_t* indices = k.input(0).data<std::int64_t>().data();
          const T* dy = k.input(1).data<T>().data();
          T* dx = k.output(0).data<T>().data();
          kernels::parallel_chunks(g.planes, g.plane_grain(), [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t p = begin; p < end; ++p) {
              T* out = dx + p * g.in_plane();
              std::fill(out, out + g.in_plane(), T(0));
              for (std::int64_t cell = p * g.out_plane(); cell < (p + 1) * g.out_plane(); ++cell) {
                const std::int64_t i = indices[cell];
                if (i < -1 || i >= g.in_plane())
                  fail("max_pool2d_with_indices_grad: index ", i, " at indices element ", cell,
                       " is outside the input plane of ", g.in_h, "x", g.in_w);
                if (i >= 0) out[i] += dy[cell];
              }
            }
          });
        });
      },
  }));
}

}  // namespace dagrad::ops
