// dagrad validate: loads and validates a model file; prints "OK" and a one-line summary, or the
// error (file, node, field) and exits 1.
#include <iostream>

#include "proto/model_file.h"
#include "tools/cli.h"

namespace dagrad::cli {

int run_validate(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("file", po::value<std::string>()->required(), "model file to check")(
      "max-bytes", po::value<std::int64_t>()->default_value(LoadOptions{}.max_bytes), "refuse larger files");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!parse("validate", "FILE [--max-bytes N]", options, positional, args, vm)) return kExitOk;
  const std::string path = vm["file"].as<std::string>();
  try {
    Model model = load(path, {.max_bytes = vm["max-bytes"].as<std::int64_t>()});
    std::cout << "OK " << path << ": " << summarize(model) << "\n";
    return kExitOk;
  } catch (const Error& e) {
    std::cout << "INVALID " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace dagrad::cli
