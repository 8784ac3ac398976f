// dagrad models: the model zoo, the names --model takes: description, input shape, classes and
// trainable parameter count (a table, or a JSON array with --json).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "models/signature.h"
#include "models/zoo.h"
#include "tools/cli.h"

namespace dagrad::cli {

int run_models(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("json", "a JSON array with one object per model");
  po::variables_map vm;
  if (!parse("models", "[--json]", options, {}, args, vm)) return kExitOk;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  if (!vm.count("json")) std::printf("%-16s %-12s %7s %12s  %s\n", "name", "input", "classes", "parameters", "description");
  for (const models::ZooEntry& entry : models::zoo_models()) {
    // Built at batch 1 only to count: the graph holds shapes and initializers, no tensors.
    const Graph graph = models::build_model(entry.name);
    const auto sig = models::ModelSignature::of(graph);
    const Shape input = sig.sample_shape(graph);
    const std::int64_t classes = sig.classes(graph), parameters = graph.parameter_count();
    if (vm.count("json")) {
      rows.push_back({{"name", entry.name},       {"description", entry.description}, {"input_shape", input},
                      {"classes", classes},       {"parameters", parameters}});
    } else {
      std::printf("%-16s %-12s %7lld %12lld  %s\n", entry.name.c_str(), to_string(input).c_str(), static_cast<long long>(classes),
                  static_cast<long long>(parameters), entry.description.c_str());
    }
  }
  if (vm.count("json")) std::cout << rows.dump(2) << "\n";
  return kExitOk;
}

}  // namespace dagrad::cli
