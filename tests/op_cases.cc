#include "tests/op_cases.h"

namespace dagrad::testing {

static std::vector<OpCase>& registry() {
  static std::vector<OpCase> cases;
  return cases;
}

int register_op_cases(std::vector<OpCase> cases) {
  for (auto& c : cases) registry().push_back(std::move(c));
  return static_cast<int>(registry().size());
}

const std::vector<OpCase>& all_op_cases() { return registry(); }

Tensor zeros_f64(Shape shape) { return Tensor(DType::f64, std::move(shape)); }
double& at(Tensor& t, std::int64_t i) { return t.data<double>()[i]; }

}  // namespace dagrad::testing
