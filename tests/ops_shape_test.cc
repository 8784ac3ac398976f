// Naive float64 references for concat, slice, transpose, pad and pad_grad, written from the
// definitions (numpy's and ONNX's), run on the ops' declared examples; the DSL-only split, squeeze
// and unsqueeze; and every bad-input error of these ops.
#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <functional>

#include "autodiff/grad.h"
#include "autodiff/gradcheck.h"
#include "ops/ops.h"
#include "ops/pad.h"
#include "ops/slice.h"
#include "runtime/runtime.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

using Ints = std::vector<std::int64_t>;

Ints ints(const AttrMap& attrs, const char* name) { return attrs.count(name) ? std::get<Ints>(attrs.at(name)) : Ints{}; }

Ints unravel(std::int64_t i, const Shape& shape) {
  Ints index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    index[d] = i % shape[d];
    i /= shape[d];
  }
  return index;
}

std::int64_t ravel(const Ints& index, const Shape& shape) {
  std::int64_t flat = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
  return flat;
}

std::vector<Tensor> concat_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const auto rank = static_cast<std::int64_t>(in[0].shape().size());
  std::int64_t axis = std::get<std::int64_t>(attrs.at("axis"));
  if (axis < 0) axis += rank;
  Shape shape = in[0].shape();
  shape[axis] = 0;
  for (const Tensor& t : in) shape[axis] += t.shape()[axis];
  Tensor y = zeros_f64(shape);
  std::int64_t offset = 0;
  for (const Tensor& t : in) {
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      Ints index = unravel(i, t.shape());
      index[axis] += offset;
      at(y, ravel(index, shape)) = t.at(i);
    }
    offset += t.shape()[axis];
  }
  return {y};
}

// numpy.split at the running sums of `sizes`: piece p holds the indices [begin_p, begin_p + size_p)
// of the axis.
std::vector<Tensor> split_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Shape& x = in[0].shape();
  std::int64_t axis = attrs.count("axis") ? std::get<std::int64_t>(attrs.at("axis")) : 0;
  if (axis < 0) axis += static_cast<std::int64_t>(x.size());
  std::vector<Tensor> pieces;
  std::int64_t begin = 0;
  for (std::int64_t size : ints(attrs, "sizes")) {
    Shape shape = x;
    shape[axis] = size;
    Tensor y = zeros_f64(shape);
    for (std::int64_t i = 0; i < y.numel(); ++i) {
      Ints index = unravel(i, shape);
      index[axis] += begin;
      at(y, i) = in[0].at(ravel(index, x));
    }
    pieces.push_back(y);
    begin += size;
  }
  return pieces;
}

// numpy's x[start:end:step] along each named axis, negative indices from the end, bounds clamped.
std::vector<Tensor> slice_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Shape& x = in[0].shape();
  Ints starts = ints(attrs, "starts"), ends = ints(attrs, "ends"), axes = ints(attrs, "axes"), steps = ints(attrs, "steps");
  Ints first(x.size(), 0), step(x.size(), 1);
  Shape shape = x;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::int64_t axis = axes.empty() ? static_cast<std::int64_t>(i) : axes[i];
    if (axis < 0) axis += static_cast<std::int64_t>(x.size());
    const std::int64_t n = x[axis], s = steps.empty() ? 1 : steps[i];
    std::int64_t b = starts[i], e = ends[i];
    if (b < 0) b += n;
    if (e < 0) e += n;
    b = std::min(std::max<std::int64_t>(b, 0), n);
    e = std::min(std::max<std::int64_t>(e, 0), n);
    std::int64_t count = 0;
    for (std::int64_t k = b; k < e; k += s) ++count;
    first[axis] = b;
    step[axis] = s;
    shape[axis] = count;
  }
  Tensor y = zeros_f64(shape);
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    Ints index = unravel(i, shape);
    for (std::size_t d = 0; d < x.size(); ++d) index[d] = first[d] + index[d] * step[d];
    at(y, i) = in[0].at(ravel(index, x));
  }
  return {y};
}

