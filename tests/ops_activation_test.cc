// References for clip, elu, hardswish, silu and their gradients, from the definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ops/clip.h"
#include "tests/op_cases.h"

namespace dagrad::testing {
namespace {

double attr(const AttrMap& attrs, const char* name, double fallback) {
  return attrs.count(name) ? std::get<double>(attrs.at(name)) : fallback;
}

// y = f(attrs, x), or dx = f(attrs, x, dy) for the backward ops.
Reference elementwise(std::function<double(const AttrMap&, double)> f) {
  return [f](const std::vector<Tensor>& in, const AttrMap& attrs) {
    Tensor y = zeros_f64(in[0].shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) at(y, i) = f(attrs, in[0].at(i));
    return std::vector{y};
  };
}
Reference elementwise_grad(std::function<double(const AttrMap&, double, double)> f) {
  return [f](const std::vector<Tensor>& in, const AttrMap& attrs) {
    Tensor dx = zeros_f64(in[0].shape());
    for (std::int64_t i = 0; i < dx.numel(); ++i) at(dx, i) = f(attrs, in[0].at(i), in[1].at(i));
    return std::vector{dx};
  };
}

double clip_reference(const AttrMap& a, double x) {
  return std::min(std::max(x, std::get<double>(a.at("min"))), std::get<double>(a.at("max")));
}
double clip_grad_reference(const AttrMap& a, double x, double dy) {
  return x > std::get<double>(a.at("min")) && x < std::get<double>(a.at("max")) ? dy : 0.0;
}
double elu_reference(const AttrMap& a, double x) { return x > 0 ? x : attr(a, "alpha", 1.0) * (std::exp(x) - 1); }
double elu_grad_reference(const AttrMap& a, double x, double dy) {
  return x > 0 ? dy : dy * attr(a, "alpha", 1.0) * std::exp(x);
}
double hardswish_reference(const AttrMap&, double x) { return x * std::min(std::max(x + 3, 0.0), 6.0) / 6; }
double hardswish_grad_reference(const AttrMap&, double x, double dy) {
  return x < -3 ? 0.0 : x <= 3 ? dy * (2 * x + 3) / 6 : dy;
}
double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
double silu_reference(const AttrMap&, double x) { return x * sigmoid(x); }
double silu_grad_reference(const AttrMap&, double x, double dy) {
  return dy * (sigmoid(x) + x * sigmoid(x) * (1 - sigmoid(x)));
}

}  // namespace

DAGRAD_OP_REFERENCES(activation) {
  return {
      {"clip", {elementwise(clip_reference)}},
      {"clip_grad", {elementwise_grad(clip_grad_reference)}},
      {"elu", {elementwise(elu_reference)}},
      {"elu_grad", {elementwise_grad(elu_grad_reference)}},
      {"hardswish", {elementwise(hardswish_reference)}},
      {"hardswish_grad", {elementwise_grad(hardswish_grad_reference)}},
      {"silu", {elementwise(silu_reference)}},
      {"silu_grad", {elementwise_grad(silu_grad_reference)}},
  };
}

// Bounds the wrong way round (or NaN) fail when the node is built, naming it.
TEST(ClipErrors, MinAboveMax) {
  for (double max : {-1.0, std::nan("")}) {
    Graph g;
    Value x = g.input("x", {DType::f32, {2, 3}});
    try {
      ops::clip(x, 1.0, max);
      ADD_FAILURE() << "clip(1, " << max << ") was accepted";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("op 'clip'"), std::string::npos) << msg;
      EXPECT_NE(msg.find("node '"), std::string::npos) << msg;
      EXPECT_NE(msg.find("must not exceed max"), std::string::npos) << msg;
    }
  }
}

}  // namespace dagrad::testing
