// dagrad validate: loads and validates a model file; prints "OK" and a one-line summary, or the
// error (file, node, field) and exits 1; NaN or infinite parameters and state are errors too.
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
  const std::int64_t max_bytes = int_at_least(vm, "max-bytes", 1);
  try {
    Model model = load(path, {.max_bytes = max_bytes});
    // A file can be well-formed and still hold NaN or infinite weights (a diverged run, an
    // overflowed running variance): that model is not usable, so it is not valid.
    if (auto bad = first_non_finite(model.parameters)) {
      std::cout << "INVALID " << path << ": non-finite parameter " << *bad << "\n";
      return kExitFailure;
    }
    if (auto bad = first_non_finite(model.state)) {
      std::cout << "INVALID " << path << ": non-finite state " << *bad << "\n";
      return kExitFailure;
    }
    if (model.training)
      if (auto bad = first_non_finite(model.training->buffers)) {
        std::cout << "INVALID " << path << ": non-finite optimizer buffer " << *bad << "\n";
        return kExitFailure;
      }
    std::cout << "OK " << path << ": " << summarize(model) << "\n";
    return kExitOk;
  } catch (const Error& e) {
    std::cout << "INVALID " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace dagrad::cli
