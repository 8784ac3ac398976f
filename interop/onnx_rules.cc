// One translation rule per ONNX op type, in one table at the end of this file, keyed by op type
// and the opset version where the op's meaning changed. Each rule reads its node through
// NodeContext (inputs, attributes, constants known at import time) and adds dagrad nodes: the
// last one carries the ONNX node's name, any extra ones "<onnx name>/<part>".
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "graph/error.h"
#include "graph/op.h"
#include "interop/onnx_import_context.h"
#include "interop/onnx_internal.h"

namespace dagrad::interop::detail {
namespace {

using Ints = std::vector<std::int64_t>;
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- helpers -----------------------------------------------------------------------------------

std::int64_t normalize_axis(NodeContext& ctx, std::int64_t axis, std::int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank) ctx.fail_here(what, " ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

// The product of dims [begin, end); shapes from files can be anything, so overflow is an error.
std::int64_t product(const Shape& shape, std::size_t begin, std::size_t end) {
  std::int64_t p = 1;
  for (std::size_t i = begin; i < end && i < shape.size(); ++i)
    if (shape[i] < 0 || __builtin_mul_overflow(p, shape[i], &p)) fail("the dims ", to_string(shape), " overflow or are negative");
  return p;
}

// A tensor made at import time must stay within the import's byte limit (no multi-GB folds).
void check_fold_size(NodeContext& ctx, const Shape& shape, DType dtype) {
  std::int64_t bytes = 0;
  try { bytes = byte_count(shape, dtype); } catch (const Error& e) { ctx.fail_here(e.what()); }
  if (bytes > ctx.options().max_bytes)
    ctx.fail_here("a tensor of shape ", to_string(shape), " made at import time needs ", bytes, " bytes, above the limit of ",
                  ctx.options().max_bytes);
}

// The values of an integer (or integral float) tensor known at import time.
Ints ints_of(NodeContext& ctx, const Tensor& t, const char* what) {
  Ints out;
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.at(i);
    if (t.dtype() == DType::i64) out.push_back(t.data<std::int64_t>()[static_cast<std::size_t>(i)]);
    else if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9.2e18) out.push_back(static_cast<std::int64_t>(v));
    else ctx.fail_here(what, " must hold integers, got ", v);
  }
  return out;
}

double scalar_of(NodeContext& ctx, const Tensor& t, const char* what) {
  if (t.numel() != 1) ctx.fail_here(what, " must be a scalar, got shape ", to_string(t.shape()));
  return t.at(0);
}

Tensor i64_tensor(const Ints& values, std::optional<Shape> shape = std::nullopt) {
  return Tensor::from<std::int64_t>(shape ? *shape : Shape{static_cast<std::int64_t>(values.size())}, values);
}

bool is_i64_constant(const Tensor* t) { return t && t->dtype() == DType::i64; }

// Numpy broadcasting of two shapes; nullopt when they do not broadcast.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Folds an elementwise binary op on integer tensors known at import time (shape arithmetic).
template <class F> Tensor fold_binary_i64(NodeContext& ctx, const Tensor& a, const Tensor& b, F f) {
  auto shape = broadcast_shapes(a.shape(), b.shape());
  if (!shape) ctx.fail_here("shapes ", to_string(a.shape()), " and ", to_string(b.shape()), " do not broadcast");
  check_fold_size(ctx, *shape, DType::i64);
  Tensor out(DType::i64, *shape);
  const auto rank = shape->size();
  auto index_of = [&](const Shape& s, std::int64_t flat) {
    std::int64_t index = 0, stride = 1;
    for (std::size_t k = rank; k-- > 0;) {
      const std::int64_t coord = flat % (*shape)[k];
      flat /= (*shape)[k];
      const std::size_t offset = rank - s.size();
      if (k >= offset) {
        const std::int64_t d = s[k - offset];
        index += (d == 1 ? 0 : coord) * stride;
        stride *= d;
      }
    }
    return index;
  };
  const auto av = a.data<std::int64_t>(), bv = b.data<std::int64_t>();
  auto ov = out.data<std::int64_t>();
  for (std::int64_t i = 0; i < out.numel(); ++i)
    ov[static_cast<std::size_t>(i)] = f(av[static_cast<std::size_t>(index_of(a.shape(), i))],
                                        bv[static_cast<std::size_t>(index_of(b.shape(), i))]);
  return out;
}

// Pads of a convolution or pooling window: explicit `pads` or auto_pad, as [begin..., end...].
Ints window_pads(NodeContext& ctx, const Shape& spatial_in, const Ints& kernel, const Ints& strides, const Ints& dilations) {
  const std::size_t n = spatial_in.size();
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  Ints pads(2 * n, 0);
  if (auto_pad == "NOTSET") {
    if (auto p = ctx.attr_ints("pads")) {
      if (p->size() != 2 * n) ctx.fail_here("pads has ", p->size(), " values, ", 2 * n, " expected");
      pads = *p;
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t out = (spatial_in[i] + strides[i] - 1) / strides[i];
      const std::int64_t total = std::max<std::int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - spatial_in[i]);
      const std::int64_t small = total / 2, large = total - total / 2;
      pads[i] = auto_pad == "SAME_UPPER" ? small : large;
      pads[i + n] = auto_pad == "SAME_UPPER" ? large : small;
    }
  } else if (auto_pad != "VALID") {
    ctx.fail_here("auto_pad '", auto_pad, "' is not supported");
  }
  for (std::int64_t p : pads)
    if (p < 0) ctx.fail_here("negative pads are not supported");
  return pads;
}

Ints ints_attr_or(NodeContext& ctx, const char* name, std::size_t n, std::int64_t fallback) {
  auto v = ctx.attr_ints(name);
  if (!v) return Ints(n, fallback);
  if (v->size() != n) ctx.fail_here("attribute '", name, "' has ", v->size(), " values, ", n, " expected");
  for (std::int64_t x : *v)
    if (x < 1) ctx.fail_here("attribute '", name, "' values must be positive, got ", x);
  return *v;
}

// Static checks shared by convolution and pooling: 3-D windows and unknown auto_pad values.
void check_window(const onnx::NodeProto& node, int, std::vector<std::string>& problems) {
  for (const auto& a : node.attribute()) {
    if (a.name() == "kernel_shape" && a.ints_size() >= 3)
      problems.push_back(std::to_string(a.ints_size()) + "-D windows (kernel_shape) are not supported (1-D and 2-D only)");
    if (a.name() == "auto_pad" && a.s() != "NOTSET" && a.s() != "SAME_UPPER" && a.s() != "SAME_LOWER" && a.s() != "VALID")
      problems.push_back("auto_pad '" + a.s() + "' is not supported");
    if (a.name() == "storage_order" && a.i() != 0) problems.push_back("storage_order=" + std::to_string(a.i()) + " not supported");
  }
  if (node.op_type() == "MaxPool" && node.output_size() > 1 && !node.output(1).empty())
    problems.push_back("the Indices output is not supported");
}

void require_rank(NodeContext& ctx, int input, std::initializer_list<int> ranks, const char* what) {
  const int rank = ctx.input_rank(input);
  for (int r : ranks)
    if (r == rank) return;
  if (rank == 5) ctx.fail_here("3-D ", what, " (input of shape ", to_string(ctx.input_shape(input)), ") is not supported");
  ctx.fail_here(what, " of an input of rank ", rank, " (shape ", to_string(ctx.input_shape(input)), ") is not supported");
}

