// libFuzzer target: raw bytes -> parse (binary, or text when they start like a text file) ->
// validate -> autodiff -> compile. Every input must end in a model or a dagrad::Error: anything
// else (a crash, a sanitizer report, another exception type, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "autodiff/grad.h"
#include "graph/error.h"
#include "proto/model_file.h"
#include "runtime/runtime.h"

// Protobuf logs malformed UTF-8 in string fields; silence it so the fuzzer's output stays readable.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    dagrad::Model model = bytes.starts_with("magic") ? dagrad::parse_text(bytes, "<fuzz>") : dagrad::parse(bytes, "<fuzz>");
    dagrad::runtime::compile(model.graph);
    if (model.graph.loss() != dagrad::kNoValue && model.graph.gradients().empty()) {
      dagrad::autodiff::Gradients grads = dagrad::autodiff::grad_parameters(model.graph);
      dagrad::runtime::compile(grads.graph);
    }
  } catch (const dagrad::Error&) {
  }
  return 0;
}
