#pragma once
// A model: a graph plus the tensors it was trained to, and optionally the state to resume training.
// This is what files hold (proto/), what tools load and what trainers update.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "graph/graph.h"
#include "graph/tensor.h"

namespace dagrad {

struct TrainingState {
  std::string optimizer = "sgd";                  // optimizer name
  std::map<std::string, double> hyperparameters;  // lr, momentum, weight_decay, nesterov (0/1), ...
  TensorMap buffers;                              // optimizer buffers by "<kind>/<parameter name>" (e.g. "momentum/stem.conv.w")
  std::int64_t step = 0;                          // optimizer steps taken
  std::int64_t epoch = 0;                         // completed epochs
  std::uint64_t rng_seed = 0;                     // seed of shuffling/dropout
  std::uint64_t rng_state = 0;                    // generator position, to resume bitwise identically
};

struct Model {
  Graph graph;
  TensorMap parameters;  // by parameter value name; one per ValueKind::parameter value
  TensorMap state;       // by state value name (batch-norm running statistics)
  std::optional<TrainingState> training;
  std::map<std::string, std::string> metadata;  // free-form (model name, dataset, ...)
};

}  // namespace dagrad