std::vector<Tensor> transpose_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const Shape& x = in[0].shape();
  const Ints perm = ints(attrs, "perm");
  Shape shape(x.size());
  for (std::size_t i = 0; i < perm.size(); ++i) shape[i] = x[perm[i]];
  Tensor y = zeros_f64(shape);
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    Ints out = unravel(i, shape), index(x.size());
    for (std::size_t d = 0; d < perm.size(); ++d) index[perm[d]] = out[d];
    at(y, i) = in[0].at(ravel(index, x));
  }
  return {y};
}

std::string mode_of(const AttrMap& attrs) { return attrs.count("mode") ? std::get<std::string>(attrs.at("mode")) : "constant"; }

// The x coordinate output coordinate o reads along a dim of extent n padded by `begin` in front,
// written from numpy's definitions; -1: the constant.
std::int64_t padded_from(const std::string& mode, std::int64_t o, std::int64_t begin, std::int64_t n) {
  std::int64_t i = o - begin;
  if (i >= 0 && i < n) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return std::min(std::max<std::int64_t>(i, 0), n - 1);
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;  // reflect about the edge cells
  return i;
}

// x's shape, the padded shape and, for each padded cell, the x cell it reads (-1: constant).
struct PadMap {
  Shape x, y;
  std::vector<std::int64_t> source;
};

PadMap pad_map(const Shape& x, const Ints& pads, const std::string& mode) {
  PadMap m{x, x, {}};
  const std::size_t rank = x.size();
  for (std::size_t d = 0; d < rank; ++d) m.y[d] = x[d] + pads[d] + pads[rank + d];
  for (std::int64_t o = 0; o < element_count(m.y); ++o) {
    Ints index = unravel(o, m.y);
    bool constant = false;
    for (std::size_t d = 0; d < rank; ++d) {
      index[d] = padded_from(mode, index[d], pads[d], x[d]);
      constant = constant || index[d] < 0;
    }
    m.source.push_back(constant ? -1 : ravel(index, x));
  }
  return m;
}

std::vector<Tensor> pad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  const double value = attrs.count("value") ? std::get<double>(attrs.at("value")) : 0.0;
  PadMap m = pad_map(in[0].shape(), ints(attrs, "pads"), mode_of(attrs));
  Tensor y = zeros_f64(m.y);
  for (std::int64_t o = 0; o < y.numel(); ++o) at(y, o) = m.source[o] < 0 ? value : in[0].at(m.source[o]);
  return {y};
}

std::vector<Tensor> pad_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  PadMap m = pad_map(ints(attrs, "shape"), ints(attrs, "pads"), mode_of(attrs));
  Tensor dx = zeros_f64(m.x);
  for (std::int64_t o = 0; o < in[0].numel(); ++o)
    if (m.source[o] >= 0) at(dx, m.source[o]) += in[0].at(o);
  return {dx};
}

}  // namespace

DAGRAD_OP_REFERENCES(shape) {
  return {
      {"concat", {concat_reference}},
      {"slice", {slice_reference}},
      {"split", {split_reference}},
      {"transpose", {transpose_reference}},
      {"pad", {pad_reference}},
      {"pad_grad", {pad_grad_reference}},
  };
}

