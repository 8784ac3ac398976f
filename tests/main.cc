// Registers one GoogleTest case per (op row, check) so a failure names both, then runs everything.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "autodiff/gradcheck.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

std::vector<Tensor> inputs_as(const std::vector<Tensor>& inputs, DType dtype) {
  std::vector<Tensor> out;
  for (const Tensor& t : inputs) out.push_back(is_float(t.dtype()) ? t.to(dtype) : t);
  return out;
}

void expect_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tolerance) {
  ASSERT_EQ(got.size(), want.size()) << "number of outputs";
  for (std::size_t k = 0; k < got.size(); ++k) {
    ASSERT_EQ(got[k].shape(), want[k].shape()) << "output " << k;
    double worst = 0;
    std::int64_t worst_at = -1;
    for (std::int64_t i = 0; i < got[k].numel(); ++i) {
      double err = std::abs(got[k].at(i) - want[k].at(i)) / std::max(1.0, std::abs(want[k].at(i)));
      if (!(err <= worst)) worst = err, worst_at = i;  // also catches NaN
    }
    EXPECT_LE(worst, tolerance) << "output " << k << " entry " << worst_at << ": got " << got[k].at(worst_at)
                                << " want " << want[k].at(worst_at);
  }
}

class OpCaseTest : public ::testing::Test {
 public:
  OpCaseTest(const OpCase& c, std::string check) : case_(c), check_(std::move(check)) {}
  void TestBody() override {
    const OpDef& def = op_registry().at(case_.op);
    std::vector<Tensor> inputs = autodiff::example_inputs(case_.example, 1);
    std::vector<Tensor> want = case_.reference(inputs, case_.example.attrs);
    if (check_ == "shape") {
      Graph g;
      std::vector<ValueId> ids;
      for (std::size_t i = 0; i < inputs.size(); ++i)
        ids.push_back(g.input("in" + std::to_string(i), {inputs[i].dtype(), inputs[i].shape()}).id());
      std::vector<ValueId> outs = g.add_node_ids(case_.op, ids, case_.example.attrs, "node");
      ASSERT_EQ(outs.size(), def.outputs.size());
      for (std::size_t k = 0; k < outs.size(); ++k) {
        Shape expected = case_.expected_shapes.empty() ? want.at(k).shape() : case_.expected_shapes.at(k);
        EXPECT_EQ(to_string(g.value(outs[k]).type.shape), to_string(expected)) << "output " << k;
      }
    } else if (check_ == "forward_f64") {
      expect_close(autodiff::run_op(case_.op, case_.example.attrs, inputs), want, 1e-10);
    } else if (check_ == "forward_f32") {
      std::vector<Tensor> got = autodiff::run_op(case_.op, case_.example.attrs, inputs_as(inputs, DType::f32));
      for (Tensor& t : got)
        if (t.dtype() == DType::f32) t = t.to(DType::f64);
      expect_close(got, want, case_.f32_tolerance);
    } else if (check_ == "gradcheck") {
      autodiff::CheckResult r = autodiff::check_op_gradient(def, case_.example, 1);
      EXPECT_TRUE(r.passed) << r.detail << " (max abs " << r.max_abs_error << ", max rel " << r.max_rel_error << ")";
    } else if (check_ == "vjp") {
      autodiff::CheckResult r = autodiff::check_op_vjp(def, case_.example, 2);
      EXPECT_TRUE(r.passed) << r.detail;
    }
  }

 private:
  const OpCase& case_;
  std::string check_;
};

void register_op_case_tests() {
  std::set<std::string> seen;
  for (const OpCase& c : all_op_cases()) {
    std::string suite = "OpCase_" + c.op;
    std::string base = c.example.label.empty() ? "default" : c.example.label;
    if (!seen.insert(suite + "." + base).second) base += "_dup";
    const OpDef* def = op_registry().find(c.op);
    std::vector<std::string> checks = {"shape", "forward_f64", "forward_f32"};
    if (c.check_gradient && def && def->differentiable()) {
      checks.push_back("gradcheck");
      checks.push_back("vjp");
    }
    for (const std::string& check : checks)
      ::testing::RegisterTest(suite.c_str(), (base + "_" + check).c_str(), nullptr, nullptr, __FILE__, __LINE__,
                              [&c, check]() -> ::testing::Test* { return new OpCaseTest(c, check); });
  }
}

}  // namespace
}  // namespace dagrad::testing

// Every registered op needs at least one row, and every differentiable op a row that checks gradients.
TEST(OpCoverage, EveryRegisteredOpHasARow) {
  std::set<std::string> with_rows, with_grad_rows;
  for (const auto& c : dagrad::testing::all_op_cases()) {
    with_rows.insert(c.op);
    if (c.check_gradient) with_grad_rows.insert(c.op);
  }
  for (const dagrad::OpDef* def : dagrad::op_registry().all()) {
    EXPECT_TRUE(with_rows.count(def->name)) << "op '" << def->name << "' has no test row";
    if (def->differentiable()) {
      EXPECT_TRUE(with_grad_rows.count(def->name)) << "op '" << def->name << "' has no gradient-checked row";
    }
    EXPECT_FALSE(def->examples.empty()) << "op '" << def->name << "' has no example for dagrad gradcheck";
  }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  dagrad::testing::register_op_case_tests();
  return RUN_ALL_TESTS();
}