// ---- convolution -------------------------------------------------------------------------------

void conv(NodeContext& ctx) {
  require_rank(ctx, 0, {3, 4}, "convolution");
  const Shape x = ctx.input_shape(0), w = ctx.input_shape(1);
  const std::size_t n = x.size() - 2;
  if (w.size() != x.size()) ctx.fail_here("weight shape ", to_string(w), " does not match input ", to_string(x));
  Ints kernel(w.begin() + 2, w.end());
  if (auto k = ctx.attr_ints("kernel_shape"); k && *k != kernel)
    ctx.fail_here("kernel_shape ", to_string(*k), " differs from the weight's ", to_string(w));
  const Ints strides = ints_attr_or(ctx, "strides", n, 1), dilations = ints_attr_or(ctx, "dilations", n, 1);
  const Ints pads = window_pads(ctx, Shape(x.begin() + 2, x.end()), kernel, strides, dilations);
  const std::int64_t groups = ctx.attr_int("group", 1);
  std::vector<Value> inputs{ctx.input(0), ctx.input(1)};
  if (ctx.has_input(2)) inputs.push_back(ctx.input(2));
  Value y;
  if (n == 2) {
    y = ctx.add1("conv2d", inputs, {{"stride", strides}, {"pad", pads}, {"dilation", dilations}, {"groups", groups}});
  } else {
    y = ctx.add1("conv1d", inputs, {{"stride", strides[0]}, {"pad", pads[0]}, {"pad_end", pads[1]},
                                    {"dilation", dilations[0]}, {"groups", groups}});
  }
  ctx.set_output(0, y);
}

void conv_transpose(NodeContext& ctx) {
  require_rank(ctx, 0, {3, 4}, "transposed convolution");
  const Shape x = ctx.input_shape(0), w = ctx.input_shape(1);
  const std::size_t n = x.size() - 2;
  if (w.size() != x.size()) ctx.fail_here("weight shape ", to_string(w), " does not match input ", to_string(x));
  const Ints kernel(w.begin() + 2, w.end());
  const Ints strides = ints_attr_or(ctx, "strides", n, 1), dilations = ints_attr_or(ctx, "dilations", n, 1);
  Ints output_padding(n, 0);
  if (auto op = ctx.attr_ints("output_padding")) {
    if (op->size() != n) ctx.fail_here("output_padding has ", op->size(), " values, ", n, " expected");
    output_padding = *op;
  }
  Ints pads(2 * n, 0);
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  auto output_shape = ctx.attr_ints("output_shape");
  if (output_shape && output_shape->size() == n + 2) output_shape = Ints(output_shape->begin() + 2, output_shape->end());
  if (!output_shape && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER")) {
    output_shape = Ints(n);
    for (std::size_t i = 0; i < n; ++i) (*output_shape)[i] = x[i + 2] * strides[i];
  }
  if (output_shape) {
    if (output_shape->size() != n) ctx.fail_here("output_shape has ", output_shape->size(), " values, ", n, " expected");
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t total = strides[i] * (x[i + 2] - 1) + output_padding[i] + (kernel[i] - 1) * dilations[i] + 1 - (*output_shape)[i];
      if (total < 0) {
        output_padding[i] += -total;  // the output grows past the last window: zeros plus bias
        continue;
      }
      const bool upper = auto_pad != "SAME_LOWER";
      pads[i] = upper ? total / 2 : total - total / 2;
      pads[i + n] = total - pads[i];
    }
  } else if (auto_pad == "NOTSET") {
    if (auto p = ctx.attr_ints("pads")) {
      if (p->size() != 2 * n) ctx.fail_here("pads has ", p->size(), " values, ", 2 * n, " expected");
      pads = *p;
    }
  } else if (auto_pad != "VALID") {
    ctx.fail_here("auto_pad '", auto_pad, "' is not supported");
  }
  const std::int64_t groups = ctx.attr_int("group", 1);
  Value xv = ctx.input(0), wv = ctx.input(1);
  Ints s2 = strides, d2 = dilations, op2 = output_padding, p4 = pads;
  if (n == 1) {  // 1-D as 2-D with a height of 1
    xv = ctx.reshape(xv, {x[0], x[1], 1, x[2]}, "to_2d");
    wv = ctx.reshape(wv, {w[0], w[1], 1, w[2]}, "weight_2d");
    s2 = {1, strides[0]}, d2 = {1, dilations[0]}, op2 = {0, output_padding[0]}, p4 = {0, pads[0], 0, pads[1]};
  }
  std::vector<Value> inputs{xv, wv};
  if (ctx.has_input(2)) inputs.push_back(ctx.input(2));
  AttrMap attrs{{"stride", s2}, {"pad", p4}, {"dilation", d2}, {"groups", groups}, {"output_padding", op2}};
  if (n == 2) {
    ctx.set_output(0, ctx.add1("conv_transpose2d", inputs, attrs));
  } else {
    Value y = ctx.add1("conv_transpose2d", inputs, attrs, "conv");
    Shape ys = y.shape();
    ctx.set_output(0, ctx.reshape(y, {ys[0], ys[1], ys[3]}));
  }
}

// ---- pooling -----------------------------------------------------------------------------------

