#pragma once
// Executes graphs. compile() makes an immutable plan: the node order, fusions (an inference
// convolution with the batch norm and relu after it), and buffer slots assigned by liveness (a
// slot is reused once its value's last reader ran; elementwise ops write in place where their
// input dies). run() executes it with oneTBB. The buffers of a run live in a run
// state that the plan's pool hands to one run at a time, so several threads may run one plan at
// once, and runs after the first allocate only the fetched tensors they return.
#include <algorithm>
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
  bool check_numerics = false;  // stop at the first node producing NaN or Inf, naming it (runs nodes in order)
  // Run nodes that do not depend on each other at the same time (with more than one thread).
  // Results are bitwise the same either way: every kernel's arithmetic is fixed by its shapes.
  bool concurrent_nodes = true;
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
  // Bytes of the reusable buffer slots one run state holds (fetched results come on top).
  std::int64_t slot_bytes() const { return slot_bytes_; }
  // Whether the node at position `before` of order() must finish before the one at `after` starts
  // (a path of data or buffer-reuse edges); positions with neither order may run at the same time.
  bool must_precede(std::size_t before, std::size_t after) const;
  // Nodes that run inside another node's kernel (batch norms and relus fused into convolutions).
  std::int64_t fused_node_count() const {
    return static_cast<std::int64_t>(std::count(fused_away_.begin(), fused_away_.end(), true));
  }

 private:
  friend Plan compile(const Graph&, Options, std::vector<ValueId>);
  friend class Executor;
  struct StatePool;
  Graph graph_;
  std::vector<std::int32_t> order_;
  std::vector<ValueId> fetches_;
  std::vector<ValueId> feeds_;
  std::vector<std::int32_t> last_reader_;  // per value: position in order_ of its last reader, -1 if none
  std::vector<bool> kept_;                 // per value: returned to the caller
  Options options_;
  std::int64_t peak_bytes_ = 0;
  std::int64_t slot_bytes_ = 0;
  std::vector<std::int32_t> slot_of_;      // per value: its buffer slot, -1 for fed, constant or fetched values
  std::vector<TensorType> slot_types_;     // per slot
  std::vector<bool> zero_outputs_;         // per position: the op may leave output elements unwritten
  // Inference conv2d -> batch_norm (-> relu) run as one kernel at the conv's position: per
  // position, the fused batch norm's and relu's positions (-1: none); fused-away positions are skipped.
  std::vector<std::int32_t> fused_batch_norm_, fused_relu_;
  std::vector<bool> fused_away_;
  // Independent nodes (a residual block's shortcut beside its main path) run concurrently: per
  // position, the positions that must wait for it, and how many it waits for. Edges are the data
  // flow plus buffer reuse (a slot's next writer waits for every reader of its previous value).
  std::vector<std::vector<std::int32_t>> successors_;
  std::vector<std::int32_t> predecessor_count_;
  std::shared_ptr<tbb::task_arena> arena_;
  std::shared_ptr<StatePool> pool_;        // run states not in use; shared by copies of the plan
};

// Plans the nodes needed for `fetch` (default: the graph's outputs, its gradients and its state updates).
Plan compile(const Graph& graph, Options options = {}, std::vector<ValueId> fetch = {});

// Runs the plan. Every fed tensor must match the graph's dtype and shape (an error names the value).
// step_seed varies random ops (dropout) from run to run.
RunResult run(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed = 0);

// run() that also records the wall time of every node: node_seconds[i] belongs to plan.order()[i].
RunResult run_profiled(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed, std::vector<double>& node_seconds);

// Parameters and state of a graph, filled by their seeded initializers.
TensorMap initialize_parameters(const Graph& graph);

}  // namespace dagrad::runtime
