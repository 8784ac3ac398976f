#include "runtime/runtime.h"

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <limits>
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

  int threads = options.threads > 0 ? options.threads : tbb::task_arena::automatic;
  plan.arena_ = std::make_shared<tbb::task_arena>(threads);
  return plan;
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
  static RunResult run(const Plan& plan, const Feeds& feeds, std::uint64_t step_seed) {
    const Graph& g = plan.graph_;
    std::vector<const Tensor*> bound(g.values().size(), nullptr);
    std::vector<Tensor> owned(g.values().size());
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

    for (std::size_t pos = 0; pos < plan.order_.size(); ++pos) {
      const Node& node = g.node(plan.order_[pos]);
      std::vector<const Tensor*> inputs;
      for (ValueId in : node.inputs) {
        if (!bound[in]) fail("run: op '", node.op, "' node '", node.name, "' reads '", g.value(in).name, "' before it is computed");
        inputs.push_back(bound[in]);
      }
      std::vector<Tensor*> outputs;
      for (ValueId out : node.outputs) {
        owned[out] = Tensor(g.value(out).type.dtype, g.value(out).type.shape);
        outputs.push_back(&owned[out]);
        bound[out] = &owned[out];
      }
      KernelContext context(node, inputs, outputs, step_seed);
      node.def->forward(node.parsed_attrs, context);
      if (plan.options_.check_numerics) check_node(g, node, inputs, outputs);
      for (ValueId in : node.inputs)  // free results after their last reader
        if (g.value(in).kind == ValueKind::result && plan.last_reader_[in] == static_cast<std::int32_t>(pos) && !plan.kept_[in]) {
          owned[in] = Tensor();
          bound[in] = nullptr;
        }
    }
    RunResult result;
    for (ValueId id : plan.fetches_) {
      if (!bound[id]) fail("run: fetched value '", g.value(id).name, "' was not computed");
      result.values.emplace(id, g.value(id).kind == ValueKind::result ? std::move(owned[id]) : Tensor(*bound[id]));
    }
    return result;
  }

 private:
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
  RunResult result;
  plan.arena_->execute([&] { result = Executor::run(plan, feeds, step_seed); });
  return result;
}

}  // namespace dagrad::runtime