// Max or average pooling of a 1-D or 2-D NC... input: symmetric pads become the op's pad;
// asymmetric ones an explicit pad node (-inf for max; for an average that leaves padding out of
// the divisor, the sum of a zero-padded window over the count of its real cells).
void pool(NodeContext& ctx, bool is_max) {
  require_rank(ctx, 0, {3, 4}, "pooling");
  const Shape x = ctx.input_shape(0);
  const std::size_t n = x.size() - 2;
  auto kernel = ctx.attr_ints("kernel_shape");
  if (!kernel || kernel->size() != n) ctx.fail_here("kernel_shape must have ", n, " values");
  const Ints strides = ints_attr_or(ctx, "strides", n, 1);
  const Ints dilations = is_max ? ints_attr_or(ctx, "dilations", n, 1) : Ints(n, 1);
  if (!is_max && ctx.has_attr("dilations")) {
    auto d = ctx.attr_ints("dilations");
    for (auto v : *d)
      if (v != 1) ctx.fail_here("dilated average pooling is not supported");
  }
  Ints pads = window_pads(ctx, Shape(x.begin() + 2, x.end()), *kernel, strides, dilations);
  const bool ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  const bool count_include_pad = ctx.attr_int("count_include_pad", 0) != 0;
  Value xv = ctx.input(0);
  Shape x4 = x;
  Ints k2 = *kernel, s2 = strides, d2 = dilations, p4 = pads;  // p4: [top, left, bottom, right]
  if (n == 1) {
    x4 = {x[0], x[1], 1, x[2]};
    xv = ctx.reshape(xv, x4, "to_2d");
    k2 = {1, k2[0]}, s2 = {1, s2[0]}, d2 = {1, d2[0]}, p4 = {0, pads[0], 0, pads[1]};
  }
  const bool symmetric = p4[0] == p4[2] && p4[1] == p4[3];
  Ints sym_pad{p4[0], p4[1]};
  Value y;
  auto pool_op = [&](Value in, Ints pad, bool include_pad, const std::string& part) {
    if (is_max)
      return ctx.add(  "max_pool2d_with_indices", {in},
                     {{"window", k2}, {"stride", s2}, {"pad", pad}, {"dilation", d2}, {"ceil_mode", ceil_mode}}, part)[0];
    return ctx.add1("avg_pool2d", {in},
                    {{"window", k2}, {"stride", s2}, {"pad", pad}, {"ceil_mode", ceil_mode}, {"count_include_pad", include_pad}},
                    part);
  };
  const bool reshape_back = n == 1;
  if (is_max && ctx.has_output(1))
    ctx.fail_here("MaxPool's Indices output is not supported (dagrad has no integer arithmetic to make its flat indices)");
  if (symmetric) {
    if (is_max) {
      y = ctx.add("max_pool2d_with_indices", {xv},
                  {{"window", k2}, {"stride", s2}, {"pad", sym_pad}, {"dilation", d2}, {"ceil_mode", ceil_mode}},
                  reshape_back ? "pool" : "")[0];
    } else {
      y = pool_op(xv, sym_pad, count_include_pad, reshape_back ? "pool" : "");
    }
  } else {
    const Ints pad_all{0, 0, p4[0], p4[1], 0, 0, p4[2], p4[3]};
    Value padded = ctx.add1("pad", {xv}, {{"pads", pad_all}, {"mode", std::string("constant")}, {"value", is_max ? -kInf : 0.0}}, "pad");
    if (is_max || count_include_pad) {
      y = pool_op(padded, {0, 0}, true, reshape_back ? "pool" : "");
    } else {
      Tensor ones(DType::f32, {1, 1, x4[2], x4[3]});
      ones = ones.to(xv.dtype());
      ones.fill(1);
      Value mask = ctx.add1("pad", {ctx.constant("ones", ones)},
                            {{"pads", pad_all}, {"mode", std::string("constant")}, {"value", 0.0}}, "pad_ones");
      Value sums = pool_op(padded, {0, 0}, true, "pool_sum");
      Value counts = pool_op(mask, {0, 0}, true, "pool_count");
      y = ctx.add1("div", {sums, counts}, {}, reshape_back ? "divide" : "");
    }
  }
  if (reshape_back) {
    const Shape ys = y.shape();
    y = ctx.reshape(y, {ys[0], ys[1], ys[3]});
  }
  ctx.set_output(0, y);
}

void max_pool(NodeContext& ctx) { pool(ctx, true); }
void average_pool(NodeContext& ctx) { pool(ctx, false); }

void global_pool(NodeContext& ctx, bool is_max) {
  const Shape x = ctx.input_shape(0);
  if (x.size() < 3) ctx.fail_here("global pooling needs an input of rank 3 or more, got ", to_string(x));
  Shape keep(x.size(), 1);
  keep[0] = x[0], keep[1] = x[1];
  if (x.size() == 4) {
    Value y = ctx.add1(is_max ? "global_max_pool" : "global_avg_pool", {ctx.input(0)}, {}, "pool");
    ctx.set_output(0, ctx.reshape(y, keep));
    return;
  }
  Ints axes;
  for (std::size_t i = 2; i < x.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
  ctx.set_output(0, ctx.add1(is_max ? "reduce_max" : "reduce_mean", {ctx.input(0)}, {{"axes", axes}, {"keepdims", true}}));
}
void global_average_pool(NodeContext& ctx) { global_pool(ctx, false); }
void global_max_pool(NodeContext& ctx) { global_pool(ctx, true); }

// ---- elementwise -------------------------------------------------------------------------------

template <const char* Op> void unary(NodeContext& ctx) { ctx.set_output(0, ctx.add1(Op, {ctx.input(0)}, {})); }
constexpr char kRelu[] = "relu", kSigmoid[] = "sigmoid", kTanh[] = "tanh", kExp[] = "exp", kLog[] = "log",
               kSqrt[] = "sqrt", kNeg[] = "neg", kHardswish[] = "hardswish";

void leaky_relu(NodeContext& ctx) {
  ctx.set_output(0, ctx.add1("leaky_relu", {ctx.input(0)}, {{"alpha", ctx.attr_float("alpha", 0.01)}}));
}
void elu(NodeContext& ctx) { ctx.set_output(0, ctx.add1("elu", {ctx.input(0)}, {{"alpha", ctx.attr_float("alpha", 1.0)}})); }

void hard_sigmoid(NodeContext& ctx) {  // max(0, min(1, alpha * x + beta))
  const double alpha = ctx.attr_float("alpha", 0.2), beta = ctx.attr_float("beta", 0.5);
  Value scaled = ctx.add1("scale", {ctx.input(0)}, {{"factor", alpha}}, "scale");
  Value shifted = ctx.add1("add", {scaled, ctx.constant("beta", Tensor::scalar(scaled.dtype(), beta))}, {}, "shift");
  ctx.set_output(0, ctx.add1("clip", {shifted}, {{"min", 0.0}, {"max", 1.0}}));
}

void clip_attrs(NodeContext& ctx) {  // opset < 11: min and max are attributes
  ctx.set_output(0, ctx.add1("clip", {ctx.input(0)}, {{"min", ctx.attr_float("min", -kInf)}, {"max", ctx.attr_float("max", kInf)}}));
}
void clip_inputs(NodeContext& ctx) {  // opset >= 11: optional inputs 1 and 2
  const double lo = ctx.has_input(1) ? scalar_of(ctx, ctx.required_constant(1, "Clip's min"), "min") : -kInf;
  const double hi = ctx.has_input(2) ? scalar_of(ctx, ctx.required_constant(2, "Clip's max"), "max") : kInf;
  ctx.set_output(0, ctx.add1("clip", {ctx.input(0)}, {{"min", lo}, {"max", hi}}));
}

template <const char* Op> void binary(NodeContext& ctx) {
  const Tensor* a = ctx.constant_input(0);
  const Tensor* b = ctx.constant_input(1);
  if (is_i64_constant(a) && is_i64_constant(b)) {  // shape arithmetic
    const std::string op = Op;
    if (op == "div") {
      for (std::int64_t v : b->data<std::int64_t>())
        if (v == 0) ctx.fail_here("integer division by zero");
    }
    ctx.set_output_constant(0, fold_binary_i64(ctx, *a, *b, [&](std::int64_t x, std::int64_t y) {
      std::int64_t r = 0;
      const bool overflow = op == "add" ? __builtin_add_overflow(x, y, &r)
                          : op == "sub" ? __builtin_sub_overflow(x, y, &r)
                          : op == "mul" ? __builtin_mul_overflow(x, y, &r)
                                        : (y == -1 && x == std::numeric_limits<std::int64_t>::min());
      if (overflow) ctx.fail_here("integer ", op, " of ", x, " and ", y, " overflows");
      return op == "div" ? x / y : r;
    }));
    return;
  }
  Value b_value = ctx.input(1);
  // Before opset 7: with broadcast=1 and an axis, B's dims line up with A's from that axis.
  if (ctx.opset() < 7 && ctx.attr_int("broadcast", 0) != 0 && ctx.has_attr("axis")) {
    const Shape as = ctx.input_shape(0), bs = b_value.shape();
    const std::int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), static_cast<std::int64_t>(as.size()), "axis");
    if (axis + static_cast<std::int64_t>(bs.size()) > static_cast<std::int64_t>(as.size()))
      ctx.fail_here("B ", to_string(bs), " does not fit A ", to_string(as), " at axis ", axis);
    Shape aligned(as.size() - static_cast<std::size_t>(axis), 1);
    std::copy(bs.begin(), bs.end(), aligned.begin());
    if (aligned != bs) b_value = ctx.reshape(b_value, aligned, "broadcast_b");
  }
  ctx.set_output(0, ctx.add1(Op, {ctx.input(0), b_value}, {}));
}
constexpr char kAdd[] = "add", kSub[] = "sub", kMul[] = "mul", kDiv[] = "div";

