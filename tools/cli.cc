#include "tools/cli.h"

#include <unistd.h>

namespace dagrad::cli {

bool parse(const std::string& command, const std::string& synopsis, const po::options_description& options,
           const po::positional_options_description& positional, const std::vector<std::string>& args,
           po::variables_map& vm) {
  po::options_description all;
  all.add_options()("help,h", "show this help and exit");
  all.add(options);
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: dagrad " << command << " " << synopsis << "\n\n" << all << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return true;
}

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) == 1; }
bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

}  // namespace dagrad::cli
