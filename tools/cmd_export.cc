// dagrad export: writes a zoo model (graph + freshly initialized weights) to a model file.
#include <iostream>

#include "autodiff/grad.h"
#include "models/zoo.h"
#include "proto/model_file.h"
#include "runtime/runtime.h"
#include "tools/cli.h"
#include "tools/output_check.h"

namespace dagrad::cli {

int run_export(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("model", po::value<std::string>()->required(), "zoo model name")(
      "out", po::value<std::string>()->required(), "output file (.dagrad binary, .dagrad.txt text)")(
      "seed", po::value<std::uint64_t>()->default_value(0), "seed of the parameter initializers")(
      "batch", po::value<std::int64_t>()->default_value(1), "batch size of the graph's inputs")(
      "backward", po::bool_switch(), "save the autodiff graph (forward + backward) instead of the forward graph");
  po::variables_map vm;
  if (!parse("export", "--model NAME --out FILE [--seed N] [--batch N] [--backward]", options, {}, args, vm))
    return kExitOk;
  const std::string name = vm["model"].as<std::string>();
  require_zoo_model(name);
  models::ModelOptions model_options{.batch = int_at_least(vm, "batch", 1), .seed = vm["seed"].as<std::uint64_t>()};
  const std::string out = vm["out"].as<std::string>();
  check_output_writable(out, "--out");
  Model model;
  model.graph = models::build_model(name, model_options);
  for (auto& [value, tensor] : runtime::initialize_parameters(model.graph)) {
    if (model.graph.value(model.graph.at(value)).kind == ValueKind::parameter) model.parameters.emplace(value, std::move(tensor));
    else model.state.emplace(value, std::move(tensor));
  }
  if (vm["backward"].as<bool>()) model.graph = autodiff::grad_parameters(model.graph).graph;
  model.metadata = {{"model", name}, {"seed", std::to_string(model_options.seed)}};
  save(model, out);
  std::cout << "wrote " << out << ": " << summarize(model) << "\n";
  return kExitOk;
}

}  // namespace dagrad::cli
