// dagrad: the command-line tool. Each subcommand lives in tools/cmd_<name>.cc; this file only
// dispatches and turns errors into one-line messages and exit codes.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "graph/error.h"
#include "ops/kernels/gemm.h"
#include "tools/cli.h"

namespace dagrad::cli {
int run_ops(const std::vector<std::string>& args);
int run_models(const std::vector<std::string>& args);
int run_gradcheck(const std::vector<std::string>& args);
int run_export(const std::vector<std::string>& args);
int run_convert(const std::vector<std::string>& args);
int run_validate(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
int run_evaluate(const std::vector<std::string>& args);
int run_summary(const std::vector<std::string>& args);
int run_dump_graph(const std::vector<std::string>& args);
int run_dump_grads(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);
int run_profile(const std::vector<std::string>& args);
int run_run(const std::vector<std::string>& args);

// One line per subcommand, in the order `dagrad --help` lists them.
const Command kCommands[] = {
    {"ops", "list every registered op with its inputs, outputs and attributes", run_ops},
    {"models", "the zoo models --model takes: input shape, classes, parameter count, description", run_models},
    {"gradcheck", "float64 finite-difference gradient checks of every op and a small ResNet", run_gradcheck},
    {"export", "write a zoo model (graph + initialized weights) to a .dagrad or .dagrad.txt file", run_export},
    {"convert", "convert a model file between .dagrad, .dagrad.txt and .onnx (by extension)", run_convert},
    {"validate", "check a model file (.onnx: ONNX's checker and the import): OK and a summary, or the error (exit 1)", run_validate},
    {"train", "train a model on Fashion-MNIST/MNIST with SGD: progress, checkpoints, metrics CSV and SVG", run_train},
    {"run", "run a model file on .npy or .pb input tensors: output statistics, or every output as .npy", run_run},
    {"evaluate", "test accuracy, per-class accuracy and the confusion matrix of a model file", run_evaluate},
    {"summary", "table of nodes with output shapes, parameters and FLOPs; totals and peak memory", run_summary},
    {"dump-graph", "the graph (or its autodiff graph) as text, DOT, JSON, SVG or PNG", run_dump_graph},
    {"dump-grads", "one forward/backward pass: gradient statistics, optionally .npy files", run_dump_grads},
    {"bench", "training and inference images/s of a zoo model, peak RSS and the plan's peak bytes", run_bench},
    {"profile", "per-node forward and backward time of a training step, with shares and per-op totals", run_profile},
};
}  // namespace dagrad::cli

namespace {
void print_help(std::ostream& out) {
  out << "usage: dagrad <command> [options]   (dagrad <command> --help for details)\n\ncommands:\n";
  for (const auto& c : dagrad::cli::kCommands) out << "  " << c.name << std::string(std::max<std::size_t>(2, 14 - std::strlen(c.name)), ' ') << c.summary << "\n";
}
}  // namespace

namespace {
// Flushes stdout and reports a failed write (a full disk, a closed pipe, /dev/full) as an error:
// the tool never exits 0 after output was lost. Returns the exit code to use.
int finish(const std::string& name, int code) {
  errno = 0;
  std::cout.flush();
  bool failed = std::cout.fail();
  int error = failed ? errno : 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    failed = true;
    if (error == 0) error = errno;
  }
  if (!failed) return code;
  std::cerr << "dagrad" << (name.empty() ? "" : " " + name) << ": error: cannot write standard output: "
            << (error ? std::strerror(error) : "write failed") << "\n";
  // A usage error or the command's own error stays the exit code; it was already reported.
  return code == dagrad::cli::kExitOk ? dagrad::cli::kExitFailure : code;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace dagrad::cli;
  dagrad::kernels::restart_with_better_blas_core(argv);
  if (argc < 2) {
    print_help(std::cerr);
    return kExitUsage;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_help(std::cout);
    return finish("", kExitOk);
  }
  if (name == "--version") {
    std::cout << "dagrad " << DAGRAD_VERSION << "\n";
    return finish("", kExitOk);
  }
  for (const auto& command : kCommands) {
    if (name != command.name) continue;
    int code = kExitFailure;
    try {
      code = command.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const UsageError& e) {
      std::cerr << "dagrad " << name << ": " << e.what() << "\nTry 'dagrad " << name << " --help'.\n";
      code = kExitUsage;
    } catch (const std::exception& e) {
      std::cerr << "dagrad " << name << ": error: " << e.what() << "\n";
      code = kExitFailure;
    }
    return finish(name, code);
  }
  std::cerr << "dagrad: unknown command '" << name << "'\n";
  print_help(std::cerr);
  return kExitUsage;
}
