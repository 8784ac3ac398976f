#include "runtime/passes.h"

#include <algorithm>

#include "runtime/runtime.h"

namespace dagrad::runtime {

namespace {
std::int64_t bytes_of(const Graph& g, ValueId v) { return byte_count(g.value(v).type.shape, g.value(v).type.dtype); }
bool contains(const std::vector<ValueId>& list, ValueId v) { return std::find(list.begin(), list.end(), v) != list.end(); }
}  // namespace

void select_fetches(Schedule& s, const Graph& g, std::vector<ValueId> fetch) {
  if (fetch.empty()) {
    fetch = g.outputs();
    for (auto [wrt, grad] : g.gradients()) fetch.push_back(grad);
    for (auto [state, next] : g.state_updates()) fetch.push_back(next);
  }
  std::sort(fetch.begin(), fetch.end());
  fetch.erase(std::unique(fetch.begin(), fetch.end()), fetch.end());
  for (ValueId id : fetch) g.value(id);  // range check
  s.fetches = std::move(fetch);
}

void prune(Schedule& s, const Graph& g) {
  std::vector<bool> needed(g.values().size(), false);
  for (ValueId id : s.fetches) needed[id] = true;
  const std::vector<std::int32_t> full = g.topological_order();
  s.order.clear();
  for (auto it = full.rbegin(); it != full.rend(); ++it) {
    const Node& node = g.node(*it);
    if (std::none_of(node.outputs.begin(), node.outputs.end(), [&](ValueId v) { return needed[v]; })) continue;
    s.order.push_back(*it);
    for (ValueId in : node.inputs) needed[in] = true;
  }
  std::reverse(s.order.begin(), s.order.end());
  s.steps.assign(s.order.size(), Step{});
  for (std::size_t pos = 0; pos < s.order.size(); ++pos) s.steps[pos].node = s.order[pos];
  s.feeds.clear();
  for (std::size_t id = 0; id < needed.size(); ++id) {
    const ValueKind kind = g.values()[id].kind;
    if (needed[id] && (kind == ValueKind::input || kind == ValueKind::parameter || kind == ValueKind::state))
      s.feeds.push_back(static_cast<ValueId>(id));
  }
}

void liveness(Schedule& s, const Graph& g) {
  s.values.assign(g.values().size(), ValueState{});
  for (ValueId id : s.fetches) s.values[id].kept = true;
  for (std::size_t pos = 0; pos < s.order.size(); ++pos)
    for (ValueId in : g.node(s.order[pos]).inputs) s.values[in].last_reader = static_cast<std::int32_t>(pos);
}

void measure_peak(Schedule& s, const Graph& g) {
  std::int64_t live = 0;
  s.peak_bytes = 0;
  for (std::size_t pos = 0; pos < s.order.size(); ++pos) {
    const Node& node = g.node(s.order[pos]);
    for (ValueId out : node.outputs) live += bytes_of(g, out);
    s.peak_bytes = std::max(s.peak_bytes, live);
    for (ValueId v : node.inputs) {
      const ValueState& state = s.values[v];
      if (g.value(v).kind == ValueKind::result && state.last_reader == static_cast<std::int32_t>(pos) && !state.kept)
        live -= bytes_of(g, v);
    }
    for (ValueId out : node.outputs)
      if (s.values[out].last_reader < 0 && !s.values[out].kept) live -= bytes_of(g, out);
  }
}

namespace {
// The position of v's only reader (reading it once, at any input), -1 if v is fetched or read by
// none or several.
std::int32_t only_reader(const Schedule& s, const Graph& g, ValueId v) {
  if (s.values[v].kept) return -1;
  std::int32_t found = -1;
  for (std::size_t pos = 0; pos < s.order.size(); ++pos)
    for (ValueId in : g.node(s.order[pos]).inputs)
      if (in == v) {
        if (found >= 0) return -1;
        found = static_cast<std::int32_t>(pos);
      }
  return found;
}

// Position of each value's producer in the order; -1 for fed values and those not computed.
std::vector<std::int32_t> producer_positions(const Schedule& s, const Graph& g) {
  std::vector<std::int32_t> producer(g.values().size(), -1);
  for (std::size_t pos = 0; pos < s.order.size(); ++pos)
    for (ValueId out : g.node(s.order[pos]).outputs) producer[out] = static_cast<std::int32_t>(pos);
  return producer;
}

bool same_type(const Graph& g, ValueId a, ValueId b) { return g.value(a).type == g.value(b).type; }

// Whether every input of node is ready at position `pos` (fed, or computed before it), apart from `skip`.
bool ready_at(const std::vector<std::int32_t>& producer, const Node& node, std::int32_t pos, ValueId skip) {
  return std::all_of(node.inputs.begin(), node.inputs.end(), [&](ValueId in) { return in == skip || producer[in] < pos; });
}

// The position of v's only reader when that reader takes v as input 0 and satisfies `fits`; -1 otherwise.
template <class Fits> std::int32_t sole_reader(const Schedule& s, const Graph& g, ValueId v, Fits fits) {
  const std::int32_t found = only_reader(s, g, v);
  if (found < 0) return -1;
  const Node& reader = g.node(s.order[found]);
  return reader.inputs[0] == v && fits(reader) ? found : -1;
}

// An affine node can fold into the kernel before it when its parameters are fed (available at the
// kernel's position) and its outputs other than y are neither fetched nor read.
bool foldable_affine(const Schedule& s, const Graph& g, const Node& node) {
  const OpDef& def = *node.def;
  if (!def.is_channel_affine || !def.is_channel_affine(node.parsed_attrs)) return false;
  for (std::size_t i = 1; i < node.inputs.size(); ++i)
    if (g.value(node.inputs[i]).kind == ValueKind::result) return false;
  for (std::size_t i = 1; i < node.outputs.size(); ++i)
    if (s.values[node.outputs[i]].kept || s.values[node.outputs[i]].last_reader >= 0) return false;
  return true;
}

// The position of the residual sum that is y's only reader, when its other input has y's type and
// is ready at position `head` (fed, or computed before): the sum a kernel at `head` can add in its
// epilogue. -1 otherwise.
std::int32_t residual_sum_after(const Schedule& s, const Graph& g, const std::vector<std::int32_t>& producer,
                                std::int32_t head, ValueId y) {
  const std::int32_t reader = only_reader(s, g, y);
  if (reader < 0 || s.steps[reader].fused_away || s.steps[reader].fused()) return -1;
  const Node& sum = g.node(s.order[reader]);
  if (!sum.def->residual_add || sum.inputs.size() != 2 || sum.outputs.size() != 1) return -1;
  const ValueId residual = sum.inputs[0] == y ? sum.inputs[1] : sum.inputs[0];
  const bool fits = residual != y && same_type(g, residual, y) && same_type(g, sum.outputs[0], y) && producer[residual] < head;
  return fits ? reader : -1;
}

// Whether the step at `pos` is an activation of v alone, not yet fused.
bool activation_of(const Schedule& s, const Graph& g, std::int32_t pos, ValueId v) {
  if (pos < 0 || s.steps[pos].fused_away || s.steps[pos].fused()) return false;
  const Node& n = g.node(s.order[pos]);
  return n.def->activation != Activation::none && n.inputs.size() == 1 && n.inputs[0] == v && n.outputs.size() == 1 &&
         same_type(g, v, n.outputs[0]);
}

// Folds into the step at `head` the residual sum reading y (when the head's kernel can add it) and
// then the activation of the result, each only when it is the value's sole reader.
void absorb_sum_and_activation(Schedule& s, const Graph& g, const std::vector<std::int32_t>& producer, std::int32_t head,
                               ValueId y) {
  Step& step = s.steps[head];
  if (g.node(step.node).def->epilogue_residual) {
    const std::int32_t sum = residual_sum_after(s, g, producer, head, y);
    if (sum >= 0) {
      step.residual_step = sum;
      s.steps[sum].fused_away = true;
      y = g.node(s.order[sum]).outputs[0];
    }
  }
  const std::int32_t act = only_reader(s, g, y);
  if (!activation_of(s, g, act, y)) return;
  step.activation_step = act;
  step.activation = g.node(s.order[act]).def->activation;
  s.steps[act].fused_away = true;
}
}  // namespace

void fuse_inference_epilogues(Schedule& s, const Graph& g) {
  const std::vector<std::int32_t> producer = producer_positions(s, g);
  for (std::size_t pos = 0; pos < s.order.size(); ++pos) {
    Step& step = s.steps[pos];
    const Node& head = g.node(step.node);
    if (step.fused_away || !head.def->forward_with_epilogue || head.outputs.size() != 1 ||
        !is_float(g.value(head.outputs[0]).type.dtype))
      continue;
    const std::int32_t affine =
        sole_reader(s, g, head.outputs[0], [&](const Node& n) { return foldable_affine(s, g, n); });
    if (affine < 0) continue;
    step.affine = affine;
    s.steps[affine].fused_away = true;
    absorb_sum_and_activation(s, g, producer, static_cast<std::int32_t>(pos), g.node(s.order[affine]).outputs[0]);
  }
}

std::vector<std::int32_t> Step::members(std::int32_t self) const {
  std::vector<std::int32_t> positions = {self};
  for (std::int32_t p : {affine, residual_step, activation_step, prologue_reader})
    if (p >= 0) positions.push_back(p);
  return positions;
}

void fuse_training_steps(Schedule& s, const Graph& g) {
  const std::vector<std::int32_t> producer = producer_positions(s, g);
  for (std::size_t i = 0; i < s.order.size(); ++i) {
    const auto pos = static_cast<std::int32_t>(i);
    Step& step = s.steps[i];
    if (step.fused_away || step.fused()) continue;
    const Node& head = g.node(step.node);
    if (head.def->epilogue_residual && head.def->forward_with_epilogue && !head.outputs.empty() &&
        is_float(g.value(head.outputs[0]).type.dtype)) {
      absorb_sum_and_activation(s, g, producer, pos, head.outputs[0]);
      continue;
    }
    if (head.def->activation_grad != Activation::none && head.inputs.size() == 2 && head.outputs.size() == 1) {
      const ValueId grad = head.outputs[0];
      const std::int32_t reader = only_reader(s, g, grad);
      if (reader < 0 || s.steps[reader].fused_away || s.steps[reader].fused()) continue;
      const Node& consumer = g.node(s.order[reader]);
      const int input = consumer.def->grad_prologue_input;
      if (!consumer.def->forward_with_grad_prologue || input < 0 || input >= static_cast<int>(consumer.inputs.size()) ||
          consumer.inputs[static_cast<std::size_t>(input)] != grad || !same_type(g, head.inputs[1], grad) ||
          !ready_at(producer, consumer, pos, grad))
        continue;
      step.prologue_reader = reader;
      step.activation = head.def->activation_grad;
      s.steps[reader].fused_away = true;
    }
  }
}

void describe_steps(Schedule& s, const Graph& g) {
  for (std::size_t pos = 0; pos < s.steps.size(); ++pos) {
    Step& step = s.steps[pos];
    const std::int32_t kernel_node = step.prologue_reader >= 0 ? s.order[step.prologue_reader] : step.node;
    step.zero_fill = !g.node(kernel_node).def->writes_every_output;
    step.reads.clear();
    step.writes.clear();
    if (step.fused_away) continue;
    std::vector<ValueId> internal;
    std::vector<std::int32_t> members;
    for (std::int32_t m : step.members(static_cast<std::int32_t>(pos))) members.push_back(s.order[m]);
    for (std::int32_t m : members) {
      for (ValueId in : g.node(m).inputs)
        if (!contains(internal, in) && !contains(step.reads, in)) step.reads.push_back(in);
      // Outputs of earlier members are computed inside the group.
      for (ValueId out : g.node(m).outputs) internal.push_back(out);
    }
    // The last member's outputs; an epilogue replaces only the head's output 0.
    step.writes = g.node(members.back()).outputs;
    if (step.prologue_reader < 0 && members.size() > 1) {
      const std::vector<ValueId>& head_outputs = g.node(members.front()).outputs;
      step.writes.insert(step.writes.end(), head_outputs.begin() + 1, head_outputs.end());
    }
  }
  // A fused step reads its members' inputs where it runs: each value's last reader again.
  for (ValueState& state : s.values) state.last_reader = -1;
  for (std::size_t pos = 0; pos < s.steps.size(); ++pos)
    for (ValueId in : s.steps[pos].reads) s.values[in].last_reader = static_cast<std::int32_t>(pos);
}

namespace {
// The slot of node's in_place_input if that input dies at `pos` and has the output's type; -1 otherwise.
std::int32_t in_place_slot(const Schedule& s, const Graph& g, const Node& node, std::size_t pos, const TensorType& type) {
  const int i = node.def->in_place_input;
  if (i < 0 || i >= static_cast<int>(node.inputs.size())) return -1;
  const ValueId in = node.inputs[static_cast<std::size_t>(i)];
  const ValueState& state = s.values[in];
  const bool read_once = std::count(node.inputs.begin(), node.inputs.end(), in) == 1;
  const bool dying = g.value(in).kind == ValueKind::result && !state.kept && state.slot >= 0 &&
                     state.last_reader == static_cast<std::int32_t>(pos);
  return read_once && dying && g.value(in).type == type ? state.slot : -1;
}

std::int32_t take_slot(Schedule& s, std::vector<std::int32_t>& free_slots, const TensorType& type) {
  for (auto it = free_slots.rbegin(); it != free_slots.rend(); ++it)
    if (s.slot_types[static_cast<std::size_t>(*it)] == type) {
      const std::int32_t slot = *it;
      free_slots.erase(std::next(it).base());
      return slot;
    }
  s.slot_types.push_back(type);
  s.slot_bytes += byte_count(type.shape, type.dtype);
  return static_cast<std::int32_t>(s.slot_types.size() - 1);
}
}  // namespace

void assign_slots(Schedule& s, const Graph& g) {
  s.slot_types.clear();
  s.slot_bytes = 0;
  std::vector<std::int32_t> free_slots;
  for (std::size_t pos = 0; pos < s.steps.size(); ++pos) {
    const Step& step = s.steps[pos];
    if (step.fused_away) continue;  // its values are computed by the step it is fused into
    const Node& node = g.node(step.node);
    std::vector<ValueId> taken;
    for (std::size_t i = 0; i < step.writes.size(); ++i) {
      const ValueId out = step.writes[i];
      if (s.values[out].kept) continue;
      // Unused outputs of the affine node a convolution folds in are never written.
      if (step.affine >= 0 && s.values[out].last_reader < 0) continue;
      const TensorType& type = g.value(out).type;
      std::int32_t slot = i == 0 && !step.fused() ? in_place_slot(s, g, node, pos, type) : -1;
      if (slot >= 0) taken.push_back(node.inputs[static_cast<std::size_t>(node.def->in_place_input)]);
      if (slot < 0) slot = take_slot(s, free_slots, type);
      s.values[out].slot = slot;
    }
    std::vector<ValueId> released;
    for (ValueId in : step.reads) {
      const ValueState& state = s.values[in];
      const bool dying = g.value(in).kind == ValueKind::result && !state.kept && state.slot >= 0 &&
                         state.last_reader == static_cast<std::int32_t>(pos);
      if (dying && !contains(taken, in) && !contains(released, in)) {
        released.push_back(in);
        free_slots.push_back(state.slot);
      }
    }
    for (ValueId out : step.writes)
      if (s.values[out].last_reader < 0 && s.values[out].slot >= 0) free_slots.push_back(s.values[out].slot);
  }
}

void dependency_edges(Schedule& s) {
  const std::size_t positions = s.steps.size();
  std::vector<std::vector<std::int32_t>> predecessors(positions);
  std::vector<std::int32_t> producer(s.values.size(), -1), slot_writer(s.slot_types.size(), -1);
  std::vector<std::vector<std::int32_t>> slot_readers(s.slot_types.size());
  for (std::size_t pos = 0; pos < positions; ++pos) {
    const Step& step = s.steps[pos];
    if (step.fused_away) continue;
    const auto p = static_cast<std::int32_t>(pos);
    for (ValueId in : step.reads) {
      if (producer[in] >= 0) predecessors[pos].push_back(producer[in]);
      if (s.values[in].slot >= 0) slot_readers[static_cast<std::size_t>(s.values[in].slot)].push_back(p);
    }
    for (ValueId out : step.writes) {
      producer[out] = p;
      const std::int32_t slot = s.values[out].slot;
      if (slot < 0) continue;
      const auto k = static_cast<std::size_t>(slot);
      if (slot_writer[k] >= 0) predecessors[pos].push_back(slot_writer[k]);
      for (std::int32_t reader : slot_readers[k])
        if (reader != p) predecessors[pos].push_back(reader);
      slot_writer[k] = p;
      slot_readers[k].clear();
    }
  }
  for (Step& step : s.steps) step.successors.clear(), step.predecessor_count = 0;
  for (std::size_t pos = 0; pos < positions; ++pos) {
    std::vector<std::int32_t>& before = predecessors[pos];
    std::sort(before.begin(), before.end());
    before.erase(std::unique(before.begin(), before.end()), before.end());
    for (std::int32_t b : before)
      if (b != static_cast<std::int32_t>(pos)) {
        s.steps[static_cast<std::size_t>(b)].successors.push_back(static_cast<std::int32_t>(pos));
        ++s.steps[pos].predecessor_count;
      }
  }
}

Schedule build_schedule(const Graph& g, const Options& options, std::vector<ValueId> fetch) {
  Schedule s;
  select_fetches(s, g, std::move(fetch));
  prune(s, g);
  liveness(s, g);
  measure_peak(s, g);
  if (options.fuse && !options.check_numerics) {  // check_numerics names single nodes
    fuse_inference_epilogues(s, g);
    fuse_training_steps(s, g);
  }
  describe_steps(s, g);
  assign_slots(s, g);
  dependency_edges(s);
  return s;
}

}  // namespace dagrad::runtime
