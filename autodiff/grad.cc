#include "autodiff/grad.h"

#include <algorithm>
#include <map>

#include "graph/op.h"
#include "ops/ops.h"

namespace dagrad::autodiff {

namespace {

bool input_is_differentiable(const Graph& g, const Node& node, int i) {
  const auto& nondiff = node.def->nondifferentiable_inputs;
  return is_float(g.value(node.inputs[i]).type.dtype) && std::find(nondiff.begin(), nondiff.end(), i) == nondiff.end();
}

// Sums the contributions to one value's gradient, in the order they arrived (fixed by the sweep).
Value sum_contributions(std::vector<Value>& parts) {
  Value total = parts.front();
  for (std::size_t i = 1; i < parts.size(); ++i) total = ops::add(total, parts[i]);
  parts = {total};
  return total;
}

}  // namespace

Gradients vjp(const Graph& forward, const std::vector<ValueId>& outputs, const std::vector<ValueId>& cotangents,
              const std::vector<ValueId>& wrt) {
  if (outputs.size() != cotangents.size()) fail("vjp: ", outputs.size(), " outputs but ", cotangents.size(), " cotangents");
  Gradients result{forward, kNoValue, {}};
  Graph& g = result.graph;
  const std::vector<std::int32_t> order = g.topological_order();
  const std::size_t forward_nodes = g.nodes().size();
  const std::size_t n_values = g.values().size();

  // Values that depend on something in wrt, through differentiable inputs.
  std::vector<bool> depends(n_values, false);
  for (ValueId id : wrt) {
    const ValueInfo& info = g.value(id);
    if (!is_float(info.type.dtype)) fail("autodiff: cannot differentiate with respect to '", info.name, "' of dtype ", dtype_name(info.type.dtype));
    depends[id] = true;
  }
  for (std::int32_t index : order) {
    const Node& node = g.node(index);
    bool any = false;
    for (int i = 0; i < static_cast<int>(node.inputs.size()); ++i)
      any = any || (depends[node.inputs[i]] && input_is_differentiable(g, node, i));
    if (any)
      for (ValueId out : node.outputs) depends[out] = is_float(g.value(out).type.dtype);
  }
  // Gradients flow only backwards from the outputs, so nodes the outputs do not depend on never
  // receive a contribution and are skipped: that is the pruning.
  std::map<ValueId, std::vector<Value>> contributions;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const ValueInfo& out = g.value(outputs[i]);
    if (g.value(cotangents[i]).type != out.type)
      fail("vjp: cotangent '", g.value(cotangents[i]).name, "' has type ", to_string(g.value(cotangents[i]).type),
           " but output '", out.name, "' has type ", to_string(out.type));
    if (depends[outputs[i]]) contributions[outputs[i]].push_back(g.handle(cotangents[i]));
  }

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node node = g.node(*it);  // a copy: the rule appends nodes, which may move the vector
    std::vector<Value> dys;
    bool any_dy = false;
    for (ValueId out : node.outputs) {
      auto c = contributions.find(out);
      if (c == contributions.end() || !depends[out]) {
        dys.emplace_back();
        continue;
      }
      Scope scope(g, "grad." + node.name);
      dys.push_back(sum_contributions(c->second));
      any_dy = true;
    }
    if (!any_dy) continue;
    std::vector<bool> needs(node.inputs.size());
    bool any_need = false;
    for (int i = 0; i < static_cast<int>(node.inputs.size()); ++i) {
      needs[i] = depends[node.inputs[i]] && input_is_differentiable(g, node, i);
      any_need = any_need || needs[i];
    }
    if (!any_need) continue;
    if (!node.def->differentiable())
      fail("autodiff: op '", node.op, "' node '", node.name, "' has no gradient rule, but the loss depends on it");

    std::vector<Value> input_grads;
    {
      Scope scope(g, "grad." + node.name);
      GradContext context(g, node, dys, needs);
      input_grads = node.def->grad(node.parsed_attrs, context);
    }
    if (input_grads.size() > node.inputs.size())
      fail("autodiff: gradient rule of op '", node.op, "' returned ", input_grads.size(), " gradients for ",
           node.inputs.size(), " inputs");
    for (std::size_t i = 0; i < input_grads.size(); ++i) {
      if (!needs[i] || !input_grads[i].valid()) continue;
      const TensorType& want = g.value(node.inputs[i]).type;
      if (input_grads[i].type() != want)
        fail("autodiff: gradient rule of op '", node.op, "' node '", node.name, "' returned ",
             to_string(input_grads[i].type()), " for input ", i, " of type ", to_string(want));
      contributions[node.inputs[i]].push_back(input_grads[i]);
    }
  }

  // Everything appended is backward; name and publish the gradients.
  for (std::size_t i = forward_nodes; i < g.nodes().size(); ++i) g.mutable_nodes()[i].backward = true;
  for (ValueId id : wrt) {
    auto c = contributions.find(id);
    if (c == contributions.end() || c->second.empty()) {
      result.grads.push_back(kNoValue);
      continue;
    }
    Value total;
    {
      Scope scope(g, "grad");
      total = sum_contributions(c->second);
    }
    const ValueInfo& info = g.value(total.id());
    std::string name = "grad/" + g.value(id).name;
    if (info.kind == ValueKind::result && info.producer >= static_cast<std::int32_t>(forward_nodes) &&
        !g.find(name) && info.name.rfind("grad/", 0) != 0)
      g.rename_value(total.id(), name);
    g.mark_output(total);
    g.add_gradient(id, total.id());
    result.grads.push_back(total.id());
  }
  // The final fan-in sums were appended too: everything past the forward nodes is backward.
  for (std::size_t i = forward_nodes; i < g.nodes().size(); ++i) g.mutable_nodes()[i].backward = true;
  for (ValueId out : outputs) g.mark_output(g.handle(out));
  return result;
}

Gradients grad(const Graph& forward, ValueId loss, const std::vector<ValueId>& wrt) {
  const ValueInfo& info = forward.value(loss);
  if (!info.type.shape.empty()) fail("autodiff: the loss '", info.name, "' must be a scalar, got shape ", to_string(info.type.shape));
  if (!is_float(info.type.dtype)) fail("autodiff: the loss '", info.name, "' must be f32 or f64");
  Graph seeded = forward;
  Value seed = seeded.constant(seeded.unique_name("grad/seed"), Tensor::scalar(info.type.dtype, 1.0));
  Gradients result = vjp(seeded, {loss}, {seed.id()}, wrt);
  result.loss = loss;
  result.graph.set_loss(result.graph.handle(loss));
  return result;
}

Gradients grad_parameters(const Graph& forward) {
  if (forward.loss() == kNoValue) fail("autodiff: the graph has no loss (call set_loss)");
  return grad(forward, forward.loss(), forward.values_of_kind(ValueKind::parameter));
}

}  // namespace dagrad::autodiff
