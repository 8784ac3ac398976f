#pragma once
// Table-driven op tests. The rows are the ops' own declared examples (OpDef::examples, which
// `dagrad gradcheck` runs too); the tests add only a plain reference implementation per op, each
// tests/ops_*_test.cc with DAGRAD_OP_REFERENCES. main.cc turns every (op, example) into its own
// GoogleTest cases: shape, forward_f64, forward_f32, gradcheck, vjp, file_roundtrip.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "graph/op.h"

namespace dagrad::testing {

// A plain reference implementation: float64 (or int64) inputs in, float64 outputs out.
using Reference = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, const AttrMap& attrs)>;

struct OpReference {
  Reference reference;          // required
  double f32_tolerance = 1e-4;  // max abs difference of the float32 kernel, relative to max(1, |ref|)
};
using OpReferences = std::map<std::string, OpReference>;  // by op name

int register_op_references(OpReferences references);
const OpReferences& all_op_references();
const std::vector<std::string>& ops_with_two_references();  // registered twice: a test error

// One row: an op's declared example with the op's reference.
struct OpCase {
  std::string op;
  OpExample example;
  const OpReference* reference;
};
// Every registered op's examples, in registry order; ops without a reference are left out (and
// fail OpCoverage).
std::vector<OpCase> all_op_cases();

// Helpers for references.
Tensor zeros_f64(Shape shape);
double& at(Tensor& t, std::int64_t i);  // float64 element

// Helpers for the ops' error tests.
// The message of the Error thrown by build(g) on a fresh graph, or "" when nothing is thrown.
std::string build_error(const std::function<void(Graph&)>& build);
// The message of the Error f throws, or "no error".
std::string error_of(const std::function<void()>& f);
// A graph input of the given type.
Value input(Graph& g, const std::string& name, Shape shape, DType dtype = DType::f32);

}  // namespace dagrad::testing

#define DAGRAD_OP_CASES_CAT2(a, b) a##b
#define DAGRAD_OP_CASES_CAT(a, b) DAGRAD_OP_CASES_CAT2(a, b)
// Usage: DAGRAD_OP_REFERENCES(conv) { return {{"conv2d", {conv2d_reference}}, ...}; }
#define DAGRAD_OP_REFERENCES(group)                                                                   \
  static ::dagrad::testing::OpReferences dagrad_op_references_##group();                              \
  [[maybe_unused]] static const int DAGRAD_OP_CASES_CAT(dagrad_op_references_registered_, group) =    \
      ::dagrad::testing::register_op_references(dagrad_op_references_##group());                      \
  static ::dagrad::testing::OpReferences dagrad_op_references_##group()