void sum(NodeContext& ctx) {
  if (ctx.input_count() < 1) ctx.fail_here("Sum needs at least one input");
  Value acc = ctx.input(0);
  if (ctx.input_count() == 1) {
    ctx.set_output(0, ctx.reshape(acc, acc.shape()));
    return;
  }
  for (int i = 1; i < ctx.input_count(); ++i)
    acc = ctx.add1("add", {acc, ctx.input(i)}, {}, i + 1 == ctx.input_count() ? "" : "add" + std::to_string(i));
  ctx.set_output(0, acc);
}

// ---- linear ------------------------------------------------------------------------------------

void gemm(NodeContext& ctx) {
  const double alpha = ctx.attr_float("alpha", 1.0), beta = ctx.attr_float("beta", 1.0);
  const bool trans_a = ctx.attr_int("transA", 0) != 0, trans_b = ctx.attr_int("transB", 0) != 0;
  const Shape a = ctx.input_shape(0), b = ctx.input_shape(1);
  if (a.size() != 2 || b.size() != 2) ctx.fail_here("Gemm needs 2-D A and B, got ", to_string(a), " and ", to_string(b));
  const bool has_c = ctx.has_input(2);
  const std::int64_t m = trans_b ? b[0] : b[1];
  // Only the plain form becomes dense (what dagrad exports), so dagrad models round-trip.
  if (!trans_a && !trans_b && alpha == 1.0 && beta == 1.0 && (!has_c || ctx.input_shape(2) == Shape{m})) {
    std::vector<Value> in{ctx.input(0), ctx.input(1)};
    if (has_c) in.push_back(ctx.input(2));
    ctx.set_output(0, ctx.add1("dense", in, {}));
    return;
  }
  const bool more = alpha != 1.0 || (has_c && beta != 0.0);
  Value y = ctx.add1("matmul", {ctx.input(0), ctx.input(1)}, {{"transpose_a", trans_a}, {"transpose_b", trans_b}},
                     more ? "matmul" : "");
  if (alpha != 1.0) y = ctx.add1("scale", {y}, {{"factor", alpha}}, has_c && beta != 0.0 ? "alpha" : "");
  if (has_c && beta != 0.0) {
    Value c = ctx.input(2);
    if (beta != 1.0) c = ctx.add1("scale", {c}, {{"factor", beta}}, "beta");
    y = ctx.add1("add", {y, c}, {});
  }
  ctx.set_output(0, y);
}

void matmul(NodeContext& ctx) {
  Value a = ctx.input(0), b = ctx.input(1);
  const Shape as = a.shape(), bs = b.shape();
  if (as.empty() || bs.empty()) ctx.fail_here("MatMul of a scalar");
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) a = ctx.reshape(a, {1, as[0]}, "a_row");
  if (b_vec) b = ctx.reshape(b, {bs[0], 1}, "b_column");
  Value y = ctx.add1("matmul", {a, b}, {}, a_vec || b_vec ? "matmul" : "");
  if (a_vec || b_vec) {
    Shape ys = y.shape();
    if (b_vec) ys.pop_back();
    if (a_vec) ys.erase(ys.end() - (b_vec ? 1 : 2));
    y = ctx.reshape(y, ys);
  }
  ctx.set_output(0, y);
}

// ---- shapes ------------------------------------------------------------------------------------

// Reshape or pass a constant through a reshape.
void reshape_to(NodeContext& ctx, const Shape& shape) {
  if (const Tensor* c = ctx.constant_input(0); is_i64_constant(c)) {
    ctx.set_output_constant(0, c->reshaped(shape));
    return;
  }
  ctx.set_output(0, ctx.reshape(ctx.input(0), shape));
}

void flatten(NodeContext& ctx) {
  const Shape x = ctx.input_shape(0);
  const auto rank = static_cast<std::int64_t>(x.size());
  std::int64_t axis = ctx.attr_int("axis", 1);
  if (axis < -rank || axis > rank) ctx.fail_here("axis ", axis, " is out of range for rank ", rank);
  if (axis < 0) axis += rank;
  if (axis == 1 && rank >= 2 && !ctx.constant_input(0)) {
    ctx.set_output(0, ctx.add1("flatten", {ctx.input(0)}, {}));
    return;
  }
  reshape_to(ctx, {product(x, 0, static_cast<std::size_t>(axis)), product(x, static_cast<std::size_t>(axis), x.size())});
}

void reshape_with(NodeContext& ctx, Ints target) {
  const Shape x = ctx.input_shape(0);
  const bool allowzero = ctx.attr_int("allowzero", 0) != 0;
  std::int64_t known = 1;
  int infer = -1;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allowzero) {
      if (i >= x.size()) ctx.fail_here("shape ", to_string(target), " copies dim ", i, " of a rank-", x.size(), " input");
      target[i] = x[i];
    }
    if (target[i] == -1) {
      if (infer >= 0) ctx.fail_here("shape ", to_string(target), " has more than one -1");
      infer = static_cast<int>(i);
    } else if (target[i] < 0) {
      ctx.fail_here("shape ", to_string(target), " has a negative dim");
    } else if (__builtin_mul_overflow(known, target[i], &known)) {
      ctx.fail_here("shape ", to_string(target), " overflows");
    }
  }
  const std::int64_t total = product(x, 0, x.size());
  if (infer >= 0) {
    if (known == 0 || total % known != 0) ctx.fail_here("cannot reshape ", to_string(x), " to ", to_string(target));
    target[static_cast<std::size_t>(infer)] = total / known;
  }
  if (product(target, 0, target.size()) != total) ctx.fail_here("cannot reshape ", to_string(x), " to ", to_string(target));
  reshape_to(ctx, target);
}
void reshape_attr(NodeContext& ctx) {
  auto shape = ctx.attr_ints("shape");
  if (!shape) ctx.fail_here("attribute 'shape' is missing");
  reshape_with(ctx, *shape);
}
void reshape_input(NodeContext& ctx) { reshape_with(ctx, ints_of(ctx, ctx.required_constant(1, "Reshape's shape"), "shape")); }

