// dagrad validate: loads and validates a model file; prints "OK" and a one-line summary, or the
// error (file, node, field) and exits 1; NaN or infinite parameters and state are errors too. An
// .onnx file gets two checks, each reported on its own line: ONNX's checker (check_model with
// strict shape inference) and dagrad's import.
#include <iostream>
#include <optional>

#include "interop/onnx.h"
#include "proto/model_file.h"
#include "tools/cli.h"

namespace dagrad::cli {

namespace {

// The first non-finite tensor of the model, as "non-finite parameter <name>[i] = nan".
std::optional<std::string> non_finite(const Model& model) {
  if (auto bad = first_non_finite(model.parameters)) return "non-finite parameter " + *bad;
  if (auto bad = first_non_finite(model.state)) return "non-finite state " + *bad;
  if (model.training)
    if (auto bad = first_non_finite(model.training->buffers)) return "non-finite optimizer buffer " + *bad;
  return std::nullopt;
}

int validate_onnx(const std::string& path, std::int64_t max_bytes) {
  std::string checker_error, import_error, summary;
  try {
    interop::check_onnx_file(path);
  } catch (const Error& e) {
    checker_error = e.what();
  }
  try {
    Model model = interop::import_onnx(path, {.max_bytes = max_bytes});
    if (auto bad = non_finite(model)) import_error = path + ": " + *bad;
    summary = summarize(model);
  } catch (const Error& e) {
    import_error = e.what();
  }
  std::cout << "onnx checker: " << (checker_error.empty() ? "OK" : "FAILED: " + checker_error) << "\n";
  std::cout << "dagrad import: " << (import_error.empty() ? "OK" : "FAILED: " + import_error) << "\n";
  if (checker_error.empty() && import_error.empty()) {
    std::cout << "OK " << path << ": " << summary << "\n";
    return kExitOk;
  }
  std::cout << "INVALID " << (checker_error.empty() ? import_error : checker_error) << "\n";
  return kExitFailure;
}

}  // namespace

int run_validate(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("file", po::value<std::string>()->required(), "model file to check (.dagrad, .dagrad.txt or .onnx)")(
      "max-bytes", po::value<std::int64_t>()->default_value(LoadOptions{}.max_bytes), "refuse larger files");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!parse("validate", "FILE [--max-bytes N]", options, positional, args, vm)) return kExitOk;
  const std::string path = vm["file"].as<std::string>();
  const std::int64_t max_bytes = int_at_least(vm, "max-bytes", 1);
  if (interop::is_onnx_path(path)) return validate_onnx(path, max_bytes);
  try {
    Model model = load(path, {.max_bytes = max_bytes});
    // A file can be well-formed and still hold NaN or infinite weights (a diverged run, an
    // overflowed running variance): that model is not usable, so it is not valid.
    if (auto bad = non_finite(model)) {
      std::cout << "INVALID " << path << ": " << *bad << "\n";
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
