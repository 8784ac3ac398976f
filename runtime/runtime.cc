#include "runtime/runtime.h"

#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <cmath>
#include <limits>
#include <sstream>

#include "graph/op.h"
#include "ops/kernels/conv.h"

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

namespace {

// Ops whose kernels write every element of every output, so a reused buffer needs no clearing.
// Any other op gets its reused output buffers zero-filled first, as a fresh tensor would be.
bool writes_every_output(const std::string& op) {
  static const char* const kOps[] = {
      "add", "batch_norm", "batch_norm_grad", "broadcast_to", "conv1d", "conv2d", "conv2d_grad_filter",
      "conv2d_grad_input", "dense", "flatten", "global_avg_pool", "matmul", "max_pool2d", "max_pool2d_grad",
      "max_pool2d_with_indices", "max_pool2d_with_indices_grad",
      "mul", "reduce_sum", "relu", "relu_grad", "reshape", "scale", "softmax_cross_entropy",
      "softmax_cross_entropy_grad", "sum_to"};
  for (const char* name : kOps)
    if (op == name) return true;
  return false;
}

// Elementwise ops whose output may share the buffer of an input of the same type: every element
// is read and written by the same iteration, so aliasing changes nothing.
bool may_write_in_place(const std::string& op) {
  return op == "relu" || op == "relu_grad" || op == "add" || op == "scale" || op == "mul";
}

}  // namespace

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
  const Graph& g = plan.graph_;
  if (fetch.empty()) {
    fetch = g.outputs();
    for (auto [wrt, grad] : g.gradients()) fetch.push_back(grad);
    for (auto [state, next] : g.state_updates()) fetch.push_back(next);
  }
  std::sort(fetch.begin(), fetch.end());
  fetch.erase(std::unique(fetch.begin(), fetch.end()), fetch.end());
  for (ValueId id : fetch) g.value(id);  // range check
  plan.fetches_ = fetch;

  // Keep only the nodes the fetched values depend on.
  const std::size_t n_values = g.values().size();
  std::vector<bool> needed(n_values, false);
  for (ValueId id : fetch) needed[id] = true;
  std::vector<std::int32_t> full = g.topological_order();
  std::vector<std::int32_t> order;
  for (auto it = full.rbegin(); it != full.rend(); ++it) {
    const Node& node = g.node(*it);
    if (std::none_of(node.outputs.begin(), node.outputs.end(), [&](ValueId v) { return needed[v]; })) continue;
    order.push_back(*it);
    for (ValueId in : node.inputs) needed[in] = true;
  }
  std::reverse(order.begin(), order.end());
  plan.order_ = order;

  plan.kept_.assign(n_values, false);
  for (ValueId id : fetch) plan.kept_[id] = true;
  plan.last_reader_.assign(n_values, -1);
  for (std::size_t pos = 0; pos < order.size(); ++pos)
    for (ValueId in : g.node(order[pos]).inputs) plan.last_reader_[in] = static_cast<std::int32_t>(pos);
  for (std::size_t id = 0; id < n_values; ++id) {
    ValueKind kind = g.values()[id].kind;
    if (needed[id] && (kind == ValueKind::input || kind == ValueKind::parameter || kind == ValueKind::state))
      plan.feeds_.push_back(static_cast<ValueId>(id));
  }

  // Peak bytes of results alive at once (fed tensors belong to the caller).
  std::int64_t live = 0;
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const Node& node = g.node(order[pos]);
    for (ValueId out : node.outputs) live += byte_count(g.value(out).type.shape, g.value(out).type.dtype);
    plan.peak_bytes_ = std::max(plan.peak_bytes_, live);
    for (ValueId v : node.inputs)
      if (g.value(v).kind == ValueKind::result && plan.last_reader_[v] == static_cast<std::int32_t>(pos) && !plan.kept_[v])
        live -= byte_count(g.value(v).type.shape, g.value(v).type.dtype);
    for (ValueId out : node.outputs)
      if (plan.last_reader_[out] < 0 && !plan.kept_[out]) live -= byte_count(g.value(out).type.shape, g.value(out).type.dtype);
  }

  // Fusions: an inference batch norm (an affine map per channel) and a relu after a convolution
  // are applied by the convolution kernel while its output is in cache. Only when the
  // intermediate values have no other reader and are not fetched, the batch norm's parameters are
  // fed (available at the convolution's position) and its statistics outputs are unused. Skipped
  // under check_numerics, whose errors name single nodes.
  plan.fused_batch_norm_.assign(order.size(), -1);
  plan.fused_relu_.assign(order.size(), -1);
  plan.fused_away_.assign(order.size(), false);
  std::vector<std::int32_t> position_of(g.nodes().size(), -1), reader_count(n_values, 0), only_reader(n_values, -1);
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    position_of[order[pos]] = static_cast<std::int32_t>(pos);
    for (ValueId in : g.node(order[pos]).inputs) {
      ++reader_count[in];
      only_reader[in] = static_cast<std::int32_t>(pos);
    }
  }
  auto sole_reader = [&](ValueId v, const char* op) -> std::int32_t {
    if (plan.kept_[v] || reader_count[v] != 1) return -1;
    const Node& reader = g.node(order[only_reader[v]]);
    return reader.op == op && reader.inputs[0] == v ? only_reader[v] : -1;
  };
  for (std::size_t pos = 0; pos < order.size() && !options.check_numerics; ++pos) {
    const Node& conv = g.node(order[pos]);
    if (conv.op != "conv2d" || !is_float(g.value(conv.outputs[0]).type.dtype)) continue;
    const std::int32_t bn_pos = sole_reader(conv.outputs[0], "batch_norm");
    if (bn_pos < 0) continue;
    const Node& bn = g.node(order[bn_pos]);
    auto training = bn.attrs.find("training");
    if (training == bn.attrs.end() || std::get<bool>(training->second)) continue;
    bool fusable = std::all_of(bn.inputs.begin() + 1, bn.inputs.end(), [&](ValueId v) { return g.value(v).kind != ValueKind::result; });
    for (std::size_t i = 1; i < bn.outputs.size(); ++i)
      fusable = fusable && !plan.kept_[bn.outputs[i]] && plan.last_reader_[bn.outputs[i]] < 0;
    if (!fusable) continue;
    plan.fused_batch_norm_[pos] = bn_pos;
    plan.fused_away_[bn_pos] = true;
    const std::int32_t relu_pos = sole_reader(bn.outputs[0], "relu");
    if (relu_pos >= 0) {
      plan.fused_relu_[pos] = relu_pos;
      plan.fused_away_[relu_pos] = true;
    }
  }
  // The values a fused group writes: the last op's outputs.
  auto written = [&](std::size_t pos) -> const std::vector<ValueId>& {
    if (plan.fused_relu_[pos] >= 0) return g.node(order[plan.fused_relu_[pos]]).outputs;
    if (plan.fused_batch_norm_[pos] >= 0) return g.node(order[plan.fused_batch_norm_[pos]]).outputs;
    return g.node(order[pos]).outputs;
  };

  // Buffer slots by liveness: a result takes a free slot of its exact type (the most recently
  // freed one, still warm in cache), or the slot of an input dying at this node when the op may
  // write in place. Fetched results get fresh tensors, since the caller keeps them.
  plan.slot_of_.assign(n_values, -1);
  plan.zero_outputs_.assign(order.size(), false);
  std::vector<std::int32_t> free_slots;
  auto is_dying_input = [&](ValueId v, std::size_t pos) {
    return g.value(v).kind == ValueKind::result && !plan.kept_[v] && plan.slot_of_[v] >= 0 &&
           plan.last_reader_[v] == static_cast<std::int32_t>(pos);
  };
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const Node& node = g.node(order[pos]);
    plan.zero_outputs_[pos] = !writes_every_output(node.op);
    if (plan.fused_away_[pos]) continue;  // its inputs are fused values or feeds; it writes nothing
    const bool fused = plan.fused_batch_norm_[pos] >= 0;
    std::vector<ValueId> taken_inputs;
    for (ValueId out : written(pos)) {
      if (plan.kept_[out]) continue;
      if (fused && plan.last_reader_[out] < 0) continue;  // the batch norm's unused statistics
      const TensorType& type = g.value(out).type;
      std::int32_t slot = -1;
      if (may_write_in_place(node.op)) {
        for (ValueId in : node.inputs) {
          bool read_once = std::count(node.inputs.begin(), node.inputs.end(), in) == 1;
          if (read_once && is_dying_input(in, pos) && g.value(in).type == type &&
              std::find(taken_inputs.begin(), taken_inputs.end(), in) == taken_inputs.end()) {
            slot = plan.slot_of_[in];
            taken_inputs.push_back(in);
            break;
          }
        }
      }
      if (slot < 0) {
        for (auto it = free_slots.rbegin(); it != free_slots.rend(); ++it)
          if (plan.slot_types_[*it] == type) {
            slot = *it;
            free_slots.erase(std::next(it).base());
            break;
          }
      }
      if (slot < 0) {
        slot = static_cast<std::int32_t>(plan.slot_types_.size());
        plan.slot_types_.push_back(type);
        plan.slot_bytes_ += byte_count(type.shape, type.dtype);
      }
      plan.slot_of_[out] = slot;
    }
    std::vector<ValueId> released;
    for (ValueId in : node.inputs)
      if (is_dying_input(in, pos) && std::find(taken_inputs.begin(), taken_inputs.end(), in) == taken_inputs.end() &&
          std::find(released.begin(), released.end(), in) == released.end()) {
        released.push_back(in);
        free_slots.push_back(plan.slot_of_[in]);
      }
    for (ValueId out : written(pos))
      if (plan.last_reader_[out] < 0 && plan.slot_of_[out] >= 0) free_slots.push_back(plan.slot_of_[out]);
  }

  // Dependencies between executed positions: a reader waits for the value's producer; a writer of
  // a slot waits for the slot's previous writer and every reader of the value it held.
  {
    const std::size_t positions = order.size();
    std::vector<std::vector<std::int32_t>> predecessors(positions);
    std::vector<std::int32_t> producer(n_values, -1), slot_writer(plan.slot_types_.size(), -1);
    std::vector<std::vector<std::int32_t>> slot_readers(plan.slot_types_.size());
    for (std::size_t pos = 0; pos < positions; ++pos) {
      if (plan.fused_away_[pos]) continue;
      const std::int32_t p = static_cast<std::int32_t>(pos);
      // A fused group reads its members' inputs that it does not compute itself.
      std::vector<ValueId> reads, writes = written(pos);
      std::vector<std::size_t> members = {pos};
      if (plan.fused_batch_norm_[pos] >= 0) members.push_back(static_cast<std::size_t>(plan.fused_batch_norm_[pos]));
      if (plan.fused_relu_[pos] >= 0) members.push_back(static_cast<std::size_t>(plan.fused_relu_[pos]));
      for (std::size_t m : members)
        for (ValueId in : g.node(order[m]).inputs) {
          bool internal = false;
          for (std::size_t other : members)
            for (ValueId out : g.node(order[other]).outputs) internal = internal || out == in;
          if (!internal) reads.push_back(in);
        }
      for (ValueId in : reads) {
        if (producer[in] >= 0) predecessors[pos].push_back(producer[in]);
        if (plan.slot_of_[in] >= 0) slot_readers[plan.slot_of_[in]].push_back(p);
      }
      for (ValueId out : writes) {
        producer[out] = p;
        const std::int32_t slot = plan.slot_of_[out];
        if (slot < 0) continue;
        if (slot_writer[slot] >= 0) predecessors[pos].push_back(slot_writer[slot]);
        for (std::int32_t reader : slot_readers[slot])
          if (reader != p) predecessors[pos].push_back(reader);
        slot_writer[slot] = p;
        slot_readers[slot].clear();
      }
    }
    plan.successors_.assign(positions, {});
    plan.predecessor_count_.assign(positions, 0);
    for (std::size_t pos = 0; pos < positions; ++pos) {
      std::vector<std::int32_t>& before = predecessors[pos];
      std::sort(before.begin(), before.end());
      before.erase(std::unique(before.begin(), before.end()), before.end());
      for (std::int32_t b : before)
        if (b != static_cast<std::int32_t>(pos)) {
          plan.successors_[static_cast<std::size_t>(b)].push_back(static_cast<std::int32_t>(pos));
          ++plan.predecessor_count_[pos];
        }
    }
  }

  int threads = options.threads > 0 ? options.threads : tbb::task_arena::automatic;
  plan.arena_ = std::make_shared<tbb::task_arena>(threads);
  plan.pool_ = std::make_shared<Plan::StatePool>();
  return plan;
}