void squeeze_with(NodeContext& ctx, std::optional<Ints> axes) {
  const Shape x = ctx.input_shape(0);
  const auto rank = static_cast<std::int64_t>(x.size());
  std::vector<bool> drop(x.size(), false);
  if (!axes) {
    for (std::size_t i = 0; i < x.size(); ++i) drop[i] = x[i] == 1;
  } else {
    for (std::int64_t a : *axes) {
      const auto k = static_cast<std::size_t>(normalize_axis(ctx, a, rank, "axis"));
      if (x[k] != 1) ctx.fail_here("cannot squeeze dim ", a, " of size ", x[k], " (shape ", to_string(x), ")");
      drop[k] = true;
    }
  }
  Shape out;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!drop[i]) out.push_back(x[i]);
  reshape_to(ctx, out);
}
void squeeze_attr(NodeContext& ctx) { squeeze_with(ctx, ctx.attr_ints("axes")); }
void squeeze_input(NodeContext& ctx) {
  squeeze_with(ctx, ctx.has_input(1) ? std::optional(ints_of(ctx, ctx.required_constant(1, "Squeeze's axes"), "axes")) : std::nullopt);
}

void unsqueeze_with(NodeContext& ctx, const Ints& axes) {
  const Shape x = ctx.input_shape(0);
  const auto rank = static_cast<std::int64_t>(x.size() + axes.size());
  std::vector<bool> inserted(static_cast<std::size_t>(rank), false);
  for (std::int64_t a : axes) {
    const auto k = static_cast<std::size_t>(normalize_axis(ctx, a, rank, "axis"));
    if (inserted[k]) ctx.fail_here("axis ", a, " is repeated");
    inserted[k] = true;
  }
  Shape out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < inserted.size(); ++i) out.push_back(inserted[i] ? 1 : x[next++]);
  reshape_to(ctx, out);
}
void unsqueeze_attr(NodeContext& ctx) {
  auto axes = ctx.attr_ints("axes");
  if (!axes) ctx.fail_here("attribute 'axes' is missing");
  unsqueeze_with(ctx, *axes);
}
void unsqueeze_input(NodeContext& ctx) { unsqueeze_with(ctx, ints_of(ctx, ctx.required_constant(1, "Unsqueeze's axes"), "axes")); }

void transpose(NodeContext& ctx) {
  const Shape x = ctx.input_shape(0);
  Ints perm;
  if (auto p = ctx.attr_ints("perm")) perm = *p;
  else
    for (std::size_t i = x.size(); i-- > 0;) perm.push_back(static_cast<std::int64_t>(i));
  ctx.set_output(0, ctx.add1("transpose", {ctx.input(0)}, {{"perm", perm}}));
}

void concat(NodeContext& ctx) {
  if (!ctx.has_attr("axis")) ctx.fail_here("attribute 'axis' is missing");
  const std::int64_t axis = ctx.attr_int("axis", 0);
  bool all_constant = true;
  for (int i = 0; i < ctx.input_count(); ++i) all_constant = all_constant && is_i64_constant(ctx.constant_input(i));
  if (all_constant && ctx.input_count() > 0) {
    const Shape first = ctx.input_shape(0);
    if (first.size() != 1) all_constant = false;
  }
  if (all_constant && ctx.input_count() > 0) {  // shape arithmetic: 1-D integer vectors
    Ints joined;
    for (int i = 0; i < ctx.input_count(); ++i) {
      const Tensor* t = ctx.constant_input(i);
      if (t->rank() != 1) ctx.fail_here("folding a Concat of rank-", t->rank(), " tensors");
      for (auto v : t->data<std::int64_t>()) joined.push_back(v);
    }
    ctx.set_output_constant(0, i64_tensor(joined));
    return;
  }
  std::vector<Value> xs;
  for (int i = 0; i < ctx.input_count(); ++i) xs.push_back(ctx.input(i));
  ctx.set_output(0, ctx.add1("concat", xs, {{"axis", axis}}));
}

void pad_with(NodeContext& ctx, const Ints& pads, const std::string& mode, double value) {
  if (mode != "constant" && mode != "reflect" && mode != "edge") ctx.fail_here("mode '", mode, "' is not supported");
  const Shape x = ctx.input_shape(0);
  if (pads.size() != 2 * x.size()) ctx.fail_here("pads has ", pads.size(), " values, rank ", x.size(), " needs ", 2 * x.size());
  ctx.set_output(0, ctx.add1("pad", {ctx.input(0)}, {{"pads", pads}, {"mode", mode}, {"value", value}}));
}
void pad_attrs(NodeContext& ctx) {  // opset < 11
  auto pads = ctx.attr_ints("pads");
  if (!pads) pads = ctx.attr_ints("paddings");  // opset 1's name
  if (!pads) ctx.fail_here("attribute 'pads' is missing");
  pad_with(ctx, *pads, ctx.attr_string("mode", "constant"), ctx.attr_float("value", 0.0));
}
void pad_inputs(NodeContext& ctx) {  // opset >= 11: pads and constant_value inputs
  if (ctx.has_input(3)) ctx.fail_here("the axes input is not supported");
  const Ints pads = ints_of(ctx, ctx.required_constant(1, "Pad's pads"), "pads");
  const double value = ctx.has_input(2) ? scalar_of(ctx, ctx.required_constant(2, "Pad's constant_value"), "constant_value") : 0.0;
  pad_with(ctx, pads, ctx.attr_string("mode", "constant"), value);
}

void split_with(NodeContext& ctx, std::optional<Ints> sizes) {
  const Shape x = ctx.input_shape(0);
  const std::int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), static_cast<std::int64_t>(x.size()), "axis");
  const std::int64_t extent = x[static_cast<std::size_t>(axis)];
  const int pieces = ctx.output_count();
  if (!sizes) {
    if (pieces < 1) ctx.fail_here("Split without outputs");
    const std::int64_t each = (extent + pieces - 1) / pieces;  // ONNX: the last piece may be smaller
    sizes = Ints{};
    std::int64_t left = extent;
    for (int i = 0; i < pieces; ++i) {
      sizes->push_back(std::min(each, left));
      left -= sizes->back();
    }
  }
  if (static_cast<int>(sizes->size()) != pieces)
    ctx.fail_here("split has ", sizes->size(), " sizes for ", pieces, " outputs");
  std::vector<Value> ys = ctx.add("split", {ctx.input(0)}, {{"sizes", *sizes}, {"axis", axis}});
  for (int i = 0; i < pieces; ++i) ctx.set_output(i, ys.at(static_cast<std::size_t>(i)));
}
void split_attr(NodeContext& ctx) { split_with(ctx, ctx.attr_ints("split")); }
void split_input(NodeContext& ctx) {
  split_with(ctx, ctx.has_input(1) ? std::optional(ints_of(ctx, ctx.required_constant(1, "Split's split"), "split")) : std::nullopt);
}

