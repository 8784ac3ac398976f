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
#include <cmath>
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

// A softmax-like op over the last axis: per row, top = max(x), total = sum(exp(x - top)) in
// double, stat = row_stat(total) once, then y = T(f(x - top, stat)) with x - top in double.
template <class A, class RowStat, class F> OpSpec<A> softmax_like_op(OpSpec<A> spec, RowStat row_stat, F f) {
  spec.infer = [](const A&, InferContext& c) {
    c.expect_float(0);
    kernels::expect_last_axis(c, 0);
    return std::vector{c.input(0)};
  };
  spec.forward = [row_stat, f](const A&, KernelContext& k) {
    dispatch_float(k.input(0).dtype(), [&]<class T>() {
      const std::int64_t width = k.input(0).shape().back();
      const T* x = k.input(0).data<T>().data();
      T* y = k.output(0).data<T>().data();
      kernels::parallel_rows(k.input(0).numel(), width, [&](std::int64_t r) {
        const T* xr = x + r * width;
        T* yr = y + r * width;
        T top = xr[0];
        for (std::int64_t j = 1; j < width; ++j) top = std::max(top, xr[j]);
        double total = 0;
        for (std::int64_t j = 0; j < width; ++j) total += std::exp(static_cast<double>(xr[j] - top));
        const double stat = row_stat(total);
        for (std::int64_t j = 0; j < width; ++j) yr[j] = static_cast<T>(f(static_cast<double>(xr[j] - top), stat));
      });
    });
  };
  return spec;
}

// The backward of a softmax-like op from its output: per row, s = sum(term(y, dy)) in double
// (in order), then dx = T(f(y, dy, s)); y and dy are passed as the kernel's type T.
template <class A, class Term, class F> OpSpec<A> softmax_like_grad_op(OpSpec<A> spec, Term term, F f) {
  spec.outputs = {"dx"};
  spec.infer = [](const A&, InferContext& c) {
    c.expect_float(0);
    kernels::expect_last_axis(c, 0);
    return family_detail::same_as_pair(c);
  };
  spec.forward = [term, f](const A&, KernelContext& k) {
    dispatch_float(k.input(0).dtype(), [&]<class T>() {
      const std::int64_t width = k.input(0).shape().back();
      const T* y = k.input(0).data<T>().data();
      const T* dy = k.input(1).data<T>().data();
      T* dx = k.output(0).data<T>().data();
      kernels::parallel_rows(k.input(0).numel(), width, [&](std::int64_t r) {
        const std::int64_t o = r * width;
        double s = 0;
        for (std::int64_t j = 0; j < width; ++j) s += term(y[o + j], dy[o + j]);
        for (std::int64_t j = 0; j < width; ++j) dx[o + j] = static_cast<T>(f(y[o + j], dy[o + j], s));
      });
    });
  };
  return spec;
}

}  // namespace dagrad::ops
