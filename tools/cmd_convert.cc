// dagrad convert: rewrites a model file in the format its output name asks for (.dagrad binary,
// .dagrad.txt text, .onnx); the input, whatever its format, is fully validated on the way.
#include <iostream>

#include "interop/onnx.h"
#include "proto/model_file.h"
#include "tools/cli.h"
#include "tools/model_source.h"
#include "tools/output_check.h"

namespace dagrad::cli {

int run_convert(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("in", po::value<std::string>()->required(), "input model file (.dagrad, .dagrad.txt or .onnx)")(
      "out", po::value<std::string>()->required(), "output model file (.dagrad, .dagrad.txt or .onnx)")(
      "opset", po::value<std::int64_t>()->default_value(17), "ONNX opset of an .onnx OUT: 13 or 17")(
      "batch", po::value<std::int64_t>()->default_value(1), "the batch given to an .onnx IN's symbolic first dims");
  po::positional_options_description positional;
  positional.add("in", 1).add("out", 1);
  po::variables_map vm;
  if (!parse("convert",
             "IN OUT [--opset 13|17] [--batch N]\n\n"
             "Formats by extension: .dagrad (binary), .dagrad.txt (text), .onnx. An .onnx OUT is the forward graph\n"
             "(weights and batch-norm statistics as initializers, the batch dim symbolic), checked by ONNX's checker.",
             options, positional, args, vm))
    return kExitOk;
  const std::string in = vm["in"].as<std::string>(), out = vm["out"].as<std::string>();
  const std::int64_t opset = vm["opset"].as<std::int64_t>();
  if (opset != 13 && opset != 17) throw UsageError("--opset must be 13 or 17, got " + std::to_string(opset));
  const std::int64_t batch = int_at_least(vm, "batch", 1);
  check_output_writable(out, "OUT");
  // The training or inference form the file has is kept (an .onnx IN's batch norms as their nodes say).
  Model model = interop::is_onnx_path(in) ? import_onnx_file(in, false, batch) : load(in);
  if (interop::is_onnx_path(out))
    interop::export_onnx(model, out, {.opset = static_cast<int>(opset)});
  else
    save(model, out);
  std::cout << "wrote " << out << "\n";
  return kExitOk;
}

}  // namespace dagrad::cli
