#include "tests/op_cases.h"

namespace dagrad::testing {

static OpReferences& registry() {
  static OpReferences references;
  return references;
}

static std::vector<std::string>& duplicates() {
  static std::vector<std::string> ops;
  return ops;
}

// Runs from static initializers, so a second reference for an op is recorded (OpCoverage fails
// on it) rather than thrown.
int register_op_references(OpReferences references) {
  for (auto& [op, reference] : references)
    if (!registry().emplace(op, std::move(reference)).second) duplicates().push_back(op);
  return static_cast<int>(registry().size());
}

const OpReferences& all_op_references() { return registry(); }
const std::vector<std::string>& ops_with_two_references() { return duplicates(); }

std::vector<OpCase> all_op_cases() {
  std::vector<OpCase> cases;
  for (const OpDef* def : op_registry().all()) {
    auto it = registry().find(def->name);
    if (it == registry().end()) continue;
    for (const OpExample& example : def->examples) cases.push_back({def->name, example, &it->second});
  }
  return cases;
}

Tensor zeros_f64(Shape shape) { return Tensor(DType::f64, std::move(shape)); }
double& at(Tensor& t, std::int64_t i) { return t.data<double>()[i]; }

std::string build_error(const std::function<void(Graph&)>& build) {
  Graph g;
  try {
    build(g);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

Value input(Graph& g, const std::string& name, Shape shape, DType dtype) { return g.input(name, {dtype, std::move(shape)}); }

}  // namespace dagrad::testing
