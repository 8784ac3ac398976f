// Text, DOT and JSON views of a graph (dagrad dump-graph; usable from any program).
#include "graph/dump.h"

// GCC 12 reports a false -Wmaybe-uninitialized inside boost::optional as write_graphviz iterates edges.
// Clang has no such warning group and would warn about the pragma itself.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/graphviz.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>

namespace dagrad {

namespace {

// A drawing: one vertex per node and per leaf value (input, parameter, state, constant).
struct Drawing {
  struct Vertex { std::string label, shape, fill; };
  struct Edge { std::string label; };
  using BoostGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, Vertex, Edge>;
  BoostGraph graph;
};

Drawing make_drawing(const Graph& g) {
  Drawing d;
  std::vector<std::size_t> vertex_of_node(g.nodes().size());
  std::map<ValueId, std::size_t> vertex_of_leaf;
  for (std::size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& node = g.nodes()[i];
    std::string label = node.name + "\\n" + node.op;
    for (const auto& [key, value] : node.attrs) label += "\\n" + key + "=" + to_string(value);
    vertex_of_node[i] = boost::add_vertex({label, "box", node.backward ? "mistyrose" : "white"}, d.graph);
  }
  for (std::size_t i = 0; i < g.nodes().size(); ++i) {
    for (ValueId in : g.nodes()[i].inputs) {
      const ValueInfo& v = g.value(in);
      std::size_t from;
      if (v.kind == ValueKind::result) {
        from = vertex_of_node[static_cast<std::size_t>(v.producer)];
      } else {
        auto it = vertex_of_leaf.find(in);
        if (it == vertex_of_leaf.end()) {
          const char* fill = v.kind == ValueKind::parameter ? "lightyellow" : v.kind == ValueKind::input ? "lightblue" : "lightgrey";
          std::string label = v.name + "\\n" + value_kind_name(v.kind);
          it = vertex_of_leaf.emplace(in, boost::add_vertex({label, "ellipse", fill}, d.graph)).first;
        }
        from = it->second;
      }
      boost::add_edge(from, vertex_of_node[i], {to_string(v.type)}, d.graph);
    }
  }
  return d;
}

}  // namespace

std::string graph_to_dot(const Graph& g) {
  Drawing d = make_drawing(g);
  std::ostringstream out;
  boost::write_graphviz(
      out, d.graph,
      [&](std::ostream& os, std::size_t v) {
        const auto& vertex = d.graph[v];
        os << "[label=\"" << vertex.label << "\", shape=" << vertex.shape << ", style=filled, fillcolor=" << vertex.fill << "]";
      },
      [&](std::ostream& os, const Drawing::BoostGraph::edge_descriptor& e) { os << "[label=\"" << d.graph[e].label << "\"]"; },
      [](std::ostream& os) { os << "rankdir=TB;\nnode [fontname=\"Helvetica\", fontsize=10];\nedge [fontsize=8];\n"; });
  return out.str();
}

std::string graph_to_json(const Graph& g) {
  using nlohmann::json;
  json values = json::array(), nodes = json::array();
  for (const ValueInfo& v : g.values())
    values.push_back({{"name", v.name}, {"kind", value_kind_name(v.kind)}, {"dtype", dtype_name(v.type.dtype)}, {"shape", v.type.shape}});
  for (const Node& node : g.nodes()) {
    json attrs = json::object();
    // Not a structured binding: clang before 16 cannot capture one in a lambda (the fuzz build uses clang 14).
    for (const auto& attr : node.attrs) std::visit([&](const auto& x) { attrs[attr.first] = x; }, attr.second);
    json inputs = json::array(), outputs = json::array();
    for (ValueId id : node.inputs) inputs.push_back(g.value(id).name);
    for (ValueId id : node.outputs) outputs.push_back(g.value(id).name);
    nodes.push_back({{"name", node.name}, {"op", node.op}, {"version", node.op_version}, {"attrs", attrs},
                     {"inputs", inputs}, {"outputs", outputs}, {"part", node.backward ? "backward" : "forward"}});
  }
  json outputs = json::array();
  for (ValueId id : g.outputs()) outputs.push_back(g.value(id).name);
  json gradients = json::object();
  for (auto [wrt, grad] : g.gradients()) gradients[g.value(wrt).name] = g.value(grad).name;
  json doc = {{"values", values}, {"nodes", nodes}, {"outputs", outputs},
              {"loss", g.loss() == kNoValue ? json(nullptr) : json(g.value(g.loss()).name)}, {"gradients", gradients}};
  return doc.dump(2) + "\n";
}

std::string graph_to_text(const Graph& g) {
  std::ostringstream out;
  out << "values:\n";
  for (const ValueInfo& v : g.values())
    if (v.kind != ValueKind::result) out << "  " << value_kind_name(v.kind) << " " << v.name << " " << to_string(v.type) << "\n";
  out << "nodes:\n";
  for (std::int32_t index : g.topological_order()) {
    const Node& node = g.node(index);
    out << "  " << (node.backward ? "[bwd] " : "") << node.name << " = " << node.op << "(";
    for (std::size_t i = 0; i < node.inputs.size(); ++i) out << (i ? ", " : "") << g.value(node.inputs[i]).name;
    out << ")";
    for (const auto& [key, value] : node.attrs) out << " " << key << "=" << to_string(value);
    out << " ->";
    for (ValueId id : node.outputs) out << " " << to_string(g.value(id).type);
    out << "\n";
  }
  out << "outputs:";
  for (ValueId id : g.outputs()) out << " " << g.value(id).name;
  out << "\n";
  return out.str();
}

}  // namespace dagrad
