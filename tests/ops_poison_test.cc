// Poisoned buffers: every registered op's declared examples run with Options::poison_buffers, which
// fills each output with NaN before the kernel runs, and must give finite outputs bitwise equal to
// the plain run. An op that declares writes_every_output (the default) but leaves cells unwritten
// fails here, where a reused buffer's stale values or a fresh zeroed tensor would hide it.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "autodiff/grad.h"
#include "autodiff/gradcheck.h"
#include "graph/op.h"
#include "models/zoo.h"
#include "runtime/runtime.h"

namespace dagrad {
namespace {

Tensor as_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype || !is_float(t.dtype())) return t;
  Tensor out(dtype, t.shape());
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    if (dtype == DType::f32) out.data<float>()[i] = static_cast<float>(t.data<double>()[i]);
    else out.data<double>()[i] = t.data<float>()[i];
  }
  return out;
}

// One node of `op` on the inputs, fetched outputs in order.
std::vector<Tensor> run_node(const std::string& op, const AttrMap& attrs, const std::vector<Tensor>& inputs, bool poison) {
  Graph g;
  std::vector<ValueId> ids;
  runtime::TensorMap feeds;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    ids.push_back(g.input(name, {inputs[i].dtype(), inputs[i].shape()}).id());
    feeds.emplace(name, inputs[i]);
  }
  const std::vector<ValueId> outs = g.add_node_ids(op, ids, attrs, "node");
  const runtime::Plan plan = runtime::compile(g, {.threads = 1, .poison_buffers = poison}, outs);
  const runtime::RunResult r = runtime::run(plan, runtime::feeds_from({&feeds}));
  std::vector<Tensor> result;
  for (ValueId id : outs) result.push_back(r.at(id));
  return result;
}

bool all_finite(const Tensor& t) {
  if (!is_float(t.dtype())) return true;
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.at(i))) return false;
  return true;
}

TEST(OpsPoison, EveryOpsExamplesWriteEveryOutputElement) {
  int checked = 0;
  for (const OpDef* def : op_registry().all())
    for (const OpExample& example : def->examples)
      for (DType dtype : {DType::f64, DType::f32}) {
        std::vector<Tensor> inputs = autodiff::example_inputs(example, 7);
        for (Tensor& t : inputs) t = as_dtype(t, dtype);
        const std::string where = def->name + "/" + example.label + "/" + dtype_name(dtype);
        const std::vector<Tensor> plain = run_node(def->name, example.attrs, inputs, false);
        const std::vector<Tensor> poisoned = run_node(def->name, example.attrs, inputs, true);
        ASSERT_EQ(plain.size(), poisoned.size()) << where;
        for (std::size_t i = 0; i < plain.size(); ++i) {
          EXPECT_TRUE(all_finite(plain[i])) << where << " output " << i << " is not finite even unpoisoned";
          EXPECT_TRUE(all_finite(poisoned[i])) << where << " output " << i << " keeps poisoned cells";
          EXPECT_TRUE(bitwise_equal(plain[i], poisoned[i])) << where << " output " << i;
        }
        ++checked;
      }
  EXPECT_GT(checked, 60);
}

// Whole models, where outputs land in reused slots (and convolutions carry fused epilogues in
// inference): poisoned runs give every fetched value bitwise equal to plain ones.
TEST(OpsPoison, ModelsTrainingAndInferenceAreUnchangedByPoisoning) {
  for (bool training : {true, false}) {
    Graph forward = models::build_model("resnet_ref", {.batch = 2, .seed = 4, .training = training});
    const Graph g = training ? autodiff::grad_parameters(forward).graph : forward;
    runtime::TensorMap weights = runtime::initialize_parameters(g);
    runtime::TensorMap inputs = autodiff::random_inputs(g, 5);
    const runtime::Feeds feeds = runtime::feeds_from({&weights, &inputs});
    const runtime::Plan plain = runtime::compile(g, {.threads = 2});
    const runtime::Plan poisoned = runtime::compile(g, {.threads = 2, .poison_buffers = true});
    const runtime::RunResult a = runtime::run(plain, feeds), b = runtime::run(poisoned, feeds);
    for (ValueId id : plain.fetches()) {
      EXPECT_TRUE(all_finite(b.at(id))) << g.value(id).name;
      EXPECT_TRUE(bitwise_equal(a.at(id), b.at(id))) << g.value(id).name << (training ? " (training)" : " (inference)");
    }
  }
}

// Swaps a registered op's kernel (and its zero-fill trait) for the test's lifetime.
class PatchedOp {
 public:
  PatchedOp(const std::string& op, std::function<void(const std::any&, KernelContext&)> forward, bool writes_every_output)
      : def_(const_cast<OpDef&>(op_registry().at(op))), forward_(def_.forward), writes_(def_.writes_every_output) {
    def_.forward = std::move(forward);
    def_.writes_every_output = writes_every_output;
  }
  ~PatchedOp() {
    def_.forward = forward_;
    def_.writes_every_output = writes_;
  }

 private:
  OpDef& def_;
  std::function<void(const std::any&, KernelContext&)> forward_;
  bool writes_;
};

// A flatten that writes only the first half of its output.
void half_flatten(const std::any&, KernelContext& k) {
  const auto x = k.input(0).data<double>();
  auto y = k.output(0).data<double>();
  for (std::size_t i = 0; i < y.size() / 2; ++i) y[i] = x[i];
}

TEST(OpsPoison, KernelLeavingCellsUnwrittenIsCaught) {
  const std::vector<Tensor> inputs = {Tensor::from<double>({2, 2}, {1, 2, 3, 4})};
  {
    PatchedOp patch("flatten", half_flatten, /*writes_every_output=*/true);
    // Unpoisoned, the fresh output's zeros look like a plausible result; poisoned, they are NaN.
    EXPECT_TRUE(all_finite(run_node("flatten", {}, inputs, false)[0]));
    const Tensor poisoned = run_node("flatten", {}, inputs, true)[0];
    EXPECT_EQ(poisoned.at(0), 1);
    EXPECT_TRUE(std::isnan(poisoned.at(3)));
  }
  {
    // An op that declares it relies on zeroed outputs gets zeros, poisoned or not.
    PatchedOp patch("flatten", half_flatten, /*writes_every_output=*/false);
    const Tensor poisoned = run_node("flatten", {}, inputs, true)[0];
    EXPECT_EQ(poisoned.at(3), 0);
  }
  EXPECT_TRUE(all_finite(run_node("flatten", {}, inputs, true)[0]));  // restored
}

}  // namespace
}  // namespace dagrad
