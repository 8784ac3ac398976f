#include "tools/model_source.h"

#include "interop/onnx.h"
#include "models/signature.h"
#include "models/zoo.h"
#include "ops/ops.h"
#include "proto/model_file.h"
#include "runtime/runtime.h"

namespace dagrad::cli {

void add_model_source_options(po::options_description& options, std::int64_t default_batch) {
  options.add_options()("model", po::value<std::string>(), "a zoo model (resnet_ref, resnet18, ...) instead of FILE")(
      "batch", po::value<std::int64_t>()->default_value(default_batch), "batch size of the image input (a .dagrad FILE keeps its own unless given; an .onnx FILE's symbolic batch is 1 unless given)")(
      "seed", po::value<std::uint64_t>()->default_value(0), "initializer seed of a zoo model");
}

void add_model_file_positional(po::options_description& options, po::positional_options_description& positional) {
  options.add_options()("file", po::value<std::string>(), "a .dagrad, .dagrad.txt or .onnx model file");
  positional.add("file", 1);
}

std::string model_source_label(const po::variables_map& vm) {
  return vm.count("model") ? vm["model"].as<std::string>() : vm.count("file") ? vm["file"].as<std::string>() : "";
}

Model import_onnx_file(const std::string& path, bool training, std::int64_t batch) {
  return interop::import_onnx(path, {.batch = batch, .training = training});
}

Model load_model_file(const std::string& path, bool training, std::int64_t onnx_batch) {
  // An .onnx file in training form (BatchNormalization training_mode=1) imports so whatever
  // `training` says; set_training below settles it either way.
  Model model = interop::is_onnx_path(path) ? import_onnx_file(path, training, onnx_batch) : load(path);
  model.graph.set_training(training);
  return model;
}

namespace {
Model load_model_source_as_is(const po::variables_map& vm, bool training) {
  bool has_file = vm.count("file") > 0, has_model = vm.count("model") > 0;
  if (has_file == has_model) throw UsageError("give exactly one of FILE or --model NAME");
  const std::int64_t batch = int_at_least(vm, "batch", 1);
  if (has_model) require_zoo_model(vm["model"].as<std::string>());
  Model model;
  if (has_model) {
    models::ModelOptions options{.batch = batch, .seed = vm["seed"].as<std::uint64_t>(), .training = training};
    model.graph = models::build_model(vm["model"].as<std::string>(), options);
    for (auto& [name, tensor] : runtime::initialize_parameters(model.graph)) {
      ValueKind kind = model.graph.value(model.graph.at(name)).kind;
      (kind == ValueKind::parameter ? model.parameters : model.state).emplace(name, std::move(tensor));
    }
    model.metadata["model"] = vm["model"].as<std::string>();
    return model;
  }
  const std::string path = vm["file"].as<std::string>();
  if (interop::is_onnx_path(path)) return load_model_file(path, training, vm["batch"].defaulted() ? 1 : batch);
  model = load_model_file(path, training, batch);
  if (vm["batch"].defaulted()) return model;
  std::unordered_map<std::string, Shape> shapes;
  for (ValueId id : model.graph.values_of_kind(ValueKind::input)) {
    Shape shape = model.graph.value(id).type.shape;
    if (!shape.empty()) shape[0] = batch;
    shapes[model.graph.value(id).name] = shape;
  }
  model.graph.reshape_inputs(shapes);
  return model;
}
}  // namespace

Model load_model_source(const po::variables_map& vm, bool training, bool needs_loss) {
  Model model = load_model_source_as_is(vm, training);
  if (needs_loss) models::attach_classifier_loss(model.graph);
  return model;
}

}  // namespace dagrad::cli
