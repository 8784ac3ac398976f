#pragma once
// Shared plumbing of the dagrad subcommands: option parsing with usage errors, exit codes.
#include <boost/program_options.hpp>

#include <iostream>
#include <string>
#include <vector>

namespace dagrad::cli {

namespace po = boost::program_options;

// Exit codes: 0 success, 1 the work failed (an error, a failed check), 2 bad usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);  // args after the subcommand name
};

// Thrown for bad command lines; main prints it with a pointer to --help and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses args against `options` (plus --help) and `positional`. Returns false if --help was printed.
bool parse(const std::string& command, const std::string& synopsis, const po::options_description& options,
           const po::positional_options_description& positional, const std::vector<std::string>& args,
           po::variables_map& vm);

bool stdout_is_terminal();
bool stderr_is_terminal();

}  // namespace dagrad::cli
