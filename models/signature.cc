#include "models/signature.h"

#include "graph/error.h"
#include "ops/ops.h"

namespace dagrad::models {

namespace {

ValueId input_named(const Graph& g, const char* name) {
  auto id = g.find(name);
  return id && g.value(*id).kind == ValueKind::input ? *id : kNoValue;
}

// The input named `name`, else the only input that `fits` (kNoValue when none or several do).
template <class Fits> ValueId input_named_or_only(const Graph& g, const char* name, Fits fits) {
  if (ValueId id = input_named(g, name); id != kNoValue) return id;
  ValueId found = kNoValue;
  for (ValueId id : g.values_of_kind(ValueKind::input))
    if (fits(g.value(id).type)) {
      if (found != kNoValue) return kNoValue;
      found = id;
    }
  return found;
}

bool image_like(const TensorType& t) { return is_float(t.dtype) && t.shape.size() >= 2; }
bool label_like(const TensorType& t) { return t.dtype == DType::i64 && t.shape.size() == 1; }

// A value named "logits", else the one graph output among the inputs of the node producing the
// loss: structure, not an op name, so any loss op a model ends in will do.
ValueId find_logits(const Graph& g) {
  if (auto id = g.find(kLogitsName)) return *id;
  if (g.loss() == kNoValue) return kNoValue;
  const ValueInfo& loss = g.value(g.loss());
  if (loss.kind != ValueKind::result || loss.producer < 0) return kNoValue;
  ValueId found = kNoValue;
  for (ValueId in : g.node(loss.producer).inputs)
    for (ValueId out : g.outputs())
      if (in == out) {
        if (found != kNoValue && found != in) return kNoValue;  // ambiguous
        found = in;
      }
  return found;
}

}  // namespace

ModelSignature ModelSignature::find(const Graph& g) {
  return {.image = input_named_or_only(g, kImageInput, image_like), .label = input_named_or_only(g, kLabelInput, label_like),
          .logits = find_logits(g), .loss = g.loss()};
}

ModelSignature ModelSignature::of(const Graph& g) {
  ModelSignature s = find(g);
  if (s.image == kNoValue)
    fail("the model has no input named '", kImageInput, "' (nor exactly one float input of rank 2 or more) to feed the samples to");
  if (s.label == kNoValue)
    fail("the model has no input named '", kLabelInput, "' (nor exactly one i64 input of rank 1) to feed the labels to");
  const TensorType& image = g.value(s.image).type;
  if (!is_float(image.dtype) || image.shape.empty())
    fail("input '", g.value(s.image).name, "' must be f32 or f64 [N, ...], got ", to_string(image));
  const TensorType& label = g.value(s.label).type;
  if (label.dtype != DType::i64 || label.shape.size() != 1)
    fail("input '", g.value(s.label).name, "' must be i64[N], got ", to_string(label));
  if (s.loss == kNoValue) fail("the model has no loss");
  if (s.logits == kNoValue)
    fail("cannot find the model's logits: no value is named '", kLogitsName,
         "' and the loss node does not read exactly one graph output");
  const TensorType& logits = g.value(s.logits).type;
  if (logits.shape.size() != 2) fail("the logits '", g.value(s.logits).name, "' must be [N, classes], got ", to_string(logits));
  return s;
}

std::int64_t ModelSignature::batch(const Graph& g) const { return g.value(image).type.shape.at(0); }

Shape ModelSignature::sample_shape(const Graph& g) const {
  const Shape& shape = g.value(image).type.shape;
  return Shape(shape.begin() + (shape.empty() ? 0 : 1), shape.end());
}

std::int64_t ModelSignature::classes(const Graph& g) const { return g.value(logits).type.shape.back(); }

bool attach_classifier_loss(Graph& g) {
  if (g.loss() != kNoValue) return false;
  // Outputs of other ranks (a training-form file's running statistics) are not candidates.
  std::vector<ValueId> candidates;
  std::string listed;
  for (ValueId out : g.outputs()) {
    listed += (listed.empty() ? "" : ", ") + g.value(out).name + " " + to_string(g.value(out).type);
    if (is_float(g.value(out).type.dtype) && g.value(out).type.shape.size() == 2) candidates.push_back(out);
  }
  if (candidates.size() != 1)
    fail("the model has no loss, and a classifier loss needs exactly one float output of shape [N, classes] to attach it to; ",
         "its outputs are: ", listed.empty() ? "none" : listed);
  const ValueId logits = candidates[0];
  const std::int64_t batch = g.value(logits).type.shape[0];
  if (g.find(kLabelInput)) fail("the model has no loss, but a value is already named '", kLabelInput, "', the label input a classifier loss adds");
  if (g.find(kLossName)) fail("the model has no loss, but a value is already named '", kLossName, "', the loss a classifier loss adds");
  Value label = g.input(kLabelInput, {DType::i64, {batch}});
  Value loss = ops::softmax_cross_entropy(g.handle(logits), label);
  g.rename_value(loss.id(), kLossName);
  g.set_loss(loss);
  return true;
}

}  // namespace dagrad::models