namespace {


#define EXPECT_HAS(msg, text) EXPECT_NE((msg).find(text), std::string::npos) << (msg)

// Runs the graph on feeds (name -> tensor) and returns the values `want`.
std::vector<Tensor> run(const Graph& g, const runtime::TensorMap& feeds, const std::vector<ValueId>& want) {
  runtime::Plan plan = runtime::compile(g, {}, want);
  runtime::RunResult r = runtime::run(plan, runtime::feeds_from({&feeds}));
  std::vector<Tensor> out;
  for (ValueId id : want) out.push_back(r.at(id));
  return out;
}

Tensor iota(DType dtype, Shape shape) {
  Tensor t(DType::f64, shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = static_cast<double>(i);
  return t.to(dtype);
}

}  // namespace

// ---- concat ----------------------------------------------------------------------------------

TEST(ConcatErrors, OtherDimsDiffer) {
  std::string msg = build_error([](Graph& g) {
    ops::concat({input(g, "a", {2, 3, 5}), input(g, "b", {2, 1, 5}), input(g, "c", {2, 4, 6})}, 1);
  });
  EXPECT_HAS(msg, "op 'concat'");
  EXPECT_HAS(msg, "input 2 has shape [2,4,6] but input 0 has [2,3,5]: every dim but axis 1 must be equal");
  msg = build_error([](Graph& g) { ops::concat({input(g, "a", {2, 3}), input(g, "b", {2, 3, 1})}, -1); });
  EXPECT_HAS(msg, "input 1 has shape [2,3,1] but input 0 has [2,3]: every dim but axis 1 must be equal");
}

TEST(ConcatErrors, DtypesDiffer) {
  std::string msg = build_error([](Graph& g) { ops::concat({input(g, "a", {2, 3}), input(g, "b", {2, 3}, DType::f64)}, 0); });
  EXPECT_HAS(msg, "op 'concat'");
  EXPECT_HAS(msg, "input 1 is f64 but input 0 is f32");
}

TEST(ConcatErrors, AxisOutOfRange) {
  std::string msg = build_error([](Graph& g) { ops::concat({input(g, "a", {2, 3}), input(g, "b", {2, 3})}, 2); });
  EXPECT_HAS(msg, "op 'concat'");
  EXPECT_HAS(msg, "attribute 'axis' = 2 is out of range for rank 2");
  msg = build_error([](Graph& g) { ops::concat({input(g, "a", {2, 3})}, -3); });
  EXPECT_HAS(msg, "attribute 'axis' = -3 is out of range for rank 2");
}

TEST(ConcatErrors, ScalarsAndNoInputs) {
  std::string msg = build_error([](Graph& g) { ops::concat({input(g, "a", {})}, 0); });
  EXPECT_HAS(msg, "input 0 is a scalar; concat joins along an axis of rank >= 1 inputs");
  msg = build_error([](Graph&) { ops::concat({}, 0); });
  EXPECT_HAS(msg, "concat: needs at least one input, got none");
}

// concat takes any number of inputs in one node (DenseNet-121's last block joins 17).
TEST(Concat, LongListsInOneNode) {
  Graph g;
  std::vector<Value> xs;
  runtime::TensorMap feeds;
  for (int i = 0; i < 70; ++i) {
    const std::string name = "x" + std::to_string(i);
    xs.push_back(input(g, name.c_str(), {2, 1}, DType::f64));
    feeds.emplace(name, Tensor::from<double>({2, 1}, {1.0 * i, -1.0 * i}));
  }
  Value y = ops::concat(xs, -1);
  ASSERT_EQ(y.shape(), (Shape{2, 70}));
  EXPECT_EQ(g.nodes().size(), 1u);
  Tensor out = run(g, feeds, {y.id()})[0];
  for (int i = 0; i < 70; ++i) {
    EXPECT_EQ(out.at(i), 1.0 * i);
    EXPECT_EQ(out.at(70 + i), -1.0 * i);
  }
}

// Copies work for every dtype, including int64.
TEST(ShapeOps, Int64Copies) {
  Graph g;
  Value a = input(g, "a", {2, 3}, DType::i64), b = input(g, "b", {2, 1}, DType::i64);
  Value c = ops::concat({a, b}, 1);
  Value t = ops::transpose(c, {1, 0});
  Value s = ops::slice(t, {1}, {INT64_MAX}, {0}, {2});
  runtime::TensorMap feeds{{"a", iota(DType::i64, {2, 3})}, {"b", Tensor::from<std::int64_t>({2, 1}, {-1, -2})}};
  std::vector<Tensor> out = run(g, feeds, {c.id(), t.id(), s.id()});
  EXPECT_EQ(out[0].dtype(), DType::i64);
  EXPECT_EQ(out[0].data<std::int64_t>()[3], -1);
  EXPECT_EQ(out[0].data<std::int64_t>()[4], 3);
  EXPECT_EQ(out[1].shape(), (Shape{4, 2}));
  EXPECT_EQ(out[1].data<std::int64_t>()[1], 3);  // t[0, 1] = c[1, 0]
  ASSERT_EQ(out[2].shape(), (Shape{2, 2}));      // rows 1 and 3 of t
  const std::vector<std::int64_t> want = {1, 4, -1, -2};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[2].data<std::int64_t>()[i], want[i]);
}

