#pragma once
// What reduce_mean, reduce_max and reduce_max_grad share: the attributes, the axis check and the
// walk over each output's terms. (reduce_sum predates it and keeps its own copy of the walk.)
//
// Empty `axes` reduces nothing (y = x), as reduce_sum and numpy's axis=() do; ONNX's "empty
// reduces all" is a different convention, and an importer spells the axes out instead.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "graph/op.h"
#include "ops/kernels/parallel.h"

namespace dagrad::kernels {

struct ReduceAttrs {
  std::vector<std::int64_t> axes;
  bool keepdims = false;
  template <class V> void fields(V& v) {
    v.required("axes", axes);
    v("keepdims", keepdims);
  }
};

// Which dims of a shape are reduced, and the output shape. The shape rule builds it with its
// InferContext (errors name the node, the axes and the rank); kernels rebuild it from checked attrs.
struct Reduction {
  Shape in, out, kept;                // kept: the output shape with keepdims (reduced dims as 1)
  std::vector<bool> reduced;
  std::int64_t count = 1;             // terms per output: the product of the reduced extents

  Reduction(const Shape& x, const ReduceAttrs& a, const InferContext* c = nullptr) : in(x), reduced(x.size(), false) {
    const auto rank = static_cast<std::int64_t>(x.size());
    for (std::int64_t axis : a.axes) {
      const std::int64_t d = axis < 0 ? axis + rank : axis;
      if (d < 0 || d >= rank) {
        if (c) c->fail("attribute 'axes' = ", to_string(a.axes), ": axis ", axis, " is out of range for rank ", rank);
        fail("axis ", axis, " is out of range for rank ", rank);
      }
      if (reduced[d]) {
        if (c) c->fail("attribute 'axes' = ", to_string(a.axes), ": axis ", axis, " repeats dim ", d, " (rank ", rank, ")");
        fail("axis ", axis, " is repeated");
      }
      reduced[d] = true;
    }
    for (std::int64_t d = 0; d < rank; ++d) {
      if (reduced[d]) count *= x[d];
      if (!reduced[d] || a.keepdims) out.push_back(reduced[d] ? 1 : x[d]);
      kept.push_back(reduced[d] ? 1 : x[d]);
    }
  }

  // Calls body(o, base, terms) for every output o, in parallel chunks fixed by the shape: the
  // elements of x that output o reduces are x[base + terms[t]] for t < count, t in row-major
  // order of the reduced dims (each output sees them in this one order, whatever the thread count).
  template <class Body> void for_each_output(const Body& body) const {
    const int rank = static_cast<int>(in.size());
    std::vector<std::int64_t> stride(rank, 1);
    for (int d = rank - 2; d >= 0; --d) stride[d] = stride[d + 1] * in[d + 1];
    std::vector<std::int64_t> terms{0};
    for (int d = 0; d < rank; ++d) {
      if (!reduced[d]) continue;
      std::vector<std::int64_t> next;
      next.reserve(terms.size() * in[d]);
      for (std::int64_t base : terms)
        for (std::int64_t i = 0; i < in[d]; ++i) next.push_back(base + i * stride[d]);
      terms = std::move(next);
    }
    std::vector<int> kept_dims;
    for (int d = 0; d < rank; ++d)
      if (!reduced[d]) kept_dims.push_back(d);
    std::int64_t outputs = 1;
    for (std::int64_t e : out) outputs *= e;
    const std::int64_t grain = std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(1, count));
    parallel_chunks(outputs, grain, [&](std::int64_t s, std::int64_t e) {
      for (std::int64_t o = s; o < e; ++o) {
        std::int64_t base = 0, rest = o;
        for (int j = static_cast<int>(kept_dims.size()) - 1; j >= 0; --j) {
          base += (rest % in[kept_dims[j]]) * stride[kept_dims[j]];
          rest /= in[kept_dims[j]];
        }
        body(o, base, terms);
      }
    });
  }
};

// The maximum of x[base + t] over the (non-empty) terms; a NaN term makes it NaN (numpy, PyTorch).
template <class T> T max_of_terms(const T* x, std::int64_t base, const std::vector<std::int64_t>& terms) {
  T top = x[base + terms[0]];
  for (std::int64_t t : terms) {
    const T v = x[base + t];
    if (std::isnan(v)) return v;
    top = std::max(top, v);
  }
  return top;
}

}  // namespace dagrad::kernels
