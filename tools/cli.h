#pragma once
// Shared plumbing of the dagrad subcommands: option parsing with usage errors, exit codes, and
// checks of option values that turn nonsense into a usage error (exit 2) naming the flag and value.
#include <boost/program_options.hpp>

#include <cstdint>
#include <iostream>
#include <stdexcept>
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
// Every Boost error is a UsageError. Numeric options are checked on the raw text first, so the
// message names the flag and the text: "--batch must be an integer, got 'abc'", "--batch must be
// an integer from -9223372036854775808 to 9223372036854775807, got '99999999999999999999'",
// "--seed must be a non-negative integer, got '-1'" (Boost would wrap -1 into 2^64-1),
// "--lr must be a number, got 'x'".
bool parse(const std::string& command, const std::string& synopsis, const po::options_description& options,
           const po::positional_options_description& positional, const std::vector<std::string>& args,
           po::variables_map& vm);

// Checks of parsed values. `flag` is the option's name as registered ("batch"; a leading "--" is
// accepted too); each throws UsageError naming "--flag" and the value.

// The integer option (int, int64 or uint64) as int64; "--batch must be at least 1, got -3".
std::int64_t int_at_least(const po::variables_map& vm, const std::string& flag, std::int64_t minimum);
// The integer option within [low, high]; "--top must be from 0 to 1000000, got -1".
std::int64_t int_in(const po::variables_map& vm, const std::string& flag, std::int64_t low, std::int64_t high);
// --threads: 0 (all cores) or 1..1024; "--threads must be 0 (all cores) or from 1 to 1024, got -2".
int threads_option(const po::variables_map& vm);
// A finite number in [low, high] or [low, high): "--momentum must be in [0, 1), got 1.5";
// NaN and infinities: "--lr must be a finite number, got nan".
double finite_in(const po::variables_map& vm, const std::string& flag, double low, double high, bool high_inclusive);

// The --split flag of evaluate and dump-grads (which half of the dataset), named once: the
// string is also an op's name, which tools/ otherwise never spell (tests/op_names_test.cc).
inline constexpr const char* kSplitFlag = "split";  // the flag, not the op

// "unknown --split 'tst'; valid: test, train" (the names in the order given).
void require_one_of(const std::string& flag, const std::string& value, const std::vector<std::string>& valid);
// "unknown --model 'nope'; valid: resnet_ref, resnet_tiny, ..." (every zoo model).
void require_zoo_model(const std::string& name);

// A double in the shortest %g-style form that reads back to the same value: "0.05", where Boost's
// help prints default_value(0.05) as "0.050000000000000003".
std::string shortest(double value);
// po::value<double>() with a default shown by shortest(): every double option with a default.
po::typed_value<double>* number_value(double default_value);

bool stdout_is_terminal();
bool stderr_is_terminal();

}  // namespace dagrad::cli
