// pad_grad: the adjoint of pad (pad's gradient for the reflect and edge modes). Every dy cell is
// added to the x cell pad read it from. Each dx row gathers its cells from dy rather than dy
// scattering into dx, so every dx cell sums its terms in one fixed order (dy's row-major order)
// whatever the thread count. Being linear, its own gradient is pad with the same pads and mode.
#include <algorithm>

#include "graph/op.h"
#include "ops/kernels/pad.h"
#include "ops/kernels/parallel.h"
#include "ops/kernels/strided_copy.h"
#include "ops/ops.h"
#include "ops/pad.h"

namespace dagrad::ops {
using kernels::PadGradAttrs;

Value pad_grad(Value dy, Shape x_shape, Ints pads, PadMode mode) {
  return dy.graph().add_node("pad_grad", {dy}, write_attrs(PadGradAttrs{std::move(pads), kernels::pad_mode_name(mode), std::move(x_shape)}))[0];
}

namespace {
// For one dim: the dy coordinates that read each x coordinate, in increasing order (CSR: the
// coordinates of x cell i are at[first[i] .. first[i + 1])).
struct Preimages {
  std::vector<std::int64_t> first, at;
};

Preimages preimages(const std::vector<std::int64_t>& sources, std::int64_t n) {
  Preimages p;
  p.first.assign(n + 1, 0);
  for (std::int64_t i : sources)
    if (i >= 0) ++p.first[i + 1];
  for (std::int64_t i = 0; i < n; ++i) p.first[i + 1] += p.first[i];
  p.at.resize(p.first[n]);
  std::vector<std::int64_t> next(p.first.begin(), p.first.end() - 1);
  for (std::int64_t o = 0; o < static_cast<std::int64_t>(sources.size()); ++o)
    if (sources[o] >= 0) p.at[next[sources[o]]++] = o;
  return p;
}

template <class T> void pad_backward(const PadGradAttrs& a, PadMode mode, const Tensor& tdy, Tensor& tdx) {
  Shape xs = tdx.shape(), ys = tdy.shape();
  Ints pads = a.pads;
  if (xs.empty()) xs = ys = {1}, pads = {0, 0};
  const std::size_t rank = xs.size(), last = rank - 1;
  const auto sources = kernels::pad_sources(mode, xs, ys, pads);
  std::vector<Preimages> pre;
  for (std::size_t d = 0; d < rank; ++d) pre.push_back(preimages(sources[d], xs[d]));
  const std::vector<std::int64_t> y_strides = kernels::row_major_strides(ys);
  const std::int64_t width = xs[last];
  const T* dy = tdy.data<T>().data();
  T* dx = tdx.data<T>().data();
  if (width == 0) return;
  const std::int64_t rows = element_count(xs) / width;
  const Preimages& columns = pre[last];
  kernels::parallel_chunks(rows, std::max<std::int64_t>(1, kernels::kElementwiseGrain / width), [&](std::int64_t b, std::int64_t e) {
    std::vector<std::int64_t> coord(last), count(last), pick(last);
    for (std::int64_t r = b; r < e; ++r) {
      T* row = dx + r * width;
      std::fill(row, row + width, T(0));
      std::int64_t rest = r, combos = 1;
      for (std::size_t d = last; d-- > 0;) {
        coord[d] = rest % xs[d];
        rest /= xs[d];
        count[d] = pre[d].first[coord[d] + 1] - pre[d].first[coord[d]];
        pick[d] = 0;
        combos *= count[d];
      }
      // Every dy row that reads this dx row, in dy's row-major order (an odometer over the dims).
      for (std::int64_t c = 0; c < combos; ++c) {
        std::int64_t offset = 0;
        for (std::size_t d = 0; d < last; ++d) offset += pre[d].at[pre[d].first[coord[d]] + pick[d]] * y_strides[d];
        const T* src = dy + offset;
        for (std::int64_t j = 0; j < width; ++j)
          for (std::int64_t q = columns.first[j]; q < columns.first[j + 1]; ++q) row[j] += src[columns.at[q]];
        for (std::size_t d = last; d-- > 0;) {
          if (++pick[d] < count[d]) break;
          pick[d] = 0;
        }
      }
    }
  });
}
}  // namespace

void register_pad_grad(OpRegistry& registry) {
  registry.add(define_op<PadGradAttrs>({
      .name = "pad_grad",
      .doc = "The adjoint of pad for x of shape `shape`: each dy cell is added to the x cell it was read from, so "
             "mirrored (reflect) and repeated (edge) cells sum up and constant cells are dropped.",
      .inputs = {"dy"},
      .outputs = {"dx"},
      .examples = {{.label = "reflect_nchw_spatial",
                    .attrs = {{"pads", Ints{0, 0, 2, 1, 0, 0, 1, 3}}, {"mode", std::string("reflect")}, {"shape", Ints{2, 2, 3, 4}}},
                    .inputs = {{.shape = {2, 2, 6, 8}}}},
                   {.label = "reflect_max_pads", .attrs = {{"pads", Ints{3, 3}}, {"mode", std::string("reflect")}, {"shape", Ints{4}}},
                    .inputs = {{.shape = {10}}}},
                   {.label = "reflect_and_crop", .attrs = {{"pads", Ints{-1, 2, 2, -2}}, {"mode", std::string("reflect")}, {"shape", Ints{3, 4}}},
                    .inputs = {{.shape = {4, 4}}}},
                   {.label = "reflect_outer_dims", .attrs = {{"pads", Ints{1, 2, 0, 1, 1, 0}}, {"mode", std::string("reflect")}, {"shape", Ints{2, 3, 2}}},
                    .inputs = {{.shape = {4, 6, 2}}}},
                   {.label = "edge_nchw_spatial",
                    .attrs = {{"pads", Ints{0, 0, 3, 1, 0, 0, 2, 4}}, {"mode", std::string("edge")}, {"shape", Ints{2, 2, 3, 3}}},
                    .inputs = {{.shape = {2, 2, 8, 8}}}},
                   {.label = "edge_wider_than_dim", .attrs = {{"pads", Ints{0, 4, 0, 5}}, {"mode", std::string("edge")}, {"shape", Ints{2, 1}}},
                    .inputs = {{.shape = {2, 10}}}},
                   {.label = "edge_and_crop", .attrs = {{"pads", Ints{-2, 3}}, {"mode", std::string("edge")}, {"shape", Ints{5}}},
                    .inputs = {{.shape = {6}}}},
                   {.label = "edge_outer_dims", .attrs = {{"pads", Ints{2, 1, 1, 0, 0, 1}}, {"mode", std::string("edge")}, {"shape", Ints{2, 2, 3}}},
                    .inputs = {{.shape = {4, 3, 5}}}},
                   {.label = "constant_crop", .attrs = {{"pads", Ints{-1, 2, 1, -2}}, {"shape", Ints{4, 5}}}, .inputs = {{.shape = {4, 5}}}},
                   {.label = "scalar", .attrs = {{"pads", Ints{}}, {"mode", std::string("edge")}, {"shape", Ints{}}}, .inputs = {{.shape = {}}}}},
      .infer = [](const PadGradAttrs& a, InferContext& c) {
        c.expect_float(0);
        const PadMode mode = kernels::parse_pad_mode(a.mode, &c);
        for (std::int64_t d : a.shape)
          if (d < 0) c.fail("attribute 'shape' = ", to_string(a.shape), " has a negative dim");
        const Shape padded = kernels::padded_shape(a.shape, a.pads, mode, c);
        if (padded != c.shape(0))
          c.fail("dy has shape ", to_string(c.shape(0)), " but attribute 'shape' = ", to_string(a.shape), " padded by ",
                 to_string(a.pads), " is ", to_string(padded));
        return std::vector{TensorType{c.dtype(0), a.shape}};
      },
      .forward = [](const PadGradAttrs& a, KernelContext& k) {
        const PadMode mode = kernels::parse_pad_mode(a.mode, nullptr);
        dispatch_float(k.input(0).dtype(), [&]<class T>() { pad_backward<T>(a, mode, k.input(0), k.output(0)); });
      },
      .grad = [](const PadGradAttrs& a, GradContext& g) {
        return std::vector{pad(g.dy(), a.pads, kernels::parse_pad_mode(a.mode, nullptr))};
      },
  }));
}

}  // namespace dagrad::ops
