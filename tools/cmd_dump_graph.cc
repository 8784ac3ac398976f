// dagrad dump-graph: the graph's structure as text, Graphviz DOT (Boost.Graph write_graphviz), JSON,
// or an SVG/PNG drawn by Graphviz's `dot`.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/wait.h>

#include "autodiff/grad.h"
#include "graph/dump.h"
#include "proto/model_file.h"
#include "tools/model_source.h"

namespace dagrad::cli {

namespace {

// Pipes DOT through Graphviz `dot` into `path`; a clear error when Graphviz is missing.
void render_with_dot(const std::string& dot, const std::string& format, const std::string& path) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0)
    fail("--format ", format, " needs Graphviz's `dot`, which is not installed (apt-get install graphviz), or use --format dot");
  std::string tmp = path + ".tmp.dot";
  {
    std::ofstream f(tmp);
    f << dot;
    if (!f) fail("cannot write ", tmp);
  }
  std::string command = "dot -T" + format + " '" + tmp + "' -o '" + path + "'";
  int status = std::system(command.c_str());
  std::remove(tmp.c_str());
  if (status != 0) fail("Graphviz `dot` failed (", command, ")");
}

}  // namespace

int run_dump_graph(const std::vector<std::string>& args) {
  po::options_description options("options");
  po::positional_options_description positional;
  add_model_file_positional(options, positional);
  add_model_source_options(options, 1);
  options.add_options()("backward", "the autodiff graph (forward + backward) instead of the forward graph")(
      "format", po::value<std::string>()->default_value("text"), "text | dot | json | svg | png")(
      "out,o", po::value<std::string>(), "write to this file (required for svg and png; default stdout)");
  po::variables_map vm;
  if (!parse("dump-graph", "FILE | --model NAME [--backward] [--format text|dot|json|svg|png] [-o OUT]", options,
             positional, args, vm))
    return kExitOk;
  std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "dot" && format != "json" && format != "svg" && format != "png")
    throw UsageError("--format must be text, dot, json, svg or png, got '" + format + "'");
  if ((format == "svg" || format == "png") && !vm.count("out")) throw UsageError("--format " + format + " needs --out FILE");
  Model model = load_model_source(vm);
  Graph graph = vm.count("backward") ? autodiff::grad_parameters(model.graph).graph : model.graph;

  std::string text;
  if (format == "text") text = graph_to_text(graph);
  else if (format == "json") text = graph_to_json(graph);
  else text = graph_to_dot(graph);
  if (format == "svg" || format == "png") {
    render_with_dot(text, format, vm["out"].as<std::string>());
    return kExitOk;
  }
  if (vm.count("out")) write_file_atomically(vm["out"].as<std::string>(), text);
  else std::cout << text;
  return kExitOk;
}

}  // namespace dagrad::cli
