// libFuzzer target: raw bytes -> ONNX import (parse, validate, translate) -> compile, and the
// backward graph when the import found a loss. Every input must end in a model or a dagrad::Error:
// anything else (a crash, a sanitizer report, another exception type, a hang, runaway memory) is a
// bug. External data is looked up in a scratch folder holding one small file, so the path checks
// run against a real folder; a location that escapes it must be refused before anything is read.
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "autodiff/grad.h"
#include "graph/error.h"
#include "interop/onnx.h"
#include "runtime/runtime.h"

namespace {
std::string external_folder;  // holds weights.bin (432 zero bytes: a float [4,3,3,3])
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // malformed UTF-8 in string fields is logged otherwise
  namespace fs = std::filesystem;
  const fs::path folder = fs::temp_directory_path() / ("dagrad_fuzz_onnx_" + std::to_string(getpid()));
  fs::create_directories(folder);
  std::ofstream(folder / "weights.bin", std::ios::binary) << std::string(432, '\0');
  external_folder = folder.string();
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(external_folder, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (bool training : {false, true}) {
    try {
      dagrad::interop::OnnxImportOptions options;
      options.batch = 2;
      options.training = training;
      options.max_bytes = std::int64_t{1} << 24;
      dagrad::Model model = dagrad::interop::import_onnx_bytes(bytes, "<fuzz>", external_folder, options);
      dagrad::runtime::compile(model.graph);
      if (model.graph.loss() != dagrad::kNoValue) {
        dagrad::autodiff::Gradients grads = dagrad::autodiff::grad_parameters(model.graph);
        dagrad::runtime::compile(grads.graph);
      }
    } catch (const dagrad::Error&) {
      if (!training) return 0;  // the training form of a file that fails in inference adds nothing
    }
  }
  return 0;
}