// ---- slice -----------------------------------------------------------------------------------

TEST(SliceErrors, AttributeLengths) {
  std::string msg = build_error([](Graph& g) { ops::slice(input(g, "x", {2, 3}), {0, 1}, {1}); });
  EXPECT_HAS(msg, "op 'slice'");
  EXPECT_HAS(msg, "attributes 'starts' = [0,1] and 'ends' = [1] differ in length");
  msg = build_error([](Graph& g) { ops::slice(input(g, "x", {2, 3}), {0}, {1}, {0, 1}); });
  EXPECT_HAS(msg, "attribute 'axes' = [0,1] has 2 values but 'starts' has 1");
  msg = build_error([](Graph& g) { ops::slice(input(g, "x", {2, 3}), {0}, {1}, {0}, {1, 1}); });
  EXPECT_HAS(msg, "attribute 'steps' = [1,1] has 2 values but 'starts' has 1");
  msg = build_error([](Graph& g) { ops::slice(input(g, "x", {2, 3}), {0, 0, 0}, {1, 1, 1}); });
  EXPECT_HAS(msg, "attribute 'starts' = [0,0,0] has 3 values for a rank-2 input");
}

TEST(SliceErrors, Axes) {
  std::string msg = build_error([](Graph& g) { ops::slice(input(g, "x", {2, 3}), {0}, {1}, {2}); });
  EXPECT_HAS(msg, "op 'slice'");
  EXPECT_HAS(msg, "attribute 'axes' = [2]: axis 2 is out of range for rank 2");
  msg = build_error([](Graph& g) { ops::slice(input(g, "x", {2, 3}), {0}, {1}, {-3}); });
  EXPECT_HAS(msg, "attribute 'axes' = [-3]: axis -3 is out of range for rank 2");
  msg = build_error([](Graph& g) { ops::slice(input(g, "x", {2, 3}), {0, 0}, {1, 1}, {1, -1}); });
  EXPECT_HAS(msg, "attribute 'axes' = [1,-1]: axis -1 is repeated");
}

TEST(SliceErrors, StepsMustBePositive) {
  std::string msg = build_error([](Graph& g) { ops::slice(input(g, "x", {4}), {3}, {0}, {0}, {-1}); });
  EXPECT_HAS(msg, "op 'slice'");
  EXPECT_HAS(msg, "attribute 'steps' = [-1]: steps must be positive, got -1");
  msg = build_error([](Graph& g) { ops::slice(input(g, "x", {4}), {0}, {4}, {}, {0}); });
  EXPECT_HAS(msg, "steps must be positive, got 0");
}

// ---- split -----------------------------------------------------------------------------------

TEST(SplitErrors, SizesAndAxis) {
  std::string msg = build_error([](Graph& g) { ops::split(input(g, "x", {2, 6}), {2, 3}, 1); });
  EXPECT_HAS(msg, "op 'split'");
  EXPECT_HAS(msg, "attribute 'sizes' = [2,3] sums to 5, but axis 1 has extent 6");
  msg = build_error([](Graph& g) { ops::split(input(g, "x", {2, 6}), {7, -1}, -1); });
  EXPECT_HAS(msg, "attribute 'sizes' = [7,-1] has a size 7 outside [0, 6]");
  msg = build_error([](Graph& g) { ops::split(input(g, "x", {2, 6}), {1, 1}, 2); });
  EXPECT_HAS(msg, "attribute 'axis' = 2 is out of range for rank 2");
  msg = build_error([](Graph& g) { ops::split(input(g, "x", {2, 6}), {}, 0); });
  EXPECT_HAS(msg, "attribute 'sizes' is empty: split makes at least one piece");
}

