#include "runtime/runtime.h"

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <cmath>
#include <limits>
#include <span>
#include <sstream>

#include "graph/op.h"

namespace dagrad::runtime {

Feeds feeds_from(std::initializer_list<const TensorMap*> maps) {
  Feeds feeds;
  for (const TensorMap* map : maps)
    for (const auto& [name, tensor] : *map) feeds[name] = &tensor;
  return feeds;
}

const Tensor& RunResult::at(ValueId id) const {
  auto it = values.find(id);
  if (it == values.end()) fail("value id ", id, " was not fetched by this run");
  return it->second;
}

TensorMap initialize_parameters(const Graph& graph) {
  TensorMap params;
  for (const ValueInfo& v : graph.values())
    if (v.kind == ValueKind::parameter || v.kind == ValueKind::state) params.emplace(v.name, initialize(v.init, v.type));
  return params;
}

struct Plan::StatePool {
  struct State {
    std::vector<Tensor> slots;
    std::vector<const Tensor*> bound;
    std::vector<Tensor> fetched;
    std::vector<std::vector<double>> affine;  // per position: scale and shift of a fused batch norm
    std::unique_ptr<std::atomic<std::int32_t>[]> pending;  // per position: predecessors not yet done
    std::size_t pending_size = 0;
  };
  std::mutex mutex;
  std::vector<std::unique_ptr<State>> idle;

  std::unique_ptr<State> acquire() {
    std::lock_guard lock(mutex);
    if (idle.empty()) return std::make_unique<State>();
    std::unique_ptr<State> state = std::move(idle.back());
    idle.pop_back();
    return state;
  }
  void release(std::unique_ptr<State> state) {
    std::lock_guard lock(mutex);
    idle.push_back(std::move(state));
  }
};

Plan compile(const Graph& graph, Options options, std::vector<ValueId> fetch) {
  Plan plan;
  plan.graph_ = graph;
  plan.options_ = options;
  plan.schedule_ = build_schedule(plan.graph_, options, std::move(fetch));
  const int threads = options.threads > 0 ? options.threads : tbb::task_arena::automatic;
  plan.arena_ = std::make_shared<tbb::task_arena>(threads);
  plan.pool_ = std::make_shared<Plan::StatePool>();
  return plan;
}

std::int64_t Plan::fused_node_count() const {
  return std::count_if(schedule_.steps.begin(), schedule_.steps.end(), [](const Step& s) { return s.fused_away; });
}

bool Plan::must_precede(std::size_t before, std::size_t after) const {
  const std::size_t positions = schedule_.order.size();
  if (before >= positions || after >= positions)
    fail("must_precede: position ", std::max(before, after), " is outside the plan's ", positions, " nodes");
  std::vector<bool> seen(positions, false);
  std::vector<std::size_t> stack = {before};
  while (!stack.empty()) {
    const std::size_t pos = stack.back();
    stack.pop_back();
    for (std::int32_t next : schedule_.steps[pos].successors) {
      const auto n = static_cast<std::size_t>(next);
      if (n == after) return true;
      if (!seen[n]) seen[n] = true, stack.push_back(n);
    }
  }
  return false;
}

namespace {

std::string describe_stats(const Tensor& t) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, sum = 0;
  std::int64_t bad = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    double v = t.at(i);
    if (!std::isfinite(v)) {
      ++bad;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  std::ostringstream s;
  s << dtype_name(t.dtype()) << to_string(t.shape()) << " min " << lo << " max " << hi << " mean "
    << (t.numel() > bad ? sum / static_cast<double>(t.numel() - bad) : 0.0) << " non-finite " << bad;
  return s.str();
}

bool has_non_finite(const Tensor& t) {
  if (!is_float(t.dtype())) return false;
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.at(i))) return true;
  return false;
}

}  // namespace

class Executor {
 public:
  static RunResult run(const Plan& plan, const Feeds& feeds, const RunSettings& settings, std::vector<double>* node_seconds) {
    std::unique_ptr<Plan::StatePool::State> state = plan.pool_->acquire();
    RunResult result;
    try {
      plan.arena_->execute([&] { result = execute(plan, *state, feeds, settings, node_seconds); });
    } catch (...) {
      plan.pool_->release(std::move(state));
      throw;
    }
    plan.pool_->release(std::move(state));
    return result;
  }

