// dagrad summary: a table of nodes (name, op, output shape, parameters, FLOPs) and totals.
#include <cstdio>
#include <iostream>

#include "autodiff/grad.h"
#include "graph/analysis.h"
#include "models/signature.h"
#include "ops/kernels/cpu_isa.h"
#include "runtime/runtime.h"
#include "tools/model_source.h"

namespace dagrad::cli {

namespace {
std::string human(double v, const char* unit) {
  const char* prefixes[] = {"", "K", "M", "G", "T", "P", "E", "Z"};
  int p = 0;
  while (v >= 1000 && p < 7) v /= 1000, ++p;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s%s", v, prefixes[p], unit);
  return buf;
}
std::string shapes_of(const NodeSummary& row) {
  std::string s;
  for (std::size_t i = 0; i < row.outputs.size(); ++i) s += (i ? " " : "") + to_string(row.outputs[i].shape);
  return s;
}
}  // namespace

int run_summary(const std::vector<std::string>& args) {
  po::options_description options("options");
  po::positional_options_description positional;
  add_model_file_positional(options, positional);
  add_model_source_options(options, 1);
  po::variables_map vm;
  if (!parse("summary", "FILE | --model NAME [--batch N]", options, positional, args, vm)) return kExitOk;
  Model model = load_model_source(vm);
  const Graph& g = model.graph;
  // Per-image figures divide by the image input's batch (any graph summarizes: else the last
  // input's leading dim).
  const models::ModelSignature sig = models::ModelSignature::find(g);
  std::int64_t batch = 1;
  if (sig.image != kNoValue && !g.value(sig.image).type.shape.empty()) {
    batch = sig.batch(g);
  } else {
    for (ValueId id : g.values_of_kind(ValueKind::input))
      if (!g.value(id).type.shape.empty()) batch = g.value(id).type.shape[0];
  }

  std::printf("%-40s %-22s %-22s %12s %14s\n", "node", "op", "output shape", "parameters", "FLOPs");
  // Totals in double: at large batches they pass int64 while each node's count still fits.
  double flops = 0, activation_bytes = 0;
  for (const NodeSummary& row : summarize_nodes(g)) {
    std::printf("%-40s %-22s %-22s %12lld %14lld\n", row.name.c_str(), row.op.c_str(), shapes_of(row).c_str(),
                static_cast<long long>(row.parameters), static_cast<long long>(row.flops));
    flops += static_cast<double>(row.flops);
    for (const TensorType& t : row.outputs) activation_bytes += static_cast<double>(byte_count(t.shape, t.dtype));
  }
  double step_flops = 0;
  std::int64_t plan_peak = 0;
  if (g.loss() != kNoValue) {
    autodiff::Gradients grads = autodiff::grad_parameters(g);
    step_flops = graph_flops(grads.graph);
    plan_peak = runtime::compile(grads.graph, {.threads = 1}).peak_bytes();
  } else {
    plan_peak = runtime::compile(g, {.threads = 1}).peak_bytes();
  }
  std::int64_t state = 0;
  for (ValueId id : g.values_of_kind(ValueKind::state)) state += element_count(g.value(id).type.shape);
  std::printf("\nnodes %zu, batch %lld\n", g.nodes().size(), static_cast<long long>(batch));
  std::printf("trainable parameters    %lld\n", static_cast<long long>(g.parameter_count()));
  std::printf("state elements          %lld (batch-norm running statistics)\n", static_cast<long long>(state));
  std::printf("forward FLOPs / image   %s\n", human(flops / static_cast<double>(batch), "FLOP").c_str());
  if (step_flops) std::printf("training step / image   %s (forward + backward)\n", human(step_flops / static_cast<double>(batch), "FLOP").c_str());
  std::printf("activation memory       %s (all forward results, batch %lld)\n", human(activation_bytes, "B").c_str(),
              static_cast<long long>(batch));
  std::printf("plan peak memory        %s (%s, liveness-based)\n", human(static_cast<double>(plan_peak), "B").c_str(),
              g.loss() != kNoValue ? "training step" : "forward");
  // The kernels this process would run with (DAGRAD_ISA forces a path).
  std::printf("isa: %s (best on this CPU: %s)\n", kernels::isa_name(kernels::active_isa()),
              kernels::isa_name(kernels::detected_isa()));
  return kExitOk;
}

}  // namespace dagrad::cli
