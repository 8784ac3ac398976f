#pragma once
// Float64 central-difference gradient checks, shared by `dagrad gradcheck` and the tests.
#include <cstdint>
#include <string>
#include <vector>

#include "graph/op.h"
#include "runtime/runtime.h"

namespace dagrad::autodiff {

struct CheckResult {
  std::string name;           // "conv2d/stride2"
  double max_abs_error = 0;   // max |numeric - analytic|
  double max_rel_error = 0;   // max |numeric - analytic| / max(|numeric|, |analytic|), over entries above 1e-8
  bool passed = true;         // every entry within 1e-6 + 1e-4 |numeric|
  std::string detail;         // first failing entry, or why the check did not run
  int compared = 0;           // entries compared (check_graph_gradient)
  int skipped = 0;            // entries where the loss has a kink within the step (see check_graph_gradient)
};

// Random inputs for an example, in float64 (or int64 where the example says so).
std::vector<Tensor> example_inputs(const OpExample& example, std::uint64_t seed);

// Runs one node of `op` on `inputs` and returns its outputs.
std::vector<Tensor> run_op(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs);

// Checks d/dx <op(x), r> for random cotangents r against central differences, entry by entry.
CheckResult check_op_gradient(const OpDef& def, const OpExample& example, std::uint64_t seed);
// The dot-product (vector-Jacobian) test: <J v, r> from differences along a random v against <v, J^T r>.
CheckResult check_op_vjp(const OpDef& def, const OpExample& example, std::uint64_t seed);

// Whole-graph check: graph in float64 with a scalar loss; compares the autodiff gradient of every
// parameter against central differences on up to `max_entries_per_parameter` entries of each.
// An entry that disagrees and whose central difference changes when the step is halved has a
// ReLU (or max, or clip) switching within the step: the difference means nothing there, so it is
// counted in `skipped` instead of failing. A wrong gradient where the loss is smooth still fails.
CheckResult check_graph_gradient(const Graph& graph, const runtime::TensorMap& inputs, const runtime::TensorMap& parameters,
                                 int max_entries_per_parameter, std::uint64_t seed);

bool within_tolerance(double numeric, double analytic);

// A random batch for every input of a graph: floats with mean 0 and variance 1, integers (labels)
// uniform in [0, classes). The one random-batch generator of the tools (dump-grads --random, bench,
// profile, gradcheck's model check), which take classes from the model's signature.
runtime::TensorMap random_inputs(const Graph& graph, std::uint64_t seed, std::int64_t classes = 10);

}  // namespace dagrad::autodiff