bool Plan::must_precede(std::size_t before, std::size_t after) const {
  if (before >= order_.size() || after >= order_.size())
    fail("must_precede: position ", std::max(before, after), " is outside the plan's ", order_.size(), " nodes");
  std::vector<bool> seen(order_.size(), false);
  std::vector<std::size_t> stack = {before};
  while (!stack.empty()) {
    const std::size_t pos = stack.back();
    stack.pop_back();
    for (std::int32_t next : successors_[pos]) {
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
  static RunResult run(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed, std::vector<double>* node_seconds) {
    std::unique_ptr<Plan::StatePool::State> state = plan.pool_->acquire();
    RunResult result;
    try {
      plan.arena_->execute([&] { result = execute(plan, *state, feeds, step_seed, node_seconds); });
    } catch (...) {
      plan.pool_->release(std::move(state));
      throw;
    }
    plan.pool_->release(std::move(state));
    return result;
  }

 private:
  using State = Plan::StatePool::State;

  static RunResult execute(const Plan& plan, State& state, const Feeds& feeds, std::uint64_t step_seed,
                           std::vector<double>* node_seconds) {
    const Graph& g = plan.graph_;
    std::vector<const Tensor*>& bound = state.bound;
    bound.assign(g.values().size(), nullptr);
    state.fetched.resize(g.values().size());
    if (state.slots.size() != plan.slot_types_.size()) {
      state.slots.clear();
      state.slots.reserve(plan.slot_types_.size());
      for (const TensorType& type : plan.slot_types_) state.slots.emplace_back(type.dtype, type.shape);
    }
    for (ValueId id : plan.feeds_) {
      const ValueInfo& info = g.value(id);
      auto it = feeds.find(info.name);
      if (it == feeds.end() || it->second == nullptr)
        fail("run: no tensor fed for ", value_kind_name(info.kind), " '", info.name, "' (", to_string(info.type), ")");
      const Tensor& t = *it->second;
      if (t.dtype() != info.type.dtype || t.shape() != info.type.shape)
        fail("run: ", value_kind_name(info.kind), " '", info.name, "' expects ", to_string(info.type), ", got ",
             dtype_name(t.dtype()), to_string(t.shape()));
      bound[id] = &t;
    }
    for (std::size_t id = 0; id < g.values().size(); ++id)
      if (g.values()[id].kind == ValueKind::constant) bound[id] = g.values()[id].constant.get();
    if (node_seconds) node_seconds->assign(plan.order_.size(), 0.0);

    if (state.affine.size() != plan.order_.size()) state.affine.resize(plan.order_.size());
    const bool concurrent = plan.options_.concurrent_nodes && !plan.options_.check_numerics && !node_seconds &&
                            plan.arena_->max_concurrency() > 1;
    if (concurrent) {
      run_concurrently(plan, state, step_seed);
    } else {
      for (std::size_t pos = 0; pos < plan.order_.size(); ++pos) {
        if (plan.fused_away_[pos]) continue;
        const auto start = node_seconds ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        run_position(plan, state, pos, step_seed);
        if (node_seconds)
          (*node_seconds)[pos] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    RunResult result;
    for (ValueId id : plan.fetches_) {
      if (!bound[id]) fail("run: fetched value '", g.value(id).name, "' was not computed");
      result.values.emplace(id, g.value(id).kind == ValueKind::result ? std::move(state.fetched[id]) : Tensor(*bound[id]));
    }
    return result;
  }

  // Each position as a task once its predecessors are done (see Plan::successors_).
  static void run_concurrently(const Plan& plan, State& state, std::uint64_t step_seed) {
    const std::size_t positions = plan.order_.size();
    if (state.pending_size != positions) {
      state.pending = std::make_unique<std::atomic<std::int32_t>[]>(positions);
      state.pending_size = positions;
    }
    for (std::size_t pos = 0; pos < positions; ++pos)
      state.pending[pos].store(plan.predecessor_count_[pos], std::memory_order_relaxed);
    tbb::task_group group;
    struct Runner {
      const Plan& plan;
      State& state;
      std::uint64_t step_seed;
      tbb::task_group& group;
      void operator()(std::size_t pos) const {
        run_position(plan, state, pos, step_seed);
        for (std::int32_t next : plan.successors_[pos])
          if (state.pending[static_cast<std::size_t>(next)].fetch_sub(1, std::memory_order_acq_rel) == 1)
            group.run([runner = *this, next] { runner(static_cast<std::size_t>(next)); });
      }
    };
    const Runner runner{plan, state, step_seed, group};
    for (std::size_t pos = 0; pos < positions; ++pos)
      if (!plan.fused_away_[pos] && plan.predecessor_count_[pos] == 0) group.run([runner, pos] { runner(pos); });
    group.wait();
  }

  static void run_position(const Plan& plan, State& state, std::size_t pos, std::uint64_t step_seed) {
    if (plan.fused_batch_norm_[pos] >= 0) {
      run_fused_conv(plan, state, pos);
      return;
    }
    const Graph& g = plan.graph_;
    const Node& node = g.node(plan.order_[pos]);
    std::vector<const Tensor*> inputs;
    std::vector<Tensor*> outputs;
    for (ValueId in : node.inputs) {
      if (!state.bound[in]) fail("run: op '", node.op, "' node '", node.name, "' reads '", g.value(in).name, "' before it is computed");
      inputs.push_back(state.bound[in]);
    }
    for (ValueId out : node.outputs) {
      const ValueInfo& info = g.value(out);
      Tensor* t;
      if (plan.slot_of_[out] >= 0) {
        t = &state.slots[plan.slot_of_[out]];
        // An in-place output shares its input's buffer, whose contents the kernel reads.
        const bool in_place = std::find(inputs.begin(), inputs.end(), t) != inputs.end();
        if (plan.zero_outputs_[pos] && !in_place) t->fill(0.0);
      } else {
        state.fetched[out] = Tensor(info.type.dtype, info.type.shape);
        t = &state.fetched[out];
      }
      outputs.push_back(t);
      state.bound[out] = t;
    }
    KernelContext context(node, inputs, outputs, step_seed);
    node.def->forward(node.parsed_attrs, context);
    if (plan.options_.check_numerics) check_node(g, node, inputs, outputs);
  }

  // conv2d -> batch_norm (inference) [-> relu] as one convolution with a per-channel epilogue,
  // computed with batch_norm's and relu's own arithmetic.
  static void run_fused_conv(const Plan& plan, State& state, std::size_t pos) {
    const Graph& g = plan.graph_;
    const Node& conv = g.node(plan.order_[pos]);
    const Node& bn = g.node(plan.order_[plan.fused_batch_norm_[pos]]);
    const bool relu = plan.fused_relu_[pos] >= 0;
    const ValueId out = relu ? g.node(plan.order_[plan.fused_relu_[pos]]).outputs[0] : bn.outputs[0];
    for (ValueId in : conv.inputs)
      if (!state.bound[in]) fail("run: op '", conv.op, "' node '", conv.name, "' reads '", g.value(in).name, "' before it is computed");
    const Tensor& x = *state.bound[conv.inputs[0]];
    const Tensor& w = *state.bound[conv.inputs[1]];
    const Tensor* bias = conv.inputs.size() > 2 ? state.bound[conv.inputs[2]] : nullptr;
    Tensor* y;
    if (plan.slot_of_[out] >= 0) {
      y = &state.slots[plan.slot_of_[out]];
    } else {
      state.fetched[out] = Tensor(g.value(out).type.dtype, g.value(out).type.shape);
      y = &state.fetched[out];
    }
    state.bound[out] = y;
    const auto& stride = std::get<std::vector<std::int64_t>>(conv.attrs.at("stride"));
    const auto& pad = std::get<std::vector<std::int64_t>>(conv.attrs.at("pad"));
    const kernels::ConvGeometry geometry = kernels::conv_geometry(x.shape(), w.shape(), stride, pad);
    const double eps = std::get<double>(bn.attrs.at("eps"));
    dispatch_float(x.dtype(), [&]<class T>() {
      const T* gamma = state.bound[bn.inputs[1]]->data<T>().data();
      const T* beta = state.bound[bn.inputs[2]]->data<T>().data();
      const T* mean = state.bound[bn.inputs[3]]->data<T>().data();
      const T* var = state.bound[bn.inputs[4]]->data<T>().data();
      std::vector<double>& affine = state.affine[pos];
      affine.resize(static_cast<std::size_t>(2 * geometry.f));
      double* scale = affine.data();
      double* shift = scale + geometry.f;
      for (std::int64_t c = 0; c < geometry.f; ++c) {  // batch_norm's inference arithmetic
        const double m = mean[c];
        const double invstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
        scale[c] = gamma[c] * invstd;
        shift[c] = beta[c] - m * scale[c];
      }
      const kernels::ChannelAffine epilogue{.scale = scale, .shift = shift, .relu = relu};
      kernels::conv_forward<T>(geometry, x.data<T>().data(), w.data<T>().data(), bias ? bias->data<T>().data() : nullptr,
                               y->data<T>().data(), &epilogue);
    });
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
  return Executor::run(plan, feeds, step_seed, nullptr);
}

RunResult run_profiled(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed, std::vector<double>& node_seconds) {
  return Executor::run(plan, feeds, step_seed, &node_seconds);
}

}  // namespace dagrad::runtime
