// pad: x padded (or, with negative pads, cropped) along every dim, in ONNX's pad order. Modes:
// constant (`value`), reflect (numpy/PyTorch 'reflect': the edge cell is not repeated, so each pad
// must be smaller than its dim) and edge (the edge cell repeated). Gradient: for constant, pad by
// the negated pads (a crop of dy, zeros where x was cropped); for reflect and edge, pad_grad, which
// sums the mirrored and repeated cells back.
#include <cstring>

#include "graph/op.h"
#include "ops/kernels/pad.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/strided_copy.h"
#include "ops/ops.h"
#include "ops/pad.h"

namespace dagrad::ops {
using kernels::PadAttrs;

Value pad(Value x, Ints pads, PadMode mode, double value) {
  return x.graph().add_node("pad", {x}, write_attrs(PadAttrs{std::move(pads), kernels::pad_mode_name(mode), value}))[0];
}

namespace {
// One output row (the last dim) at a time: the row's source row in x, or none (all constant), then
// the row's cells from the last dim's map, the untouched middle copied in one piece.
template <class T> void pad_forward(const PadAttrs& a, PadMode mode, const Tensor& tx, Tensor& ty) {
  Shape xs = tx.shape(), ys = ty.shape();
  Ints pads = a.pads;
  if (xs.empty()) xs = ys = {1}, pads = {0, 0};  // a scalar: one row of one cell
  const std::size_t rank = xs.size(), last = rank - 1;
  const auto sources = kernels::pad_sources(mode, xs, ys, pads);
  const std::vector<std::int64_t> x_strides = kernels::row_major_strides(xs);
  const std::int64_t width = ys[last], n = xs[last], begin = pads[last];
  // The output cells [mid_begin, mid_end) read x cells mid_begin - begin, ... in order.
  const std::int64_t mid_begin = std::max<std::int64_t>(0, begin), mid_end = std::min(width, begin + n);
  const T fill = static_cast<T>(a.value);
  const T* x = tx.data<T>().data();
  T* y = ty.data<T>().data();
  if (width == 0) return;
  const std::int64_t rows = element_count(ys) / width;
  kernels::parallel_chunks(rows, std::max<std::int64_t>(1, kernels::kElementwiseGrain / width), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      T* row = y + r * width;
      std::int64_t offset = 0, rest = r;
      bool constant = false;
      for (std::size_t d = last; d-- > 0;) {
        const std::int64_t i = sources[d][rest % ys[d]];
        rest /= ys[d];
        constant = constant || i < 0;
        offset += i * x_strides[d];
      }
      if (constant) {
        std::fill(row, row + width, fill);
        continue;
      }
      const T* src = x + offset;
      const std::int64_t head_end = std::min(mid_begin, width);
      for (std::int64_t j = 0; j < head_end; ++j) row[j] = sources[last][j] < 0 ? fill : src[sources[last][j]];
      if (mid_end > mid_begin)
        std::memcpy(row + mid_begin, src + (mid_begin - begin), static_cast<std::size_t>(mid_end - mid_begin) * sizeof(T));
      for (std::int64_t j = std::max(head_end, mid_end); j < width; ++j)
        row[j] = sources[last][j] < 0 ? fill : src[sources[last][j]];
    }
  });
}
}  // namespace

