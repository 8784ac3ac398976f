#pragma once
// Table-driven op tests. Each tests/ops_*_test.cc declares rows with DAGRAD_OP_CASES; main.cc turns
// every row into its own GoogleTest cases: shape, forward_f64, forward_f32, gradcheck, vjp.
#include <functional>
#include <string>
#include <vector>

#include "graph/op.h"

namespace dagrad::testing {

// A plain reference implementation: float64 (or int64) inputs in, float64 outputs out.
using Reference = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, const AttrMap& attrs)>;

struct OpCase {
  std::string op;
  OpExample example;                 // label, attributes, input shapes and ranges
  Reference reference;               // required
  std::vector<Shape> expected_shapes;  // empty: taken from the reference's outputs
  double f32_tolerance = 1e-4;       // max abs difference of the float32 kernel, relative to max(1, |ref|)
  bool check_gradient = true;        // false for non-differentiable ops
};

int register_op_cases(std::vector<OpCase> cases);
const std::vector<OpCase>& all_op_cases();

// Helpers for references.
Tensor zeros_f64(Shape shape);
double& at(Tensor& t, std::int64_t i);  // float64 element

}  // namespace dagrad::testing

#define DAGRAD_OP_CASES_CAT2(a, b) a##b
#define DAGRAD_OP_CASES_CAT(a, b) DAGRAD_OP_CASES_CAT2(a, b)
// Usage: DAGRAD_OP_CASES(conv) { return {OpCase{...}, ...}; }
#define DAGRAD_OP_CASES(group)                                                                      \
  static std::vector<::dagrad::testing::OpCase> dagrad_op_cases_##group();                          \
  [[maybe_unused]] static const int DAGRAD_OP_CASES_CAT(dagrad_op_cases_registered_, group) =      \
      ::dagrad::testing::register_op_cases(dagrad_op_cases_##group());                              \
  static std::vector<::dagrad::testing::OpCase> dagrad_op_cases_##group()
