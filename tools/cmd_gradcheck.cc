// dagrad gradcheck: float64 central-difference checks of every op's gradient rule (or one op's).
#include <cstdio>
#include <iostream>
#include <random>

#include "autodiff/gradcheck.h"
#include "models/signature.h"
#include "models/zoo.h"
#include "tools/cli.h"

namespace dagrad::cli {

int run_gradcheck(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("op", po::value<std::string>(), "check only this op (and no model)")(
      "model", po::value<std::string>()->default_value("resnet_tiny"), "zoo model checked end to end in float64")(
      "batch", po::value<std::int64_t>()->default_value(4), "batch of the end-to-end check")(
      "entries", po::value<int>()->default_value(4), "entries checked per parameter in the end-to-end check")(
      "width-divisor", po::value<std::int64_t>()->default_value(1),
      "check the model's reduced form: every channel count divided by N (the large zoo models)")(
      "image-size", po::value<std::int64_t>()->default_value(0), "square input images of N pixels (0: the model's own)")(
      "seed", po::value<std::uint64_t>()->default_value(1), "seed of the random inputs and cotangents");
  po::variables_map vm;
  if (!parse("gradcheck", "[--op NAME] [--model NAME] [--batch N] [--entries N] [--width-divisor N] [--image-size N] [--seed N]", options, {}, args, vm)) return kExitOk;
  std::uint64_t seed = vm["seed"].as<std::uint64_t>();
  std::vector<std::string> op_names;
  for (const OpDef* def : op_registry().all()) op_names.push_back(def->name);
  if (vm.count("op")) require_one_of("op", vm["op"].as<std::string>(), op_names);
  const bool check_model = !vm.count("op") || !vm["model"].defaulted();
  if (check_model) require_zoo_model(vm["model"].as<std::string>());
  const std::int64_t batch = int_at_least(vm, "batch", 1);
  const int entries = static_cast<int>(int_at_least(vm, "entries", 1));
  const std::int64_t width_divisor = int_at_least(vm, "width-divisor", 1);
  const std::int64_t image_size = int_at_least(vm, "image-size", 0);
  std::vector<const OpDef*> defs;
  if (vm.count("op")) defs.push_back(&op_registry().at(vm["op"].as<std::string>()));
  else defs = op_registry().all();
  if (vm.count("op") && !defs.front()->differentiable())
    throw UsageError("--op '" + defs.front()->name + "' has no gradient rule to check");

  int failures = 0, checked = 0;
  double worst_rel = 0;
  std::printf("%-44s %14s %14s  %s\n", "op/example", "max_abs_err", "max_rel_err", "pass");
  for (const OpDef* def : defs) {
    if (!def->differentiable()) continue;
    for (const OpExample& example : def->examples) {
      autodiff::CheckResult r = autodiff::check_op_gradient(*def, example, seed);
      ++checked;
      failures += !r.passed;
      worst_rel = std::max(worst_rel, r.max_rel_error);
      std::printf("%-44s %14.3e %14.3e  %s\n", r.name.c_str(), r.max_abs_error, r.max_rel_error, r.passed ? "ok" : "FAIL");
      if (!r.passed) std::printf("    %s\n", r.detail.c_str());
    }
  }
  if (check_model) {
    // End to end: every parameter of a small residual network in training mode, loss included.
    std::string name = vm["model"].as<std::string>();
    models::ModelOptions model_options{.batch = batch, .dtype = DType::f64, .seed = seed, .training = true,
                                       .width_divisor = width_divisor};
    if (image_size > 0) {
      const Shape& own = models::zoo_entry(name).input_shape;
      model_options.input_shape = {own[0], image_size, image_size};
    }
    Graph graph = models::build_model(name, model_options);
    runtime::TensorMap parameters = runtime::initialize_parameters(graph);
    // At a generic point: zero-initialized biases after ReLUs whose inputs are all zero would put
    // pre-activations exactly on the kink, where no difference quotient means anything.
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> noise(-0.05, 0.05);
    for (auto& [param_name, tensor] : parameters)
      for (double& v : tensor.data<double>()) v += noise(rng);
    // A random batch: images with mean 0 and variance 1, labels in [0, classes).
    runtime::TensorMap inputs = autodiff::random_inputs(graph, seed, models::ModelSignature::of(graph).classes(graph));
    autodiff::CheckResult r = autodiff::check_graph_gradient(graph, inputs, parameters, entries, seed);
    ++checked;
    failures += !r.passed;
    worst_rel = std::max(worst_rel, r.max_rel_error);
    std::string label = "model/" + name + "(batch " + std::to_string(batch) +
                        (width_divisor > 1 ? ", width/" + std::to_string(width_divisor) : "") +
                        (image_size > 0 ? ", " + std::to_string(image_size) + "px" : "") + ")";
    std::printf("%-44s %14.3e %14.3e  %s\n", label.c_str(), r.max_abs_error, r.max_rel_error, r.passed ? "ok" : "FAIL");
    if (!r.passed) std::printf("    %s\n", r.detail.c_str());
    std::printf("    %d parameter entries compared, %d skipped (a ReLU, max or clip switches within the step)\n", r.compared,
                r.skipped);
  }
  if (checked == 0) fail("no checks ran: op '", defs.front()->name, "' has no examples to check");
  std::printf("%d checks, %d failed, worst relative error %.3e\n", checked, failures, worst_rel);
  return failures ? kExitFailure : kExitOk;
}

}  // namespace dagrad::cli
