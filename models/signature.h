#pragma once
// The roles of a classifier model's values, found once and used by the trainer and every tool: the
// image and label inputs it is fed, the logits it predicts and the loss it is trained on.
#include <cstdint>

#include "graph/graph.h"

namespace dagrad::models {

// The names of the model-zoo convention (models/zoo.h). A model written by hand for the trainer or
// the tools names its inputs so; naming the logits and the loss is optional (see ModelSignature).
inline constexpr const char* kImageInput = "image";
inline constexpr const char* kLabelInput = "label";
inline constexpr const char* kLogitsName = "logits";
inline constexpr const char* kLossName = "loss";

struct ModelSignature {
  ValueId image = kNoValue;   // input, f32 or f64 [N, sample...]
  ValueId label = kNoValue;   // input, i64 [N]
  ValueId logits = kNoValue;  // [N, classes]
  ValueId loss = kNoValue;    // the graph's loss, a scalar

  // Every role, or an Error naming the first one missing and what was looked for, e.g. "the model
  // has no input named 'label' to feed the labels to". The logits are the value named "logits",
  // else the graph output the loss node reads (models::classifier_loss marks it so); the loss is
  // the graph's loss.
  static ModelSignature of(const Graph& graph);
  // The roles that are there, kNoValue for the others (a summary of any graph); never throws.
  static ModelSignature find(const Graph& graph);

  std::int64_t batch(const Graph& graph) const;    // the image input's leading dim
  Shape sample_shape(const Graph& graph) const;    // the image input's dims after the batch
  std::int64_t classes(const Graph& graph) const;  // the logits' last dim
};

}  // namespace dagrad::models