 private:
  using State = Plan::StatePool::State;

  static RunResult execute(const Plan& plan, State& state, const Feeds& feeds, const RunSettings& settings,
                           std::vector<double>* node_seconds) {
    const Schedule& s = plan.schedule_;
    bind_inputs(plan, state, feeds);
    if (node_seconds) node_seconds->assign(s.order.size(), 0.0);
    if (state.affine.size() != s.order.size()) state.affine.resize(s.order.size());
    // A combiner is called by every participant in the same order, so nodes then run in plan order.
    const bool concurrent = plan.options_.concurrent_nodes && !plan.options_.check_numerics && !node_seconds &&
                            !settings.batch.combiner && plan.arena_->max_concurrency() > 1;
    if (concurrent) {
      run_concurrently(plan, state, settings);
    } else {
      for (std::size_t pos = 0; pos < s.order.size(); ++pos) {
        if (s.steps[pos].fused_away) continue;
        const auto start = node_seconds ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        run_step(plan, state, pos, settings);
        if (node_seconds)
          (*node_seconds)[pos] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    const Graph& g = plan.graph_;
    RunResult result;
    for (ValueId id : s.fetches) {
      if (!state.bound[id]) fail("run: fetched value '", g.value(id).name, "' was not computed");
      result.values.emplace(id, g.value(id).kind == ValueKind::result ? std::move(state.fetched[id]) : Tensor(*state.bound[id]));
    }
    return result;
  }

  // Checks and binds the fed tensors and constants; makes the state's slots on first use.
  static void bind_inputs(const Plan& plan, State& state, const Feeds& feeds) {
    const Graph& g = plan.graph_;
    const Schedule& s = plan.schedule_;
    state.bound.assign(g.values().size(), nullptr);
    state.fetched.resize(g.values().size());
    if (state.slots.size() != s.slot_types.size()) {
      state.slots.clear();
      state.slots.reserve(s.slot_types.size());
      for (const TensorType& type : s.slot_types) state.slots.emplace_back(type.dtype, type.shape);
    }
    for (ValueId id : s.feeds) {
      const ValueInfo& info = g.value(id);
      auto it = feeds.find(info.name);
      if (it == feeds.end() || it->second == nullptr)
        fail("run: no tensor fed for ", value_kind_name(info.kind), " '", info.name, "' (", to_string(info.type), ")");
      const Tensor& t = *it->second;
      if (t.dtype() != info.type.dtype || t.shape() != info.type.shape)
        fail("run: ", value_kind_name(info.kind), " '", info.name, "' expects ", to_string(info.type), ", got ",
             dtype_name(t.dtype()), to_string(t.shape()));
      state.bound[id] = &t;
    }
    for (std::size_t id = 0; id < g.values().size(); ++id)
      if (g.values()[id].kind == ValueKind::constant) state.bound[id] = g.values()[id].constant.get();
  }

  // Each position as a task once its predecessors are done (see Step::successors).
  static void run_concurrently(const Plan& plan, State& state, const RunSettings& settings) {
    const std::vector<Step>& steps = plan.schedule_.steps;
    if (state.pending_size != steps.size()) {
      state.pending = std::make_unique<std::atomic<std::int32_t>[]>(steps.size());
      state.pending_size = steps.size();
    }
    for (std::size_t pos = 0; pos < steps.size(); ++pos)
      state.pending[pos].store(steps[pos].predecessor_count, std::memory_order_relaxed);
    tbb::task_group group;
    struct Runner {
      const Plan& plan;
      State& state;
      const RunSettings& settings;
      tbb::task_group& group;
      void operator()(std::size_t pos) const {
        run_step(plan, state, pos, settings);
        for (std::int32_t next : plan.schedule_.steps[pos].successors)
          if (state.pending[static_cast<std::size_t>(next)].fetch_sub(1, std::memory_order_acq_rel) == 1)
            group.run([runner = *this, next] { runner(static_cast<std::size_t>(next)); });
      }
    };
    const Runner runner{plan, state, settings, group};
    for (std::size_t pos = 0; pos < steps.size(); ++pos)
      if (!steps[pos].fused_away && steps[pos].predecessor_count == 0) group.run([runner, pos] { runner(pos); });
    group.wait();
  }

  static std::vector<const Tensor*> bound_inputs(const Plan& plan, const State& state, const Node& node) {
    std::vector<const Tensor*> inputs;
    for (ValueId in : node.inputs) {
      if (!state.bound[in])
        fail("run: op '", node.op, "' node '", node.name, "' reads '", plan.graph_.value(in).name, "' before it is computed");
      inputs.push_back(state.bound[in]);
    }
    return inputs;
  }

  // The buffer of a value the step writes: its slot, or a fresh tensor for a fetched value. Reused
  // buffers are cleared for ops that ask for it, or poisoned when testing; an in-place output
  // shares its input's buffer, whose contents the kernel reads, and is left alone.
  static Tensor* output_buffer(const Plan& plan, State& state, const Step& step, ValueId out,
                               const std::vector<const Tensor*>& inputs) {
    const ValueInfo& info = plan.graph_.value(out);
    const std::int32_t slot = plan.schedule_.values[out].slot;
    Tensor* t;
    if (slot >= 0) {
      t = &state.slots[static_cast<std::size_t>(slot)];
    } else {
      state.fetched[out] = Tensor(info.type.dtype, info.type.shape);
      t = &state.fetched[out];
    }
    const bool in_place = std::find(inputs.begin(), inputs.end(), t) != inputs.end();
    if (step.zero_fill && slot >= 0 && !in_place) t->fill(0.0);
    if (plan.options_.poison_buffers && !step.zero_fill && !in_place)
      t->fill(is_float(info.type.dtype) ? std::numeric_limits<double>::quiet_NaN() : -987654321.0);
    state.bound[out] = t;
    return t;
  }

  static void run_step(const Plan& plan, State& state, std::size_t pos, const RunSettings& settings) {
    const Step& step = plan.schedule_.steps[pos];
    if (step.prologue_reader >= 0) {
      run_with_grad_prologue(plan, state, pos, settings);
      return;
    }
    if (step.fused()) {
      run_with_epilogue(plan, state, pos, settings);
      return;
    }
    const Node& node = plan.graph_.node(step.node);
    std::vector<const Tensor*> inputs = bound_inputs(plan, state, node);
    std::vector<Tensor*> outputs;
    for (ValueId out : node.outputs) outputs.push_back(output_buffer(plan, state, step, out, inputs));
    KernelContext context(node, inputs, outputs, settings.step_seed, settings.batch);
    node.def->forward(node.parsed_attrs, context);
    if (plan.options_.check_numerics) check_node(plan.graph_, node, inputs, outputs);
  }

  // A kernel with an epilogue folded in (runtime/passes.h): the channel-affine node after it (its
  // op computes the per-channel scale and shift from its parameters, the head kernel applies
  // them), the residual sum and the activation. The head writes the group's result as its output
  // 0, and its own other outputs; an affine node's other outputs are never written.
  static void run_with_epilogue(const Plan& plan, State& state, std::size_t pos, const RunSettings& settings) {
    const Schedule& s = plan.schedule_;
    const Step& step = s.steps[pos];
    const Node& head = plan.graph_.node(step.node);
    std::vector<const Tensor*> inputs = bound_inputs(plan, state, head);
    ChannelEpilogue epilogue{.activation = step.activation, .residual = residual_of(plan, state, step)};
    if (step.affine >= 0) {
      const Node& affine = plan.graph_.node(s.order[static_cast<std::size_t>(step.affine)]);
      std::vector<const Tensor*> params = {nullptr};  // the affine node's x is computed inside the kernel
      for (std::size_t i = 1; i < affine.inputs.size(); ++i) params.push_back(state.bound[affine.inputs[i]]);
      const std::int64_t channels = plan.graph_.value(head.outputs[0]).type.shape.at(1);
      std::vector<double>& map = state.affine[pos];
      map.resize(static_cast<std::size_t>(2 * channels));
      const std::span<double> scale(map.data(), static_cast<std::size_t>(channels));
      const std::span<double> shift(map.data() + channels, static_cast<std::size_t>(channels));
      affine.def->channel_affine(affine.parsed_attrs, params, scale, shift);
      epilogue.scale = scale.data();
      epilogue.shift = shift.data();
    }
    std::vector<const Tensor*> read = inputs;
    read.push_back(epilogue.residual);
    std::vector<Tensor*> outputs;
    const std::size_t written = step.affine >= 0 ? 1 : step.writes.size();
    for (std::size_t i = 0; i < written; ++i) outputs.push_back(output_buffer(plan, state, step, step.writes[i], read));
    KernelContext context(head, inputs, outputs, settings.step_seed, settings.batch);
    head.def->forward_with_epilogue(head.parsed_attrs, context, epilogue);
  }

  // The residual a fused step adds: the other input of its residual sum (whose first input is the
  // head's output, or the affine node's), null without one.
  static const Tensor* residual_of(const Plan& plan, const State& state, const Step& step) {
    if (step.residual_step < 0) return nullptr;
    const Schedule& s = plan.schedule_;
    const Node& sum = plan.graph_.node(s.order[static_cast<std::size_t>(step.residual_step)]);
    const Node& before = plan.graph_.node(step.affine >= 0 ? s.order[static_cast<std::size_t>(step.affine)] : step.node);
    return state.bound[sum.inputs[0] == before.outputs[0] ? sum.inputs[1] : sum.inputs[0]];
  }

  // An activation's gradient computed inside its only reader's kernel (fuse_training_steps): the
  // reader's kernel runs here with the activation gradient's dy in place of its result.
  static void run_with_grad_prologue(const Plan& plan, State& state, std::size_t pos, const RunSettings& settings) {
    const Schedule& s = plan.schedule_;
    const Step& step = s.steps[pos];
    const Node& head = plan.graph_.node(step.node);
    const Node& reader = plan.graph_.node(s.order[static_cast<std::size_t>(step.prologue_reader)]);
    std::vector<const Tensor*> inputs;
    for (ValueId in : reader.inputs) inputs.push_back(in == head.outputs[0] ? state.bound[head.inputs[1]] : state.bound[in]);
    std::vector<const Tensor*> read = inputs;
    read.push_back(state.bound[head.inputs[0]]);
    std::vector<Tensor*> outputs;
    for (ValueId out : step.writes) outputs.push_back(output_buffer(plan, state, step, out, read));
    KernelContext context(reader, inputs, outputs, settings.step_seed, settings.batch);
    const ActivationGradPrologue prologue{.activation = step.activation, .y = state.bound[head.inputs[0]]};
    reader.def->forward_with_grad_prologue(reader.parsed_attrs, context, prologue);
  }

  static void check_node(const Graph& g, const Node& node, const std::vector<const Tensor*>& inputs,
                         const std::vector<Tensor*>& outputs) {
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      if (!has_non_finite(*outputs[i])) continue;
      std::ostringstream s;
      s << "check-numerics: op '" << node.op << "' node '" << node.name << "' produced NaN or Inf in output '"
        << g.value(node.outputs[i]).name << "' (" << describe_stats(*outputs[i]) << ")";
      for (std::size_t j = 0; j < inputs.size(); ++j)
        s << "; input " << j << " '" << g.value(node.inputs[j]).name << "' " << describe_stats(*inputs[j]);
      throw Error(s.str());
    }
  }
};

RunResult run(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed) {
  return Executor::run(plan, feeds, RunSettings{.step_seed = step_seed}, nullptr);
}

RunResult run(const Plan& plan, const Feeds& feeds, const RunSettings& settings) {
  return Executor::run(plan, feeds, settings, nullptr);
}

RunResult run_profiled(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed, std::vector<double>& node_seconds) {
  return Executor::run(plan, feeds, RunSettings{.step_seed = step_seed}, &node_seconds);
}

}  // namespace dagrad::runtime
