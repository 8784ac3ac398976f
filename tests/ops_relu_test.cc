// Rows for relu and relu_grad.
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

std::vector<Tensor> relu_reference(const std::vector<Tensor>& in, const AttrMap&) {
  Tensor y = zeros_f64(in[0].shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = std::max(0.0, in[0].at(i));
  return {y};
}

std::vector<Tensor> relu_grad_reference(const std::vector<Tensor>& in, const AttrMap&) {
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t i = 0; i < dx.numel(); ++i) at(dx, i) = in[0].at(i) > 0 ? in[1].at(i) : 0.0;
  return {dx};
}

}  // namespace

DAGRAD_OP_CASES(relu) {
  return {
      {.op = "relu", .example = {.label = "vector", .inputs = {{.shape = {7}, .min_abs = 0.05}}}, .reference = relu_reference},
      {.op = "relu", .example = {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}}}, .reference = relu_reference},
      {.op = "relu_grad",
       .example = {.label = "nchw", .inputs = {{.shape = {2, 3, 4, 5}, .min_abs = 0.05}, {.shape = {2, 3, 4, 5}}}},
       .reference = relu_grad_reference,
       .check_gradient = false},
  };
}

}  // namespace dagrad::testing
