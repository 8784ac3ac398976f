#pragma once
// Families of ops, each member stated by its formula: the family fills in the shape rule and the
// kernel (and, for broadcasting ops, the reduction of gradients back to each input's shape), the op
// file keeps its name, doc, examples and gradient. In the spirit of tinygrad's gradient.py:
//
//   registry.add(define_op(unary_op<NoAttrs>({.name = "tanh", ...}, [](auto x) { return std::tanh(x); })));
//
// The kernels read element i of every input before writing element i of the output, so a member
// may declare .in_place_input = 0 (relu, add, ...).
//
// A formula is a generic lambda called with elements of the kernel's type T (float or double),
// f(x...) for ops without attributes, f(attrs, x...) for the others.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/elementwise.h"
#include "ops/kernels/rows.h"
#include "ops/ops.h"

namespace dagrad::ops {
namespace family_detail {

// f as a functor of elements only, holding a copy of the attributes (kernels copy it per chunk).
template <class T, class A, class F> auto bind(const F& f, const A& a) {
  if constexpr (std::is_same_v<A, NoAttrs>)
    return [f](auto... x) -> T { return f(x...); };
  else
    return [f, a](auto... x) -> T { return f(a, x...); };
}

// The kernel y = f(in0, ..., in{N-1}) over same-shape inputs.
template <class A, int N, class F> auto map_inputs(F f) {
  return [f](const A& a, KernelContext& k) {
    dispatch_float(k.input(0).dtype(), [&]<class T>() {
      T* y = k.output(0).data<T>().data();
      if constexpr (N == 1)
        kernels::map_elementwise(k.output(0).numel(), y, bind<T>(f, a), k.input(0).data<T>().data());
      else
        kernels::map_elementwise(k.output(0).numel(), y, bind<T>(f, a), k.input(0).data<T>().data(),
                                 k.input(1).data<T>().data());
    });
  };
}

inline std::vector<TensorType> same_as_input(InferContext& c) {
  c.expect_float(0);
  return {c.input(0)};
}

// For backward ops (t, dy) -> dx: both float, one dtype, one shape.
inline std::vector<TensorType> same_as_pair(InferContext& c) {
  c.expect_float(0);
  c.expect_same_dtype(0, 1);
  c.expect_same_shape(0, 1);
  return {c.input(0)};
}

}  // namespace family_detail

// The gradient rule of an op whose backward op reads its output: dx = backward(y, dy).
inline auto grad_from_output(Value (*backward)(Value y, Value dy)) {
  return [backward](const auto&, GradContext& g) { return std::vector{backward(g.output(0), g.dy())}; };
}

// y = f(x), elementwise, y of x's type.
template <class A, class F> OpSpec<A> unary_op(OpSpec<A> spec, F f) {
  spec.infer = [](const A&, InferContext& c) { return family_detail::same_as_input(c); };
  spec.forward = family_detail::map_inputs<A, 1>(f);
  return spec;
}

// The backward of a unary op as an op of its own: dx = f(t, dy), where t is the forward output
// (or input) named by spec.inputs[0]; t and dy have one shape and dtype.
template <class A, class F> OpSpec<A> unary_grad_op(OpSpec<A> spec, F f) {
  spec.outputs = {"dx"};
  spec.infer = [](const A&, InferContext& c) { return family_detail::same_as_pair(c); };
  spec.forward = family_detail::map_inputs<A, 2>(f);
  return spec;
}

// The gradient of a broadcasting op's input i, before it is summed back to that input's shape.
template <class A> using InputGrad = std::function<Value(const A&, GradContext&, int input)>;

// dy summed over the dims along which `shape` was broadcast (nothing to do when none was).
inline Value unbroadcast(Value dy, const Shape& shape) { return dy.shape() == shape ? dy : sum_to(dy, shape); }

// y = f(a, b) with numpy broadcasting. input_grad(attrs, g, i) states the gradient for input i in
// y's shape; the family sums it back to input i's shape and skips inputs whose gradient is not needed.
template <class A, class F> OpSpec<A> broadcast_op(OpSpec<A> spec, F f, InputGrad<A> input_grad) {
  spec.infer = [](const A&, InferContext& c) {
    c.expect_float(0);
    c.expect_same_dtype(0, 1);
    return std::vector{TensorType{c.dtype(0), kernels::broadcast_shapes(c.shape(0), c.shape(1), c)}};
  };
  spec.forward = [f](const A& a, KernelContext& k) {
    dispatch_float(k.input(0).dtype(), [&]<class T>() {
      kernels::map_broadcast<T>(k.input(0), k.input(1), k.output(0), family_detail::bind<T>(f, a));
    });
  };
  spec.grad = [input_grad](const A& a, GradContext& g) {
    std::vector<Value> grads(g.num_inputs());
    for (int i = 0; i < g.num_inputs(); ++i)
      if (g.needs(i)) grads[i] = unbroadcast(input_grad(a, g, i), g.shape(i));
    return grads;
  };
  return spec;
}

// ---- softmax-like ops: softmax, log_softmax and their backward ops, over one axis ----------------

// Their one attribute. -1 (the last axis) is the default, so files saved before it load unchanged.
struct SoftmaxAxisAttrs {
  std::int64_t axis = -1;
  template <class V> void fields(V& v) { v("axis", axis); }
};

namespace family_detail {

// x seen as [outer, width, inner] around the axis: line (o, i) holds the elements
// o * width * inner + j * inner + i for j < width.
struct AxisLines {
  std::int64_t outer = 1, width = 1, inner = 1;
};

// x's split around `axis` (negative: from the end), which the shape rule checked.
inline AxisLines axis_lines(const Shape& s, std::int64_t axis) {
  const auto rank = static_cast<std::int64_t>(s.size());
  if (axis < 0) axis += rank;
  AxisLines lines;
  for (std::int64_t d = 0; d < axis; ++d) lines.outer *= s[d];
  lines.width = s[axis];
  for (std::int64_t d = axis + 1; d < rank; ++d) lines.inner *= s[d];
  return lines;
}

// Fails unless input i has rank >= 1, `axis` names one of its dims and that dim is not empty
// (softmax over nothing is undefined).
inline void expect_softmax_axis(const SoftmaxAxisAttrs& a, const InferContext& c, int i) {
  const Shape& s = c.shape(i);
  const auto rank = static_cast<std::int64_t>(s.size());
  if (rank == 0) c.fail("input ", i, " must have rank >= 1 (softmax runs over an axis), got a scalar");
  if (a.axis < -rank || a.axis >= rank) c.fail("attribute 'axis' = ", a.axis, " is out of range for rank ", rank);
  if (axis_lines(s, a.axis).width == 0) c.fail("input ", i, " has an empty axis ", a.axis, ": shape ", to_string(s));
}

// Lanes of lines processed together when the axis is not the last one: each step of a line's
// sequential loop then reads `kLanes` neighbouring elements instead of one strided element.
inline constexpr std::int64_t kLanes = 64;

// Calls body(base, lanes) for every block of `lanes` <= kLanes neighbouring lines starting at
// element `base` (a line's element j is at base + lane + j * inner). The blocks depend on the shape
// only, and each line is processed by one call in a fixed order: the same bits for any thread count.
template <class Body> void for_line_blocks(const AxisLines& l, const Body& body) {
  if (l.width <= 0 || l.inner <= 0) return;  // no elements
  const std::int64_t blocks_per_outer = (l.inner + kLanes - 1) / kLanes;
  const std::int64_t block_elements = l.width * std::min(l.inner, kLanes);
  kernels::parallel_chunks(l.outer * blocks_per_outer, std::max<std::int64_t>(1, kernels::kElementwiseGrain / block_elements),
                           [&](std::int64_t b, std::int64_t e) {
                             for (std::int64_t u = b; u < e; ++u) {
                               const std::int64_t o = u / blocks_per_outer, first = (u % blocks_per_outer) * kLanes;
                               body(o * l.width * l.inner + first, std::min(kLanes, l.inner - first));
                             }
                           });
}

}  // namespace family_detail

// The gradient rule of a softmax-like op: dx = backward(y, dy, axis), reading the forward output.
inline auto grad_from_output_on_axis(Value (*backward)(Value y, Value dy, std::int64_t axis)) {
  return [backward](const SoftmaxAxisAttrs& a, GradContext& g) { return std::vector{backward(g.output(0), g.dy(), a.axis)}; };
}

// A softmax-like op over attribute `axis`: per line, top = max(x), total = sum(exp(x - top)) in
// double, stat = row_stat(total) once, then y = T(f(x - top, stat)) with x - top in double. Every
// line runs this arithmetic in this order whatever the axis, so softmax over the last axis of x
// and over axis 0 of x^T give the same bits.
template <class RowStat, class F>
OpSpec<SoftmaxAxisAttrs> softmax_like_op(OpSpec<SoftmaxAxisAttrs> spec, RowStat row_stat, F f) {
  spec.infer = [](const SoftmaxAxisAttrs& a, InferContext& c) {
    c.expect_float(0);
    family_detail::expect_softmax_axis(a, c, 0);
    return std::vector{c.input(0)};
  };
  spec.forward = [row_stat, f](const SoftmaxAxisAttrs& a, KernelContext& k) {
    dispatch_float(k.input(0).dtype(), [&]<class T>() {
      const family_detail::AxisLines l = family_detail::axis_lines(k.input(0).shape(), a.axis);
      const T* x = k.input(0).data<T>().data();
      T* y = k.output(0).data<T>().data();
      if (l.inner == 1) {  // the last axis: contiguous rows
        kernels::parallel_rows(k.input(0).numel(), l.width, [&](std::int64_t r) {
          const T* xr = x + r * l.width;
          T* yr = y + r * l.width;
          T top = xr[0];
          for (std::int64_t j = 1; j < l.width; ++j) top = std::max(top, xr[j]);
          double total = 0;
          for (std::int64_t j = 0; j < l.width; ++j) total += std::exp(static_cast<double>(xr[j] - top));
          const double stat = row_stat(total);
          for (std::int64_t j = 0; j < l.width; ++j) yr[j] = static_cast<T>(f(static_cast<double>(xr[j] - top), stat));
        });
        return;
      }
      family_detail::for_line_blocks(l, [&](std::int64_t base, std::int64_t lanes) {
        T top[family_detail::kLanes];
        double stat[family_detail::kLanes];
        for (std::int64_t i = 0; i < lanes; ++i) top[i] = x[base + i];
        for (std::int64_t j = 1; j < l.width; ++j)
          for (std::int64_t i = 0; i < lanes; ++i) top[i] = std::max(top[i], x[base + j * l.inner + i]);
        for (std::int64_t i = 0; i < lanes; ++i) stat[i] = 0;
        for (std::int64_t j = 0; j < l.width; ++j)
          for (std::int64_t i = 0; i < lanes; ++i) stat[i] += std::exp(static_cast<double>(x[base + j * l.inner + i] - top[i]));
        for (std::int64_t i = 0; i < lanes; ++i) stat[i] = row_stat(stat[i]);
        for (std::int64_t j = 0; j < l.width; ++j)
          for (std::int64_t i = 0; i < lanes; ++i) {
            const std::int64_t at = base + j * l.inner + i;
            y[at] = static_cast<T>(f(static_cast<double>(x[at] - top[i]), stat[i]));
          }
      });
    });
  };
  return spec;
}

// The backward of a softmax-like op from its output, over attribute `axis`: per line,
// s = sum(term(y, dy)) in double (in order), then dx = T(f(y, dy, s)); y and dy are passed as T.
template <class Term, class F>
OpSpec<SoftmaxAxisAttrs> softmax_like_grad_op(OpSpec<SoftmaxAxisAttrs> spec, Term term, F f) {
  spec.outputs = {"dx"};
  spec.infer = [](const SoftmaxAxisAttrs& a, InferContext& c) {
    c.expect_float(0);
    family_detail::expect_softmax_axis(a, c, 0);
    return family_detail::same_as_pair(c);
  };
  spec.forward = [term, f](const SoftmaxAxisAttrs& a, KernelContext& k) {
    dispatch_float(k.input(0).dtype(), [&]<class T>() {
      const family_detail::AxisLines l = family_detail::axis_lines(k.input(0).shape(), a.axis);
      const T* y = k.input(0).data<T>().data();
      const T* dy = k.input(1).data<T>().data();
      T* dx = k.output(0).data<T>().data();
      if (l.inner == 1) {
        kernels::parallel_rows(k.input(0).numel(), l.width, [&](std::int64_t r) {
          const std::int64_t o = r * l.width;
          double s = 0;
          for (std::int64_t j = 0; j < l.width; ++j) s += term(y[o + j], dy[o + j]);
          for (std::int64_t j = 0; j < l.width; ++j) dx[o + j] = static_cast<T>(f(y[o + j], dy[o + j], s));
        });
        return;
      }
      family_detail::for_line_blocks(l, [&](std::int64_t base, std::int64_t lanes) {
        double s[family_detail::kLanes] = {};
        for (std::int64_t j = 0; j < l.width; ++j)
          for (std::int64_t i = 0; i < lanes; ++i) s[i] += term(y[base + j * l.inner + i], dy[base + j * l.inner + i]);
        for (std::int64_t j = 0; j < l.width; ++j)
          for (std::int64_t i = 0; i < lanes; ++i) {
            const std::int64_t at = base + j * l.inner + i;
            dx[at] = static_cast<T>(f(y[at], dy[at], s[i]));
          }
      });
    });
  };
  return spec;
}

}  // namespace dagrad::ops
