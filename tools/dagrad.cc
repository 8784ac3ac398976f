// dagrad: the command-line tool. Each subcommand lives in tools/cmd_<name>.cc; this file only
// dispatches and turns errors into one-line messages and exit codes.
#include <cstring>
#include <iostream>

#include "graph/error.h"
#include "tools/cli.h"

namespace dagrad::cli {
int run_ops(const std::vector<std::string>& args);
int run_gradcheck(const std::vector<std::string>& args);

// One line per subcommand, in the order `dagrad --help` lists them.
const Command kCommands[] = {
    {"ops", "list every registered op with its inputs, outputs and attributes", run_ops},
    {"gradcheck", "float64 finite-difference gradient checks of every op and a small ResNet", run_gradcheck},
};
}  // namespace dagrad::cli

namespace {
void print_help(std::ostream& out) {
  out << "usage: dagrad <command> [options]   (dagrad <command> --help for details)\n\ncommands:\n";
  for (const auto& c : dagrad::cli::kCommands) out << "  " << c.name << std::string(14 - std::strlen(c.name), ' ') << c.summary << "\n";
}
}  // namespace

int main(int argc, char** argv) {
  using namespace dagrad::cli;
  if (argc < 2) {
    print_help(std::cerr);
    return kExitUsage;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_help(std::cout);
    return kExitOk;
  }
  if (name == "--version") {
    std::cout << "dagrad " << DAGRAD_VERSION << "\n";
    return kExitOk;
  }
  for (const auto& command : kCommands) {
    if (name != command.name) continue;
    try {
      return command.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const UsageError& e) {
      std::cerr << "dagrad " << name << ": " << e.what() << "\nTry 'dagrad " << name << " --help'.\n";
      return kExitUsage;
    } catch (const std::exception& e) {
      std::cerr << "dagrad " << name << ": error: " << e.what() << "\n";
      return kExitFailure;
    }
  }
  std::cerr << "dagrad: unknown command '" << name << "'\n";
  print_help(std::cerr);
  return kExitUsage;
}
