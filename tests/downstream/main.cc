// Builds y = relu(x) + x, differentiates it and checks the numbers: exits 0 on success.
#include <cstdio>

#include "autodiff/grad.h"
#include "ops/ops.h"
#include "runtime/runtime.h"

int main() {
  using namespace dagrad;
  Graph g;
  Value x = g.parameter("x", {DType::f32, {3}}, {.kind = "zeros"});
  Value y = ops::reduce_sum(ops::add(ops::relu(x), x), {0});
  g.set_loss(y);
  autodiff::Gradients grads = autodiff::grad_parameters(g);
  runtime::Plan plan = runtime::compile(grads.graph);
  TensorMap params{{"x", Tensor::from<float>({3}, {-1.f, 2.f, 3.f})}};
  runtime::RunResult r = runtime::run(plan, runtime::feeds_from({&params}));
  const Tensor& dx = r.at(grads.grads[0]);
  std::printf("loss %g grad %g %g %g\n", r.at(grads.loss).at(0), dx.at(0), dx.at(1), dx.at(2));
  bool ok = r.at(grads.loss).at(0) == 9.0 && dx.at(0) == 1.0 && dx.at(1) == 2.0 && dx.at(2) == 2.0;
  return ok ? 0 : 1;
}
