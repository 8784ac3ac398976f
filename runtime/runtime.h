#pragma once
// Executes graphs. compile() makes an immutable plan; run() executes it with oneTBB. The run state
// lives in run(), so several threads may run one plan at once.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/graph.h"

#include <oneapi/tbb/task_arena.h>

namespace dagrad::runtime {

struct Options {
  int threads = 0;              // 0: all cores
  bool check_numerics = false;  // stop at the first node producing NaN or Inf, naming it
};

// Tensors handed to a run, by value name. Parameters and state are usually a model's TensorMap.
using TensorMap = dagrad::TensorMap;
using Feeds = std::unordered_map<std::string, const Tensor*>;
Feeds feeds_from(std::initializer_list<const TensorMap*> maps);

struct RunResult {
  std::unordered_map<ValueId, Tensor> values;  // every fetched value
  const Tensor& at(ValueId id) const;
};

class Plan {
 public:
  const Graph& graph() const { return graph_; }
  const std::vector<std::int32_t>& order() const { return order_; }
  const std::vector<ValueId>& fetches() const { return fetches_; }
  // Values the plan reads from the caller: inputs, parameters, state.
  const std::vector<ValueId>& feeds() const { return feeds_; }
  const Options& options() const { return options_; }
  // Bytes of the largest set of tensors alive at once while running, under liveness-based freeing.
  std::int64_t peak_bytes() const { return peak_bytes_; }

 private:
  friend Plan compile(const Graph&, Options, std::vector<ValueId>);
  friend class Executor;
  friend RunResult run(const Plan&, const Feeds&, std::uint64_t);
  Graph graph_;
  std::vector<std::int32_t> order_;
  std::vector<ValueId> fetches_;
  std::vector<ValueId> feeds_;
  std::vector<std::int32_t> last_reader_;  // per value: position in order_ of its last reader, -1 if none
  std::vector<bool> kept_;                 // per value: returned to the caller
  Options options_;
  std::int64_t peak_bytes_ = 0;
  std::shared_ptr<tbb::task_arena> arena_;
};

// Plans the nodes needed for `fetch` (default: the graph's outputs, its gradients and its state updates).
Plan compile(const Graph& graph, Options options = {}, std::vector<ValueId> fetch = {});

// Runs the plan. Every fed tensor must match the graph's dtype and shape (an error names the value).
// step_seed varies random ops (dropout) from run to run.
RunResult run(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed = 0);

// Parameters and state of a graph, filled by their seeded initializers.
TensorMap initialize_parameters(const Graph& graph);

}  // namespace dagrad::runtime
