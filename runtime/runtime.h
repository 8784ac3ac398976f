#pragma once
// Executes graphs. compile() makes an immutable plan by running the passes of runtime/passes.h:
// prune, liveness, peak memory, fusion (an inference convolution with the batch norm, residual sum
// and relu after it; a training batch norm with its relu and residual sum, and relu_grad inside
// batch_norm_grad; found through op traits, bitwise equal to the separate ops), buffer slots by liveness (a slot is reused once its value's
// last reader ran; ops with an in_place_input write over it where it dies), dependency edges. run() executes it with oneTBB. The buffers of a run live in a run
// state that the plan's pool hands to one run at a time, so several threads may run one plan at
// once, and runs after the first allocate only the fetched tensors they return.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/batch_slice.h"
#include "graph/graph.h"
#include "runtime/passes.h"

#include <oneapi/tbb/task_arena.h>

namespace dagrad::runtime {

struct Options {
  int threads = 0;              // 0: all cores
  bool check_numerics = false;  // stop at the first node producing NaN or Inf, naming it (runs nodes in order)
  // Run nodes that do not depend on each other at the same time (with more than one thread).
  // Results are bitwise the same either way: every kernel's arithmetic is fixed by its shapes.
  bool concurrent_nodes = true;
  // Testing aid: fill each node's output buffers with NaN (integers: a sentinel) before its kernel
  // runs, unless the op asks for zero-filled outputs, so a kernel that claims writes_every_output
  // but leaves cells unwritten yields NaN instead of a stale value that happens to pass.
  bool poison_buffers = false;
  // Fold adjacent nodes into one kernel where the results stay bitwise the same (runtime/passes.h);
  // off only to measure what the fusions gain.
  bool fuse = true;
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
  const std::vector<std::int32_t>& order() const { return schedule_.order; }
  const std::vector<ValueId>& fetches() const { return schedule_.fetches; }
  // Values the plan reads from the caller: inputs, parameters, state.
  const std::vector<ValueId>& feeds() const { return schedule_.feeds; }
  const Options& options() const { return options_; }
  // Bytes of the largest set of tensors alive at once while running, under liveness-based freeing.
  std::int64_t peak_bytes() const { return schedule_.peak_bytes; }
  // Bytes of the reusable buffer slots one run state holds (fetched results come on top).
  std::int64_t slot_bytes() const { return schedule_.slot_bytes; }
  // Whether the node at position `before` of order() must finish before the one at `after` starts
  // (a path of data or buffer-reuse edges); positions with neither order may run at the same time.
  bool must_precede(std::size_t before, std::size_t after) const;
  // Nodes that run inside another node's kernel (runtime/passes.h: the fusion passes).
  std::int64_t fused_node_count() const;
  // The passes' result: per position a Step, per value its liveness and slot (runtime/passes.h).
  const Schedule& schedule() const { return schedule_; }

 private:
  friend Plan compile(const Graph&, Options, std::vector<ValueId>);
  friend class Executor;
  struct StatePool;
  Graph graph_;
  Options options_;
  Schedule schedule_;
  std::shared_ptr<tbb::task_arena> arena_;
  std::shared_ptr<StatePool> pool_;        // run states not in use; shared by copies of the plan
};

// Plans the nodes needed for `fetch` (default: the graph's outputs, its gradients and its state updates).
Plan compile(const Graph& graph, Options options = {}, std::vector<ValueId> fetch = {});

// Runs the plan. Every fed tensor must match the graph's dtype and shape (an error names the value).
// step_seed varies random ops (dropout) from run to run.
RunResult run(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed = 0);

// A run's settings: the step seed, and where its batch sits in a data-parallel step (see
// graph/batch_slice.h; with a combiner, nodes run one at a time in plan order).
struct RunSettings {
  std::uint64_t step_seed = 0;
  BatchSlice batch;
};
RunResult run(const Plan& plan, const Feeds& feeds, const RunSettings& settings);

// run() that also records the wall time of every node: node_seconds[i] belongs to plan.order()[i].
RunResult run_profiled(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed, std::vector<double>& node_seconds);

// Parameters and state of a graph, filled by their seeded initializers.
TensorMap initialize_parameters(const Graph& graph);

}  // namespace dagrad::runtime
