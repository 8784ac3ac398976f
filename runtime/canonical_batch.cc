#include "runtime/canonical_batch.h"

#include <memory>
#include <span>

#include "graph/op.h"

namespace dagrad::runtime {

std::vector<std::string> non_canonical_batch_nodes(const Graph& graph) {
  const std::vector<ValueInfo>& values = graph.values();
  std::vector<bool> batched(values.size(), false);
  for (std::size_t v = 0; v < values.size(); ++v)
    batched[v] = values[v].kind == ValueKind::input && !values[v].type.shape.empty();
  std::vector<std::string> found;
  for (std::int32_t index : graph.topological_order()) {
    const Node& node = graph.nodes()[static_cast<std::size_t>(index)];
    const OpDef& def = node.def ? *node.def : op_registry().at(node.op);
    std::vector<TensorType> types;
    std::vector<std::int64_t> batch_extents;  // dim 0 of the inputs that carry the batch
    // A plain array: std::vector<bool> has no contiguous bools for the trait's span.
    std::unique_ptr<bool[]> input_batched(new bool[node.inputs.size() + 1]);
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      const auto id = static_cast<std::size_t>(node.inputs[i]);
      types.push_back(values[id].type);
      input_batched[i] = batched[id];
      if (batched[id]) batch_extents.push_back(values[id].type.shape[0]);
    }
    if (def.batch_reduction) {
      const InferContext infer(node.op, node.name, types);
      const BatchContext context{infer, std::span<const bool>(input_batched.get(), node.inputs.size())};
      if (def.batch_reduction(node.parsed_attrs, context) == BatchReduction::non_canonical)
        found.push_back("node '" + node.name + "' (" + node.op + ")");
    }
    for (ValueId id : node.outputs) {
      const Shape& shape = values[static_cast<std::size_t>(id)].type.shape;
      if (shape.empty()) continue;
      for (std::int64_t extent : batch_extents)
        if (shape[0] == extent) batched[static_cast<std::size_t>(id)] = true;
    }
  }
  return found;
}

}  // namespace dagrad::runtime
