#include "models/signature.h"

#include "graph/error.h"

namespace dagrad::models {

namespace {

ValueId input_named(const Graph& g, const char* name) {
  auto id = g.find(name);
  return id && g.value(*id).kind == ValueKind::input ? *id : kNoValue;
}

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
  return {.image = input_named(g, kImageInput), .label = input_named(g, kLabelInput), .logits = find_logits(g), .loss = g.loss()};
}

ModelSignature ModelSignature::of(const Graph& g) {
  ModelSignature s = find(g);
  if (s.image == kNoValue) fail("the model has no input named '", kImageInput, "' to feed the samples to");
  if (s.label == kNoValue) fail("the model has no input named '", kLabelInput, "' to feed the labels to");
  const TensorType& image = g.value(s.image).type;
  if (!is_float(image.dtype) || image.shape.empty())
    fail("input '", kImageInput, "' must be f32 or f64 [N, ...], got ", to_string(image));
  const TensorType& label = g.value(s.label).type;
  if (label.dtype != DType::i64 || label.shape.size() != 1)
    fail("input '", kLabelInput, "' must be i64[N], got ", to_string(label));
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

}  // namespace dagrad::models
