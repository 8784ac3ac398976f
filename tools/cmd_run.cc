// dagrad run: runs any model file (or zoo model) on input tensors read from .npy or ONNX
// TensorProto .pb files, and prints or writes every graph output (and the loss, when the inputs it
// needs are given) as .npy files. Inference mode unless --train-mode.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "graph/analysis.h"
#include "interop/onnx.h"
#include "models/signature.h"
#include "proto/model_file.h"
#include "proto/npy.h"
#include "runtime/runtime.h"
#include "tools/cli.h"
#include "tools/model_source.h"
#include "tools/output_check.h"
#include "tools/tensor_files.h"

namespace dagrad::cli {

namespace {

// The graph inputs `value` is computed from.
std::set<ValueId> inputs_needed(const Graph& g, ValueId value) {
  std::set<ValueId> inputs, seen;
  std::vector<ValueId> stack{value};
  while (!stack.empty()) {
    const ValueId id = stack.back();
    stack.pop_back();
    if (!seen.insert(id).second) continue;
    const ValueInfo& v = g.value(id);
    if (v.kind == ValueKind::input) inputs.insert(id);
    if (v.kind == ValueKind::result && v.producer >= 0)
      for (ValueId in : g.node(v.producer).inputs) stack.push_back(in);
  }
  return inputs;
}

}  // namespace

int run_run(const std::vector<std::string>& args) {
  po::options_description options("options");
  po::positional_options_description positional;
  add_model_file_positional(options, positional);
  add_model_source_options(options, 1);
  add_input_files_option(options);
  options.add_options()("out", po::value<std::string>(), "write each output as <name>.npy into this folder, with index.json")(
      "train-mode", po::bool_switch(), "run batch norm and dropout in training mode (batch statistics, random masks)")(
      "threads", po::value<int>()->default_value(0), "worker threads (0: all cores)")(
      "format", po::value<std::string>()->default_value("text"), "text | json (the table on stdout)");
  po::variables_map vm;
  if (!parse("run",
             "MODEL --input NAME=FILE ... [--out DIR] [--batch N] [--train-mode] [--threads T] [--format text|json]\n\n"
             "MODEL is a .dagrad, .dagrad.txt or .onnx file (or --model NAME). Inputs are .npy or ONNX TensorProto .pb files.\n"
             "Without --batch, an .onnx file (or a zoo model) runs at the batch of the first input given; a dagrad file keeps its own.",
             options, positional, args, vm))
    return kExitOk;
  const std::string format = vm["format"].as<std::string>();
  require_one_of("format", format, {"text", "json"});
  const int threads = threads_option(vm);
  const bool training = vm["train-mode"].as<bool>();
  const std::vector<InputFile> files = input_files(vm);
  std::filesystem::path out_dir;
  if (vm.count("out")) {
    // The output folder is made and tried before any work, so a bad --out fails at once.
    out_dir = vm["out"].as<std::string>();
    std::error_code ec;
    if (std::filesystem::exists(out_dir, ec) && !std::filesystem::is_directory(out_dir, ec))
      throw UsageError("--out '" + out_dir.string() + "' is a file, not a folder");
    std::filesystem::create_directories(out_dir, ec);
    if (ec) fail("--out '", out_dir.string(), "': cannot create the folder: ", ec.message());
    check_output_writable((out_dir / "index.json").string(), "--out");
  }
  const TensorMap given = read_input_files(files);
  // An .onnx file's symbolic batch (and a zoo model's) follows the inputs unless --batch says otherwise.
  const bool dagrad_file = vm.count("file") && !interop::is_onnx_path(vm["file"].as<std::string>());
  if (vm["batch"].defaulted() && !dagrad_file)
    if (auto batch = batch_of(files, given)) {
      vm.erase("batch");
      vm.insert({"batch", po::variable_value(*batch, false)});
    }
  Model model = load_model_source(vm, training);
  const Graph& g = model.graph;

  // The graph's outputs and its loss. Labels are optional: what needs only them besides the
  // given inputs (the loss) is left out with a note; any other missing input is an error.
  std::vector<ValueId> candidates = g.outputs();
  if (g.loss() != kNoValue && std::find(candidates.begin(), candidates.end(), g.loss()) == candidates.end()) candidates.push_back(g.loss());
  if (candidates.empty()) fail("model '", model_source_label(vm), "' has no outputs to run");
  const ValueId label = models::ModelSignature::find(g).label;
  std::vector<ValueId> fetch, needed, skipped;
  for (ValueId id : candidates) {
    const std::set<ValueId> inputs = inputs_needed(g, id);
    const bool label_missing = label != kNoValue && inputs.count(label) && !given.count(g.value(label).name);
    if (label_missing) {
      skipped.push_back(id);
      continue;
    }
    fetch.push_back(id);
    needed.insert(needed.end(), inputs.begin(), inputs.end());
  }
  if (fetch.empty()) {  // every output needs the labels: they are required after all
    fetch = candidates;
    skipped.clear();
    for (ValueId id : candidates)
      for (ValueId in : inputs_needed(g, id)) needed.push_back(in);
  }
  check_inputs_against(g, given, needed);
  const runtime::Plan plan = runtime::compile(g, {.threads = threads}, fetch);
  check_inputs_against(g, given, plan.feeds());

  const runtime::RunResult result = runtime::run(plan, runtime::feeds_from({&given, &model.parameters, &model.state}));

  nlohmann::json index = nlohmann::json::array(), report = nlohmann::json::array();
  std::set<std::string> used_files;
  if (format == "text")
    std::printf("%-6s %-36s %-22s %12s %12s %12s %12s %7s\n", "kind", "name", "type", "mean", "min", "max", "l2_norm", "nan/inf");
  for (ValueId id : plan.fetches()) {
    const std::string& name = g.value(id).name;
    const Tensor& t = result.at(id);
    const char* kind = id == g.loss() ? "loss" : "output";
    const TensorStats s = tensor_stats(t);
    const std::string type = std::string(dtype_name(t.dtype())) + to_string(t.shape());
    if (format == "text") {
      std::printf("%-6s %-36s %-22s %12.6g %12.6g %12.6g %12.6g %7lld\n", kind, name.c_str(), type.c_str(), s.mean, s.min, s.max, s.l2_norm,
                  static_cast<long long>(s.nan_count + s.inf_count));
    } else {
      report.push_back({{"kind", kind}, {"name", name}, {"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"mean", s.mean},
                        {"min", s.min}, {"max", s.max}, {"l2_norm", s.l2_norm}, {"nan", s.nan_count}, {"inf", s.inf_count}});
    }
    if (!out_dir.empty()) {
      // Distinct names can sanitize to the same file name: later ones get a numeric suffix.
      const std::string stem = file_stem_for(name);
      std::string file = stem + ".npy";
      for (int n = 2; used_files.count(file); ++n) file = stem + "_" + std::to_string(n) + ".npy";
      used_files.insert(file);
      save_npy(t, (out_dir / file).string());
      index.push_back({{"name", name}, {"kind", kind}, {"file", file}, {"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}});
    }
  }
  if (!out_dir.empty()) write_file_atomically((out_dir / "index.json").string(), index.dump(2) + "\n");
  if (format == "json") {
    std::cout << nlohmann::json{{"outputs", report}, {"out", out_dir.empty() ? nlohmann::json(nullptr) : nlohmann::json(out_dir.string())}}.dump(2)
              << "\n";
  } else {
    for (ValueId id : skipped)
      std::printf("(%s '%s' not computed: it needs the labels, input '%s')\n", id == g.loss() ? "loss" : "output", g.value(id).name.c_str(),
                  g.value(label).name.c_str());
    if (!out_dir.empty()) std::printf("wrote %zu .npy files and index.json to %s\n", used_files.size(), out_dir.string().c_str());
  }
  return kExitOk;
}

}  // namespace dagrad::cli
