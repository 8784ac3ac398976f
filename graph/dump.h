#pragma once
// Views of a graph for people and scripts. Forward and backward (autodiff) nodes are marked apart;
// parameters and inputs are drawn as separate leaf vertices.
#include <string>

#include "graph/graph.h"

namespace dagrad {

std::string graph_to_text(const Graph& graph);  // one line per node in dependency order
std::string graph_to_dot(const Graph& graph);   // Graphviz DOT through Boost.Graph's write_graphviz
std::string graph_to_json(const Graph& graph);  // values, nodes (with attributes), outputs, loss, gradients

}  // namespace dagrad