// Slice on values and on constants (shape arithmetic); steps must be positive.
void slice_with(NodeContext& ctx, Ints starts, Ints ends, std::optional<Ints> axes, std::optional<Ints> steps) {
  const Shape x = ctx.input_shape(0);
  if (starts.size() != ends.size()) ctx.fail_here("starts and ends differ in length");
  if (!axes) {
    axes = Ints{};
    for (std::size_t i = 0; i < starts.size(); ++i) axes->push_back(static_cast<std::int64_t>(i));
  }
  if (!steps) steps = Ints(starts.size(), 1);
  if (axes->size() != starts.size() || steps->size() != starts.size()) ctx.fail_here("starts, ends, axes and steps differ in length");
  for (std::int64_t s : *steps)
    if (s <= 0) ctx.fail_here("step ", s, " is not supported (positive steps only)");
  for (auto& a : *axes) a = normalize_axis(ctx, a, static_cast<std::int64_t>(x.size()), "axis");
  const Tensor* c = ctx.constant_input(0);
  if (is_i64_constant(c) && c->rank() == 1) {
    const auto n = c->numel();
    auto clampi = [&](std::int64_t v) { return std::clamp<std::int64_t>(v < 0 ? v + n : v, 0, n); };
    const std::int64_t b = clampi(starts[0]), e = clampi(ends[0]);
    Ints out;
    const std::int64_t step = (*steps)[0];
    for (std::int64_t i = b; i < e; i = e - i <= step ? e : i + step) out.push_back(c->data<std::int64_t>()[static_cast<std::size_t>(i)]);
    ctx.set_output_constant(0, i64_tensor(out));
    return;
  }
  ctx.set_output(0, ctx.add1("slice", {ctx.input(0)}, {{"starts", starts}, {"ends", ends}, {"axes", *axes}, {"steps", *steps}}));
}
void slice_attrs(NodeContext& ctx) {  // opset < 10
  auto starts = ctx.attr_ints("starts"), ends = ctx.attr_ints("ends");
  if (!starts || !ends) ctx.fail_here("attributes 'starts' and 'ends' are required");
  slice_with(ctx, *starts, *ends, ctx.attr_ints("axes"), std::nullopt);
}
void slice_inputs(NodeContext& ctx) {
  auto get = [&](int i, const char* what) -> std::optional<Ints> {
    if (!ctx.has_input(i)) return std::nullopt;
    return ints_of(ctx, ctx.required_constant(i, what), what);
  };
  auto starts = get(1, "Slice's starts"), ends = get(2, "Slice's ends");
  if (!starts || !ends) ctx.fail_here("inputs starts and ends are required");
  slice_with(ctx, *starts, *ends, get(3, "Slice's axes"), get(4, "Slice's steps"));
}

// ---- shape arithmetic (folded at import: dagrad shapes are static) -------------------------------

void shape_of(NodeContext& ctx) {
  const Shape x = ctx.input_shape(0);
  const auto rank = static_cast<std::int64_t>(x.size());
  std::int64_t start = ctx.attr_int("start", 0), end = ctx.attr_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<std::int64_t>(start, 0, rank), end = std::clamp<std::int64_t>(end, 0, rank);
  ctx.set_output_constant(0, i64_tensor(start < end ? Ints(x.begin() + start, x.begin() + end) : Ints{}));
}

void gather(NodeContext& ctx) {
  const Tensor* data = ctx.constant_input(0);
  const Tensor* indices = ctx.constant_input(1);
  if (!is_i64_constant(data) || !indices || indices->dtype() != DType::i64 || data->rank() != 1)
    ctx.fail_here("Gather is supported only on 1-D integer tensors known at import time (shape arithmetic)");
  if (ctx.attr_int("axis", 0) != 0) ctx.fail_here("Gather axis must be 0 for 1-D data");
  const auto n = data->numel();
  Ints out;
  for (std::int64_t i : indices->data<std::int64_t>()) {
    if (i < -n || i >= n) ctx.fail_here("index ", i, " is out of range for ", n, " elements");
    out.push_back(data->data<std::int64_t>()[static_cast<std::size_t>(i < 0 ? i + n : i)]);
  }
  ctx.set_output_constant(0, i64_tensor(out, indices->shape()));
}

void cast(NodeContext& ctx) {
  const std::int64_t to = ctx.attr_int("to", 0);
  const DType target = dtype_from_onnx(static_cast<int>(to), ctx.where() + ": Cast 'to'");
  if (const Tensor* c = ctx.constant_input(0)) {
    ctx.set_output_constant(0, c->to(target));
    return;
  }
  Value x = ctx.input(0);
  if (x.dtype() != target) ctx.fail_here("Cast from ", dtype_name(x.dtype()), " to ", dtype_name(target), " at run time is not supported");
  ctx.set_output(0, x);
}

void constant_of_shape(NodeContext& ctx) {
  const Ints shape = ints_of(ctx, ctx.required_constant(0, "ConstantOfShape's shape"), "shape");
  Tensor value = ctx.attr_tensor("value").value_or(Tensor::scalar(DType::f32, 0));
  if (value.numel() != 1) ctx.fail_here("value must hold one element");
  check_fold_size(ctx, shape, value.dtype());
  Tensor out(value.dtype(), shape);
  out.fill(value.at(0));
  if (value.dtype() == DType::i64) {
    auto o = out.data<std::int64_t>();
    std::fill(o.begin(), o.end(), value.data<std::int64_t>()[0]);
  }
  ctx.set_output_constant(0, out);
}

void identity(NodeContext& ctx) {
  if (const Tensor* c = ctx.constant_input(0); c && !ctx.graph().find(ctx.proto().input(0))) {
    ctx.set_output_constant(0, *c);
    return;
  }
  ctx.set_output(0, ctx.input(0));
}

void constant_node(NodeContext& ctx) {
  if (auto t = ctx.attr_tensor("value"))
    ctx.set_output_constant(0, *t, ctx.attr("value")->t().data_type() == onnx::TensorProto_DataType_BOOL);
  else if (ctx.has_attr("value_float")) ctx.set_output_constant(0, Tensor::scalar(DType::f32, ctx.attr_float("value_float", 0)));
  else if (auto fs = ctx.attr_floats("value_floats")) {
    std::vector<float> v(fs->begin(), fs->end());
    ctx.set_output_constant(0, Tensor::from<float>({static_cast<std::int64_t>(v.size())}, v));
  } else if (ctx.has_attr("value_int")) {
    ctx.set_output_constant(0, i64_tensor({ctx.attr_int("value_int", 0)}, Shape{}));
  } else if (auto is = ctx.attr_ints("value_ints")) {
    ctx.set_output_constant(0, i64_tensor(*is));
  } else {
    ctx.fail_here("Constant without a value, value_float(s) or value_int(s) attribute is not supported");
  }
}
void check_constant(const onnx::NodeProto& node, int, std::vector<std::string>& problems) {
  for (const auto& a : node.attribute())
    if (a.name() == "sparse_value" || a.name() == "value_string" || a.name() == "value_strings")
      problems.push_back(a.name() + " not supported");
    else if (a.name() == "value" && a.t().data_type() != onnx::TensorProto_DataType_FLOAT &&
             a.t().data_type() != onnx::TensorProto_DataType_DOUBLE && a.t().data_type() != onnx::TensorProto_DataType_INT64 &&
             a.t().data_type() != onnx::TensorProto_DataType_BOOL)  // BOOL: a flag read at import time (Dropout's training_mode)
      problems.push_back("unsupported element type " + onnx_type_name(a.t().data_type()));
}

// ---- reductions --------------------------------------------------------------------------------