// split is one node with an output per piece; concat of the pieces gives x back, and a piece without a gradient
// contributes zeros to dx.
TEST(Split, PiecesAndGradient) {
  Graph g;
  Value x = input(g, "x", {2, 6}, DType::f64);
  std::vector<Value> pieces = ops::split(x, {2, 0, 4}, -1);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(pieces[1].shape(), (Shape{2, 0}));
  EXPECT_EQ(pieces[2].shape(), (Shape{2, 4}));
  EXPECT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(pieces[1].name(), "split:ys1");
  Value back = ops::concat(pieces, 1);
  Value loss = ops::reduce_sum(ops::mul(pieces[2], pieces[2]), {0, 1});
  autodiff::Gradients grads = autodiff::grad(g, loss.id(), {x.id()});
  const Tensor xv = iota(DType::f64, {2, 6});
  std::vector<Tensor> out = run(grads.graph, {{"x", xv}}, {back.id(), grads.grads[0]});
  EXPECT_TRUE(bitwise_equal(out[0], xv));
  for (std::int64_t i = 0; i < 12; ++i) EXPECT_EQ(out[1].at(i), i % 6 < 2 ? 0.0 : 2 * xv.at(i)) << i;
}

// ---- transpose -------------------------------------------------------------------------------

TEST(TransposeErrors, NotAPermutation) {
  std::string msg = build_error([](Graph& g) { ops::transpose(input(g, "x", {2, 3, 4}), {0, 2, 2}); });
  EXPECT_HAS(msg, "op 'transpose'");
  EXPECT_HAS(msg, "attribute 'perm' = [0,2,2] is not a permutation of the dims of a rank-3 input");
  msg = build_error([](Graph& g) { ops::transpose(input(g, "x", {2, 3, 4}), {1, 0}); });
  EXPECT_HAS(msg, "attribute 'perm' = [1,0] is not a permutation of the dims of a rank-3 input");
  msg = build_error([](Graph& g) { ops::transpose(input(g, "x", {2, 3}), {-1, 0}); });
  EXPECT_HAS(msg, "attribute 'perm' = [-1,0] is not a permutation of the dims of a rank-2 input");
}

// Shapes large enough for several tiles and chunks, in both dtypes, against the reference.
TEST(Transpose, LargeShapesMatchReference) {
  const std::vector<std::pair<Shape, Ints>> cases = {
      {{3, 33, 17, 40}, {0, 2, 3, 1}}, {{2, 40, 9, 70}, {0, 3, 1, 2}}, {{130, 70}, {1, 0}}, {{5, 6, 7, 8}, {3, 1, 2, 0}}};
  for (const auto& [shape, perm] : cases) {
    const Tensor x = iota(DType::f64, shape);
    const Tensor want = transpose_reference({x}, {{"perm", perm}})[0];
    for (DType dtype : {DType::f32, DType::f64}) {
      Tensor got = autodiff::run_op("transpose", {{"perm", perm}}, {x.to(dtype)})[0];
      EXPECT_TRUE(bitwise_equal(got, want.to(dtype))) << to_string(shape) << " " << to_string(perm);
    }
  }
}

// ---- pad -------------------------------------------------------------------------------------

TEST(PadErrors, PadsLength) {
  std::string msg = build_error([](Graph& g) { ops::pad(input(g, "x", {2, 3}), {1, 1}); });
  EXPECT_HAS(msg, "op 'pad'");
  EXPECT_HAS(msg, "attribute 'pads' = [1,1] needs 4 values (begins, then ends) for a rank-2 input, got 2");
}

TEST(PadErrors, CropBelowZero) {
  std::string msg = build_error([](Graph& g) { ops::pad(input(g, "x", {2, 3}), {0, -2, 0, -2}); });
  EXPECT_HAS(msg, "op 'pad'");
  EXPECT_HAS(msg, "attribute 'pads' = [0,-2,0,-2] crops dim 1 of extent 3 below zero (begin -2, end -2)");
}

TEST(PadErrors, ReflectPadNotSmallerThanDim) {
  std::string msg = build_error([](Graph& g) { ops::pad(input(g, "x", {2, 3}), {0, 1, 0, 3}, ops::PadMode::reflect); });
  EXPECT_HAS(msg, "op 'pad'");
  EXPECT_HAS(msg, "mode 'reflect' needs pads smaller than the dim: dim 1 has extent 3, pads 1 and 3 (attribute 'pads' = [0,1,0,3])");
  msg = build_error([](Graph& g) { ops::pad(input(g, "x", {1, 3}), {1, 0, 0, 0}, ops::PadMode::reflect); });
  EXPECT_HAS(msg, "dim 0 has extent 1, pads 1 and 0");
}

