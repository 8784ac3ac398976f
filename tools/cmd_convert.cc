// dagrad convert: rewrites a model file in the format its output name asks for
// (.dagrad binary, .dagrad.txt text); the file is fully validated on the way.
#include <iostream>

#include "proto/model_file.h"
#include "tools/cli.h"
#include "tools/output_check.h"

namespace dagrad::cli {

int run_convert(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("in", po::value<std::string>()->required(), "input model file")(
      "out", po::value<std::string>()->required(), "output model file");
  po::positional_options_description positional;
  positional.add("in", 1).add("out", 1);
  po::variables_map vm;
  if (!parse("convert", "IN OUT", options, positional, args, vm)) return kExitOk;
  check_output_writable(vm["out"].as<std::string>(), "OUT");
  Model model = load(vm["in"].as<std::string>());
  save(model, vm["out"].as<std::string>());
  std::cout << "wrote " << vm["out"].as<std::string>() << "\n";
  return kExitOk;
}

}  // namespace dagrad::cli