void reduce_with(NodeContext& ctx, const char* op, std::optional<Ints> axes) {
  const Shape x = ctx.input_shape(0);
  if (!axes || axes->empty()) {
    if (axes && ctx.attr_int("noop_with_empty_axes", 0) != 0) {
      ctx.set_output(0, ctx.reshape(ctx.input(0), x));
      return;
    }
    axes = Ints{};
    for (std::size_t i = 0; i < x.size(); ++i) axes->push_back(static_cast<std::int64_t>(i));
  }
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  ctx.set_output(0, ctx.add1(op, {ctx.input(0)}, {{"axes", *axes}, {"keepdims", keepdims}}));
}
void reduce_mean(NodeContext& ctx) { reduce_with(ctx, "reduce_mean", ctx.attr_ints("axes")); }
void reduce_max(NodeContext& ctx) { reduce_with(ctx, "reduce_max", ctx.attr_ints("axes")); }
void reduce_sum_attr(NodeContext& ctx) { reduce_with(ctx, "reduce_sum", ctx.attr_ints("axes")); }
void reduce_sum_input(NodeContext& ctx) {
  reduce_with(ctx, "reduce_sum",
              ctx.has_input(1) ? std::optional(ints_of(ctx, ctx.required_constant(1, "ReduceSum's axes"), "axes")) : std::nullopt);
}

// ---- normalization -----------------------------------------------------------------------------

bool op_has_attr(const char* op, const char* attr) {
  const OpDef* def = op_registry().find(op);
  if (!def) return false;
  for (const auto& spec : def->attrs)
    if (spec.name == attr) return true;
  return false;
}

void check_batch_norm(const onnx::NodeProto& node, int, std::vector<std::string>& problems) {
  for (const auto& a : node.attribute())
    if (a.name() == "spatial" && a.i() == 0) problems.push_back("spatial=0 not supported");
}

void batch_norm(NodeContext& ctx) {
  const Shape x = ctx.input_shape(0);
  if (x.size() < 2) ctx.fail_here("input of rank ", x.size(), " (shape ", to_string(x), "): rank 2 or more expected");
  const double eps = ctx.attr_float("epsilon", 1e-5), momentum = ctx.attr_float("momentum", 0.9);
  // Training form: opset 14's training_mode, or the extra running-statistics outputs before it.
  const bool onnx_training = ctx.opset() >= 14 ? ctx.attr_int("training_mode", 0) != 0 : ctx.output_count() > 1;
  const bool training = onnx_training || ctx.options().training;
  Value xv = ctx.input(0);
  const bool reshaped = x.size() != 2 && x.size() != 4;
  if (reshaped) xv = ctx.reshape(xv, {x[0], x[1], product(x, 2, x.size()), 1}, "to_4d");
  AttrMap attrs{{"training", training}, {"momentum", decimal_round(1.0 - momentum)}, {"eps", eps}};
  if (op_has_attr("batch_norm", "running_var_unbiased")) attrs["running_var_unbiased"] = false;  // ONNX: population variance
  auto outs = ctx.add("batch_norm", {xv, ctx.input(1), ctx.input(2), ctx.input(3), ctx.input(4)}, attrs, reshaped ? "norm" : "");
  Value y = reshaped ? ctx.reshape(outs[0], x) : outs[0];
  ctx.set_output(0, y);
  Graph& g = ctx.graph();
  if (training) {
    // Running statistics kept as state are updated after each run.
    for (int k = 0; k < 2; ++k) {
      const ValueId stat = ctx.input(3 + k).id();
      if (g.value(stat).kind == ValueKind::state) g.add_state_update(stat, outs[static_cast<std::size_t>(3 + k)].id());
    }
  }
  if (onnx_training) {
    ctx.set_output(1, outs[3]);
    ctx.set_output(2, outs[4]);
    if (ctx.opset() < 14) {
      ctx.set_output(3, outs[1]);
      ctx.set_output_unsupported(4, "BatchNormalization's saved_var output (dagrad keeps the inverse standard deviation)");
    }
  }
}

// Training-mode Dropout draws a random mask, and ONNX leaves the generator to the runtime. In a file
// dagrad's exporter wrote, the `seed` attribute names dagrad's own mask stream: it imports as
// dagrad's dropout with that seed, so a dagrad model round-trips. From any other producer the mask
// cannot be reproduced (the conformance data's come from numpy), and the import refuses it rather
// than silently drawing different numbers.
void dropout_with(NodeContext& ctx, double ratio, bool onnx_training) {
  const bool seeded = ctx.from_dagrad() && ctx.has_attr("seed");
  if (onnx_training && ratio > 0 && !seeded)
    ctx.fail_here("training-mode Dropout with ratio ", ratio,
                  " is random and not supported (its mask generator is the producer's; import with training_mode off)");
  const bool training = ctx.options().training && ratio > 0;
  const std::int64_t seed = seeded ? ctx.attr_int("seed", 0) : 0;
  auto outs = ctx.add("dropout", {ctx.input(0)}, {{"p", ratio}, {"seed", seed}, {"training", training}});
  ctx.set_output(0, outs[0]);
  ctx.set_output_unsupported(1, "Dropout's mask output (BOOL) is not supported");
}
void dropout_attr(NodeContext& ctx) {  // opsets 7 to 11: ratio attribute, inference
  dropout_with(ctx, ctx.attr_float("ratio", 0.5), false);
}
void dropout_is_test(NodeContext& ctx) {  // before opset 7: is_test = 0 (the default) is training
  dropout_with(ctx, ctx.attr_float("ratio", 0.5), ctx.attr_int("is_test", 0) == 0);
}
void dropout_inputs(NodeContext& ctx) {  // opset >= 12: ratio and training_mode inputs
  double ratio = 0.5;
  if (ctx.has_input(1)) {
    const Tensor ratio_tensor = ctx.required_constant(1, "Dropout's ratio");
    ratio = scalar_of(ctx, ratio_tensor, "ratio");
    // As written, like float attributes: a float32 0.2 is dagrad's 0.2, not 0.20000000298.
    if (ratio_tensor.dtype() == DType::f32) ratio = float_as_written(static_cast<float>(ratio));
  }
  bool training = false;
  if (ctx.has_input(2)) training = scalar_of(ctx, ctx.required_constant(2, "Dropout's training_mode"), "training_mode") != 0;
  dropout_with(ctx, ratio, training);
}

// ---- classification ----------------------------------------------------------------------------

template <const char* Op> void softmax_13(NodeContext& ctx) {
  ctx.set_output(0, ctx.add1(Op, {ctx.input(0)}, {{"axis", ctx.attr_int("axis", -1)}}));
}
// Before opset 13: the input is flattened to 2-D at `axis` (default 1) and the softmax taken over
// the second dim.
template <const char* Op> void softmax_old(NodeContext& ctx) {
  const Shape x = ctx.input_shape(0);
  const auto rank = static_cast<std::int64_t>(x.size());
  const std::int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), std::max<std::int64_t>(rank, 1), "axis");
  if (axis == rank - 1) {
    ctx.set_output(0, ctx.add1(Op, {ctx.input(0)}, {{"axis", std::int64_t{-1}}}));
    return;
  }
  const auto a = static_cast<std::size_t>(axis);
  Value flat = ctx.reshape(ctx.input(0), {product(x, 0, a), product(x, a, x.size())}, "to_2d");
  Value y = ctx.add1(Op, {flat}, {{"axis", std::int64_t{-1}}}, std::string(Op));
  ctx.set_output(0, ctx.reshape(y, x));
}
constexpr char kSoftmax[] = "softmax", kLogSoftmax[] = "log_softmax";