TEST(PadErrors, EdgeOfEmptyDim) {
  std::string msg = build_error([](Graph& g) { ops::pad(input(g, "x", {0, 3}), {1, 0, 0, 0}, ops::PadMode::edge); });
  EXPECT_HAS(msg, "op 'pad'");
  EXPECT_HAS(msg, "mode 'edge' cannot pad dim 0 of extent 0 (attribute 'pads' = [1,0,0,0])");
}

TEST(PadErrors, UnknownModeAndIntegerInput) {
  std::string msg = build_error([](Graph& g) {
    g.add_node("pad", {input(g, "x", {2})}, {{"pads", Ints{1, 1}}, {"mode", std::string("wrap")}});
  });
  EXPECT_HAS(msg, "op 'pad'");
  EXPECT_HAS(msg, "attribute 'mode' = 'wrap' is not one of constant, reflect, edge");
  msg = build_error([](Graph& g) { ops::pad(input(g, "x", {2}, DType::i64), {1, 1}); });
  EXPECT_HAS(msg, "op 'pad'");
  EXPECT_HAS(msg, "must be f32 or f64");
}

TEST(PadGradErrors, ShapeAndDy) {
  std::string msg = build_error([](Graph& g) { ops::pad_grad(input(g, "dy", {2, 5}), {2, 3}, {0, 1, 0, 0}, ops::PadMode::edge); });
  EXPECT_HAS(msg, "op 'pad_grad'");
  EXPECT_HAS(msg, "dy has shape [2,5] but attribute 'shape' = [2,3] padded by [0,1,0,0] is [2,4]");
  msg = build_error([](Graph& g) { ops::pad_grad(input(g, "dy", {2}), {-1}, {2, 1}, ops::PadMode::constant); });
  EXPECT_HAS(msg, "attribute 'shape' = [-1] has a negative dim");
  msg = build_error([](Graph& g) {
    g.add_node("pad_grad", {input(g, "dy", {2})}, {{"pads", Ints{0, 0}}, {"mode", std::string("mirror")}, {"shape", Ints{2}}});
  });
  EXPECT_HAS(msg, "attribute 'mode' = 'mirror' is not one of constant, reflect, edge");
}

// Golden rows from numpy.pad: [1, 2, 3] with pads 2 and 2.
TEST(Pad, MatchesNumpyOnOneRow) {
  const Tensor x = Tensor::from<double>({3}, {1, 2, 3});
  const std::vector<std::pair<ops::PadMode, std::vector<double>>> cases = {
      {ops::PadMode::constant, {7, 7, 1, 2, 3, 7, 7}},
      {ops::PadMode::reflect, {3, 2, 1, 2, 3, 2, 1}},
      {ops::PadMode::edge, {1, 1, 1, 2, 3, 3, 3}}};
  for (const auto& [mode, want] : cases) {
    Graph g;
    Value y = ops::pad(input(g, "x", {3}, DType::f64), {2, 2}, mode, 7);
    Tensor got = run(g, {{"x", x}}, {y.id()})[0];
    EXPECT_TRUE(bitwise_equal(got, Tensor::from<double>({7}, want))) << static_cast<int>(mode);
  }
}

