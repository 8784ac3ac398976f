#pragma once
// What pad (ops/pad.cc) and its adjoint pad_grad (ops/pad_grad.cc) share: the mode names, the shape
// rule with its checks, and the map from an output coordinate to the input coordinate it reads.
// Pads are in ONNX's order {begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}}; a negative pad crops.
#include <cstdint>
#include <string>
#include <vector>

#include "graph/op.h"
#include "ops/ops.h"

namespace dagrad::kernels {

struct PadAttrs {
  std::vector<std::int64_t> pads;
  std::string mode = "constant";
  double value = 0;  // the constant mode's fill
  template <class V> void fields(V& v) {
    v.required("pads", pads);
    v("mode", mode);
    v("value", value);
  }
};

// pad_grad: the same pads and mode, and the shape of pad's input (the gradient's shape).
struct PadGradAttrs {
  std::vector<std::int64_t> pads;
  std::string mode = "constant";
  std::vector<std::int64_t> shape;
  template <class V> void fields(V& v) {
    v.required("pads", pads);
    v("mode", mode);
    v.required("shape", shape);
  }
};

inline const char* pad_mode_name(ops::PadMode mode) {
  switch (mode) {
    case ops::PadMode::reflect: return "reflect";
    case ops::PadMode::edge: return "edge";
    default: return "constant";
  }
}

// The mode named `name`; an unknown name fails through c (or plainly when c is null).
inline ops::PadMode parse_pad_mode(const std::string& name, const InferContext* c) {
  for (ops::PadMode mode : {ops::PadMode::constant, ops::PadMode::reflect, ops::PadMode::edge})
    if (name == pad_mode_name(mode)) return mode;
  if (c) c->fail("attribute 'mode' = '", name, "' is not one of constant, reflect, edge");
  fail("pad: attribute 'mode' = '", name, "' is not one of constant, reflect, edge");
}

// x's shape padded by pads; fails on a pad list of the wrong length, a crop below zero, a reflect
// pad not smaller than its dim (numpy's and PyTorch's rule: each cell mirrors a distinct one) and
// an edge pad of an empty dim (no edge to repeat).
inline Shape padded_shape(const Shape& x, const std::vector<std::int64_t>& pads, ops::PadMode mode, const InferContext& c) {
  const std::size_t rank = x.size();
  if (pads.size() != 2 * rank)
    c.fail("attribute 'pads' = ", to_string(pads), " needs ", 2 * rank, " values (begins, then ends) for a rank-", rank,
           " input, got ", pads.size());
  Shape y(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    const std::int64_t begin = pads[d], end = pads[rank + d], n = x[d];
    if (n + begin + end < 0)
      c.fail("attribute 'pads' = ", to_string(pads), " crops dim ", d, " of extent ", n, " below zero (begin ", begin,
             ", end ", end, ")");
    if (mode == ops::PadMode::reflect && ((begin > 0 && begin >= n) || (end > 0 && end >= n)))
      c.fail("mode 'reflect' needs pads smaller than the dim: dim ", d, " has extent ", n, ", pads ", begin, " and ", end,
             " (attribute 'pads' = ", to_string(pads), ")");
    if (mode == ops::PadMode::edge && n == 0 && (begin > 0 || end > 0))
      c.fail("mode 'edge' cannot pad dim ", d, " of extent 0 (attribute 'pads' = ", to_string(pads), ")");
    y[d] = n + begin + end;
  }
  return y;
}

// The input coordinate that output coordinate o reads along a dim of extent n padded by `begin`
// in front; -1 for the constant. Valid for the pads padded_shape accepts.
inline std::int64_t pad_source(ops::PadMode mode, std::int64_t o, std::int64_t begin, std::int64_t n) {
  const std::int64_t i = o - begin;
  if (i >= 0 && i < n) return i;
  if (mode == ops::PadMode::edge) return i < 0 ? 0 : n - 1;
  if (mode == ops::PadMode::reflect) return i < 0 ? -i : 2 * (n - 1) - i;
  return -1;
}

// pad_source for every output coordinate of every dim.
inline std::vector<std::vector<std::int64_t>> pad_sources(ops::PadMode mode, const Shape& x, const Shape& y,
                                                          const std::vector<std::int64_t>& pads) {
  std::vector<std::vector<std::int64_t>> sources(x.size());
  for (std::size_t d = 0; d < x.size(); ++d)
    for (std::int64_t o = 0; o < y[d]; ++o) sources[d].push_back(pad_source(mode, o, pads[d], x[d]));
  return sources;
}

}  // namespace dagrad::kernels