std::string reduction_of(NodeContext& ctx) {
  const std::string r = ctx.attr_string("reduction", "mean");
  if (r != "mean" && r != "sum" && r != "none") ctx.fail_here("reduction '", r, "' is not supported");
  return r;
}

void nll_loss_of(NodeContext& ctx, Value log_probs, int labels_input, int weight_input, const std::string& reduction) {
  std::vector<Value> in{log_probs, ctx.input(labels_input)};
  if (ctx.has_input(weight_input)) in.push_back(ctx.input(weight_input));
  const std::int64_t ignore = ctx.has_attr("ignore_index") ? ctx.attr_int("ignore_index", 0) : std::numeric_limits<std::int64_t>::min();
  ctx.set_output(0, ctx.add1("nll_loss", in, {{"reduction", reduction}, {"ignore_index", ignore}}));
  if (reduction != "none") ctx.mark_loss(0);
}

void softmax_cross_entropy_loss(NodeContext& ctx) {
  const std::string reduction = reduction_of(ctx);
  if (ctx.input_rank(0) < 2) ctx.fail_here("scores must be [N,C,...], got ", to_string(ctx.input_shape(0)));
  // The plain form is dagrad's own softmax_cross_entropy, so dagrad models round-trip.
  if (reduction == "mean" && !ctx.has_input(2) && !ctx.has_attr("ignore_index") && !ctx.has_output(1)) {
    ctx.set_output(0, ctx.add1("softmax_cross_entropy", {ctx.input(0), ctx.input(1)}, {}));
    ctx.mark_loss(0);
    return;
  }
  Value log_probs = ctx.add1("log_softmax", {ctx.input(0)}, {{"axis", std::int64_t{1}}}, "log_softmax");
  nll_loss_of(ctx, log_probs, 1, 2, reduction);
  if (ctx.has_output(1)) ctx.set_output(1, log_probs);
}

void negative_log_likelihood_loss(NodeContext& ctx) { nll_loss_of(ctx, ctx.input(0), 1, 2, reduction_of(ctx)); }

// ---- the table ----------------------------------------------------------------------------------

constexpr Rule kRules[] = {
    {"Conv", 1, check_window, conv},
    {"ConvTranspose", 1, check_window, conv_transpose},
    {"MaxPool", 1, check_window, max_pool},
    {"AveragePool", 1, check_window, average_pool},
    {"GlobalAveragePool", 1, nullptr, global_average_pool},
    {"GlobalMaxPool", 1, nullptr, global_max_pool},
    {"Relu", 1, nullptr, unary<kRelu>},
    {"LeakyRelu", 1, nullptr, leaky_relu},
    {"Elu", 1, nullptr, elu},
    {"HardSwish", 14, nullptr, unary<kHardswish>},
    {"HardSigmoid", 1, nullptr, hard_sigmoid},
    {"Clip", 1, nullptr, clip_attrs},
    {"Clip", 11, nullptr, clip_inputs},  // min and max became inputs
    {"Sigmoid", 1, nullptr, unary<kSigmoid>},
    {"Tanh", 1, nullptr, unary<kTanh>},
    {"Exp", 1, nullptr, unary<kExp>},
    {"Log", 1, nullptr, unary<kLog>},
    {"Sqrt", 1, nullptr, unary<kSqrt>},
    {"Neg", 1, nullptr, unary<kNeg>},
    {"Add", 1, nullptr, binary<kAdd>},
    {"Sub", 1, nullptr, binary<kSub>},
    {"Mul", 1, nullptr, binary<kMul>},
    {"Div", 1, nullptr, binary<kDiv>},
    {"Sum", 1, nullptr, sum},
    {"Gemm", 1, nullptr, gemm},
    {"MatMul", 1, nullptr, matmul},
    {"Flatten", 1, nullptr, flatten},
    {"Reshape", 1, nullptr, reshape_attr},
    {"Reshape", 5, nullptr, reshape_input},  // shape became an input
    {"BatchNormalization", 1, check_batch_norm, batch_norm},
    {"Dropout", 1, nullptr, dropout_is_test},
    {"Dropout", 7, nullptr, dropout_attr},  // is_test removed: always inference
    {"Dropout", 12, nullptr, dropout_inputs},  // ratio and training_mode became inputs
    {"Softmax", 1, nullptr, softmax_old<kSoftmax>},
    {"Softmax", 13, nullptr, softmax_13<kSoftmax>},  // any axis, no flattening
    {"LogSoftmax", 1, nullptr, softmax_old<kLogSoftmax>},
    {"LogSoftmax", 13, nullptr, softmax_13<kLogSoftmax>},
    {"SoftmaxCrossEntropyLoss", 12, nullptr, softmax_cross_entropy_loss},
    {"NegativeLogLikelihoodLoss", 12, nullptr, negative_log_likelihood_loss},
    {"Concat", 1, nullptr, concat},
    {"Pad", 1, nullptr, pad_attrs},
    {"Pad", 11, nullptr, pad_inputs},  // pads and constant_value became inputs
    {"Identity", 1, nullptr, identity},
    {"Constant", 1, check_constant, constant_node},
    {"ReduceMean", 1, nullptr, reduce_mean},
    {"ReduceMax", 1, nullptr, reduce_max},
    {"ReduceSum", 1, nullptr, reduce_sum_attr},
    {"ReduceSum", 13, nullptr, reduce_sum_input},  // axes became an input
    {"Transpose", 1, nullptr, transpose},
    {"Squeeze", 1, nullptr, squeeze_attr},
    {"Squeeze", 13, nullptr, squeeze_input},  // axes became an input
    {"Unsqueeze", 1, nullptr, unsqueeze_attr},
    {"Unsqueeze", 13, nullptr, unsqueeze_input},
    {"Split", 1, nullptr, split_attr},
    {"Split", 13, nullptr, split_input},  // split became an input
    {"Slice", 1, nullptr, slice_attrs},
    {"Slice", 10, nullptr, slice_inputs},  // starts, ends, axes, steps became inputs
    {"Shape", 1, nullptr, shape_of},
    {"Gather", 1, nullptr, gather},
    {"Cast", 1, nullptr, cast},
    {"ConstantOfShape", 9, nullptr, constant_of_shape},
};

}  // namespace

bool input_read_at_import(const std::string& op_type, int index) {
  static const std::map<std::string, std::set<int>> kInputs = {
      {"Clip", {1, 2}},   {"Pad", {1, 2, 3}},  {"Dropout", {1, 2}},      {"Reshape", {1}},   {"Squeeze", {1}},
      {"Unsqueeze", {1}}, {"Split", {1}},      {"Slice", {1, 2, 3, 4}},  {"ReduceSum", {1}}, {"ConstantOfShape", {0}},
      {"Shape", {0}}};
  auto it = kInputs.find(op_type);
  return it != kInputs.end() && it->second.count(index) > 0;
}

const Rule* find_rule(const std::string& op_type, int opset) {
  const Rule* best = nullptr;
  for (const Rule& rule : kRules)
    if (op_type == rule.op_type && rule.since_version <= opset && (!best || rule.since_version > best->since_version))
      best = &rule;
  return best;
}

}  // namespace dagrad::interop::detail
