// dagrad profile: per-node forward and backward wall time of a training step (like `caffe time`),
// averaged over several runs, with each node's share and totals per op.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "autodiff/grad.h"
#include "autodiff/gradcheck.h"
#include "models/signature.h"
#include "models/zoo.h"
#include "runtime/memory.h"
#include "runtime/runtime.h"
#include "tools/cli.h"
#include "tools/model_source.h"

namespace dagrad::cli {

int run_profile(const std::vector<std::string>& args) {
  po::options_description options("options");
  po::positional_options_description positional;
  add_model_file_positional(options, positional);
  add_model_source_options(options, 64);
  options.add_options()("threads", po::value<int>()->default_value(0), "worker threads (0: all cores)")(
      "iterations", po::value<int>()->default_value(10), "timed runs (after 2 warm-up runs)")(
      "inference", "profile the forward pass in inference mode instead of a training step")(
      "top", po::value<int>()->default_value(0), "list only the N slowest nodes (0: all, in run order)")(
      "ignore-memory-check", po::bool_switch(), "run even if the plan needs more memory than is available")(
      "no-fusion", po::bool_switch(), "run every node as its own kernel (to measure what fusion gains)");
  po::variables_map vm;
  if (!parse("profile", "FILE | MODEL | --model NAME [--batch N] [--threads N] [--iterations N] [--inference] [--top N]",
             options, positional, args, vm))
    return kExitOk;
  // A positional zoo name that is not a file stands for --model NAME.
  if (vm.count("file") && !vm.count("model") && !std::filesystem::exists(vm["file"].as<std::string>())) {
    const std::string name = vm["file"].as<std::string>();
    for (const auto& entry : models::zoo_models())
      if (entry.name == name) {
        vm.erase("file");
        vm.insert({"model", po::variable_value(name, false)});
      }
  }
  const bool training = !vm.count("inference");
  const int iterations = static_cast<int>(int_at_least(vm, "iterations", 1));
  const int threads = threads_option(vm);
  const int top = static_cast<int>(int_at_least(vm, "top", 0));
  Model model = load_model_source(vm, training, training);  // a training step needs a loss

  Graph g = model.graph;
  if (training) {
    if (g.loss() == kNoValue) fail("profile: the model has no loss to differentiate");
    g = autodiff::grad_parameters(g).graph;
  }
  // Labels of the random batch are drawn below the model's class count (any graph profiles: 10
  // when it has no logits).
  const models::ModelSignature sig = models::ModelSignature::find(g);
  const std::int64_t classes = sig.logits != kNoValue ? sig.classes(g) : 10;
  // The batch the graph runs at: a FILE keeps its own (an .onnx FILE's is 1) unless --batch is given.
  const std::string batch = std::to_string(sig.image != kNoValue ? sig.batch(g) : vm["batch"].as<std::int64_t>());
  runtime::Plan plan = runtime::compile(g, {.threads = threads, .fuse = !vm["no-fusion"].as<bool>()});
  if (!vm["ignore-memory-check"].as<bool>()) {
    // Counted before the random batch is made: the plan's peak (intermediates under liveness),
    // the parameters and state it reads, and the batch it is fed.
    std::int64_t needed = plan.peak_bytes();
    for (const TensorMap* map : {&model.parameters, &model.state})
      for (const auto& [name, t] : *map) needed += static_cast<std::int64_t>(t.nbytes());
    for (ValueId id : g.values_of_kind(ValueKind::input)) needed += byte_count(g.value(id).type.shape, g.value(id).type.dtype);
    runtime::check_memory_fits(needed, "profile of '" + model_source_label(vm) + "' with --batch " + batch);
  }
  TensorMap inputs = autodiff::random_inputs(g, vm["seed"].as<std::uint64_t>(), classes);
  runtime::Feeds feeds = runtime::feeds_from({&model.parameters, &model.state, &inputs});

  std::vector<double> seconds, total(plan.order().size(), 0.0);
  for (int i = 0; i < 2; ++i) runtime::run_profiled(plan, feeds, static_cast<std::uint64_t>(i), seconds);
  for (int i = 0; i < iterations; ++i) {
    runtime::run_profiled(plan, feeds, static_cast<std::uint64_t>(i + 2), seconds);
    for (std::size_t p = 0; p < seconds.size(); ++p) total[p] += seconds[p];
  }
  // A fused step (runtime/passes.h) is one row named by its nodes' ops joined by '+'; the nodes
  // it absorbed have no row of their own.
  const runtime::Schedule& schedule = plan.schedule();
  auto step_ops = [&](std::size_t p) {
    std::string ops;
    for (std::int32_t m : schedule.steps[p].members(static_cast<std::int32_t>(p)))
      ops += (ops.empty() ? "" : "+") + g.node(plan.order()[static_cast<std::size_t>(m)]).op;
    return ops;
  };
  double all = 0, forward = 0, backward = 0;
  std::map<std::string, std::pair<double, int>> per_op;
  std::vector<std::size_t> rows;
  for (std::size_t p = 0; p < total.size(); ++p) {
    if (schedule.steps[p].fused_away) continue;
    rows.push_back(p);
    total[p] /= iterations;
    const Node& node = g.node(plan.order()[p]);
    all += total[p];
    (node.backward ? backward : forward) += total[p];
    auto& [time, count] = per_op[step_ops(p) + (node.backward ? " (backward)" : "")];
    time += total[p];
    ++count;
  }

  const std::size_t steps_run = rows.size();
  if (top > 0) {
    std::stable_sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return total[a] > total[b]; });
    rows.resize(std::min<std::size_t>(rows.size(), static_cast<std::size_t>(top)));
  }
  std::printf("%-4s %-9s %-26s %-44s %-18s %10s %6s\n", "#", "pass", "op", "node", "output", "ms", "share");
  for (std::size_t p : rows) {
    const Node& node = g.node(plan.order()[p]);
    const std::vector<ValueId>& writes = schedule.steps[p].writes;
    std::string shape = writes.empty() ? "" : to_string(g.value(writes[0]).type.shape);
    std::printf("%-4zu %-9s %-26s %-44s %-18s %10.3f %5.1f%%\n", p, node.backward ? "backward" : "forward",
                step_ops(p).c_str(), node.name.c_str(), shape.c_str(), 1000 * total[p], 100 * total[p] / all);
  }
  std::printf("\nper op:\n");
  std::vector<std::pair<std::string, std::pair<double, int>>> ops(per_op.begin(), per_op.end());
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  for (const auto& [op, entry] : ops)
    std::printf("  %-40s %4d nodes %10.3f ms %5.1f%%\n", op.c_str(), entry.second, 1000 * entry.first, 100 * entry.first / all);
  std::printf("\nforward %.3f ms, backward %.3f ms, total %.3f ms per run (%zu nodes in %zu steps, %d runs, batch %s)\n",
              1000 * forward, 1000 * backward, 1000 * all, total.size(), steps_run, iterations, batch.c_str());
  return kExitOk;
}

}  // namespace dagrad::cli