void register_pad(OpRegistry& registry) {
  registry.add(define_op<PadAttrs>({
      .name = "pad",
      .doc = "Pads x by pads = {begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}} (ONNX's order; a negative pad crops) "
             "with mode constant (value), reflect (mirror without repeating the edge; pads < dim) or edge (repeat the edge).",
      .inputs = {"x"},
      .examples = {{.label = "constant_nchw_spatial", .attrs = {{"pads", Ints{0, 0, 1, 2, 0, 0, 2, 1}}}, .inputs = {{.shape = {2, 3, 3, 4}}}},
                   {.label = "constant_value", .attrs = {{"pads", Ints{1, 0, 0, 2}}, {"value", -1.5}}, .inputs = {{.shape = {2, 3}}}},
                   {.label = "constant_crop", .attrs = {{"pads", Ints{-1, 2, 1, -2}}}, .inputs = {{.shape = {4, 5}}}},
                   {.label = "constant_crop_to_empty", .attrs = {{"pads", Ints{-2, -1}}}, .inputs = {{.shape = {3}}}},
                   {.label = "constant_all_dims", .attrs = {{"pads", Ints{1, 1, 1, 1, 1, 1}}, {"value", 0.5}}, .inputs = {{.shape = {2, 2, 3}}}},
                   {.label = "reflect_nchw_spatial", .attrs = {{"pads", Ints{0, 0, 2, 1, 0, 0, 1, 3}}, {"mode", std::string("reflect")}},
                    .inputs = {{.shape = {2, 2, 3, 4}}}},
                   {.label = "reflect_max_pads", .attrs = {{"pads", Ints{3, 3}}, {"mode", std::string("reflect")}}, .inputs = {{.shape = {4}}}},
                   {.label = "reflect_and_crop", .attrs = {{"pads", Ints{-1, 2, 2, -2}}, {"mode", std::string("reflect")}},
                    .inputs = {{.shape = {3, 4}}}},
                   {.label = "reflect_outer_dims", .attrs = {{"pads", Ints{1, 2, 0, 1, 1, 0}}, {"mode", std::string("reflect")}},
                    .inputs = {{.shape = {2, 3, 2}}}},
                   {.label = "edge_nchw_spatial", .attrs = {{"pads", Ints{0, 0, 3, 1, 0, 0, 2, 4}}, {"mode", std::string("edge")}},
                    .inputs = {{.shape = {2, 2, 3, 3}}}},
                   {.label = "edge_wider_than_dim", .attrs = {{"pads", Ints{0, 4, 0, 5}}, {"mode", std::string("edge")}},
                    .inputs = {{.shape = {2, 1}}}},
                   {.label = "edge_and_crop", .attrs = {{"pads", Ints{-2, 3}}, {"mode", std::string("edge")}}, .inputs = {{.shape = {5}}}},
                   {.label = "edge_outer_dims", .attrs = {{"pads", Ints{2, 1, 1, 0, 0, 1}}, {"mode", std::string("edge")}},
                    .inputs = {{.shape = {2, 2, 3}}}},
                   {.label = "no_pads", .attrs = {{"pads", Ints{0, 0, 0, 0}}, {"mode", std::string("reflect")}}, .inputs = {{.shape = {2, 3}}}},
                   {.label = "scalar", .attrs = {{"pads", Ints{}}}, .inputs = {{.shape = {}}}},
                   {.label = "long_rows", .attrs = {{"pads", Ints{1, 2, 1, 3}}, {"mode", std::string("edge")}},
                    .inputs = {{.shape = {3, 40}}}}},
      .infer = [](const PadAttrs& a, InferContext& c) {
        c.expect_float(0);
        const PadMode mode = kernels::parse_pad_mode(a.mode, &c);
        return std::vector{TensorType{c.dtype(0), kernels::padded_shape(c.shape(0), a.pads, mode, c)}};
      },
      .forward = [](const PadAttrs& a, KernelContext& k) {
        const PadMode mode = kernels::parse_pad_mode(a.mode, nullptr);
        dispatch_float(k.input(0).dtype(), [&]<class T>() { pad_forward<T>(a, mode, k.input(0), k.output(0)); });
      },
      .grad = [](const PadAttrs& a, GradContext& g) {
        const PadMode mode = kernels::parse_pad_mode(a.mode, nullptr);
        if (mode == PadMode::constant) {
          Ints negated;
          for (std::int64_t p : a.pads) negated.push_back(-p);
          return std::vector{pad(g.dy(), negated)};
        }
        return std::vector{pad_grad(g.dy(), g.shape(0), a.pads, mode)};
      },
  }));
}

}  // namespace dagrad::ops
