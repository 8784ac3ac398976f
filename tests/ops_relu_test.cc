// References for relu, leaky_relu and their gradients.
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

double alpha_of(const AttrMap& attrs) { return attrs.count("alpha") ? std::get<double>(attrs.at("alpha")) : 0.01; }

std::vector<Tensor> leaky_relu_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Tensor y = zeros_f64(in[0].shape());
  for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = in[0].at(i) > 0 ? in[0].at(i) : alpha_of(attrs) * in[0].at(i);
  return {y};
}

std::vector<Tensor> leaky_relu_grad_reference(const std::vector<Tensor>& in, const AttrMap& attrs) {
  Tensor dx = zeros_f64(in[0].shape());
  for (std::int64_t i = 0; i < dx.numel(); ++i) at(dx, i) = in[0].at(i) > 0 ? in[1].at(i) : alpha_of(attrs) * in[1].at(i);
  return {dx};
}

}  // namespace

DAGRAD_OP_REFERENCES(relu) {
  return {
      {"relu", {relu_reference}},
      {"relu_grad", {relu_grad_reference}},
      {"leaky_relu", {leaky_relu_reference}},
      {"leaky_relu_grad", {leaky_relu_grad_reference}},
  };
}

}  // namespace dagrad::testing