// Many chunks in every kernel: the same bits with 1 and 8 threads, and pad_grad (the one that sums)
// equal to the reference.
TEST(ShapeOpsDeterminism, SameBitsForAnyThreadCount) {
  const Tensor x = autodiff::example_inputs({.inputs = {{.shape = {3, 5, 40, 300}}}}, 3)[0];
  const Ints pads = {0, 1, 7, 9, 0, 2, 5, 11};
  auto run_all = [&](DType dtype) {
    std::vector<Tensor> out;
    for (const char* mode : {"edge", "reflect"}) {
      const AttrMap attrs = {{"pads", pads}, {"mode", std::string(mode)}};
      Tensor y = autodiff::run_op("pad", attrs, {x.to(dtype)})[0];
      out.push_back(y);
      out.push_back(autodiff::run_op("pad_grad", {{"pads", pads}, {"mode", std::string(mode)}, {"shape", x.shape()}}, {y})[0]);
    }
    out.push_back(autodiff::run_op("transpose", {{"perm", Ints{0, 2, 3, 1}}}, {x.to(dtype)})[0]);
    out.push_back(autodiff::run_op("concat", {{"axis", std::int64_t{1}}}, {x.to(dtype), x.to(dtype)})[0]);
    out.push_back(autodiff::run_op("slice", {{"starts", Ints{1, 3}}, {"ends", Ints{39, 299}}, {"axes", Ints{2, 3}}, {"steps", Ints{3, 2}}},
                                   {x.to(dtype)})[0]);
    return out;
  };
  for (DType dtype : {DType::f32, DType::f64}) {
    std::vector<Tensor> one, many;
    {
      tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 1);
      one = run_all(dtype);
    }
    {
      tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 8);
      many = run_all(dtype);
    }
    for (std::size_t k = 0; k < one.size(); ++k) EXPECT_TRUE(bitwise_equal(one[k], many[k])) << "output " << k;
    if (dtype == DType::f64)
      for (int k : {1, 3}) {
        const AttrMap attrs = {{"pads", pads}, {"mode", std::string(k == 1 ? "edge" : "reflect")}, {"shape", x.shape()}};
        const Tensor want = pad_grad_reference({many[k - 1]}, attrs)[0];
        double worst = 0;
        for (std::int64_t i = 0; i < want.numel(); ++i) worst = std::max(worst, std::abs(many[k].at(i) - want.at(i)));
        EXPECT_LT(worst, 1e-12) << "pad_grad output " << k;
      }
  }
}

// ---- squeeze and unsqueeze -------------------------------------------------------------------

TEST(Squeeze, BuildsReshapeNodes) {
  Graph g;
  Value x = input(g, "x", {1, 3, 1, 2});
  EXPECT_EQ(ops::squeeze(x, {}).shape(), (Shape{3, 2}));
  EXPECT_EQ(ops::squeeze(x, {-2}).shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(ops::squeeze(x, {2, 0}).shape(), (Shape{3, 2}));
  EXPECT_EQ(ops::unsqueeze(x, {0, -1}).shape(), (Shape{1, 1, 3, 1, 2, 1}));
  EXPECT_EQ(ops::unsqueeze(x, {2}).shape(), (Shape{1, 3, 1, 1, 2}));
  EXPECT_EQ(ops::squeeze(ops::unsqueeze(input(g, "s", {}), {0}), {}).shape(), (Shape{}));
  for (const Node& node : g.nodes()) EXPECT_EQ(node.op, "reshape");
  EXPECT_EQ(ops::unsqueeze(x, {}).id(), x.id());  // nothing to do: no node
}

TEST(SqueezeErrors, AxesAndExtents) {
  std::string msg = build_error([](Graph& g) { ops::squeeze(input(g, "x", {1, 3}), {1}); });
  EXPECT_HAS(msg, "squeeze of 'x' f32[1,3]: dim 1 has extent 3, not 1");
  msg = build_error([](Graph& g) { ops::squeeze(input(g, "x", {1, 3}), {2}); });
  EXPECT_HAS(msg, "squeeze of 'x' f32[1,3]: axis 2 is out of range for rank 2");
  msg = build_error([](Graph& g) { ops::squeeze(input(g, "x", {1, 3}), {0, -2}); });
  EXPECT_HAS(msg, "squeeze of 'x' f32[1,3]: axis -2 is repeated in axes [0,-2]");
  msg = build_error([](Graph& g) { ops::unsqueeze(input(g, "x", {1, 3}), {3}); });
  EXPECT_HAS(msg, "unsqueeze of 'x' f32[1,3]: axis 3 is out of range for rank 3");
  msg = build_error([](Graph& g) { ops::unsqueeze(input(g, "x", {1, 3}), {-4}); });
  EXPECT_HAS(msg, "unsqueeze of 'x' f32[1,3]: axis -4 is out of range for rank 3");
  msg = build_error([](Graph& g) { ops::unsqueeze(input(g, "x", {1, 3}), {1, 1}); });
  EXPECT_HAS(msg, "unsqueeze of 'x' f32[1,3]: axis 1 is repeated in axes [1,1]");
}

}  // namespace dagrad::testing
