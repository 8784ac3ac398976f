#pragma once
// The model zoo: classification networks written in the layer DSL (models/layers.h).
// Every model reads input "image" [N,C,H,W] (options.dtype) and "label" i64 [N], outputs "logits"
// [N,classes] and has the mean softmax cross-entropy "loss" as its graph loss: the names of
// models/signature.h, so ModelSignature::of finds every role of a zoo model.
#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace dagrad::models {

struct ModelOptions {
  std::int64_t batch = 1;
  DType dtype = DType::f32;
  std::uint64_t seed = 0;  // parameter initializers and dropout masks
  bool training = true;    // batch-norm statistics and dropout
  // The model adapted to other data: input [C,H,W] (empty: the entry's) and the number of classes
  // (0: the entry's). A model whose layers cannot take the size fails with its node's error.
  Shape input_shape;
  std::int64_t classes = 0;
  // A reduced form of the same structure, for float64 gradient checks of the large models (only
  // those whose entry says `reducible`): every channel count divided by width_divisor.
  std::int64_t width_divisor = 1;
};

struct ZooEntry {
  std::string name, description;
  Shape input_shape;  // C,H,W
  std::int64_t classes;
  bool reducible = false;  // honours ModelOptions::width_divisor
};

const std::vector<ZooEntry>& zoo_models();
// The entry called `name`; throws dagrad::Error listing the valid names when there is none.
const ZooEntry& zoo_entry(const std::string& name);

// Throws dagrad::Error listing the valid names when `name` is not in the zoo.
Graph build_model(const std::string& name, const ModelOptions& options = {});

}  // namespace dagrad::models
