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
  // has no input named 'label' to feed the labels to". The image is the input named "image", else
  // the only float input of rank 2 or more (a model imported from ONNX keeps its own input names);
  // the label the input named "label", else the only i64 input of rank 1. The logits are the value named "logits",
  // else the graph output the loss node reads (models::classifier_loss marks it so); the loss is
  // the graph's loss.
  static ModelSignature of(const Graph& graph);
  // The roles that are there, kNoValue for the others (a summary of any graph); never throws.
  static ModelSignature find(const Graph& graph);

  std::int64_t batch(const Graph& graph) const;    // the image input's leading dim
  Shape sample_shape(const Graph& graph) const;    // the image input's dims after the batch
  std::int64_t classes(const Graph& graph) const;  // the logits' last dim
};

// Makes a classifier without a loss trainable (an imported ONNX model ends in its logits): adds
// the i64 input "label" [N] and, as the graph's loss "loss", the mean softmax cross-entropy of the
// graph's one float output of shape [N, classes]. Returns false (and changes nothing) when the
// graph already has a loss; throws naming the outputs when there is no single [N, K] output.
bool attach_classifier_loss(Graph& graph);

}  // namespace dagrad::models
